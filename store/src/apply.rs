//! Applying a batch of volume changes: checks here, meaning in `batch.rs`, one transaction
//! per batch in the backend.

use crate::batch::{request_digest, BatchRequest};
use crate::clock::now_text;
use crate::error::StoreError;
use crate::validate::{check_changes, scope_ids};
use crate::Store;
use tapesync_model::{ApplyBatch, ApplyResponse, ScopeKey};

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
        self.backend.apply(BatchRequest {
            actor,
            customer,
            media,
            key: &batch.idempotency_key,
            session: batch.session,
            create_missing: batch.create_missing,
            create: batch.create.as_ref(),
            changes,
            now: now_text(),
            digest,
        })
    }

    /// Forgets idempotency records older than `before` (RFC 3339), so the table does not grow
    /// without bound. Returns how many were removed.
    pub fn prune_applied_batches(&self, before: &str) -> Result<usize, StoreError> {
        self.backend.prune_applied_batches(before)
    }
}
