//! Unit tests of the store: schema, apply semantics, audit, sessions, users, dumps.

use super::*;
use std::collections::BTreeMap;
use tapesync_model::{
    ApplyBatch, ApplyResponse, CustomerDump, Field, InventoryDump, MediaDump, RepositoryInfo,
    ScopeKey, SessionOutcome, SessionStart, SyncStatistics, VolumeChange, VolumeDump,
    VolumeOutcome,
};

fn scope() -> ScopeKey {
    ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    }
}

/// A store with customer US01 (media LTO, repositories LIBR and OFFS).
fn seeded() -> Store {
    let store = Store::open_in_memory().unwrap();
    store.add_customer("US01", "Acme").unwrap();
    store.add_media("US01", "LTO", "LTO tapes").unwrap();
    store.add_repository("US01", "LIBR", "Library").unwrap();
    store
        .add_repository("US01", "OFFS", "Offsite vault")
        .unwrap();
    store
}

fn change(volume: &str, expected: Option<u64>, set: &[(Field, Option<&str>)]) -> VolumeChange {
    VolumeChange {
        volume: volume.into(),
        expected_version: expected,
        set: set
            .iter()
            .map(|(f, v)| (*f, v.map(str::to_string)))
            .collect(),
    }
}

fn batch(key: &str, create_missing: bool, changes: Vec<VolumeChange>) -> ApplyBatch {
    ApplyBatch {
        idempotency_key: key.into(),
        session: None,
        create_missing,
        changes,
    }
}

/// Applies a batch of one change to `scope()`.
fn apply_one(
    store: &mut Store,
    actor: &str,
    key: &str,
    create_missing: bool,
    change: VolumeChange,
) -> Result<ApplyResponse, StoreError> {
    store.apply(actor, &scope(), &batch(key, create_missing, vec![change]))
}

