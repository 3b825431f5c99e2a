//! Target and current location: pending moves made, changed, cancelled and completed by
//! batches, on both backends.

use super::*;
use crate::Problem;
use tapesync_model::MoveCounts;

fn moves(created: u64, changed: u64, cancelled: u64, completed: u64) -> MoveCounts {
    MoveCounts {
        created,
        changed,
        cancelled,
        completed,
    }
}

fn location(store: &Store, volume: &str) -> (String, String, Option<String>) {
    let v = store.volume(&scope(), volume).unwrap().unwrap();
    let get = |f| v.fields.get(&f).cloned();
    (
        get(Field::Repository).unwrap_or_default(),
        get(Field::CurrentRepository).unwrap_or_default(),
        get(Field::MoveDate),
    )
}

fn set_target(store: &mut Store, key: &str, volume: &str, target: &str) -> ApplyResponse {
    let version = store.volume(&scope(), volume).unwrap().unwrap().version;
    let c = change(volume, Some(version), &[(Field::Repository, Some(target))]);
    apply_one(store, "night", key, false, c).unwrap()
}

#[test]
fn a_new_volume_is_where_it_should_be() {
    on_each_seeded(|store| {
        let c = change("A1", None, &[(Field::Repository, Some("LIBR"))]);
        let r = apply_one(store, "night", "b1", true, c).unwrap();
        assert!(r.moves.is_zero());
        assert_eq!(r.implied, [Field::CurrentRepository]);
        assert_eq!(location(store, "A1"), ("LIBR".into(), "LIBR".into(), None));
        // Only where a volume is: that is its target too.
        let c = change("A2", None, &[(Field::CurrentRepository, Some("OFFS"))]);
        apply_one(store, "night", "b2", true, c).unwrap();
        assert_eq!(location(store, "A2"), ("OFFS".into(), "OFFS".into(), None));
    });
}

#[test]
fn a_new_target_is_a_pending_move_until_the_volume_is_there() {
    on_each_seeded(|store| {
        let c = change("A1", None, &[(Field::Repository, Some("LIBR"))]);
        apply_one(store, "night", "b1", true, c).unwrap();
        let r = set_target(store, "b2", "A1", "OFFS");
        assert_eq!(r.moves, moves(1, 0, 0, 0));
        assert_eq!(location(store, "A1"), ("OFFS".into(), "LIBR".into(), None));
        assert!(r.implied.is_empty());

        let r = set_target(store, "b3", "A1", "LIBR");
        assert_eq!(r.moves, moves(0, 0, 1, 0));
        let r = set_target(store, "b4", "A1", "OFFS");
        assert_eq!(r.moves, moves(1, 0, 0, 0));

        // A report of where volumes are completes it.
        let version = store.volume(&scope(), "A1").unwrap().unwrap().version;
        let c = change(
            "A1",
            Some(version),
            &[(Field::CurrentRepository, Some("OFFS"))],
        );
        let r = apply_one(store, "vault", "b5", false, c).unwrap();
        assert_eq!(r.moves, moves(0, 0, 0, 1));
        assert_eq!(location(store, "A1").1, "OFFS");

        // History shows both fields, with who changed them.
        let history = store.volume_history(&scope(), "A1").unwrap();
        let rows: Vec<(String, Field, Option<String>)> = history
            .iter()
            .filter(|e| matches!(e.field, Field::Repository | Field::CurrentRepository))
            .map(|e| (e.user.clone(), e.field, e.new.clone()))
            .collect();
        let row = |u: &str, f, v: &str| (u.to_string(), f, Some(v.to_string()));
        assert_eq!(
            rows,
            [
                row("night", Field::Repository, "LIBR"),
                row("night", Field::CurrentRepository, "LIBR"),
                row("night", Field::Repository, "OFFS"),
                row("night", Field::Repository, "LIBR"),
                row("night", Field::Repository, "OFFS"),
                row("vault", Field::CurrentRepository, "OFFS"),
            ]
        );
    });
}

#[test]
fn a_replayed_batch_answers_its_moves_again() {
    on_each_seeded(|store| {
        let c = change("A1", None, &[(Field::Repository, Some("LIBR"))]);
        apply_one(store, "night", "b1", true, c).unwrap();
        let first = set_target(store, "b2", "A1", "OFFS");
        let c = change("A1", Some(1), &[(Field::Repository, Some("OFFS"))]);
        let again = apply_one(store, "night", "b2", false, c).unwrap();
        assert!(again.replayed);
        assert_eq!(again.moves, first.moves);
    });
}

#[test]
fn a_current_repository_must_be_one_of_the_customer() {
    on_each_seeded(|store| {
        let c = change("A1", None, &[(Field::Repository, Some("LIBR"))]);
        apply_one(store, "night", "b1", true, c).unwrap();
        let c = change("A1", Some(1), &[(Field::CurrentRepository, Some("NOPE"))]);
        let r = apply_one(store, "night", "b2", false, c).unwrap();
        assert!(matches!(
            &outcomes(&r)[0],
            VolumeOutcome::Rejected {
                field: Some(Field::CurrentRepository),
                ..
            }
        ));
        assert_eq!(location(store, "A1").1, "LIBR");
    });
}

