//! Tests of the apply path's column-wise writes: only the fields whose values change are
//! written and audited, whatever mix of fields the changes of one batch set.

use crate::schema::Columns;
use crate::Store;
use std::collections::BTreeMap;
use tapesync_model::{ApplyBatch, Field, ScopeKey, VolumeChange, VolumeOutcome};

fn scope() -> ScopeKey {
    ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    }
}

fn store() -> Store {
    let store = Store::open_in_memory().unwrap();
    store.add_customer("US01", "Acme").unwrap();
    store.add_media("US01", "LTO", "LTO tapes").unwrap();
    store.add_repository("US01", "LIBR", "Library").unwrap();
    store.add_repository("US01", "OFFS", "Vault").unwrap();
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

fn apply(store: &mut Store, key: &str, changes: Vec<VolumeChange>) -> Vec<VolumeOutcome> {
    let batch = ApplyBatch {
        idempotency_key: key.into(),
        session: None,
        create_missing: true,
        changes,
    };
    store
        .apply("tester", &scope(), &batch)
        .unwrap()
        .results
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

fn history(store: &Store, volume: &str) -> Vec<(Field, Option<String>, Option<String>)> {
    store
        .volume_history(&scope(), volume)
        .unwrap()
        .into_iter()
        .map(|e| (e.field, e.old, e.new))
        .collect()
}

fn updated_at(store: &Store, volume: &str) -> String {
    store
        .conn
        .query_row(
            "SELECT updated_at FROM volumes WHERE volume = ?1",
            [volume],
            |r| r.get(0),
        )
        .unwrap()
}

const FULL: &[(Field, Option<&str>)] = &[
    (Field::Repository, Some("LIBR")),
    (Field::Slot, Some("12")),
    (Field::Description, Some("Weekly")),
    (Field::UsageCount, Some("5")),
];

#[test]
fn only_changed_fields_are_written_and_audited() {
    let mut store = store();
    apply(&mut store, "k1", vec![change("V1", None, FULL)]);
    store
        .conn
        .execute("UPDATE volumes SET updated_at = 'then'", [])
        .unwrap();
    let created = history(&store, "V1").len();
    // Two of the three fields keep their values: one audit row, one new version.
    let outcomes = apply(
        &mut store,
        "k2",
        vec![change(
            "V1",
            Some(1),
            &[
                (Field::Slot, Some("12")),
                (Field::Description, Some("Monthly")),
                (Field::UsageCount, Some("5")),
            ],
        )],
    );
    assert_eq!(outcomes, [VolumeOutcome::Applied { version: 2 }]);
    assert_eq!(
        history(&store, "V1")[created..],
        [(
            Field::Description,
            Some("Weekly".to_string()),
            Some("Monthly".to_string())
        )]
    );
    let v = store.volume(&scope(), "V1").unwrap().unwrap();
    assert_eq!(v.version, 2);
    assert_eq!(
        v.fields,
        BTreeMap::from([
            (Field::Repository, "LIBR".to_string()),
            (Field::Slot, "12".to_string()),
            (Field::Description, "Monthly".to_string()),
            (Field::UsageCount, "5".to_string()),
        ])
    );
    assert_ne!(updated_at(&store, "V1"), "then");
}

#[test]
fn a_change_that_changes_nothing_leaves_the_row_alone() {
    let mut store = store();
    apply(&mut store, "k1", vec![change("V1", None, FULL)]);
    store
        .conn
        .execute("UPDATE volumes SET updated_at = 'then'", [])
        .unwrap();
    let outcomes = apply(&mut store, "k2", vec![change("V1", Some(1), FULL)]);
    assert_eq!(outcomes, [VolumeOutcome::Applied { version: 1 }]);
    assert_eq!(updated_at(&store, "V1"), "then");
    assert_eq!(history(&store, "V1").len(), 1 + FULL.len());
}

#[test]
fn audit_rows_follow_column_order() {
    let mut store = store();
    apply(
        &mut store,
        "k1",
        vec![change(
            "V1",
            None,
            &[
                (Field::UsageCount, Some("1")),
                (Field::Scratch, Some("yes")),
                (Field::Description, Some("a")),
                (Field::ExpiryDate, Some("2027-01-02")),
                (Field::Repository, Some("OFFS")),
            ],
        )],
    );
    let columns = Columns::new();
    let positions: Vec<usize> = history(&store, "V1")
        .iter()
        .skip(1) // the creation row (field VOLUME)
        .map(|(field, _, _)| columns.index(*field).unwrap())
        .collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn one_batch_mixes_field_sets_and_sees_its_own_writes() {
    let mut store = store();
    apply(
        &mut store,
        "k1",
        vec![change("V1", None, FULL), change("V2", None, FULL)],
    );
    let outcomes = apply(
        &mut store,
        "k2",
        vec![
            change("V1", Some(1), &[(Field::Repository, Some("OFFS"))]),
            change("V2", Some(1), &[(Field::Description, Some("Daily"))]),
            // The same volume again: it already is at version 2 within this batch.
            change("V1", Some(1), &[(Field::Slot, Some("13"))]),
            change(
                "V1",
                Some(2),
                &[(Field::Slot, Some("13")), (Field::Description, None)],
            ),
        ],
    );
    assert_eq!(
        outcomes,
        [
            VolumeOutcome::Applied { version: 2 },
            VolumeOutcome::Applied { version: 2 },
            VolumeOutcome::Conflict {
                current_version: Some(2)
            },
            VolumeOutcome::Applied { version: 3 },
        ]
    );
    let v1 = store.volume(&scope(), "V1").unwrap().unwrap();
    assert_eq!(v1.version, 3);
    assert_eq!(
        v1.fields,
        BTreeMap::from([
            (Field::Repository, "OFFS".to_string()),
            (Field::Slot, "13".to_string()),
            (Field::UsageCount, "5".to_string()),
        ])
    );
    let v2 = store.volume(&scope(), "V2").unwrap().unwrap();
    assert_eq!(v2.fields[&Field::Description], "Daily");
    assert_eq!(v2.fields[&Field::Repository], "LIBR");
    // The repository index follows a repository change and ignores the others.
    let by_repository: BTreeMap<Option<String>, u64> = store
        .volume_counts("US01")
        .unwrap()
        .into_iter()
        .map(|c| (c.repository, c.count))
        .collect();
    assert_eq!(
        by_repository,
        BTreeMap::from([(Some("LIBR".to_string()), 1), (Some("OFFS".to_string()), 1)])
    );
}

#[test]
fn an_unknown_repository_is_rejected_before_anything_is_written() {
    let mut store = store();
    apply(&mut store, "k1", vec![change("V1", None, FULL)]);
    let batch = ApplyBatch {
        idempotency_key: "k2".into(),
        session: None,
        create_missing: false,
        changes: vec![change(
            "V1",
            Some(1),
            &[
                (Field::Repository, Some("NOPE")),
                (Field::Description, Some("Other")),
            ],
        )],
    };
    let response = store.apply("tester", &scope(), &batch).unwrap();
    assert!(matches!(
        response.results[0].outcome,
        VolumeOutcome::Rejected {
            field: Some(Field::Repository),
            ..
        }
    ));
    let v = store.volume(&scope(), "V1").unwrap().unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(v.fields[&Field::Description], "Weekly");
    assert_eq!(history(&store, "V1").len(), 1 + FULL.len());
}

#[test]
fn a_file_store_checkpoints_in_the_background_and_closes_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let wal = dir.path().join("store.db-wal");
    {
        let mut store = Store::open(&path).unwrap();
        store.add_customer("US01", "Acme").unwrap();
        store.add_media("US01", "LTO", "LTO tapes").unwrap();
        store.add_repository("US01", "LIBR", "Library").unwrap();
        for n in 0..20 {
            let changes = (0..50)
                .map(|v| {
                    let expected = (n > 0).then_some(n);
                    let usage = n.to_string();
                    change(
                        &format!("V{v:04}"),
                        expected,
                        &[
                            (Field::Repository, Some("LIBR")),
                            (Field::UsageCount, Some(&usage)),
                        ],
                    )
                })
                .collect();
            let outcomes = apply(&mut store, &format!("k{n}"), changes);
            assert!(outcomes.iter().all(|o| matches!(
                o,
                VolumeOutcome::Created { .. } | VolumeOutcome::Applied { .. }
            )));
        }
        // Another connection sees every batch while the checkpoints run.
        let other = Store::open(&path).unwrap();
        let v = other.volume(&scope(), "V0049").unwrap().unwrap();
        assert_eq!(v.version, 20);
        assert_eq!(v.fields[&Field::UsageCount], "19");
    }
    // Closing the last connection copied everything into the file and removed the WAL.
    assert!(!wal.exists());
    let store = Store::open(&path).unwrap();
    assert_eq!(store.download_scope(&scope()).unwrap().volumes.len(), 50);
    assert_eq!(history(&store, "V0000").len(), 3 + 19);
}

/// A batch is applied in Volume-ID order, but its answer follows the request, and two
/// changes of one volume keep their order: the second, made against the version the first
/// replaced, is a conflict.
#[test]
fn answers_follow_the_request_whatever_order_changes_are_applied_in() {
    let mut store = store();
    let volumes = ["Z9", "A1", "M5", "B2"];
    let created = apply(
        &mut store,
        "create",
        volumes
            .iter()
            .map(|v| change(v, None, &[(Field::Slot, Some("1"))]))
            .collect(),
    );
    assert!(created
        .iter()
        .all(|o| matches!(o, VolumeOutcome::Created { version: 1 })));
    let batch = ApplyBatch {
        idempotency_key: "update".into(),
        session: None,
        create_missing: false,
        changes: vec![
            change("Z9", Some(1), &[(Field::Slot, Some("2"))]),
            change("M5", Some(1), &[(Field::Slot, Some("3"))]),
            change("A1", Some(1), &[(Field::Slot, Some("4"))]),
            change("M5", Some(1), &[(Field::Slot, Some("5"))]),
            change("NOPE", Some(1), &[(Field::Slot, Some("6"))]),
        ],
    };
    let response = store.apply("tester", &scope(), &batch).unwrap();
    let answered: Vec<&str> = response.results.iter().map(|r| r.volume.as_str()).collect();
    assert_eq!(answered, ["Z9", "M5", "A1", "M5", "NOPE"]);
    let outcomes: Vec<&VolumeOutcome> = response.results.iter().map(|r| &r.outcome).collect();
    assert!(matches!(outcomes[0], VolumeOutcome::Applied { version: 2 }));
    assert!(matches!(outcomes[1], VolumeOutcome::Applied { version: 2 }));
    assert!(matches!(outcomes[2], VolumeOutcome::Applied { version: 2 }));
    assert!(matches!(
        outcomes[3],
        VolumeOutcome::Conflict {
            current_version: Some(2)
        }
    ));
    // A volume that is not there, changed against a version: a conflict with no version.
    assert!(matches!(
        outcomes[4],
        VolumeOutcome::Conflict {
            current_version: None
        }
    ));
    // The first change of M5 is the one that landed.
    assert_eq!(
        history(&store, "M5").last().unwrap(),
        &(Field::Slot, Some("1".into()), Some("3".into()))
    );
    // Applied in Volume-ID order, so that is the order of the batch's audit rows.
    let audited: Vec<String> = {
        let mut stmt = store
            .conn
            .prepare("SELECT volume FROM audit WHERE new IN ('2', '3', '4') ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(audited, ["A1", "M5", "Z9"]);
    // A replay answers exactly as the first time.
    let replayed = store.apply("tester", &scope(), &batch).unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.results, response.results);
}