fn outcomes(r: &ApplyResponse) -> Vec<VolumeOutcome> {
    r.results.iter().map(|r| r.outcome.clone()).collect()
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn every_stored_field_has_a_column() {
    let store = Store::open_in_memory().unwrap();
    let mut stmt = store.conn.prepare("PRAGMA table_info(volumes)").unwrap();
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for field in Field::stored() {
        let col = column(field).unwrap_or_else(|| panic!("{field} has no column"));
        assert!(names.iter().any(|n| n == col), "volumes lacks {col}");
    }
    assert_eq!(store.columns.fields.len(), Field::stored().count());
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        store.add_customer("US01", "Acme").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.list_customers().unwrap().len(), 1);
    assert_eq!(store.path(), Some(path.as_path()));
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    match Store::open(&path) {
        Err(StoreError::NewerSchema { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[test]
fn administration_validates_ids_and_refuses_duplicates() {
    let store = seeded();
    assert!(matches!(
        store.add_customer("US01", "again"),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_customer("TOOLONG", ""),
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.add_media("ZZ99", "LTO", ""),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.add_repository("US01", "VLT", "a description that is far too long"),
        Err(StoreError::Invalid { .. })
    ));
    // Ids are stored upper-cased.
    store.add_media("us01", "dlt", "").unwrap();
    let customers = store.list_customers().unwrap();
    assert_eq!(customers[0].id, "US01");
    let media: Vec<&str> = customers[0].media.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(media, ["DLT", "LTO"]);
    let repos: Vec<&str> = customers[0]
        .repositories
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(repos, ["LIBR", "OFFS"]);
}

#[test]
fn apply_creates_updates_and_audits() {
    let mut store = seeded();
    let created = apply_one(
        &mut store,
        "alice",
        "k1",
        true,
        change(
            "a00001",
            None,
            &[
                (Field::Repository, Some("LIBR")),
                (Field::Scratch, Some("yes")),
            ],
        ),
    )
    .unwrap();
    assert!(!created.replayed);
    assert_eq!(created.results[0].volume, "A00001");
    assert_eq!(outcomes(&created), [VolumeOutcome::Created { version: 1 }]);
    let updated = apply_one(
        &mut store,
        "alice",
        "k2",
        false,
        change(
            "A00001",
            Some(1),
            &[(Field::Repository, Some("OFFS")), (Field::Scratch, None)],
        ),
    )
    .unwrap();
    assert_eq!(outcomes(&updated), [VolumeOutcome::Applied { version: 2 }]);
    let v = store.volume(&scope(), "A00001").unwrap().unwrap();
    assert_eq!(v.version, 2);
    assert_eq!(
        v.fields,
        BTreeMap::from([(Field::Repository, "OFFS".to_string())])
    );
    let history = store.volume_history(&scope(), "a00001").unwrap();
    let trail: Vec<(Field, Option<&str>, Option<&str>)> = history
        .iter()
        .map(|e| (e.field, e.old.as_deref(), e.new.as_deref()))
        .collect();
    assert_eq!(
        trail,
        [
            (Field::Volume, None, Some("A00001")),
            (Field::Repository, None, Some("LIBR")),
            (Field::Scratch, None, Some("true")),
            (Field::Repository, Some("LIBR"), Some("OFFS")),
            (Field::Scratch, Some("true"), None),
        ]
    );
    assert!(history
        .iter()
        .all(|e| e.user == "alice" && e.session.is_none()));
}

#[test]
fn unchanged_values_do_not_bump_the_version() {
    let mut store = seeded();
    apply_one(
        &mut store,
        "a",
        "k1",
        true,
        change("V1", None, &[(Field::Slot, Some("12"))]),
    )
    .unwrap();
    let r = apply_one(
        &mut store,
        "a",
        "k2",
        false,
        change("V1", Some(1), &[(Field::Slot, Some("12"))]),
    )
    .unwrap();
    assert_eq!(outcomes(&r), [VolumeOutcome::Applied { version: 1 }]);
    assert_eq!(store.volume_history(&scope(), "V1").unwrap().len(), 2);
}

#[test]
fn stale_versions_conflict_and_write_nothing() {
    let mut store = seeded();
    apply_one(
        &mut store,
        "a",
        "k1",
        true,
        change("V1", None, &[(Field::Slot, Some("1"))]),
    )
    .unwrap();
    let r = store
        .apply(
            "b",
            &scope(),
            &batch(
                "k2",
                false,
                vec![
                    change("V1", Some(7), &[(Field::Slot, Some("2"))]),
                    change("V1", None, &[(Field::Slot, Some("3"))]),
                    change("V2", Some(1), &[(Field::Slot, Some("4"))]),
                ],
            ),
        )
        .unwrap();
    assert_eq!(
        outcomes(&r),
        [
            VolumeOutcome::Conflict {
                current_version: Some(1)
            },
            VolumeOutcome::Conflict {
                current_version: Some(1)
            },
            VolumeOutcome::Conflict {
                current_version: None
            },
        ]
    );
    let v = store.volume(&scope(), "V1").unwrap().unwrap();
    assert_eq!((v.version, v.fields[&Field::Slot].as_str()), (1, "1"));
    assert!(store.volume(&scope(), "V2").unwrap().is_none());
}

#[test]
fn replayed_keys_answer_the_recorded_response() {
    let mut store = seeded();
    let b = batch(
        "same",
        true,
        vec![change("V1", None, &[(Field::Slot, Some("1"))])],
    );
    let first = store.apply("a", &scope(), &b).unwrap();
    let audit_rows = count(&store, "audit");
    let second = store.apply("a", &scope(), &b).unwrap();
    assert!(second.replayed);
    assert_eq!(second.results, first.results);
    assert_eq!(count(&store, "audit"), audit_rows);
    assert_eq!(store.volume(&scope(), "V1").unwrap().unwrap().version, 1);
    // The same key for another scope is a client bug, not a replay: a conflict (409 over
    // HTTP) that does not name the scope the key was used for.
    let other = ScopeKey {
        customer: "US01".into(),
        media: "DLT".into(),
    };
    match store.apply("a", &other, &b) {
        Err(StoreError::Conflict(message)) => {
            assert!(!message.contains(&scope().customer), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn missing_things_are_rejected_without_create_missing() {
    let mut store = seeded();
    let r = store
        .apply(
            "a",
            &scope(),
            &batch(
                "k1",
                false,
                vec![
                    change("NEW1", None, &[(Field::Slot, Some("1"))]),
                    change("NEW2", None, &[(Field::Repository, Some("VLT1"))]),
                ],
            ),
        )
        .unwrap();
    match &outcomes(&r)[..] {
        [VolumeOutcome::Rejected { field: f1, .. }, VolumeOutcome::Rejected { field: f2, .. }] => {
            assert_eq!(*f1, Some(Field::Volume));
            assert_eq!(*f2, Some(Field::Volume));
        }
        other => panic!("{other:?}"),
    }
    let unknown = ScopeKey {
        customer: "ZZ01".into(),
        media: "LTO".into(),
    };
    let r = store
        .apply(
            "a",
            &unknown,
            &batch("k2", false, vec![change("V1", None, &[])]),
        )
        .unwrap();
    assert!(matches!(
        &outcomes(&r)[..],
        [VolumeOutcome::Rejected {
            field: Some(Field::Customer),
            ..
        }]
    ));
    // An existing volume moved to an unknown repository.
    apply_one(&mut store, "a", "k3", true, change("V1", None, &[])).unwrap();
    let r = apply_one(
        &mut store,
        "a",
        "k4",
        false,
        change("V1", Some(1), &[(Field::Repository, Some("VLT1"))]),
    )
    .unwrap();
    assert!(matches!(
        &outcomes(&r)[..],
        [VolumeOutcome::Rejected {
            field: Some(Field::Repository),
            ..
        }]
    ));
    assert_eq!(count(&store, "customers"), 1);
}

#[test]
fn create_missing_creates_customer_media_repository_and_volume() {
    let mut store = Store::open_in_memory().unwrap();
    let r = store
        .apply(
            "a",
            &ScopeKey {
                customer: "eu02".into(),
                media: "lto9".into(),
            },
            &batch(
                "k1",
                true,
                vec![change("X1", None, &[(Field::Repository, Some("vlt"))])],
            ),
        )
        .unwrap();
    assert_eq!(outcomes(&r), [VolumeOutcome::Created { version: 1 }]);
    let snap = store
        .download_scope(&ScopeKey {
            customer: "EU02".into(),
            media: "LTO9".into(),
        })
        .unwrap();
    assert!(snap.customer_exists && snap.media_exists);
    assert_eq!(
        snap.repositories,
        [RepositoryInfo {
            id: "VLT".into(),
            description: String::new()
        }]
    );
    assert_eq!(snap.volumes[0].fields[&Field::Repository], "VLT");
}

#[test]
fn an_invalid_value_refuses_the_whole_batch() {
    let mut store = seeded();
    let b = batch(
        "k1",
        true,
        vec![
            change("GOOD1", None, &[(Field::Slot, Some("1"))]),
            change("BAD1", None, &[(Field::Scratch, Some("maybe"))]),
        ],
    );
    match store.apply("a", &scope(), &b) {
        Err(StoreError::Invalid { volume, field, .. }) => {
            assert_eq!(volume.as_deref(), Some("BAD1"));
            assert_eq!(field, Some(Field::Scratch));
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        change("X", None, &[]),
        change("V1", None, &[(Field::User(1), Some("x"))]),
        change("V1", None, &[(Field::Slot, Some("12345678901"))]),
    ] {
        assert!(matches!(
            store.apply("a", &scope(), &batch("k2", true, vec![bad])),
            Err(StoreError::Invalid { .. })
        ));
    }
    assert_eq!(count(&store, "volumes"), 0);
    assert_eq!(count(&store, "audit"), 0);
    // The refused key was not recorded: a corrected retry under it applies.
    let fixed = batch("k1", true, vec![change("GOOD1", None, &[])]);
    assert!(!store.apply("a", &scope(), &fixed).unwrap().replayed);
}

#[test]
fn an_interrupted_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let mut store = Store::open(&path).unwrap();
    store.add_customer("US01", "").unwrap();
    store.add_media("US01", "LTO", "").unwrap();
    apply_one(
        &mut store,
        "a",
        "k1",
        true,
        change("V1", None, &[(Field::Slot, Some("1"))]),
    )
    .unwrap();
    {
        // Half a batch written by hand, then dropped without commit: as if the process died.
        let tx = store.conn.transaction().unwrap();
        tx.execute("UPDATE volumes SET slot = 'X', version = 2", [])
            .unwrap();
        tx.execute(
            "INSERT INTO audit (actor, at, customer, media, volume, field, new)
             VALUES ('a', 'now', 'US01', 'LTO', 'V1', 'SLOT', 'X')",
            [],
        )
        .unwrap();
    }
    drop(store);
    let store = Store::open(&path).unwrap();
    let v = store.volume(&scope(), "V1").unwrap().unwrap();
    assert_eq!((v.version, v.fields[&Field::Slot].as_str()), (1, "1"));
    assert_eq!(count(&store, "audit"), 2);
}

/// A copy of the files taken while a big batch is half written is what a `kill -9` leaves
/// behind. Opening it must show the state before the batch: with a tiny page cache SQLite
/// spills uncommitted pages into the WAL, but without a commit frame recovery ignores them.
#[test]
fn files_copied_mid_transaction_recover_to_the_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let mut store = Store::open(&path).unwrap();
    store.add_customer("US01", "").unwrap();
    store.add_media("US01", "LTO", "").unwrap();
    apply_one(&mut store, "a", "k1", true, change("V1", None, &[])).unwrap();
    store.conn.execute_batch("PRAGMA cache_size = 2").unwrap();
    let tx = store.conn.transaction().unwrap();
    for i in 0..5000 {
        tx.execute(
            "INSERT INTO audit (actor, at, customer, media, volume, field, new)
             VALUES ('a', 'now', 'US01', 'LTO', 'V1', 'SLOT', ?1)",
            [format!("{i:0>200}")],
        )
        .unwrap();
    }
    tx.execute("UPDATE volumes SET version = 99", []).unwrap();
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    for suffix in ["", "-wal"] {
        let from = dir.path().join(format!("inv.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, crashed.join(format!("inv.db{suffix}"))).unwrap();
        }
    }
    let wal = std::fs::metadata(crashed.join("inv.db-wal")).unwrap().len();
    assert!(wal > 100_000, "uncommitted pages were spilled to the WAL");
    drop(tx);
    let recovered = Store::open(&crashed.join("inv.db")).unwrap();
    assert_eq!(
        recovered.volume(&scope(), "V1").unwrap().unwrap().version,
        1
    );
    assert_eq!(count(&recovered, "audit"), 1);
}

#[test]
fn download_is_sorted_and_complete() {
    let mut store = seeded();
    let changes = ["C3", "A1", "B2"]
        .iter()
        .map(|v| change(v, None, &[(Field::Description, Some("d"))]))
        .collect();
    let rejected = store
        .apply("a", &scope(), &batch("k", false, changes))
        .unwrap();
    assert!(rejected
        .results
        .iter()
        .all(|r| matches!(r.outcome, VolumeOutcome::Rejected { .. })));
    store
        .apply(
            "a",
            &scope(),
            &batch(
                "k2",
                true,
                ["C3", "A1", "B2"]
                    .iter()
                    .map(|v| change(v, None, &[(Field::Description, Some("d"))]))
                    .collect(),
            ),
        )
        .unwrap();
    let snap = store.download_scope(&scope()).unwrap();
    let ids: Vec<&str> = snap.volumes.iter().map(|v| v.volume.as_str()).collect();
    assert_eq!(ids, ["A1", "B2", "C3"]);
    assert!(snap.customer_exists && snap.media_exists);
    assert_eq!(snap.repositories.len(), 2);
    let none = store
        .download_scope(&ScopeKey {
            customer: "US01".into(),
            media: "DLT".into(),
        })
        .unwrap();
    assert!(none.customer_exists && !none.media_exists && none.volumes.is_empty());
}

#[test]
fn sessions_are_recorded_and_listed_per_customer() {
    let mut store = seeded();
    store.add_customer("EU02", "").unwrap();
    store.add_media("EU02", "LTO", "").unwrap();
    let start = SessionStart {
        definition_hash: "ab".repeat(32),
        definition_name: "nbu.ttidef".into(),
        source_name: "report.csv".into(),
    };
    let s1 = store.begin_session("alice", &start).unwrap();
    let s2 = store.begin_session("bob", &start).unwrap();
    let mut b = batch("k1", true, vec![change("V1", None, &[])]);
    b.session = Some(s1);
    store.apply("alice", &scope(), &b).unwrap();
    let mut b = batch("k2", true, vec![change("V1", None, &[])]);
    b.session = Some(s2);
    store
        .apply(
            "bob",
            &ScopeKey {
                customer: "EU02".into(),
                media: "LTO".into(),
            },
            &b,
        )
        .unwrap();
    let stats = SyncStatistics {
        records_read: 10,
        volumes_added: 1,
        ..SyncStatistics::default()
    };
    store
        .finish_session(s1, SessionOutcome::Completed, &stats)
        .unwrap();
    let all = store.list_sessions(None, 10).unwrap();
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [s2, s1]);
    assert_eq!(all[0].outcome, SessionOutcome::Running);
    assert_eq!(all[1].statistics.as_ref(), Some(&stats));
    assert!(all[1].finished_at.is_some());
    let us = store
        .list_sessions(Some(&["US01".to_string()]), 10)
        .unwrap();
    assert_eq!(us.len(), 1);
    assert_eq!(us[0].user, "alice");
    assert_eq!(store.list_sessions(None, 1).unwrap().len(), 1);
    assert!(store.list_sessions(Some(&[]), 10).unwrap().is_empty());
    // A session that only looked at EU02 shows up for EU02 once it says so.
    let s3 = store.begin_session("carol", &start).unwrap();
    let eu = ScopeKey {
        customer: "eu02".into(),
        media: "lto".into(),
    };
    store.touch_session_scope(s3, &eu).unwrap();
    store.touch_session_scope(s3, &eu).unwrap();
    let eu_sessions = store
        .list_sessions(Some(&["EU02".to_string()]), 10)
        .unwrap();
    assert_eq!(
        eu_sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        [s3, s2]
    );
    assert!(matches!(
        store.touch_session_scope(999, &eu),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.session_scopes(s1).unwrap(),
        [("US01".to_string(), "LTO".to_string())]
    );
    let history = store.volume_history(&scope(), "V1").unwrap();
    assert_eq!(
        history.len(),
        1,
        "creation is audited even without field values"
    );
    assert_eq!(history[0].session, Some(s1));
    assert_eq!(history[0].field, Field::Volume);
    assert!(matches!(
        store.finish_session(999, SessionOutcome::Failed, &stats),
        Err(StoreError::NotFound(_))
    ));
    let mut b = batch("k3", true, vec![change("V2", None, &[])]);
    b.session = Some(999);
    assert!(matches!(
        store.apply("a", &scope(), &b),
        Err(StoreError::Invalid { .. })
    ));
}

#[test]
fn users_passwords_grants_and_roles() {
    let store = seeded();
    let alice = store.add_user("alice", "s3cret!", false).unwrap();
    assert!(matches!(
        store.add_user("alice", "x", false),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_user("bad name", "x", false),
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.add_user("carol", "", false),
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(
        store.verify_password("alice", "s3cret!").unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.verify_password("alice", "wrong").unwrap(), None);
    assert_eq!(store.failed_logons("alice").unwrap(), 1);
    assert_eq!(store.verify_password("nobody", "s3cret!").unwrap(), None);
    let hash: String = store
        .conn
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("s3cret!"));
    store.set_password("alice", "n3w").unwrap();
    assert_eq!(store.verify_password("alice", "s3cret!").unwrap(), None);
    assert!(store.verify_password("alice", "n3w").unwrap().is_some());
    assert_eq!(store.failed_logons("alice").unwrap(), 0);
    assert!(matches!(
        store.set_password("nobody", "x"),
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(store.role_of(&alice, "US01").unwrap(), None);
    store.grant("alice", "us01", Role::Read).unwrap();
    assert_eq!(store.role_of(&alice, "US01").unwrap(), Some(Role::Read));
    store.grant("alice", "US01", Role::Write).unwrap();
    assert_eq!(store.role_of(&alice, "US01").unwrap(), Some(Role::Write));
    assert_eq!(store.role_of(&alice, "EU02").unwrap(), None);
    assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
    assert!(matches!(
        store.grant("nobody", "US01", Role::Read),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.grants(&alice).unwrap(),
        [("US01".to_string(), Role::Write)]
    );
    assert!(store.revoke("alice", "US01").unwrap());
    assert!(!store.revoke("alice", "US01").unwrap());
    assert_eq!(store.role_of(&alice, "US01").unwrap(), None);

    let admin = store.add_user("root", "pw", true).unwrap();
    assert_eq!(store.role_of(&admin, "ANY1").unwrap(), Some(Role::Admin));
    let names: Vec<String> = store
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.user.name)
        .collect();
    assert_eq!(names, ["alice", "root"]);
    assert_eq!("WRITE".parse::<Role>().unwrap(), Role::Write);
    assert!("owner".parse::<Role>().is_err());
}

#[test]
fn ensure_admin_only_on_first_start() {
    let store = Store::open_in_memory().unwrap();
    let generated = store
        .ensure_admin(None)
        .unwrap()
        .expect("a generated password");
    assert_eq!(generated.len(), 20);
    let admin = store.verify_password("admin", &generated).unwrap().unwrap();
    assert!(admin.is_admin);
    assert_eq!(store.ensure_admin(Some("other")).unwrap(), None);
    assert!(store.verify_password("admin", "other").unwrap().is_none());

    let given = Store::open_in_memory().unwrap();
    assert_eq!(given.ensure_admin(Some("chosen")).unwrap(), None);
    assert!(given.verify_password("admin", "chosen").unwrap().is_some());
}

#[test]
fn tokens_expire_and_are_stored_hashed() {
    let store = Store::open_in_memory().unwrap();
    let user = store.add_user("bob", "pw", false).unwrap();
    let token = store.create_token(&user, 3600).unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(store.user_for_token(&token).unwrap(), Some(user.clone()));
    assert_eq!(store.user_for_token("not-a-token").unwrap(), None);
    let stored: String = store
        .conn
        .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, token);

    let expired = store.create_token(&user, 0).unwrap();
    assert_eq!(store.user_for_token(&expired).unwrap(), None);
    assert_eq!(store.delete_expired_tokens().unwrap(), 1);
    assert!(store.revoke_token(&token).unwrap());
    assert_eq!(store.user_for_token(&token).unwrap(), None);
}

fn sample_dump() -> InventoryDump {
    InventoryDump {
        customers: vec![CustomerDump {
            id: "US01".into(),
            name: "Acme".into(),
            media: vec![MediaDump {
                id: "LTO".into(),
                description: "LTO tapes".into(),
            }],
            repositories: vec![RepositoryInfo {
                id: "LIBR".into(),
                description: "Library".into(),
            }],
        }],
        volumes: vec![
            VolumeDump {
                customer: "US01".into(),
                media: "LTO".into(),
                volume: "B2".into(),
                version: None,
                fields: BTreeMap::from([(Field::Scratch, "YES".to_string())]),
            },
            VolumeDump {
                customer: "US01".into(),
                media: "LTO".into(),
                volume: "A1".into(),
                version: Some(9),
                fields: BTreeMap::from([(Field::Repository, "LIBR".to_string())]),
            },
        ],
    }
}

#[test]
fn export_import_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    store.import(&sample_dump()).unwrap();
    let exported = store.export().unwrap();
    let ids: Vec<&str> = exported.volumes.iter().map(|v| v.volume.as_str()).collect();
    assert_eq!(ids, ["A1", "B2"]);
    assert_eq!(exported.volumes[0].version, Some(1));
    assert_eq!(exported.volumes[1].fields[&Field::Scratch], "true");

    let mut copy = Store::open_in_memory().unwrap();
    copy.import(&exported).unwrap();
    assert_eq!(copy.export().unwrap(), exported);
    // Importing the same content again changes nothing.
    copy.import(&exported).unwrap();
    assert_eq!(copy.export().unwrap(), exported);
    // Changed content bumps the version and is audited.
    let mut changed = exported.clone();
    changed.volumes[0]
        .fields
        .insert(Field::Slot, "7".to_string());
    copy.import(&changed).unwrap();
    let a1 = copy.volume(&scope(), "A1").unwrap().unwrap();
    assert_eq!(a1.version, 2);
    let history = copy.volume_history(&scope(), "A1").unwrap();
    assert_eq!(history.last().unwrap().user, "import");
}

#[test]
fn an_inconsistent_dump_imports_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let mut dump = sample_dump();
    dump.volumes[0]
        .fields
        .insert(Field::Repository, "NOPE".to_string());
    assert!(matches!(
        store.import(&dump),
        Err(StoreError::Invalid {
            field: Some(Field::Repository),
            ..
        })
    ));
    let mut dump = sample_dump();
    dump.volumes[1].media = "DLT".into();
    assert!(matches!(
        store.import(&dump),
        Err(StoreError::Invalid {
            field: Some(Field::Media),
            ..
        })
    ));
    assert!(store.list_customers().unwrap().is_empty());
}

#[test]
fn volume_counts_group_by_repository_and_scratch() {
    let mut store = Store::open_in_memory().unwrap();
    store.import(&sample_dump()).unwrap();
    let counts = store.volume_counts("US01").unwrap();
    assert_eq!(
        counts,
        [
            VolumeCount {
                media: "LTO".into(),
                repository: None,
                scratch: Some(true),
                count: 1
            },
            VolumeCount {
                media: "LTO".into(),
                repository: Some("LIBR".into()),
                scratch: None,
                count: 1
            },
        ]
    );
    assert_eq!(store.volume_counts_all().unwrap().len(), 1);
}

#[test]
fn two_connections_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let mut writer = Store::open(&path).unwrap();
    let reader = Store::open(&path).unwrap();
    apply_one(&mut writer, "a", "k1", true, change("V1", None, &[])).unwrap();
    assert_eq!(reader.download_scope(&scope()).unwrap().volumes.len(), 1);
}

#[test]
fn a_store_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
}

#[test]
fn concurrent_writers_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let mut store = Store::open(&path).unwrap();
    apply_one(&mut store, "setup", "setup", true, change("V1", None, &[])).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let b = batch(
                    &format!("writer-{t}"),
                    false,
                    vec![change(
                        "V1",
                        Some(1),
                        &[(Field::Slot, Some(&t.to_string()))],
                    )],
                );
                store.apply(&format!("w{t}"), &scope(), &b).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<VolumeOutcome> = handles
        .into_iter()
        .map(|h| h.join().unwrap().results[0].outcome.clone())
        .collect();
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, VolumeOutcome::Applied { version: 2 }))
        .count();
    let conflicts = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                VolumeOutcome::Conflict {
                    current_version: Some(2)
                }
            )
        })
        .count();
    assert_eq!((applied, conflicts), (1, 3), "{outcomes:?}");
    assert_eq!(store.volume(&scope(), "V1").unwrap().unwrap().version, 2);
}

