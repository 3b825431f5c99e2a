//! Pruning what the store would otherwise keep for ever: expired tokens, idempotency records a
//! client can no longer retry with, idle logon-throttle counters. Run by the server's periodic
//! task and by `tapesync admin prune`; every step is a plain `DELETE … WHERE <older than>`, so
//! several nodes pruning at once only share the work.

use crate::clock::now_millis;
use crate::error::StoreError;
use crate::{Store, ThrottlePolicy};
use chrono::{SecondsFormat, Utc};

/// How long an idempotency record (a batch's key, digest and answer) is kept. A client retries
/// a batch within its run — minutes, at most hours for the largest sync — so a week leaves a
/// wide margin (docs/server-api.md, "Pruning").
pub const IDEMPOTENCY_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What one [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    pub expired_tokens: usize,
    pub idempotency_records: usize,
    pub throttle_counters: usize,
}

impl Store {
    /// Removes expired tokens, idempotency records older than [`IDEMPOTENCY_RETENTION`] and
    /// logon-throttle counters idle longer than the policy's `forget_after`.
    pub fn prune(&self, policy: &ThrottlePolicy) -> Result<PruneReport, StoreError> {
        let before =
            (Utc::now() - IDEMPOTENCY_RETENTION).to_rfc3339_opts(SecondsFormat::Millis, true);
        let forget = i64::try_from(policy.forget_after.as_millis()).unwrap_or(i64::MAX);
        Ok(PruneReport {
            expired_tokens: self.delete_expired_tokens()?,
            idempotency_records: self.prune_applied_batches(&before)?,
            throttle_counters: self
                .backend
                .prune_throttle(now_millis().saturating_sub(forget))?,
        })
    }
}
