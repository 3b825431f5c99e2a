//! The one seam between the runtime and "the server": where scopes come from and where
//! changes go. `EmbeddedTarget` (the store in-process) and `HttpTarget` (the server over HTTP)
//! implement it and must behave identically.

pub mod embedded;
pub mod http;
pub mod retry;

use tapesync_model::{
    ApplyBatch, ApplyResponse, Field, ScopeKey, ScopeSnapshot, ScopeTable, ScopeVersions,
    ScopedBatch, SessionOutcome, SessionStart, SyncStatistics,
};
use tapesync_store::ScratchLevel;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached or answered with a transient failure; the operation
    /// may be retried (an apply only with the same idempotency key).
    #[error("inventory unavailable: {0}")]
    Unavailable(String),
    /// The target refused the request as invalid (a bug or a version mismatch, not transient).
    #[error("inventory refused the request: {0}")]
    Refused(String),
    /// Logon failed or the session's rights do not cover the request.
    #[error("not authorised: {0}")]
    Unauthorised(String),
    #[error("inventory error: {0}")]
    Internal(String),
}

/// An inventory that a sync session reads scopes from and applies batches to. `Send`, so that
/// a run can apply one scope's changes on a second thread while it compares the next scope.
pub trait Target: Send {
    /// Records the start of a sync session and returns its id for the audit trail.
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError>;
    /// The whole scope: existence of customer/media, repositories, and every volume with its
    /// version.
    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError>;
    /// The scope with only what a sync compares: every volume's ID and version and the values
    /// of `columns` (see [`ScopeTable`]). The default builds it from [`Target::download_scope`];
    /// targets override it with a cheaper read.
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        table_from_snapshot(self.download_scope(scope)?, columns)
    }
    /// The inventory's identity and the current version of each of `scopes`, in one call
    /// (one request over HTTP): what a run asks before it trusts scope tables it kept from an
    /// earlier run (see [`ScopeVersions`]). Scopes the caller may not read are left out.
    fn scope_versions(&mut self, scopes: &[ScopeKey]) -> Result<ScopeVersions, TargetError>;
    /// A second, independent read handle on the same inventory, so that the next scopes can be
    /// downloaded on another thread while this handle applies. `None` when the target cannot
    /// open one (the run then downloads each scope itself, in turn).
    fn scope_reader(&self) -> Option<Box<dyn ScopeReader>> {
        None
    }
    /// Applies one batch atomically (whole or not at all); per-volume results in order.
    fn apply(&mut self, scope: &ScopeKey, batch: &ApplyBatch)
        -> Result<ApplyResponse, TargetError>;
    /// Applies several batches, of one scope or several, in one transaction: all of them or
    /// none; one answer per batch, in order. `Ok(None)` means the target cannot (an older
    /// server) and applied nothing: the caller sends the batches one by one with
    /// [`Target::apply`]. A retry of a group after an unclear failure sends the same batches
    /// with the same keys; batches that were applied answer with their recorded responses.
    fn apply_group(
        &mut self,
        _batches: &[ScopedBatch],
    ) -> Result<Option<Vec<ApplyResponse>>, TargetError> {
        Ok(None)
    }
    /// The scratch minimums of `customer` with the number of scratch volumes there now
    /// (read after a sync, to say which libraries it left under their minimum).
    fn scratch_levels(&mut self, customer: &str) -> Result<Vec<ScratchLevel>, TargetError>;
    /// Records how the session ended and its statistics.
    fn finish_session(
        &mut self,
        session: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), TargetError>;
}

/// A read-only handle that downloads scopes on a thread of its own (see
/// [`Target::scope_reader`]).
pub trait ScopeReader: Send {
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError>;
    /// [`ScopeReader::download_table`] into a table whose allocations may be reused. The
    /// default simply replaces it.
    fn download_table_into(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
        table: &mut ScopeTable,
    ) -> Result<(), TargetError> {
        *table = self.download_table(scope, columns)?;
        Ok(())
    }
}

/// Converts a full snapshot into a table of `columns`.
pub fn table_from_snapshot(
    snapshot: ScopeSnapshot,
    columns: &[Field],
) -> Result<ScopeTable, TargetError> {
    let mut table = ScopeTable::new(columns);
    table.customer_exists = snapshot.customer_exists;
    table.media_exists = snapshot.media_exists;
    table.repositories = snapshot.repositories;
    let mut volumes = snapshot.volumes;
    volumes.sort_by(|a, b| a.volume.cmp(&b.volume));
    volumes.dedup_by(|a, b| a.volume == b.volume);
    for v in &volumes {
        table
            .push(
                &v.volume,
                v.version,
                columns.iter().map(|c| v.fields.get(c).map(String::as_str)),
            )
            .map_err(|e| TargetError::Internal(e.to_string()))?;
    }
    Ok(table)
}