/// Environment variable that turns [`crash_writer`] into the child of [`kill_9_mid_batch`].
const CRASH_DB: &str = "TAPESYNC_STORE_CRASH_DB";
const CRASH_VOLUMES: usize = 300;

/// The scope the crash test rewrites: [`CRASH_VOLUMES`] volumes at version 1.
fn crash_setup(path: &std::path::Path) {
    let mut store = Store::open(path).unwrap();
    let changes = (0..CRASH_VOLUMES)
        .map(|v| change(&format!("V{v:05}"), None, &[]))
        .collect();
    store
        .apply("setup", &scope(), &batch("setup", true, changes))
        .unwrap();
}

/// Applies batches that each rewrite every volume of the scope, printing `acked N` after each
/// commit. As the child of [`kill_9_mid_batch`] it runs until killed; run on its own (with
/// `--ignored`) it applies a few batches to a temporary store and checks them.
#[test]
#[ignore = "the child process of kill_9_mid_batch"]
fn crash_writer() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let (path, rounds) = match std::env::var_os(CRASH_DB) {
        Some(p) => (std::path::PathBuf::from(p), usize::MAX),
        None => {
            let path = tmp.path().join("inv.db");
            crash_setup(&path);
            (path, 3)
        }
    };
    let mut store = Store::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    for round in 0..rounds {
        let changes = (0..CRASH_VOLUMES)
            .map(|v| {
                change(
                    &format!("V{v:05}"),
                    Some(round as u64 + 1),
                    &[(Field::Slot, Some(&round.to_string()))],
                )
            })
            .collect();
        let r = store
            .apply(
                "crash",
                &scope(),
                &batch(&format!("round-{round}"), false, changes),
            )
            .unwrap();
        assert!(r.results.iter().all(|r| r.outcome
            == VolumeOutcome::Applied {
                version: round as u64 + 2
            }));
        writeln!(out, "acked {round}").unwrap();
        out.flush().unwrap();
    }
}

/// `kill -9` of a process in the middle of applying batches: every acknowledged batch is
/// there, and no batch is there in part.
#[test]
fn kill_9_mid_batch() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    crash_setup(&path);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "tests::crash_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u64 = n.trim().parse().unwrap();
            last_acked = Some(n);
            if n >= 15 {
                // SIGKILL: no destructors, no rollback, possibly mid-commit.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let last_acked = last_acked.expect("the child acknowledged batches");
    let store = Store::open(&path).unwrap();
    let snap = store.download_scope(&scope()).unwrap();
    assert_eq!(snap.volumes.len(), CRASH_VOLUMES);
    let version = snap.volumes[0].version;
    assert!(
        snap.volumes.iter().all(|v| v.version == version),
        "a batch was applied in part"
    );
    assert!(
        version >= last_acked + 2,
        "acknowledged batch {last_acked} was lost (version {version})"
    );
    let slot = (version - 2).to_string();
    assert!(snap
        .volumes
        .iter()
        .all(|v| v.fields.get(&Field::Slot) == Some(&slot)));
}
