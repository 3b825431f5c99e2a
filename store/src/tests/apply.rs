//! Applying batches: versions, conflicts, audit, idempotency, column-wise writes — the
//! same answers on both backends.

use super::*;
use crate::columns::Columns;
use tapesync_model::{CreateIds, RepositoryInfo};

const FULL: &[(Field, Option<&str>)] = &[
    (Field::Repository, Some("LIBR")),
    (Field::Slot, Some("12")),
    (Field::Description, Some("Weekly")),
    (Field::UsageCount, Some("5")),
];

/// Applies `changes` to `scope()` with `create_missing`; the outcomes.
fn apply(store: &mut Store, key: &str, changes: Vec<VolumeChange>) -> Vec<VolumeOutcome> {
    outcomes(
        &store
            .apply("tester", &scope(), &batch(key, true, changes))
            .unwrap(),
    )
}

fn history(store: &Store, volume: &str) -> Vec<(Field, Option<String>, Option<String>)> {
    store
        .volume_history(&scope(), volume)
        .unwrap()
        .into_iter()
        .map(|e| (e.field, e.old, e.new))
        .collect()
}

/// Whether V's `updated_at` is still the marker a test wrote.
fn untouched(store: &Store, volume: &str) -> bool {
    store.backend.test_scalar(&format!(
        "SELECT count(*) FROM volumes WHERE volume = '{volume}' AND updated_at = 'then'"
    )) == 1
}

fn mark_untouched(store: &Store) {
    store
        .backend
        .test_execute("UPDATE volumes SET updated_at = 'then'");
}

#[test]
fn apply_creates_updates_and_audits() {
    on_each_seeded(|store| {
        let created = apply_one(
            store,
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
            store,
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
        // The new target is a pending move: the volume is still where it was created.
        assert_eq!(
            v.fields,
            BTreeMap::from([
                (Field::Repository, "OFFS".to_string()),
                (Field::CurrentRepository, "LIBR".to_string()),
            ])
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
                (Field::CurrentRepository, None, Some("LIBR")),
                (Field::Repository, Some("LIBR"), Some("OFFS")),
                (Field::Scratch, Some("true"), None),
            ]
        );
        assert!(history
            .iter()
            .all(|e| e.user == "alice" && e.session.is_none()));
    });
}

#[test]
fn unchanged_values_do_not_bump_the_version() {
    on_each_seeded(|store| {
        apply_one(
            store,
            "a",
            "k1",
            true,
            change("V1", None, &[(Field::Slot, Some("12"))]),
        )
        .unwrap();
        let r = apply_one(
            store,
            "a",
            "k2",
            false,
            change("V1", Some(1), &[(Field::Slot, Some("12"))]),
        )
        .unwrap();
        assert_eq!(outcomes(&r), [VolumeOutcome::Applied { version: 1 }]);
        assert_eq!(store.volume_history(&scope(), "V1").unwrap().len(), 2);
    });
}

