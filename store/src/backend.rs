//! The seam between the store's operations (`Store`, backend-neutral) and the SQL of each
//! database. `sqlite/` and `postgres/` each implement [`Backend`] in parallel modules with
//! the same names; their inputs are already checked and canonical (see `validate.rs`), and
//! what an operation means beyond reading and writing rows lives in the shared modules
//! (`batch.rs`, `throttle.rs`, `passwords.rs`).
//!
//! To add an operation: a method in the subject's trait here, its SQL in both backends (the compiler insists), the
//! checks and meaning in the `Store` method that calls it, and a test in `tests/` that runs
//! on both backends.

use crate::batch::{BatchRequest, ScopeTx};
use crate::browse::{ListStatements, ListedVolume};
use crate::error::StoreError;
use crate::scratch::ScratchMinimum;
use crate::throttle::ThrottleState;
use crate::validate::CheckedCustomer;
use crate::{User, VolumeCount};
use tapesync_model::{
    ApplyResponse, AuditEntry, CustomerDump, InventoryDump, RepositoryInfo, ScopeSnapshot,
    ScopeTable, SessionRecord, SessionStart, VolumeState,
};

/// How a read-modify-write of throttle counters turns the stored counters (in key order;
/// `None`: no row) into new ones (`None`: delete the row). Returning `None` writes nothing.
pub(crate) type ThrottleUpdate<'a> =
    dyn FnMut(&[Option<ThrottleState>]) -> Option<Vec<Option<ThrottleState>>> + 'a;

/// Every operation of a backend, in one trait object.
pub(crate) trait Backend:
    SchemaSql
    + InventorySql
    + ApplySql
    + DumpSql
    + SessionSql
    + UserSql
    + ScratchSql
    + MoveSql
    + ReconcileSql
    + Send
{
}

impl<T> Backend for T where
    T: SchemaSql
        + InventorySql
        + ApplySql
        + DumpSql
        + SessionSql
        + UserSql
        + ScratchSql
        + MoveSql
        + ReconcileSql
        + Send
{
}

/// `moves.rs` of each backend: pending moves.
pub(crate) trait MoveSql {
    /// The pending moves of `customer` due on or before `due` (every one without), sorted by
    /// current repository, target, media and volume.
    fn pending_moves(
        &self,
        customer: &str,
        due: Option<&str>,
    ) -> Result<Vec<crate::moves::PendingMove>, StoreError>;
}

/// `reconcile.rs` of each backend: recorded reconciliations.
pub(crate) trait ReconcileSql {
    /// Every volume of `customer` (of `media` only, with it) and its CURRENT_REPOSITORY.
    fn volume_locations(
        &self,
        customer: &str,
        media: Option<&str>,
    ) -> Result<Vec<crate::reconcile::Located>, StoreError>;
    /// Records a reconciliation (its `id` is ignored) with its lists as JSON text; its id.
    fn insert_reconciliation(
        &self,
        summary: &crate::reconcile::ReconciliationSummary,
        lists: &str,
    ) -> Result<i64, StoreError>;
    /// Of one customer, newest first.
    fn reconciliations(
        &self,
        customer: &str,
    ) -> Result<Vec<crate::reconcile::ReconciliationSummary>, StoreError>;
    /// One of `customer`, with its lists' JSON text.
    fn reconciliation(
        &self,
        customer: &str,
        id: i64,
    ) -> Result<Option<(crate::reconcile::ReconciliationSummary, String)>, StoreError>;
}

/// `scratch.rs` of each backend: the minimums of scratch volumes.
pub(crate) trait ScratchSql {
    /// Inserts or replaces the minimum of (customer, media, repository).
    fn set_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
        minimum: i64,
    ) -> Result<(), StoreError>;
    /// False when there was none.
    fn remove_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
    ) -> Result<bool, StoreError>;
    /// Of one customer or of all, sorted by customer, media, repository.
    fn scratch_minimums(&self, customer: Option<&str>) -> Result<Vec<ScratchMinimum>, StoreError>;
}

