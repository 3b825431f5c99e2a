//! Applying batches of volume changes: checks here, meaning in `batch.rs`, one transaction
//! per batch — or per group of batches — in the backend.

use crate::batch::{request_digest, BatchRequest};
use crate::clock::now_text;
use crate::error::StoreError;
use crate::validate::{check_changes, scope_ids};
use crate::Store;
use tapesync_model::{
    ApplyBatch, ApplyResponse, ScopeKey, ScopedBatch, MAX_GROUP_BATCHES, MAX_GROUP_CHANGES,
};

impl Store {
    /// Applies one batch of changes to one scope, atomically.
    ///
    /// Invalid input (a bad volume id, a value that does not fit its field, a field that is
    /// not stored) fails the whole batch with [`StoreError::Invalid`] and writes nothing.
    /// Otherwise each change gets its own outcome: applied, created, a version conflict or a
    /// rejection (an unknown volume without `create_missing`; an unknown customer, media or
    /// repository that `create` does not list — without `create`, `create_missing` decides).
    /// A repeated idempotency key answers with the recorded response, `replayed: true`.
    pub fn apply(
        &mut self,
        actor: &str,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, StoreError> {
        let request = self.checked_request(actor, scope, batch, &now_text())?;
        let mut responses = self.backend.apply(vec![request])?;
        responses
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a batch was applied without an answer".into()))
    }

    /// Applies several batches, of one scope or several, in one transaction: all of them or
    /// none, with one durable commit for the lot. Each batch means exactly what it means to
    /// [`Store::apply`] (its own idempotency key, scope version step, audit rows, session
    /// scope and moves) and sees what the batches before it in the group wrote, so two
    /// batches of one scope in a group step its version twice. The answers come in order.
    ///
    /// Every batch is checked before anything is written; an invalid batch, an error in any
    /// batch, an empty group or one over [`MAX_GROUP_BATCHES`] batches or
    /// [`MAX_GROUP_CHANGES`] changes in all fails the whole group and writes nothing.
    pub fn apply_group(
        &mut self,
        actor: &str,
        batches: &[ScopedBatch],
    ) -> Result<Vec<ApplyResponse>, StoreError> {
        check_group_size(batches)?;
        let now = now_text();
        let requests = batches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let scope = ScopeKey {
                    customer: b.customer.clone(),
                    media: b.media.clone(),
                };
                self.checked_request(actor, &scope, &b.batch, &now)
                    .map_err(|e| in_batch(i, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.backend.apply(requests)
    }

    /// Checks one batch and puts it in canonical form: what [`Store::apply`] and
    /// [`Store::apply_group`] hand the backend.
    fn checked_request<'a>(
        &self,
        actor: &'a str,
        scope: &ScopeKey,
        batch: &'a ApplyBatch,
        now: &str,
    ) -> Result<BatchRequest<'a>, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        if batch.idempotency_key.trim().is_empty() {
            return Err(StoreError::invalid(None, "the idempotency key is empty"));
        }
        let changes = check_changes(&self.columns, batch)?;
        let digest = request_digest(
            &changes,
            batch.create_missing,
            batch.create.as_ref(),
            batch.session,
        );
        Ok(BatchRequest {
            actor,
            customer,
            media,
            key: &batch.idempotency_key,
            session: batch.session,
            create_missing: batch.create_missing,
            create: batch.create.as_ref(),
            changes,
            now: now.to_string(),
            digest,
        })
    }

    /// Forgets idempotency records older than `before` (RFC 3339), so the table does not grow
    /// without bound. Returns how many were removed.
    pub fn prune_applied_batches(&self, before: &str) -> Result<usize, StoreError> {
        self.backend.prune_applied_batches(before)
    }
}

/// Refuses an empty group and one over the limits, before any batch is looked at.
pub fn check_group_size(batches: &[ScopedBatch]) -> Result<(), StoreError> {
    if batches.is_empty() {
        return Err(StoreError::invalid(None, "the group holds no batch"));
    }
    if batches.len() > MAX_GROUP_BATCHES {
        return Err(StoreError::invalid(
            None,
            format!(
                "the group holds {} batches; at most {MAX_GROUP_BATCHES} fit in one group",
                batches.len()
            ),
        ));
    }
    let changes: usize = batches.iter().map(|b| b.batch.changes.len()).sum();
    if changes > MAX_GROUP_CHANGES {
        return Err(StoreError::invalid(
            None,
            format!(
                "the group holds {changes} changes; at most {MAX_GROUP_CHANGES} fit in one group"
            ),
        ));
    }
    Ok(())
}

/// Says which batch of a group an invalid or conflicting request came from (1-based, as a
/// person counts).
pub(crate) fn in_batch(index: usize, e: StoreError) -> StoreError {
    let n = index + 1;
    match e {
        StoreError::Invalid {
            volume,
            field,
            message,
        } => StoreError::Invalid {
            volume,
            field,
            message: format!("{message} (batch {n} of the group)"),
        },
        StoreError::Conflict(message) => {
            StoreError::Conflict(format!("{message} (batch {n} of the group)"))
        }
        other => other,
    }
}
