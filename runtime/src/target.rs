//! The one seam between the runtime and "the server": where scopes come from and where
//! changes go. `EmbeddedTarget` (the store in-process) and `HttpTarget` (the server over HTTP)
//! implement it and must behave identically.

use tapesync_model::{
    ApplyBatch, ApplyResponse, ScopeKey, ScopeSnapshot, SessionOutcome, SessionStart,
    SyncStatistics,
};

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

/// An inventory that a sync session reads scopes from and applies batches to.
pub trait Target {
    /// Records the start of a sync session and returns its id for the audit trail.
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError>;
    /// The whole scope: existence of customer/media, repositories, and every volume with its
    /// version.
    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError>;
    /// Applies one batch atomically (whole or not at all); per-volume results in order.
    fn apply(&mut self, scope: &ScopeKey, batch: &ApplyBatch)
        -> Result<ApplyResponse, TargetError>;
    /// Records how the session ended and its statistics.
    fn finish_session(
        &mut self,
        session: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), TargetError>;
}