/// A store from before current locations: its volumes are where they should be.
#[test]
fn the_migration_puts_existing_volumes_at_their_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let old = &crate::sqlite::schema::MIGRATIONS[..6];
        for step in old {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 6;
             INSERT INTO customers (id, name) VALUES ('US01', 'Acme');
             INSERT INTO media (customer, id) VALUES ('US01', 'LTO');
             INSERT INTO repositories (customer, id) VALUES ('US01', 'OFFS');
             INSERT INTO volumes (customer, media, volume, version, created_at, updated_at,
                                  repository)
             VALUES ('US01', 'LTO', 'A1', 1, 'then', 'then', 'OFFS'),
                    ('US01', 'LTO', 'A2', 1, 'then', 'then', NULL);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(location(&store, "A1"), ("OFFS".into(), "OFFS".into(), None));
    assert_eq!(location(&store, "A2"), (String::new(), String::new(), None));
}

#[test]
fn pending_moves_list_what_leaves_each_repository_by_day() {
    on_each_seeded(|store| {
        store.add_repository("US01", "SHIP", "").unwrap();
        let creations = ["A1", "A2", "A3", "A4"]
            .iter()
            .map(|v| change(v, None, &[(Field::Repository, Some("LIBR"))]))
            .collect();
        store
            .apply("night", &scope(), &batch("b1", true, creations))
            .unwrap();
        let moves = vec![
            change("A1", Some(1), &[(Field::Repository, Some("OFFS"))]),
            change(
                "A2",
                Some(1),
                &[
                    (Field::Repository, Some("OFFS")),
                    (Field::MoveDate, Some("2026-12-01")),
                ],
            ),
            change("A3", Some(1), &[(Field::Repository, Some("SHIP"))]),
        ];
        store
            .apply("night", &scope(), &batch("b2", false, moves))
            .unwrap();
        let listed = |due| -> Vec<(String, String, String)> {
            store
                .pending_moves("us01", due)
                .unwrap()
                .into_iter()
                .map(|m| (m.volume, m.from, m.to))
                .collect()
        };
        let m = |v: &str, f: &str, t: &str| (v.to_string(), f.to_string(), t.to_string());
        assert_eq!(
            listed(None),
            [
                m("A1", "LIBR", "OFFS"),
                m("A2", "LIBR", "OFFS"),
                m("A3", "LIBR", "SHIP")
            ]
        );
        // A2 is due on 1 December: not on the list of the day before.
        assert_eq!(
            listed(Some("2026-11-30")),
            [m("A1", "LIBR", "OFFS"), m("A3", "LIBR", "SHIP")]
        );
        assert_eq!(listed(Some("2026-12-01")).len(), 3);
        let pending = store.pending_moves("US01", None).unwrap();
        assert_eq!(pending[1].move_date.as_deref(), Some("2026-12-01"));
        assert_eq!(pending[1].version, 2);

        assert!(matches!(
            store.pending_moves("US01", Some("1/12/2026")),
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store.pending_moves("US01", Some("2026-02-30")),
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store.pending_moves("NOPE", None),
            Err(StoreError::NotFound(_))
        ));
    });
}

/// The picking list reads the pending moves off their partial index, not the whole customer.
#[test]
fn the_pending_moves_query_reads_the_partial_index_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    seed(&Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sql = crate::moves::pending_moves_query("?1", "?2");
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(rusqlite::params!["US01", "2026-11-29"], |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("; ");
    assert!(plan.contains("USING INDEX volumes_moving"), "{plan}");
}

#[test]
fn a_confirmation_makes_expected_volumes_current_and_lists_the_rest() {
    on_each_seeded(|store| {
        let creations = ["A1", "A2", "A3", "A4"]
            .iter()
            .map(|v| change(v, None, &[(Field::Repository, Some("LIBR"))]))
            .collect();
        store
            .apply("night", &scope(), &batch("b1", true, creations))
            .unwrap();
        let moves = ["A1", "A2"]
            .iter()
            .map(|v| change(v, Some(1), &[(Field::Repository, Some("OFFS"))]))
            .collect();
        store
            .apply("night", &scope(), &batch("b2", false, moves))
            .unwrap();
        let scan = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        // Bad input changes nothing.
        let bad = store.confirm_moves("op", "US01", "2026-11-29", &scan(&["A1", "ZZ9"]));
        assert!(
            matches!(&bad, Err(StoreError::Invalid { message, .. }) if message.contains("ZZ9")),
            "{bad:?}"
        );
        assert!(store
            .confirm_moves("op", "US01", "29.11.2026", &scan(&["A1"]))
            .is_err());
        assert_eq!(store.pending_moves("US01", None).unwrap().len(), 2);

        // A1 expected and scanned; A3 scanned, not expected; A2 expected, not scanned.
        let done = store
            .confirm_moves("op", "us01", "2026-11-29", &scan(&["a1", "A3", "A1"]))
            .unwrap();
        let volumes: Vec<&str> = done.confirmed.iter().map(|m| m.volume.as_str()).collect();
        assert_eq!(volumes, ["A1"]);
        let problems: Vec<(&str, Problem)> = done
            .discrepancies
            .iter()
            .map(|d| (d.volume.as_str(), d.problem))
            .collect();
        assert_eq!(
            problems,
            [("A2", Problem::NotScanned), ("A3", Problem::NotExpected)]
        );
        assert_eq!(location(store, "A1"), ("OFFS".into(), "OFFS".into(), None));
        assert_eq!(location(store, "A3"), ("LIBR".into(), "LIBR".into(), None));
        let last = store.volume_history(&scope(), "A1").unwrap().pop().unwrap();
        assert_eq!(
            (last.user.as_str(), last.field, last.new.as_deref()),
            ("op", Field::CurrentRepository, Some("OFFS"))
        );
        let pending: Vec<String> = store
            .pending_moves("US01", None)
            .unwrap()
            .into_iter()
            .map(|m| m.volume)
            .collect();
        assert_eq!(pending, ["A2"]);
    });
}
