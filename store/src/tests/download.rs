//! Scope downloads: the snapshot, the table of chosen columns (which must hold exactly what
//! the snapshot holds for its columns, whatever the values look like), reader connections.

use super::*;
use crate::SCHEMA_VERSION;
use tapesync_model::{ScopeSnapshot, ScopeTable};

fn scope_of(customer: &str, media: &str) -> ScopeKey {
    ScopeKey {
        customer: customer.into(),
        media: media.into(),
    }
}

/// The reference: a snapshot's volumes turned into a table cell by cell (the same conversion
/// the runtime's `table_from_snapshot` makes, which this crate cannot depend on).
fn table_of(snapshot: ScopeSnapshot, columns: &[Field]) -> ScopeTable {
    let mut table = ScopeTable::new(columns);
    table.customer_exists = snapshot.customer_exists;
    table.media_exists = snapshot.media_exists;
    table.repositories = snapshot.repositories;
    for v in &snapshot.volumes {
        table
            .push(
                &v.volume,
                v.version,
                columns.iter().map(|c| v.fields.get(c).map(String::as_str)),
            )
            .unwrap();
    }
    table
}

/// US01/LTO with `n` volumes whose fields are variously set, absent, and (written past the
/// apply path, which never stores one) empty.
fn fill(store: &mut Store, n: usize) {
    store.add_customer("US01", "Acme").unwrap();
    store.add_media("US01", "LTO", "").unwrap();
    store.add_media("US01", "DLT", "").unwrap();
    store.add_repository("US01", "LIBR", "Library").unwrap();
    store.add_repository("US01", "OFFS", "Vault").unwrap();
    let changes = (0..n)
        .map(|i| {
            let mut set = BTreeMap::new();
            if i % 3 != 0 {
                let r = if i % 2 == 0 { "LIBR" } else { "OFFS" };
                set.insert(Field::Repository, Some(r.to_string()));
            }
            if i % 5 != 1 {
                set.insert(Field::Slot, Some(format!("{}", i * 7)));
            }
            if i % 4 == 0 {
                set.insert(Field::Description, Some(format!("tape ü {i}")));
            }
            VolumeChange {
                // Reverse order: the table must come out sorted regardless of insert order.
                volume: format!("V{:05}", n - i),
                expected_version: None,
                set,
            }
        })
        .collect();
    let batch = ApplyBatch {
        idempotency_key: "seed".into(),
        session: None,
        create_missing: true,
        create: None,
        changes,
    };
    store.apply("t", &scope_of("US01", "LTO"), &batch).unwrap();
    store.backend.test_execute(
        "UPDATE volumes SET description = '', version = version + 4 WHERE volume IN ('V00002', 'V00003')",
    );
}

#[test]
fn download_is_sorted_and_complete() {
    on_each_seeded(|store| {
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
    });
}

#[test]
fn the_table_equals_the_snapshot_for_every_column_set() {
    on_each(|t| {
        let store = &mut t.store;
        fill(store, 2500);
        let column_sets: &[&[Field]] = &[
            &[],
            &[Field::Repository],
            &[Field::Slot, Field::Repository],
            &[Field::Description, Field::Scratch, Field::Slot],
        ];
        for key in [
            scope_of("US01", "LTO"),
            scope_of("us01", "lto"),
            scope_of("US01", "DLT"),
            scope_of("US01", "NONE"),
            scope_of("XX99", "LTO"),
        ] {
            for columns in column_sets {
                let table = store.download_table(&key, columns).unwrap();
                let mut expected = table_of(store.download_scope(&key).unwrap(), columns);
                expected.scope_version = store
                    .scope_versions(std::slice::from_ref(&key))
                    .unwrap()
                    .scopes[0]
                    .version;
                assert_eq!(table, expected, "{key:?} {columns:?}");
            }
        }
        let table = store
            .download_table(&scope_of("US01", "LTO"), &[Field::Description, Field::Slot])
            .unwrap();
        assert_eq!(table.len(), 2500);
        let two = table.find("V00002").unwrap();
        assert_eq!(table.value(two, 0), Some(""));
        assert_eq!(table.version(two), 5);
        let one = table.find("V00001").unwrap();
        assert_eq!(table.value(one, 1), Some("17493"));
        let missing = store
            .download_table(&scope_of("XX99", "LTO"), &[Field::Slot])
            .unwrap();
        assert!(!missing.customer_exists && !missing.media_exists && missing.is_empty());
    });
}

#[test]
fn unstored_or_repeated_columns_and_bad_ids_are_invalid() {
    on_each(|t| {
        let store = &mut t.store;
        fill(store, 3);
        for columns in [
            vec![Field::User(1)],
            vec![Field::RepositoryDesc],
            vec![Field::Slot, Field::Customer],
            vec![Field::Volume],
            vec![Field::Slot, Field::Slot],
        ] {
            match store.download_table(&scope_of("US01", "LTO"), &columns) {
                Err(StoreError::Invalid { .. }) => {}
                other => panic!("{columns:?}: {other:?}"),
            }
        }
        assert!(matches!(
            store.download_table(&scope_of("TOO-LONG", "LTO"), &[]),
            Err(StoreError::Invalid { .. })
        ));
    });
}

#[test]
fn a_reader_connection_reads_what_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    assert!(
        Store::open_reader(&path).is_err(),
        "a missing file is not created"
    );
    assert!(!path.exists());
    let mut writer = Store::open(&path).unwrap();
    writer.add_customer("US01", "").unwrap();
    writer.add_media("US01", "LTO", "").unwrap();
    let reader = Store::open_reader(&path).unwrap();
    assert_eq!(reader.path(), Some(path.as_path()));
    let batch = ApplyBatch {
        idempotency_key: "k".into(),
        session: None,
        create_missing: true,
        create: None,
        changes: vec![VolumeChange {
            volume: "V1".into(),
            expected_version: None,
            set: BTreeMap::from([(Field::Slot, Some("4".to_string()))]),
        }],
    };
    writer.apply("t", &scope_of("US01", "LTO"), &batch).unwrap();
    let table = reader
        .download_table(&scope_of("US01", "LTO"), &[Field::Slot])
        .unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(table.value(0, 0), Some("4"));
    // A reader is Send: it is meant for a thread of its own.
    let handle = std::thread::spawn(move || reader.download_table(&scope_of("US01", "LTO"), &[]));
    assert_eq!(handle.join().unwrap().unwrap().len(), 1);
}

#[test]
fn a_reader_refuses_a_store_at_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let store = Store::open(&path).unwrap();
    store
        .backend
        .test_execute(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1));
    assert!(matches!(
        Store::open_reader(&path),
        Err(StoreError::NewerSchema { .. })
    ));
    store.backend.test_execute("PRAGMA user_version = 0");
    assert!(matches!(
        Store::open_reader(&path),
        Err(StoreError::Corrupt(_))
    ));
}
