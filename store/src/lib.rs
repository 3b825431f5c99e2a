//! The inventory store: tape volumes, their customers, media types and repositories, sync
//! sessions, the audit trail, the users, grants and tokens of the inventory server, and the
//! logon throttle — in one SQLite file (the embedded default) or in a PostgreSQL database
//! (several server nodes on one database).
//!
//! A [`Store`] is one connection (it is `Send`, not `Sync`: open one per thread). Both
//! backends keep the same contracts: numbered forward-only migrations (a newer schema is
//! refused), one transaction per applied batch with its idempotency key recorded in the same
//! transaction, per-volume versions (a stale version is a conflict, never an overwrite), and
//! an audit row per changed field. The schemas are described in `docs/store.md`.
//!
//! Layout: the modules at the top are backend-neutral — [`Store`]'s operations with their
//! checks (`inventory`, `apply`, `dump`, `sessions`, `auth`), the canonical forms
//! (`validate`), what a batch means (`batch`), passwords and tokens, the throttle policy.
//! `sqlite/` and `postgres/` hold each database's SQL behind one trait (`backend.rs`), in
//! modules of the same names.

mod apply;
mod auth;
mod backend;
mod batch;
mod browse;
mod clock;
mod columns;
mod dump;
mod error;
mod inventory;
mod location;
mod moves;
mod passwords;
mod postgres;
mod prune;
mod reconcile;
mod scratch;
mod sessions;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod throttle;
mod validate;
mod verified;

pub use apply::check_group_size;
pub use auth::{Role, User, UserInfo};
pub use browse::{
    ListedVolume, RepositoryFilter, ScratchFilter, VolumeList, VolumeListQuery, MAX_PAGE,
};
pub use columns::column;
pub use error::StoreError;
pub use inventory::VolumeCount;
pub use location::{redact_url, StoreLocation};
pub use moves::{scanned_barcodes, Confirmation, Discrepancy, PendingMove, Problem};
pub use passwords::Credentials;
pub use prune::{PruneReport, IDEMPOTENCY_RETENTION};
pub use reconcile::{
    ReconcileCounts, ReconcileRequest, ReconciledVolume, Reconciliation, ReconciliationSummary,
    SurplusVolume, SOURCE_MAX,
};
pub use scratch::{ScratchLevel, ScratchMinimum};
pub use sessions::ABANDON_AFTER;
pub use throttle::{Admission, LogonAttempt, ThrottlePolicy};
pub use verified::VerifiedPasswords;

use backend::Backend;
use columns::Columns;
use std::path::Path;

/// The schema version this build creates and understands: the number of migration steps,
/// the same on both backends (step `n` of one is step `n` of the other).
pub const SCHEMA_VERSION: i64 = sqlite::schema::MIGRATIONS.len() as i64;

/// One connection to an inventory store.
pub struct Store {
    backend: Box<dyn Backend>,
    columns: Columns,
    location: Option<StoreLocation>,
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let backend = sqlite::SqliteStore::open(path)?;
        Ok(Store::new(Box::new(backend), Some(path.into())))
    }

    /// Opens the store at `location`: a SQLite file (created if needed) or a PostgreSQL
    /// database (its tables created in the connection's schema if missing). Either way the
    /// schema is brought up to date, and a newer one is refused.
    pub fn open_location(location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::File(path) => Store::open(path),
            StoreLocation::Postgres(url) => {
                let backend = postgres::PgStore::connect(url, true)?;
                Ok(Store::new(Box::new(backend), Some(location.clone())))
            }
        }
    }

    /// Opens an existing store without creating or migrating anything: `Ok(None)` when a
    /// SQLite file does not exist. A store at an older schema version is refused (reading
    /// must not need write access, and must not change the store).
    pub fn open_existing(location: &StoreLocation) -> Result<Option<Store>, StoreError> {
        match location {
            StoreLocation::File(path) if !path.exists() => Ok(None),
            StoreLocation::File(path) => Store::open(path).map(Some),
            StoreLocation::Postgres(url) => {
                let backend = postgres::PgStore::connect(url, false)?;
                Ok(Some(Store::new(Box::new(backend), Some(location.clone()))))
            }
        }
    }

    /// Opens an existing store for reading only: `Ok(None)` when a SQLite file does not
    /// exist. A SQLite file is opened read-only, so neither the file nor its folder need be
    /// writable, and nothing is created, migrated or changed; the store must be at this
    /// build's schema version. Writing through the returned store fails.
    pub fn open_read_only(location: &StoreLocation) -> Result<Option<Store>, StoreError> {
        match location {
            StoreLocation::File(path) if !path.exists() => Ok(None),
            StoreLocation::File(path) => {
                let backend = sqlite::SqliteStore::open_read_only(path)?;
                Ok(Some(Store::new(Box::new(backend), Some(location.clone()))))
            }
            StoreLocation::Postgres(_) => Store::open_existing(location),
        }
    }

    /// A second connection on an existing SQLite store, for a thread that only reads (e.g.
    /// downloads the next scopes while another connection applies). Unlike [`Store::open`] it
    /// neither creates the file nor migrates it: the store must exist at this build's schema
    /// version.
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        let backend = sqlite::SqliteStore::open_reader(path)?;
        Ok(Store::new(Box::new(backend), Some(path.into())))
    }

    /// A further connection to this store's database for a thread that only reads; `None`
    /// for an in-memory store, which no other connection can see.
    pub fn reader(&self) -> Option<Result<Store, StoreError>> {
        let backend = self.backend.reader()?;
        Some(backend.map(|b| Store::new(b, self.location.clone())))
    }

    /// A private SQLite store that lives as long as the value (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store::new(
            Box::new(sqlite::SqliteStore::open_in_memory()?),
            None,
        ))
    }

    fn new(backend: Box<dyn Backend>, location: Option<StoreLocation>) -> Store {
        Store {
            backend,
            columns: Columns::new(),
            location,
        }
    }

    /// The file this store was opened from (`None` in memory or on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.location.as_ref().and_then(StoreLocation::file)
    }

    /// Where this store is (`None` in memory).
    pub fn location(&self) -> Option<&StoreLocation> {
        self.location.as_ref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.backend.schema_version()
    }
}

#[cfg(test)]
mod tests;
