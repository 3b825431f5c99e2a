//! The SQLite backend: one file in WAL mode with `synchronous = FULL`, so a batch that has
//! been acknowledged survives a crash or `kill -9`, and a batch that was interrupted leaves
//! nothing behind (each batch is a single transaction). One writer at a time, readers beside
//! it; see docs/store.md.

mod apply;
mod auth;
mod checkpoint;
mod dump;
mod inventory;
mod moves;
mod reconcile;
pub(crate) mod schema;
mod scratch;
mod sessions;

use crate::backend::{Backend, SchemaSql};
use crate::error::StoreError;
use crate::SCHEMA_VERSION;
use checkpoint::BackgroundCheckpoint;
#[cfg(test)]
pub(crate) use checkpoint::WRITER_AUTOCHECKPOINT_PAGES;
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
    /// Opened with [`SqliteStore::open_read_only`]: further connections are read-only too.
    read_only: bool,
}

/// SQLite's `application_id` of a tapesync store ("TpSy"): what tells a store from another
/// program's database before anything is written to it.
pub(crate) const APPLICATION_ID: i32 = 0x5470_5379;

/// Tables that a store from before [`APPLICATION_ID`] was set has all of.
const LEGACY_TABLES: &[&str] = &[
    "customers",
    "media",
    "volumes",
    "users",
    "grants",
    "tokens",
    "sync_sessions",
    "audit",
    "applied_batches",
];

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        refuse_foreign(&conn, path)?;
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
        refuse_foreign(&conn, path)?;
        // The writer connection put the file in WAL mode (a persistent setting); checking it
        // makes sure this reader never blocks the writer or is blocked by it.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "the store {} is not in WAL mode (journal mode is {mode})",
                path.display()
            )));
        }
        check_current_schema(&conn, path)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            checkpoint: Default::default(),
            conn,
            sql: schema::VolumeSql::new(),
            path: Some(path.to_path_buf()),
            read_only: false,
        })
    }

    /// Opens an existing store without write access: the file and its folder may both be
    /// read-only. Nothing is created, migrated or switched (not even WAL mode).
    ///
    /// A WAL-mode file is read through its shared-memory index (`-shm`), which SQLite must be
    /// able to create or open. In a read-only folder with no `-wal` file — no connection has
    /// the store open, since the last one to close removes it — the file holds every committed
    /// batch and is read as immutable instead (docs/store.md, "Read-only stores").
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = match read_only_connection(path, false) {
            Err(StoreError::Sqlite(_)) if !wal_file(path).exists() => {
                read_only_connection(path, true)?
            }
            other => other?,
        };
        check_current_schema(&conn, path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            checkpoint: Default::default(),
            conn,
            sql: schema::VolumeSql::new(),
            path: Some(path.to_path_buf()),
            read_only: true,
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
            read_only: false,
        })
    }
}

/// A read-only connection to `path` (as a URI, which is how SQLite takes `immutable`), checked
/// to be a store: that first read is what fails when the WAL index cannot be opened.
fn read_only_connection(path: &Path, immutable: bool) -> Result<Connection, StoreError> {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    refuse_foreign(&conn, path)?;
    Ok(conn)
}

/// Refuses a store not at this build's schema version (a connection that does not migrate:
/// a reader, a read-only open).
fn check_current_schema(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found != SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the store {} has schema version {found}, not {SCHEMA_VERSION}; a command that \
             writes to it (any `tapesync admin` change, a sync) brings it up to date",
            path.display()
        )));
    }
    Ok(())
}

/// The WAL file SQLite keeps beside `path` while a connection has the store open.
fn wal_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Creates a missing store file empty and readable by its owner only (it will hold password
/// hashes). SQLite gives the WAL and shared-memory files the mode of the database file, so
/// they are private too. An existing file keeps the mode its owner gave it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it first, or it was there: either way SQLite opens it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create the store {}: {e}",
            path.display()
        ))),
    }
}

/// Refuses another program's database before anything is written to it (not even the switch
/// to WAL): a store is an empty database, one marked with [`APPLICATION_ID`], or one from
/// before the mark with all of tapesync's tables.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if id == 0 && objects == 0 && version == 0 {
        return Ok(());
    }
    let legacy = id == 0 && version >= 1 && {
        let mut found = 0;
        for table in LEGACY_TABLES {
            found += conn.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get::<_, i64>(0),
            )?;
        }
        found == LEGACY_TABLES.len() as i64
    };
    if legacy {
        return Ok(());
    }
    Err(StoreError::Foreign(format!(
        "the SQLite file {}",
        path.display()
    )))
}

impl SchemaSql for SqliteStore {
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn reader(&self) -> Option<Result<Box<dyn Backend>, StoreError>> {
        let path = self.path.as_ref()?;
        let reader = if self.read_only {
            SqliteStore::open_read_only(path)
        } else {
            SqliteStore::open_reader(path)
        };
        Some(reader.map(|s| Box::new(s) as Box<dyn Backend>))
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