/// `schema.rs` (and `mod.rs`) of each backend.
pub(crate) trait SchemaSql {
    fn schema_version(&self) -> Result<i64, StoreError>;
    /// A further connection to the same database for a thread that only reads; `None` when
    /// no other connection can see this one's data (an in-memory SQLite store).
    fn reader(&self) -> Option<Result<Box<dyn Backend>, StoreError>>;

    /// Runs one statement (the same text on both backends) and returns the first column of
    /// its first row as a number, for tests that look past the API.
    #[cfg(test)]
    fn test_scalar(&self, sql: &str) -> i64;
    #[cfg(test)]
    fn test_execute(&self, sql: &str);
}

/// `inventory.rs` of each backend: customers, media, repositories, reading volumes.
pub(crate) trait InventorySql {
    /// Inserts a customer; false if it exists. This and the two inserts below move the
    /// customer's version counter in the same transaction when they add a row.
    fn insert_customer(&self, id: &str, name: &str) -> Result<bool, StoreError>;
    fn customer_exists(&self, id: &str) -> Result<bool, StoreError>;
    fn insert_media(&self, customer: &str, id: &str, description: &str)
        -> Result<bool, StoreError>;
    fn insert_repository(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<bool, StoreError>;
    /// Every customer with media and repositories, each sorted by id.
    fn list_customers(&self) -> Result<Vec<CustomerDump>, StoreError>;
    fn repositories(&self, customer: &str) -> Result<Vec<RepositoryInfo>, StoreError>;

    // --- volumes ---
    fn download_scope(&self, customer: &str, media: &str) -> Result<ScopeSnapshot, StoreError>;
    /// Fills `table` (already reset to its columns) with the scope and its version, from one
    /// snapshot; `columns` are the columns of the table's fields, in its order.
    fn download_table_into(
        &self,
        customer: &str,
        media: &str,
        columns: &[&'static str],
        table: &mut ScopeTable,
    ) -> Result<(), StoreError>;
    /// The store's identity and the version of each scope (see `crate::batch::write_scope`),
    /// read in one snapshot.
    fn scope_versions(&self, scopes: &[(String, String)])
        -> Result<(String, Vec<u64>), StoreError>;
    fn volume(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Option<VolumeState>, StoreError>;
    fn volume_history(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    fn volume_counts(&self, customer: &str) -> Result<Vec<VolumeCount>, StoreError>;
    /// The backend's n-th (1-based) statement parameter (`?1`, `$1`), for statements built in
    /// the shared modules.
    fn placeholder(&self) -> fn(usize) -> String;
    /// Runs a volume list's count and page statements (`browse.rs`) in one read snapshot.
    fn list_volumes(
        &self,
        statements: &ListStatements,
    ) -> Result<(u64, Vec<ListedVolume>), StoreError>;
}

/// `apply.rs` of each backend: batches.
pub(crate) trait ApplySql {
    /// Opens one transaction for all the batches (taking whatever locks keep two writers of
    /// one scope apart, for every scope of the group at once), runs
    /// `crate::batch::apply_batches` in it and commits once — unless every batch was a
    /// replay, which writes nothing. One batch is a group of one.
    fn apply(&mut self, requests: Vec<BatchRequest<'_>>) -> Result<Vec<ApplyResponse>, StoreError>;
    fn prune_applied_batches(&self, before: &str) -> Result<usize, StoreError>;
}

/// `dump.rs` of each backend: the whole inventory at once.
pub(crate) trait DumpSql {
    fn export(&self) -> Result<InventoryDump, StoreError>;
    /// One transaction: upserts the customers with their media and repositories, then hands
    /// the transaction to `load` (which merges the volumes through [`ScopeTx`]).
    fn import(
        &mut self,
        customers: &[CheckedCustomer],
        load: &mut dyn FnMut(&mut dyn ScopeTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// `sessions.rs` of each backend.
pub(crate) trait SessionSql {
    fn begin_session(
        &self,
        actor: &str,
        start: &SessionStart,
        now: &str,
    ) -> Result<i64, StoreError>;
    /// Marks `abandoned` (finished now) every `running` session of the same client (`actor`,
    /// definition and source names of `start`) and every one idle since before `idle_since`.
    fn abandon_sessions(
        &self,
        actor: &str,
        start: &SessionStart,
        idle_since: &str,
        now: &str,
    ) -> Result<usize, StoreError>;
    /// False if there is no such session or it has finished (only a `running` or an
    /// `abandoned` one is finished).
    fn finish_session(
        &self,
        id: i64,
        outcome: &str,
        statistics: &str,
        now: &str,
    ) -> Result<bool, StoreError>;
    fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError>;
    /// Newest first; with `customers` (upper case, not empty) only sessions that worked on a
    /// scope of one of them.
    fn list_sessions(
        &self,
        customers: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Records the scope and that the session was active at `now`.
    fn add_session_scope(
        &self,
        id: i64,
        customer: &str,
        media: &str,
        now: &str,
    ) -> Result<(), StoreError>;
    fn session_scopes(&self, id: i64) -> Result<Vec<(String, String)>, StoreError>;
}

/// `auth.rs` of each backend: users, grants, tokens and the logon throttle.
pub(crate) trait UserSql {
    /// The new user's id; `None` if the name is taken.
    fn insert_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        now: &str,
    ) -> Result<Option<i64>, StoreError>;
    fn count_users(&self) -> Result<i64, StoreError>;
    /// Replaces the hash and deletes the user's tokens, in one transaction; false if there is
    /// no such user.
    fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<bool, StoreError>;
    fn set_admin(&self, name: &str, is_admin: bool) -> Result<bool, StoreError>;
    /// Sets the disabled flag (disabling also deletes the user's tokens, in the same
    /// transaction); false if there is no such user.
    fn set_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError>;
    /// Deletes the user with its grants and tokens; false if there is no such user.
    fn delete_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Administrators that are not disabled.
    fn count_active_admins(&self) -> Result<i64, StoreError>;
    /// The user and its password hash; `None` for a disabled user as for a missing one.
    fn credentials(&self, name: &str) -> Result<Option<(User, String)>, StoreError>;
    fn user(&self, name: &str) -> Result<Option<User>, StoreError>;
    /// Every user with its disabled flag, sorted by name.
    fn list_users(&self) -> Result<Vec<(User, bool)>, StoreError>;
    /// Sets `user`'s role on `customer`; false if there is no such user.
    fn grant(&self, user: &str, customer: &str, role: &str) -> Result<bool, StoreError>;
    fn revoke(&self, user: &str, customer: &str) -> Result<bool, StoreError>;
    /// (customer, role), sorted by customer.
    fn grants(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError>;
    fn role_of(&self, user_id: i64, customer: &str) -> Result<Option<String>, StoreError>;
    /// Stores a token's hash (dropping the user's expired ones).
    fn insert_token(
        &self,
        hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    fn user_for_token(&self, hash: &str, now: i64) -> Result<Option<User>, StoreError>;
    fn delete_token(&self, hash: &str) -> Result<bool, StoreError>;
    /// Deletes every token of the user named `name`; how many.
    fn delete_user_tokens(&self, name: &str) -> Result<usize, StoreError>;
    fn delete_expired_tokens(&self, now: i64) -> Result<usize, StoreError>;

    /// Reads the counters of `keys` and writes what `update` makes of them, atomically:
    /// no other update of these keys, from this process or another, comes in between.
    fn update_throttle(
        &self,
        keys: &[String],
        update: &mut ThrottleUpdate<'_>,
    ) -> Result<(), StoreError>;
    /// Deletes counters whose last attempt is older than `before` (Unix milliseconds).
    fn prune_throttle(&self, before: i64) -> Result<usize, StoreError>;
}
