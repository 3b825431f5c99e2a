//! Applying a scope's changes: in batches of `--batch-size`, each atomic and idempotent (a key
//! per batch), each retried while the inventory is unavailable, and the per-volume answers
//! counted into the statistics and reported to the observer.

use crate::observer::Observer;
use crate::scope::diff::PendingChange;
use crate::scope::new_ids::NewIds;
use crate::stats::RunStats;
use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{Target, TargetError};
use tapesync_model::{ApplyBatch, ApplyResponse, ScopeKey, VolumeOutcome};

/// Applies changes of one scope in batches.
pub struct Applier<'a> {
    pub target: &'a mut dyn Target,
    pub session: Option<i64>,
    /// Unique per run; batch keys are `<run key>-<sequence>`.
    pub run_key: String,
    pub sequence: u64,
    pub batch_size: usize,
    pub add_new: bool,
    /// What each batch may create besides volumes.
    pub new_ids: NewIds,
    pub retry: RetryPolicy,
    pub dry_run: bool,
    pub source_name: String,
}

/// What sending one scope's changes gave: the answers, batch by batch, and the error that
/// stopped the rest (if one did).
pub struct Sent {
    /// Batches the target answered (including one whose answer did not fit the batch).
    pub batches: u64,
    pub responses: Vec<ApplyResponse>,
    pub error: Option<TargetError>,
}

impl Applier<'_> {
    /// Sends `changes` and records the outcomes (or, for a dry run, reports them).
    pub fn apply(
        &mut self,
        scope: &ScopeKey,
        changes: &[PendingChange],
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<(), TargetError> {
        if self.dry_run {
            for p in changes {
                observer.would_change(scope, &p.change, p.before.as_ref());
                match p.change.expected_version {
                    Some(_) => stats.statistics.volumes_updated += 1,
                    None => stats.statistics.volumes_added += 1,
                }
            }
            return Ok(());
        }
        let sent = self.send(scope, changes);
        record_outcomes(
            &self.source_name,
            self.batch_size,
            scope,
            changes,
            sent,
            stats,
            observer,
        )
    }

    /// Sends `changes` in batches (retrying each with its own key) and collects the answers;
    /// touches neither the statistics nor the observer, so that it can run on another thread
    /// while the next scope is compared.
    pub fn send(&mut self, scope: &ScopeKey, changes: &[PendingChange]) -> Sent {
        let mut sent = Sent {
            batches: 0,
            responses: Vec::new(),
            error: None,
        };
        for chunk in changes.chunks(self.batch_size.max(1)) {
            self.sequence += 1;
            let batch = ApplyBatch {
                idempotency_key: format!("{}-{}", self.run_key, self.sequence),
                session: self.session,
                create_missing: self.add_new,
                create: Some(
                    self.new_ids
                        .for_batch(scope, chunk.iter().map(|p| &p.change)),
                ),
                changes: chunk.iter().map(|p| p.change.clone()).collect(),
            };
            let target = &mut *self.target;
            match with_retry(&self.retry, || target.apply(scope, &batch)) {
                Ok(response) => {
                    sent.batches += 1;
                    if response.results.len() != chunk.len() {
                        sent.error = Some(TargetError::Internal(format!(
                            "the inventory answered {} results for a batch of {} changes",
                            response.results.len(),
                            chunk.len()
                        )));
                        return sent;
                    }
                    sent.responses.push(response);
                }
                Err(e) => {
                    sent.error = Some(e);
                    return sent;
                }
            }
        }
        sent
    }
}

/// Counts and reports the outcomes of [`Applier::send`] for `changes` (in its order).
pub fn record_outcomes(
    source_name: &str,
    batch_size: usize,
    scope: &ScopeKey,
    changes: &[PendingChange],
    sent: Sent,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) -> Result<(), TargetError> {
    stats.statistics.apply_batches += sent.batches;
    for (chunk, response) in changes.chunks(batch_size.max(1)).zip(&sent.responses) {
        stats.statistics.moves.add(&response.moves);
        for (p, result) in chunk.iter().zip(&response.results) {
            match &result.outcome {
                VolumeOutcome::Applied { .. } => stats.statistics.volumes_updated += 1,
                VolumeOutcome::Created { .. } => stats.statistics.volumes_added += 1,
                VolumeOutcome::Conflict { .. } => {
                    stats.note_conflict(scope, &p.change.volume);
                    observer.conflict(source_name, p.line, scope, &p.change.volume);
                }
                VolumeOutcome::Rejected { reason, .. } => {
                    stats.statistics.records_rejected += 1;
                    observer.rejected(source_name, p.line, reason);
                }
            }
        }
    }
    match sent.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
