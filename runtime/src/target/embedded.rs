//! `EmbeddedTarget`: the inventory store opened in-process (the default target, so a fresh
//! machine needs no server to run a sync).

use super::{ScopeReader, Target, TargetError};
use std::path::Path;
use tapesync_model::{
    ApplyBatch, ApplyResponse, Field, ScopeKey, ScopeSnapshot, ScopeTable, ScopeVersions,
    ScopedBatch, SessionOutcome, SessionStart, SyncStatistics,
};
use tapesync_store::ScratchLevel;
use tapesync_store::{Store, StoreError, StoreLocation};

pub struct EmbeddedTarget {
    store: Store,
    /// Who the audit trail names for this session's changes.
    actor: String,
}

impl EmbeddedTarget {
    /// Opens (creating if missing) the store file at `path`.
    pub fn open(path: &Path, actor: &str) -> Result<EmbeddedTarget, TargetError> {
        EmbeddedTarget::open_location(&path.into(), actor)
    }

    /// Opens (creating if missing) the store at `location`: a file or a PostgreSQL database.
    pub fn open_location(
        location: &StoreLocation,
        actor: &str,
    ) -> Result<EmbeddedTarget, TargetError> {
        let store = Store::open_location(location)
            .map_err(|e| TargetError::Internal(format!("cannot open the store {location}: {e}")))?;
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

/// Downloads scopes on a connection of its own to the store (see [`Target::scope_reader`]);
/// SQLite's WAL (or PostgreSQL) lets it read while the target's connection applies.
pub struct EmbeddedReader {
    store: Store,
}

impl ScopeReader for EmbeddedReader {
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        self.store.download_table(scope, columns).map_err(map_err)
    }

    fn download_table_into(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
        table: &mut ScopeTable,
    ) -> Result<(), TargetError> {
        self.store
            .download_table_into(scope, columns, table)
            .map_err(map_err)
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

    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        self.store.download_table(scope, columns).map_err(map_err)
    }

    fn scope_versions(&mut self, scopes: &[ScopeKey]) -> Result<ScopeVersions, TargetError> {
        self.store.scope_versions(scopes).map_err(map_err)
    }

    /// A reader on a second connection to the store; `None` for an in-memory store, which no
    /// other connection can see. A reader that cannot be opened is also `None`: the run then
    /// simply downloads on this connection.
    fn scope_reader(&self) -> Option<Box<dyn ScopeReader>> {
        let store = self.store.reader()?.ok()?;
        Some(Box::new(EmbeddedReader { store }))
    }

    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, TargetError> {
        self.store.apply(&self.actor, scope, batch).map_err(map_err)
    }

    /// One transaction of the store for the whole group; an embedded store always can.
    fn apply_group(
        &mut self,
        batches: &[ScopedBatch],
    ) -> Result<Option<Vec<ApplyResponse>>, TargetError> {
        self.store
            .apply_group(&self.actor, batches)
            .map(Some)
            .map_err(map_err)
    }

    fn scratch_levels(&mut self, customer: &str) -> Result<Vec<ScratchLevel>, TargetError> {
        self.store.scratch_levels(Some(customer)).map_err(map_err)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::table_from_snapshot;
    use std::collections::BTreeMap;
    use tapesync_model::VolumeChange;

    fn scope() -> ScopeKey {
        ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        }
    }

    fn seed(target: &mut EmbeddedTarget) {
        let batch = ApplyBatch {
            idempotency_key: "seed".into(),
            session: None,
            create_missing: true,
            create: None,
            changes: (0..50)
                .map(|i| VolumeChange {
                    volume: format!("V{i:03}"),
                    expected_version: None,
                    set: BTreeMap::from([(Field::Slot, (i % 3 != 0).then(|| format!("{i}")))]),
                })
                .collect(),
        };
        target.apply(&scope(), &batch).unwrap();
    }

    #[test]
    fn tables_from_the_target_and_its_reader_match_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = EmbeddedTarget::open(&dir.path().join("inv.db"), "t").unwrap();
        seed(&mut target);
        let columns = [Field::Slot, Field::Repository];
        let mut expected =
            table_from_snapshot(target.download_scope(&scope()).unwrap(), &columns).unwrap();
        // A snapshot does not carry the scope version; the table does.
        expected.scope_version = target.scope_versions(&[scope()]).unwrap().scopes[0].version;
        assert!(expected.scope_version > 0);
        assert_eq!(expected.len(), 50);
        assert_eq!(target.download_table(&scope(), &columns).unwrap(), expected);
        let mut reader = target.scope_reader().expect("a file store has a reader");
        let on_thread = std::thread::spawn(move || reader.download_table(&scope(), &columns));
        assert_eq!(on_thread.join().unwrap().unwrap(), expected);
        assert!(matches!(
            target.download_table(&scope(), &[Field::RepositoryDesc]),
            Err(TargetError::Refused(_))
        ));
    }

    #[test]
    fn an_in_memory_store_has_no_reader() {
        let mut target = EmbeddedTarget::new(Store::open_in_memory().unwrap(), "t");
        seed(&mut target);
        assert!(target.scope_reader().is_none());
        assert_eq!(target.download_table(&scope(), &[]).unwrap().len(), 50);
    }
}
