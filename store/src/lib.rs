//! The inventory store: tape volumes, their customers, media types and repositories, sync
//! sessions, the audit trail, and the users and grants of the inventory server — all in one
//! SQLite file.
//!
//! A [`Store`] wraps one SQLite connection (it is `Send`, not `Sync`: open one per thread). The
//! file runs in WAL mode with `synchronous = FULL`, so a batch that [`Store::apply`] has
//! acknowledged survives a crash or `kill -9`, and a batch that was interrupted leaves nothing
//! behind: each batch is a single transaction. The schema is described in `docs/store.md`.

mod apply;
mod auth;
mod clock;
mod dump;
mod error;
mod inventory;
mod schema;
mod sessions;

pub use auth::{Role, User, UserInfo};
pub use error::StoreError;
pub use inventory::VolumeCount;
pub use schema::{column, SCHEMA_VERSION};

use rusqlite::{Connection, OpenFlags};
use schema::Columns;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another writer before giving up with "database is busy".
/// Batches are short, so waiting is almost always better than failing a sync.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection; apply and download use a dozen or so.
const STATEMENT_CACHE: usize = 64;

/// One connection to an inventory store.
pub struct Store {
    /// Declared first so that it is dropped first: its thread's connection closes before
    /// `conn`, which then, as the last connection, checkpoints the WAL and removes it.
    checkpoint: apply::BackgroundCheckpoint,
    conn: Connection,
    columns: Columns,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Store::setup(conn, Some(path.to_path_buf()))
    }

    /// A second connection on an existing store, for a thread that only reads (e.g. downloads
    /// the next scopes while another connection applies). Unlike [`Store::open`] it neither
    /// creates the file nor migrates it: the store must exist at this build's schema version.
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
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
        Ok(Store {
            checkpoint: Default::default(),
            conn,
            columns: Columns::new(),
            path: Some(path.to_path_buf()),
        })
    }

    /// A private store that lives as long as the value (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
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
        Ok(Store {
            checkpoint: Default::default(),
            conn,
            columns: Columns::new(),
            path,
        })
    }

    /// The file this store was opened from (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod tests;
