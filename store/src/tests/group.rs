//! Groups of batches (`Store::apply_group`): one transaction for all of them, each batch
//! meaning what it means alone — on both backends.

use super::*;
use tapesync_model::{ScopedBatch, MAX_GROUP_BATCHES, MAX_GROUP_CHANGES};

/// The three scopes of the group tests: two media of US01 and one of EU02.
const SCOPES: [(&str, &str); 3] = [("US01", "LTO"), ("US01", "DLT"), ("EU02", "LTO")];

fn seed_three(store: &Store) {
    seed(store);
    store.add_media("US01", "DLT", "DLT tapes").unwrap();
    store.add_customer("EU02", "Euro").unwrap();
    store.add_media("EU02", "LTO", "LTO tapes").unwrap();
    store.add_repository("EU02", "LIBR", "Library").unwrap();
}

fn scoped(customer: &str, media: &str, batch: ApplyBatch) -> ScopedBatch {
    ScopedBatch {
        customer: customer.into(),
        media: media.into(),
        batch,
    }
}

/// One batch per scope of [`SCOPES`]: creates two volumes and changes `old` (created by
/// [`prepare`]).
fn three_batches(round: &str) -> Vec<ScopedBatch> {
    SCOPES
        .iter()
        .map(|(customer, media)| {
            let key = format!("{round}-{customer}-{media}");
            scoped(
                customer,
                media,
                batch(
                    &key,
                    true,
                    vec![
                        change("new001", None, &[(Field::Repository, Some("LIBR"))]),
                        change("new002", None, &[(Field::Slot, Some("7"))]),
                        change("old001", Some(1), &[(Field::Description, Some("moved"))]),
                    ],
                ),
            )
        })
        .collect()
}

/// Creates `old001` in every scope of [`SCOPES`].
fn prepare(store: &mut Store) {
    for (customer, media) in SCOPES {
        let scope = ScopeKey {
            customer: customer.into(),
            media: media.into(),
        };
        let b = batch(
            &format!("prepare-{customer}-{media}"),
            true,
            vec![change("old001", None, &[(Field::Repository, Some("LIBR"))])],
        );
        store.apply("tester", &scope, &b).unwrap();
    }
}

fn versions(store: &Store) -> Vec<u64> {
    let keys: Vec<ScopeKey> = SCOPES
        .iter()
        .map(|(c, m)| ScopeKey {
            customer: (*c).into(),
            media: (*m).into(),
        })
        .collect();
    store
        .scope_versions(&keys)
        .unwrap()
        .scopes
        .into_iter()
        .map(|s| s.version)
        .collect()
}

/// Every audit row of every volume the tests touch, without its time.
fn audit(store: &Store) -> Vec<(String, Field, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    for (customer, media) in SCOPES {
        let scope = ScopeKey {
            customer: customer.into(),
            media: media.into(),
        };
        for volume in ["old001", "new001", "new002"] {
            for e in store.volume_history(&scope, volume).unwrap() {
                out.push((e.user, e.field, e.old, e.new));
            }
        }
    }
    out
}

/// What a test compares between two stores and before and after a group.
fn state(store: &Store) -> (Vec<u64>, InventoryState) {
    (
        versions(store),
        (
            store.export().unwrap(),
            audit(store),
            count(store, "audit"),
            count(store, "applied_batches"),
        ),
    )
}

type InventoryState = (
    tapesync_model::InventoryDump,
    Vec<(String, Field, Option<String>, Option<String>)>,
    i64,
    i64,
);

#[test]
fn a_group_of_three_scopes_is_the_same_as_its_batches_one_by_one() {
    for (mut grouped, mut single) in stores().into_iter().zip(stores()) {
        let _named = Backend(grouped.kind);
        for t in [&mut grouped, &mut single] {
            seed_three(&t.store);
            prepare(&mut t.store);
        }
        let group = three_batches("night");
        let together = grouped.store.apply_group("tester", &group).unwrap();
        let one_by_one: Vec<ApplyResponse> = group
            .iter()
            .map(|b| {
                let scope = ScopeKey {
                    customer: b.customer.clone(),
                    media: b.media.clone(),
                };
                single.store.apply("tester", &scope, &b.batch).unwrap()
            })
            .collect();
        assert_eq!(together, one_by_one);
        assert_eq!(together.len(), 3);
        assert!(together.iter().all(|r| !r.replayed));
        assert_eq!(
            outcomes(&together[2]),
            vec![
                VolumeOutcome::Created { version: 1 },
                VolumeOutcome::Created { version: 1 },
                VolumeOutcome::Applied { version: 2 },
            ]
        );
        assert_eq!(state(&grouped.store), state(&single.store));
        // Each scope's version stepped once, for its own batch.
        for r in &together {
            let step = r.scope_version.as_ref().unwrap();
            assert_eq!(step.after, step.before + 1);
            assert!(step.only_this_batch);
        }
    }
}

