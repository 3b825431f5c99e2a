//! PostgreSQL for tests (feature `testing`, or this crate's own tests): a private schema per
//! test in the database the test run was given, dropped when the test ends.
//!
//! Where the database comes from: the environment variable `TAPESYNC_TEST_POSTGRES` (a
//! `postgres://` URL), else the file `.ci/postgres-url` of the workspace, which `.ci/install`
//! writes after it starts the local PostgreSQL and creates the test role and database. Without
//! either, tests that need PostgreSQL are skipped with one line on standard error saying so —
//! unless `CI=true`, where a missing database fails the test: CI must test both backends.

use crate::location::redact_url;
use crate::StoreLocation;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// The variable that names the test database.
pub const TEST_POSTGRES_ENV: &str = "TAPESYNC_TEST_POSTGRES";

/// The test database's URL, if one is configured.
pub fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var(TEST_POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Some(url.trim().to_string());
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/postgres-url");
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The test database, or `None` after printing (once per process) why PostgreSQL tests are
/// skipped. Under `CI=true` a missing database is a failure.
pub fn postgres_or_skip() -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        let on_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !on_ci,
            "CI=true but no PostgreSQL test database: set {TEST_POSTGRES_ENV} or run .ci/install"
        );
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping the PostgreSQL tests: no test database \
                 ({TEST_POSTGRES_ENV} unset and no .ci/postgres-url; see docs/store.md, \"Tests\")"
            );
        });
    }
    url
}

/// A schema of its own in the test database; dropped (with everything in it) on drop.
pub struct TestDatabase {
    base: String,
    schema: String,
    url: String,
}

impl TestDatabase {
    /// A fresh, empty schema, or `None` when PostgreSQL tests are skipped (see
    /// [`postgres_or_skip`]). Panics if the configured database cannot be used.
    pub fn create() -> Option<TestDatabase> {
        let base = postgres_or_skip()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(&base, &format!("CREATE SCHEMA {schema}"));
        let url = with_search_path(&base, &schema);
        Some(TestDatabase { base, schema, url })
    }

    /// The URL of this schema (the tables tapesync creates land in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn location(&self) -> StoreLocation {
        StoreLocation::Postgres(self.url.clone())
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Runs SQL in this schema (setting up a case the API cannot make, e.g. a newer schema).
    pub fn execute(&self, sql: &str) {
        admin(&self.url, sql);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let base = self.base.clone();
        // On a thread of its own: a test may drop this on an async thread (see `admin`).
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = client.batch_execute(&sql);
            }
        })
        .join();
    }
}

/// Runs `sql` on a thread of its own: the blocking client cannot run on a thread that drives
/// asynchronous tasks, which is where an async test calls this from.
fn admin(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    let outcome = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).map_err(|e| {
            format!(
                "the PostgreSQL test database {} cannot be reached: {e}",
                redact_url(&url)
            )
        })?;
        client
            .batch_execute(&sql)
            .map_err(|e| format!("{sql}: {e}"))
    })
    .join()
    .expect("the test database thread");
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// `url` with `search_path` set to `schema` for every connection made from it.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}
