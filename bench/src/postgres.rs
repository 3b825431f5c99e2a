//! The `postgres` target's databases: one template database per data set (built once through
//! `Store::import`, like the SQLite baselines) and a fresh copy of it for every timed run
//! (`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`). Needs a role that may create
//! databases (`--postgres URL`).

use crate::dataset::Dataset;
use crate::inventory;
use postgres::{Client, NoTls};
use std::time::Instant;
use tapesync_store::{Store, StoreLocation};

/// A PostgreSQL error with the server's message ("db error" alone says nothing).
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} [{}]", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn execute(client: &mut Client, sql: &str) -> Result<(), String> {
    client
        .batch_execute(sql)
        .map_err(|e| format!("{sql}: {}", describe(&e)))
}

/// Drops a database once the last run's connections are gone. A plain DROP also stops an
/// autovacuum worker there (FORCE would need the right to signal it); the servers' last
/// connections may take a moment to close.
fn drop_database(client: &mut Client, name: &str) -> Result<(), String> {
    let sql = format!("DROP DATABASE IF EXISTS {name}");
    let mut last = String::new();
    for _ in 0..20 {
        match execute(client, &sql) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    Err(last)
}

/// Bump when generated content changes (as `workspace.rs`'s generator version).
const GENERATOR_VERSION: u32 = 1;

pub struct Postgres {
    /// The URL given; its database is where the harness connects to manage the others.
    admin_url: String,
}

impl Postgres {
    pub fn new(admin_url: &str) -> Postgres {
        Postgres {
            admin_url: admin_url.to_string(),
        }
    }

    fn client(&self) -> Result<Client, String> {
        Client::connect(&self.admin_url, NoTls).map_err(|e| format!("PostgreSQL: {}", describe(&e)))
    }

    /// The admin URL with another database.
    pub fn url_of(&self, database: &str) -> String {
        let (scheme, rest) = self.admin_url.split_once("://").unwrap_or(("postgres", ""));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let query = tail
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        format!("{scheme}://{authority}/{database}{query}")
    }

    fn exists(&self, client: &mut Client, database: &str) -> Result<bool, String> {
        client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .map(|r| r.is_some())
            .map_err(|e| describe(&e))
    }

    /// The template database of the data set, built on first use.
    pub fn baseline(&self, ds: &Dataset, changed_percent: u32) -> Result<String, String> {
        let name = format!(
            "tapesync_bench_g{GENERATOR_VERSION}_s{}_r{}_s{}_c{changed_percent}",
            tapesync_store::SCHEMA_VERSION,
            ds.records,
            ds.scopes
        );
        let mut client = self.client()?;
        if self.exists(&mut client, &name)? {
            return Ok(name);
        }
        let partial = format!("{name}_partial");
        // One statement per call: several in one message would form one transaction, which
        // CREATE and DROP DATABASE refuse.
        execute(
            &mut client,
            &format!("DROP DATABASE IF EXISTS {partial} WITH (FORCE)"),
        )?;
        execute(&mut client, &format!("CREATE DATABASE {partial}"))?;
        let started = Instant::now();
        let mut store = Store::open_location(&StoreLocation::Postgres(self.url_of(&partial)))
            .map_err(|e| e.to_string())?;
        inventory::fill(&mut store, ds, changed_percent).map_err(|e| e.to_string())?;
        drop(store);
        execute(
            &mut client,
            &format!("ALTER DATABASE {partial} RENAME TO {name}"),
        )?;
        eprintln!(
            "  built PostgreSQL inventory {name} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(name)
    }

    /// A fresh copy of `template` named `name` (replacing one left from before); its URL.
    pub fn fresh_copy(&self, template: &str, name: &str) -> Result<String, String> {
        let mut client = self.client()?;
        drop_database(&mut client, name)?;
        execute(
            &mut client,
            &format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"),
        )?;
        Ok(self.url_of(name))
    }

    pub fn drop_database(&self, name: &str) {
        if let Ok(mut client) = self.client() {
            let _ = drop_database(&mut client, name);
        }
    }

    /// Bytes the database takes on disk.
    pub fn size(&self, database: &str) -> Result<u64, String> {
        let mut client = self.client()?;
        let bytes: i64 = client
            .query_one("SELECT pg_database_size($1)", &[&database])
            .map_err(|e| describe(&e))?
            .get(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}
