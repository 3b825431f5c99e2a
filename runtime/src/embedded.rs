//! `EmbeddedTarget`: the inventory store opened in-process (the default target, so a fresh
//! machine needs no server to run a sync).

use crate::target::{Target, TargetError};
use std::path::Path;
use tapesync_model::{
    ApplyBatch, ApplyResponse, ScopeKey, ScopeSnapshot, SessionOutcome, SessionStart,
    SyncStatistics,
};
use tapesync_store::{Store, StoreError};

pub struct EmbeddedTarget {
    store: Store,
    /// Who the audit trail names for this session's changes.
    actor: String,
}

impl EmbeddedTarget {
    /// Opens (creating if missing) the store file at `path`.
    pub fn open(path: &Path, actor: &str) -> Result<EmbeddedTarget, TargetError> {
        let store = Store::open(path).map_err(|e| {
            TargetError::Internal(format!("cannot open the store {}: {e}", path.display()))
        })?;
        Ok(EmbeddedTarget::new(store, actor))
    }

    pub fn new(store: Store, actor: &str) -> EmbeddedTarget {
        EmbeddedTarget {
            store,
            actor: actor.to_string(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn into_store(self) -> Store {
        self.store
    }
}

/// Busy/locked databases are transient (another writer holds the lock): worth a retry.
fn map_err(e: StoreError) -> TargetError {
    if e.is_busy() {
        return TargetError::Unavailable(e.to_string());
    }
    match e {
        StoreError::Invalid { .. } | StoreError::NotFound(_) | StoreError::Conflict(_) => {
            TargetError::Refused(e.to_string())
        }
        other => TargetError::Internal(other.to_string()),
    }
}

impl Target for EmbeddedTarget {
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
        self.store
            .begin_session(&self.actor, start)
            .map_err(map_err)
    }

    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError> {
        self.store.download_scope(scope).map_err(map_err)
    }

    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, TargetError> {
        self.store.apply(&self.actor, scope, batch).map_err(map_err)
    }

    fn finish_session(
        &mut self,
        session: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), TargetError> {
        self.store
            .finish_session(session, outcome, stats)
            .map_err(map_err)
    }
}

/// The name the audit trail records for local runs: the operating-system user.
pub fn local_actor() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "local".to_string())
}