#[test]
fn stale_versions_conflict_and_write_nothing() {
    on_each_seeded(|store| {
        apply_one(
            store,
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
    });
}

#[test]
fn replayed_keys_answer_the_recorded_response() {
    on_each_seeded(|store| {
        let b = batch(
            "same",
            true,
            vec![change("V1", None, &[(Field::Slot, Some("1"))])],
        );
        let first = store.apply("a", &scope(), &b).unwrap();
        let audit_rows = count(store, "audit");
        let second = store.apply("a", &scope(), &b).unwrap();
        assert!(second.replayed);
        assert_eq!(second.results, first.results);
        assert_eq!(count(store, "audit"), audit_rows);
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
    });
}

/// A key resent with a different body is a client bug, not a retry: 409, nothing written, and
/// the recorded answer still replays for the original body. What counts is the batch's
/// meaning (canonical values, `create_missing`, session), so `yes` and `true` are one body.
#[test]
fn a_key_resent_with_another_body_is_a_conflict() {
    on_each_seeded(|store| {
        let b = batch(
            "k-digest",
            true,
            vec![change(
                "V1",
                None,
                &[(Field::Slot, Some("1")), (Field::Scratch, Some("yes"))],
            )],
        );
        store.apply("a", &scope(), &b).unwrap();
        let audit_rows = count(store, "audit");
        let mut variants = Vec::new();
        let mut other_value = b.clone();
        other_value.changes[0]
            .set
            .insert(Field::Slot, Some("2".into()));
        variants.push(other_value);
        let mut other_volume = b.clone();
        other_volume.changes[0].volume = "V2".into();
        variants.push(other_volume);
        let mut no_create = b.clone();
        no_create.create_missing = false;
        variants.push(no_create);
        let mut more = b.clone();
        more.changes.push(change("V3", None, &[]));
        variants.push(more);
        let mut expecting = b.clone();
        expecting.changes[0].expected_version = Some(1);
        variants.push(expecting);
        for variant in &variants {
            match store.apply("a", &scope(), variant) {
                Err(StoreError::Conflict(message)) => {
                    assert!(message.contains("different"), "{message}")
                }
                other => panic!("expected a conflict, got {other:?}"),
            }
        }
        assert_eq!(count(store, "audit"), audit_rows);
        let mut same_meaning = b.clone();
        same_meaning.changes[0]
            .set
            .insert(Field::Scratch, Some("TRUE".into()));
        assert!(store.apply("a", &scope(), &same_meaning).unwrap().replayed);
        assert!(store.apply("a", &scope(), &b).unwrap().replayed);
    });
}

#[test]
fn missing_things_are_rejected_without_create_missing() {
    on_each_seeded(|store| {
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
            [VolumeOutcome::Rejected { field: f1, .. }, VolumeOutcome::Rejected { field: f2, .. }] =>
            {
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
        apply_one(store, "a", "k3", true, change("V1", None, &[])).unwrap();
        let r = apply_one(
            store,
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
        assert_eq!(count(store, "customers"), 1);
    });
}

#[test]
fn create_missing_creates_customer_media_repository_and_volume() {
    on_each(|t| {
        let store = &mut t.store;
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
    });
}

#[test]
fn an_invalid_value_refuses_the_whole_batch() {
    on_each_seeded(|store| {
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
        assert_eq!(count(store, "volumes"), 0);
        assert_eq!(count(store, "audit"), 0);
        // The refused key was not recorded: a corrected retry under it applies.
        let fixed = batch("k1", true, vec![change("GOOD1", None, &[])]);
        assert!(!store.apply("a", &scope(), &fixed).unwrap().replayed);
    });
}

#[test]
fn only_changed_fields_are_written_and_audited() {
    on_each_seeded(|store| {
        apply(store, "k1", vec![change("V1", None, FULL)]);
        mark_untouched(store);
        let created = history(store, "V1").len();
        // Two of the three fields keep their values: one audit row, one new version.
        let outcomes = apply(
            store,
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
            history(store, "V1")[created..],
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
                (Field::CurrentRepository, "LIBR".to_string()),
            ])
        );
        assert!(!untouched(store, "V1"));
    });
}

#[test]
fn a_change_that_changes_nothing_leaves_the_row_alone() {
    on_each_seeded(|store| {
        apply(store, "k1", vec![change("V1", None, FULL)]);
        mark_untouched(store);
        let outcomes = apply(store, "k2", vec![change("V1", Some(1), FULL)]);
        assert_eq!(outcomes, [VolumeOutcome::Applied { version: 1 }]);
        assert!(untouched(store, "V1"));
        // The creation row, one per field and the implied CURRENT_REPOSITORY.
        assert_eq!(history(store, "V1").len(), 2 + FULL.len());
    });
}

#[test]
fn audit_rows_follow_column_order() {
    on_each_seeded(|store| {
        apply(
            store,
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
        let positions: Vec<usize> = history(store, "V1")
            .iter()
            .skip(1) // the creation row (field VOLUME)
            .map(|(field, _, _)| columns.index(*field).unwrap())
            .collect();
        assert_eq!(positions.len(), 6, "and the implied CURRENT_REPOSITORY");
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    });
}

#[test]
fn one_batch_mixes_field_sets_and_sees_its_own_writes() {
    on_each_seeded(|store| {
        apply(
            store,
            "k1",
            vec![change("V1", None, FULL), change("V2", None, FULL)],
        );
        let outcomes = apply(
            store,
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
                (Field::CurrentRepository, "LIBR".to_string()),
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
    });
}

#[test]
fn an_unknown_repository_is_rejected_before_anything_is_written() {
    on_each_seeded(|store| {
        apply(store, "k1", vec![change("V1", None, FULL)]);
        let batch = ApplyBatch {
            idempotency_key: "k2".into(),
            session: None,
            create_missing: false,
            create: None,
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
        // The creation row, one per field and the implied CURRENT_REPOSITORY.
        assert_eq!(history(store, "V1").len(), 2 + FULL.len());
    });
}

/// A batch is applied in Volume-ID order, but its answer follows the request, and two
/// changes of one volume keep their order: the second, made against the version the first
/// replaced, is a conflict.
#[test]
fn answers_follow_the_request_whatever_order_changes_are_applied_in() {
    on_each_seeded(|store| {
        let volumes = ["Z9", "A1", "M5", "B2"];
        let created = apply(
            store,
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
            create: None,
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
            history(store, "M5").last().unwrap(),
            &(Field::Slot, Some("1".into()), Some("3".into()))
        );
        // Applied in Volume-ID order, so that is the order of the batch's audit rows.
        let audit_id = |volume: &str| {
            store.backend.test_scalar(&format!(
                "SELECT id FROM audit WHERE volume = '{volume}' AND new IN ('2', '3', '4')"
            ))
        };
        assert!(audit_id("A1") < audit_id("M5") && audit_id("M5") < audit_id("Z9"));
        // A replay answers exactly as the first time.
        let replayed = store.apply("tester", &scope(), &batch).unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.results, response.results);
    });
}

/// With `create`, `create_missing` creates volumes only: a missing customer, media or
/// repository is created when `create` lists it, and otherwise rejects the changes that need
/// it (nothing of them written); the rest of the batch is applied.
#[test]
fn create_lists_the_customer_media_and_repositories_a_batch_may_create() {
    on_each(|t| {
        let store = &mut t.store;
        let scope = ScopeKey {
            customer: "EU02".into(),
            media: "LTO9".into(),
        };
        let with = |key: &str, create: CreateIds, changes: Vec<VolumeChange>| ApplyBatch {
            create: Some(create),
            ..batch(key, true, changes)
        };
        // The customer is not listed: every change is rejected, naming it; nothing is created.
        let r = store
            .apply(
                "a",
                &scope,
                &with(
                    "k1",
                    CreateIds {
                        customer: false,
                        media: true,
                        repositories: vec!["VLT".into()],
                    },
                    vec![change("X1", None, &[(Field::Repository, Some("VLT"))])],
                ),
            )
            .unwrap();
        match &outcomes(&r)[..] {
            [VolumeOutcome::Rejected {
                reason,
                field: Some(Field::Customer),
            }] => assert!(reason.contains("EU02"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(!store.download_scope(&scope).unwrap().customer_exists);
        // Customer and media listed, one repository listed (in any case) and one not: the
        // volume in the listed one is created with it, the other is rejected naming its
        // repository, which is not created.
        let r = store
            .apply(
                "a",
                &scope,
                &with(
                    "k2",
                    CreateIds {
                        customer: true,
                        media: true,
                        repositories: vec!["vlt".into()],
                    },
                    vec![
                        change("X1", None, &[(Field::Repository, Some("VLT"))]),
                        change("X2", None, &[(Field::Repository, Some("XXXX"))]),
                    ],
                ),
            )
            .unwrap();
        match &outcomes(&r)[..] {
            [VolumeOutcome::Created { version: 1 }, VolumeOutcome::Rejected {
                reason,
                field: Some(Field::Repository),
            }] => assert!(reason.contains("XXXX"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let snap = store.download_scope(&scope).unwrap();
        assert!(snap.customer_exists && snap.media_exists);
        let ids: Vec<&str> = snap.repositories.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["VLT"]);
        assert_eq!(snap.volumes.len(), 1);
        // The same body with another `create` is another request.
        let b = with(
            "k2",
            CreateIds {
                customer: true,
                media: true,
                repositories: vec!["XXXX".into()],
            },
            vec![
                change("X1", None, &[(Field::Repository, Some("VLT"))]),
                change("X2", None, &[(Field::Repository, Some("XXXX"))]),
            ],
        );
        assert!(matches!(
            store.apply("a", &scope, &b),
            Err(StoreError::Conflict(_))
        ));
    });
}

/// Creates A1 (SLOT 1) and B1 (SLOT 2) in one batch.
fn create_a1_and_b1(store: &mut Store) {
    apply(
        store,
        "k1",
        vec![
            change("A1", None, &[(Field::Slot, Some("1"))]),
            change("B1", None, &[(Field::Slot, Some("2"))]),
        ],
    );
}

/// An audit entry of a creation.
fn created(volume: &str) -> (Field, Option<String>, Option<String>) {
    (Field::Volume, None, Some(volume.to_string()))
}

/// An audit entry of SLOT going from `old` to `new`.
fn slot(old: Option<&str>, new: &str) -> (Field, Option<String>, Option<String>) {
    (Field::Slot, old.map(str::to_string), Some(new.to_string()))
}

/// A volume's history follows its own chain of audit rows: batches that change several
/// volumes, one volume twice in a batch and other volumes in between never mix two trails.
#[test]
fn each_volume_keeps_its_own_history_across_batches() {
    on_each_seeded(|store| {
        create_a1_and_b1(store);
        apply(
            store,
            "k2",
            vec![
                change("B1", Some(1), &[(Field::Slot, Some("3"))]),
                change("A1", Some(1), &[(Field::Slot, Some("4"))]),
                change("A1", Some(2), &[(Field::Description, Some("x"))]),
                change("C1", None, &[(Field::Slot, Some("5"))]),
            ],
        );
        assert_eq!(
            history(store, "A1"),
            [
                created("A1"),
                slot(None, "1"),
                slot(Some("1"), "4"),
                (Field::Description, None, Some("x".into())),
            ]
        );
        assert_eq!(
            history(store, "B1"),
            [created("B1"), slot(None, "2"), slot(Some("2"), "3")]
        );
        assert_eq!(history(store, "C1"), [created("C1"), slot(None, "5")]);
        assert!(history(store, "D1").is_empty());
    });
}

/// Neighbouring volumes of one batch that change different columns are each written with
/// their own columns (the SQLite backend keeps one UPDATE while the column set stays the same
/// and switches when it changes), and each volume's newest audit row is its own.
#[test]
fn neighbours_changing_different_columns_keep_their_own_values() {
    on_each_seeded(|store| {
        create_a1_and_b1(store);
        apply(
            store,
            "k2",
            vec![
                change("C1", None, &[(Field::Slot, Some("3"))]),
                change("D1", None, &[(Field::Slot, Some("4"))]),
            ],
        );
        let outcomes = apply(
            store,
            "k3",
            vec![
                change("A1", Some(1), &[(Field::Slot, Some("11"))]),
                change("B1", Some(1), &[(Field::Description, Some("b"))]),
                change("C1", Some(1), &[(Field::Slot, Some("13"))]),
                change(
                    "D1",
                    Some(1),
                    &[(Field::Slot, Some("14")), (Field::Description, Some("d"))],
                ),
            ],
        );
        assert_eq!(outcomes, vec![VolumeOutcome::Applied { version: 2 }; 4]);
        let fields = |store: &Store, volume: &str| {
            let v = store.volume(&scope(), volume).unwrap().unwrap();
            assert_eq!(v.version, 2, "{volume}");
            v.fields
                .into_iter()
                .filter(|(f, _)| matches!(f, Field::Slot | Field::Description))
                .collect::<Vec<_>>()
        };
        let pair = |f: Field, v: &str| (f, v.to_string());
        assert_eq!(fields(store, "A1"), [pair(Field::Slot, "11")]);
        assert_eq!(
            fields(store, "B1"),
            [pair(Field::Slot, "2"), pair(Field::Description, "b")]
        );
        assert_eq!(fields(store, "C1"), [pair(Field::Slot, "13")]);
        assert_eq!(
            fields(store, "D1"),
            [pair(Field::Slot, "14"), pair(Field::Description, "d")]
        );
        assert_eq!(
            history(store, "B1"),
            [
                created("B1"),
                slot(None, "2"),
                (Field::Description, None, Some("b".into())),
            ]
        );
        assert_eq!(
            history(store, "D1"),
            [
                created("D1"),
                slot(None, "4"),
                slot(Some("4"), "14"),
                (Field::Description, None, Some("d".into())),
            ]
        );
    });
}

/// Audit rows written before schema step 9 carry no chain (`previous` NULL, no `last_audit`
/// on their volume — what the migration leaves): the history lists them first, then the rows
/// written since, in the order they were written.
#[test]
fn history_from_before_the_chain_is_kept() {
    on_each_seeded(|store| {
        create_a1_and_b1(store);
        store
            .backend
            .test_execute("UPDATE audit SET previous = NULL");
        store
            .backend
            .test_execute("UPDATE volumes SET last_audit = NULL");
        apply(
            store,
            "k2",
            vec![change("A1", Some(1), &[(Field::Slot, Some("3"))])],
        );
        apply(
            store,
            "k3",
            vec![change("A1", Some(2), &[(Field::Slot, Some("4"))])],
        );
        assert_eq!(
            history(store, "A1"),
            [
                created("A1"),
                slot(None, "1"),
                slot(Some("1"), "3"),
                slot(Some("3"), "4"),
            ]
        );
        assert_eq!(
            history(store, "B1"),
            [
                (Field::Volume, None, Some("B1".to_string())),
                slot(None, "2")
            ]
        );
    });
}
