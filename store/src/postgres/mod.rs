//! The PostgreSQL backend: several server nodes (and `tapesync run`/`admin` processes) on
//! one database. Every table lives in the connection's schema (`search_path`), so one
//! database can hold several stores, e.g. one per test.
//!
//! The client is the blocking `postgres` crate (docs/store.md says why): each `PgStore` is
//! one connection, like a SQLite `Store`, used from one thread at a time. A connection that
//! breaks (a database restart, a fail-over) is dropped, the operation fails with a transient
//! error ([`crate::StoreError::is_busy`]) and the next operation connects afresh.
//!
//! Two writers of one scope never interleave: a batch (and an import, per scope it touches)
//! holds a transaction-scoped advisory lock on the scope, so the version each change names
//! is checked against what the last committed batch left.

mod apply;
mod auth;
mod dump;
mod inventory;
mod moves;
mod reconcile;
pub(crate) mod schema;
mod scratch;
mod sessions;

use crate::backend::{Backend, SchemaSql};
use crate::columns::Columns;
use crate::error::StoreError;
use crate::location::redact_url;
use postgres::error::SqlState;
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Connect timeout when the URL names none: an unreachable database must fail a start in
/// seconds, not hang it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to a PostgreSQL store.
pub(crate) struct PgStore {
    conn: RefCell<Option<Conn>>,
    config: Config,
    /// The URL without its password, for messages.
    shown: String,
    columns: Columns,
}

/// A live connection and the statements prepared on it.
pub(crate) struct Conn {
    pub client: Client,
    pub statements: Statements,
}

/// Prepared statements by text: a statement prepared once per connection is sent as one
/// bind-and-execute round trip from then on.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

impl Statements {
    pub fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql)?;
        self.0.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl PgStore {
    /// Connects to the database at `url`. With `create`, a database (schema) without a store
    /// gets one; either way the schema is brought up to date and a newer one refused.
    pub fn connect(url: &str, create: bool) -> Result<PgStore, StoreError> {
        let shown = redact_url(url);
        let mut config = Config::from_str(url).map_err(|e| {
            StoreError::invalid(None, format!("the database URL {shown} is not valid: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tapesync");
        }
        let store = PgStore {
            conn: RefCell::new(None),
            config,
            shown,
            columns: Columns::new(),
        };
        store.with_first(|conn| schema::migrate(&mut conn.client, create))?;
        Ok(store)
    }

    /// Connects; `named` puts the database into the error (later reconnects, where no
    /// caller names it).
    fn open_conn(&self, named: bool) -> Result<Conn, StoreError> {
        let client = self.config.connect(NoTls).map_err(|e| {
            let to = if named {
                format!(" to {}", self.shown)
            } else {
                String::new()
            };
            StoreError::Unavailable(format!("cannot connect{to}: {}", describe(&e)))
        })?;
        Ok(Conn {
            client,
            statements: Statements::default(),
        })
    }

    /// The live connection, connecting first if there is none or the last one broke.
    fn conn(&self) -> Result<RefMut<'_, Conn>, StoreError> {
        let mut slot = self.conn.borrow_mut();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            *slot = Some(self.open_conn(true)?);
        }
        Ok(RefMut::map(slot, |c| c.as_mut().expect("connected above")))
    }

    /// Runs `f` on the connection; a connection that broke on the way is dropped, so that
    /// the next call connects again.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let result = f(&mut conn);
        if result.is_err() && conn.client.is_closed() {
            drop(conn);
            *self.conn.borrow_mut() = None;
        }
        result.map_err(|e| self.name_unavailable(e))
    }

    /// A broken connection's error, with the database named (without password).
    fn name_unavailable(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Postgres(pg) if pg.as_db_error().is_none() && is_transient(&pg) => {
                StoreError::Unavailable(format!("{}: {}", self.shown, describe(&pg)))
            }
            other => other,
        }
    }

    /// [`PgStore::with`] for the first connection of a store being opened: a failure to
    /// connect is left for the caller to name (it prints the location itself).
    fn with_first<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.borrow_mut();
        *slot = Some(self.open_conn(false)?);
        drop(slot);
        self.with(f)
    }

    /// A prepared statement (prepared on first use on this connection).
    pub(crate) fn statement(conn: &mut Conn, sql: &str) -> Result<Statement, StoreError> {
        Ok(conn.statements.get(&mut conn.client, sql)?)
    }
}

/// The blocking client runs a small runtime of its own and closes the connection through it,
/// which tokio forbids on a thread that drives asynchronous tasks. A store dropped there (the
/// server's pool when the server stops, a test's) closes its connection on a thread of its
/// own instead.
impl Drop for PgStore {
    fn drop(&mut self) {
        let Some(conn) = self.conn.get_mut().take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(move || drop(conn)).join();
        }
    }
}

/// A client error as text, with the cause a bare "error connecting to server" hides.
fn describe(e: &postgres::Error) -> String {
    use std::error::Error;
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => format!("{} [{}]", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// Whether a PostgreSQL failure is worth a retry and left nothing written: the connection
/// is gone or could not be made, the server is shutting down or starting, or it aborted
/// the transaction to resolve a deadlock or a serialisation conflict.
pub(crate) fn is_transient(e: &postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: a closed connection or an I/O error.
        return true;
    };
    let code = db.code();
    code.code().starts_with("08")
        || [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
        // The same idempotency key sent for two scopes at once: the retry answers which.
        || (*code == SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("applied_batches_pkey"))
}

impl SchemaSql for PgStore {
    fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|conn| schema::version(&mut conn.client))
    }

    fn reader(&self) -> Option<Result<Box<dyn Backend>, StoreError>> {
        let reader = PgStore {
            conn: RefCell::new(None),
            config: self.config.clone(),
            shown: self.shown.clone(),
            columns: Columns::new(),
        };
        Some(
            reader
                .with(|_| Ok(()))
                .map(|()| Box::new(reader) as Box<dyn Backend>),
        )
    }

    #[cfg(test)]
    fn test_scalar(&self, sql: &str) -> i64 {
        self.with(|conn| {
            let row = conn.client.query_one(sql, &[])?;
            // count(*) is bigint; other tests read integer columns.
            Ok(row
                .try_get::<_, i64>(0)
                .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))?)
        })
        .unwrap()
    }

    #[cfg(test)]
    fn test_execute(&self, sql: &str) {
        self.with(|conn| Ok(conn.client.batch_execute(sql)?))
            .unwrap();
    }
}