#[test]
fn a_group_with_one_invalid_batch_writes_nothing() {
    on_each(|t| {
        seed_three(&t.store);
        prepare(&mut t.store);
        let before = state(&t.store);

        // Refused by the checks, before the transaction.
        let mut group = three_batches("night");
        group[1].batch.changes[1] = change("new002", None, &[(Field::Slot, Some("\u{7}"))]);
        let e = t.store.apply_group("tester", &group).unwrap_err();
        assert!(matches!(e, StoreError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains("batch 2 of the group"), "{e}");
        assert_eq!(state(&t.store), before);

        // Refused inside the transaction, after the first batch wrote: rolled back too.
        let mut group = three_batches("night");
        group[2].batch.session = Some(999_999);
        let e = t.store.apply_group("tester", &group).unwrap_err();
        assert!(e.to_string().contains("batch 3 of the group"), "{e}");
        assert_eq!(state(&t.store), before);

        // A key used before for another scope: a conflict, and nothing written.
        let mut group = three_batches("night");
        group[1].batch.idempotency_key = "prepare-US01-LTO".into();
        let e = t.store.apply_group("tester", &group).unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        assert_eq!(state(&t.store), before);

        // The same group, corrected, then applies.
        t.store
            .apply_group("tester", &three_batches("night"))
            .unwrap();
        assert_ne!(state(&t.store), before);
    });
}

#[test]
fn a_retried_group_replays_every_batch() {
    on_each(|t| {
        seed_three(&t.store);
        prepare(&mut t.store);
        let group = three_batches("night");
        let first = t.store.apply_group("tester", &group).unwrap();
        let after = state(&t.store);
        let again = t.store.apply_group("tester", &group).unwrap();
        assert_eq!(again.len(), first.len());
        for (a, f) in again.iter().zip(&first) {
            assert!(a.replayed);
            assert_eq!(a.results, f.results);
            assert_eq!(a.scope_version, f.scope_version);
        }
        assert_eq!(state(&t.store), after);

        // Part applied before (one batch alone), part new: the old one replays, the others
        // apply.
        let mut next = three_batches("next");
        let scope = ScopeKey {
            customer: next[0].customer.clone(),
            media: next[0].media.clone(),
        };
        for b in &mut next {
            b.batch.changes = vec![change("new003", None, &[(Field::Slot, Some("3"))])];
        }
        t.store.apply("tester", &scope, &next[0].batch).unwrap();
        let answers = t.store.apply_group("tester", &next).unwrap();
        let replayed: Vec<bool> = answers.iter().map(|r| r.replayed).collect();
        assert_eq!(replayed, vec![true, false, false]);
    });
}

#[test]
fn two_batches_of_one_scope_in_a_group_step_its_version_twice() {
    on_each(|t| {
        seed(&t.store);
        let group = vec![
            scoped(
                "US01",
                "LTO",
                batch(
                    "first",
                    true,
                    vec![change("a00001", None, &[(Field::Slot, Some("1"))])],
                ),
            ),
            scoped(
                "us01",
                "lto",
                batch(
                    "second",
                    false,
                    vec![change("A00001", Some(1), &[(Field::Slot, Some("2"))])],
                ),
            ),
        ];
        let answers = t.store.apply_group("tester", &group).unwrap();
        assert_eq!(
            outcomes(&answers[0]),
            vec![VolumeOutcome::Created { version: 1 }]
        );
        // The second batch sees the first's volume.
        assert_eq!(
            outcomes(&answers[1]),
            vec![VolumeOutcome::Applied { version: 2 }]
        );
        let (first, second) = (
            answers[0].scope_version.as_ref().unwrap(),
            answers[1].scope_version.as_ref().unwrap(),
        );
        assert_eq!(first.after, first.before + 1);
        assert_eq!(second.before, first.after);
        assert_eq!(second.after, second.before + 1);
        assert!(first.only_this_batch && second.only_this_batch);
        let history = t.store.volume_history(&scope(), "A00001").unwrap();
        assert_eq!(
            history
                .iter()
                .filter(|e| e.field == Field::Slot)
                .map(|e| e.new.as_deref())
                .collect::<Vec<_>>(),
            vec![Some("1"), Some("2")]
        );
    });
}

#[test]
fn an_empty_group_and_one_over_the_limits_are_refused() {
    on_each(|t| {
        seed(&t.store);
        let e = t.store.apply_group("tester", &[]).unwrap_err();
        assert!(matches!(e, StoreError::Invalid { .. }), "{e:?}");

        let one = |i: usize, changes: usize| {
            scoped(
                "US01",
                "LTO",
                batch(
                    &format!("k{i}"),
                    true,
                    (0..changes)
                        .map(|v| change(&format!("V{v:06}"), None, &[]))
                        .collect(),
                ),
            )
        };
        let many: Vec<ScopedBatch> = (0..=MAX_GROUP_BATCHES).map(|i| one(i, 0)).collect();
        let e = t.store.apply_group("tester", &many).unwrap_err();
        assert!(e.to_string().contains("batches"), "{e}");

        let half = MAX_GROUP_CHANGES / 2;
        let large = vec![one(1, half), one(2, MAX_GROUP_CHANGES - half + 1)];
        let e = t.store.apply_group("tester", &large).unwrap_err();
        assert!(e.to_string().contains("changes"), "{e}");
        assert_eq!(count(&t.store, "volumes"), 0);
        assert_eq!(count(&t.store, "applied_batches"), 0);
    });
}

#[test]
fn two_groups_of_the_same_scopes_in_opposite_orders_do_not_deadlock() {
    on_each(|t| {
        seed_three(&t.store);
        let before = versions(&t.store);
        let stores = [t.reopen(), t.reopen()];
        let threads: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(n, mut store)| {
                std::thread::spawn(move || {
                    for round in 0..15 {
                        let mut group: Vec<ScopedBatch> = SCOPES
                            .iter()
                            .map(|(customer, media)| {
                                scoped(
                                    customer,
                                    media,
                                    batch(
                                        &format!("t{n}-{round}-{customer}-{media}"),
                                        true,
                                        vec![change(
                                            &format!("T{n}{round:03}"),
                                            None,
                                            &[(Field::Slot, Some("1"))],
                                        )],
                                    ),
                                )
                            })
                            .collect();
                        if n == 1 {
                            group.reverse();
                        }
                        store.apply_group("tester", &group).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(count(&t.store, "volumes"), 2 * 15 * 3);
        // Each of the 30 groups stepped each scope once.
        let after: Vec<u64> = before.iter().map(|v| v + 30).collect();
        assert_eq!(versions(&t.store), after);
    });
}

/// A group's commit runs without the writer's automatic checkpoint (the checkpoint thread
/// copies the group after it); the threshold must come back afterwards, also after a group
/// that failed, or nothing would bound the WAL should that thread fall behind.
#[test]
fn a_group_leaves_the_writers_checkpoint_threshold_as_it_was() {
    let sqlite = stores().into_iter().find(|t| t.kind == "SQLite").unwrap();
    let mut store = sqlite.store;
    seed_three(&store);
    let threshold = |store: &Store| store.backend.test_scalar("PRAGMA wal_autocheckpoint");
    assert_eq!(threshold(&store), 1_000);
    let mut bad = three_batches("bad");
    bad[2].batch.session = Some(999_999);
    store.apply_group("tester", &bad).unwrap_err();
    assert_eq!(threshold(&store), 1_000, "no checkpoint thread yet");
    store
        .apply_group("tester", &three_batches("night"))
        .unwrap();
    let raised = i64::from(crate::sqlite::WRITER_AUTOCHECKPOINT_PAGES);
    assert_eq!(threshold(&store), raised);
    store.apply_group("tester", &bad).unwrap_err();
    assert_eq!(threshold(&store), raised);
}
