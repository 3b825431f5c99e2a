//! Tests of the store, by subject. Where the contract is the same on both backends a test
//! runs on each store [`stores`] returns: a SQLite file, and a PostgreSQL schema of its own
//! when a test database is configured (`crate::testing`).

mod administration;
mod apply;
mod browse;
mod download;
mod dump;
mod durability;
mod group;
mod moves;
mod reconcile;
mod schema;
mod scope_versions;
mod scratch;
mod sessions;
mod users;

use crate::testing::TestDatabase;
use crate::{Store, StoreError, StoreLocation};
pub(crate) use std::collections::BTreeMap;
use tapesync_model::{ApplyBatch, ApplyResponse, Field, ScopeKey, VolumeChange, VolumeOutcome};

/// A store under test and what keeps it alive.
pub(crate) struct TestStore {
    pub store: Store,
    pub kind: &'static str,
    pub location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl TestStore {
    /// Another connection to the same store.
    pub fn reopen(&self) -> Store {
        Store::open_location(&self.location).unwrap()
    }
}

/// Names the backend in the output of a test that fails while it is in scope.
pub(crate) struct Backend(pub &'static str);

impl Drop for Backend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failure above was on the {} backend)", self.0);
        }
    }
}

/// An empty store on each backend.
pub(crate) fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let location = StoreLocation::File(path.clone());
    let mut out = vec![TestStore {
        store: Store::open(&path).unwrap(),
        kind: "SQLite",
        location,
        _dir: Some(dir),
        _db: None,
    }];
    if let Some(db) = TestDatabase::create() {
        let location = db.location();
        out.push(TestStore {
            store: Store::open_location(&location).unwrap(),
            kind: "PostgreSQL",
            location,
            _dir: None,
            _db: Some(db),
        });
    }
    out
}

/// Runs `test` on an empty store of each backend.
pub(crate) fn on_each(mut test: impl FnMut(&mut TestStore)) {
    for mut t in stores() {
        let _named = Backend(t.kind);
        test(&mut t);
    }
}

/// Runs `test` on a [`seed`]ed store of each backend.
pub(crate) fn on_each_seeded(mut test: impl FnMut(&mut Store)) {
    on_each(|t| {
        seed(&t.store);
        test(&mut t.store)
    });
}

pub(crate) fn scope() -> ScopeKey {
    ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    }
}

/// Customer US01 with media LTO and repositories LIBR and OFFS.
pub(crate) fn seed(store: &Store) {
    store.add_customer("US01", "Acme").unwrap();
    store.add_media("US01", "LTO", "LTO tapes").unwrap();
    store.add_repository("US01", "LIBR", "Library").unwrap();
    store
        .add_repository("US01", "OFFS", "Offsite vault")
        .unwrap();
}

pub(crate) fn change(
    volume: &str,
    expected: Option<u64>,
    set: &[(Field, Option<&str>)],
) -> VolumeChange {
    VolumeChange {
        volume: volume.into(),
        expected_version: expected,
        set: set
            .iter()
            .map(|(f, v)| (*f, v.map(str::to_string)))
            .collect(),
    }
}

pub(crate) fn batch(key: &str, create_missing: bool, changes: Vec<VolumeChange>) -> ApplyBatch {
    ApplyBatch {
        idempotency_key: key.into(),
        session: None,
        create_missing,
        create: None,
        changes,
    }
}

/// Applies a batch of one change to `scope()`.
pub(crate) fn apply_one(
    store: &mut Store,
    actor: &str,
    key: &str,
    create_missing: bool,
    change: VolumeChange,
) -> Result<ApplyResponse, StoreError> {
    store.apply(actor, &scope(), &batch(key, create_missing, vec![change]))
}

pub(crate) fn outcomes(r: &ApplyResponse) -> Vec<VolumeOutcome> {
    r.results.iter().map(|r| r.outcome.clone()).collect()
}

pub(crate) fn count(store: &Store, table: &str) -> i64 {
    store
        .backend
        .test_scalar(&format!("SELECT count(*) FROM {table}"))
}
