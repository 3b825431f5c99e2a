//! The SQLite backend: one file in WAL mode with `synchronous = FULL`, so a batch that has
//! been acknowledged survives a crash or `kill -9`, and a batch that was interrupted leaves
//! nothing behind (each batch is a single transaction). One writer at a time, readers beside
//! it; see docs/store.md.

mod apply;
mod auth;
mod checkpoint;
mod dump;
mod inventory;
pub(crate) mod schema;
mod scratch;
mod sessions;

use crate::backend::{Backend, SchemaSql};
use crate::error::StoreError;
use crate::SCHEMA_VERSION;
use checkpoint::BackgroundCheckpoint;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another writer before giving up with "database is busy".
/// Batches are short, so waiting is almost always better than failing a sync.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection; apply and download use a dozen or so.
const STATEMENT_CACHE: usize = 64;

/// One connection to a SQLite store.
pub(crate) struct SqliteStore {
    /// Declared first so that it is dropped first: its thread's connection closes before
    /// `conn`, which then, as the last connection, checkpoints the WAL and removes it.
    checkpoint: BackgroundCheckpoint,
    conn: Connection,
    sql: schema::VolumeSql,
    path: Option<PathBuf>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        SqliteStore::setup(conn, Some(path.to_path_buf()))
    }

    pub fn open_reader(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The writer connection put the file in WAL mode (a persistent setting); checking it
        // makes sure this reader never blocks the writer or is blocked by it.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "the store {} is not in WAL mode (journal mode is {mode})",
                path.display()
            )));
        }
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found != SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the store {} has schema version {found}, not {SCHEMA_VERSION}; open it for \
                 writing first",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            checkpoint: Default::default(),
            conn,
            sql: schema::VolumeSql::new(),
            path: Some(path.to_path_buf()),
        })
    }

    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers (scope downloads, the web page) run beside the one writer; FULL
        // makes every commit durable before it is acknowledged, which WAL's default (NORMAL)
        // does not promise across power loss.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "could not switch the store to WAL mode (journal mode is {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            checkpoint: Default::default(),
            conn,
            sql: schema::VolumeSql::new(),
            path,
        })
    }
}

impl SchemaSql for SqliteStore {
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn reader(&self) -> Option<Result<Box<dyn Backend>, StoreError>> {
        let path = self.path.as_ref()?;
        Some(SqliteStore::open_reader(path).map(|s| Box::new(s) as Box<dyn Backend>))
    }

    #[cfg(test)]
    fn test_scalar(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[cfg(test)]
    fn test_execute(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }
}
