//! Import and export: round trips, refusals, and moving a store between backends.

use super::*;
use tapesync_model::{CustomerDump, InventoryDump, MediaDump, RepositoryInfo, VolumeDump};

pub(crate) fn sample_dump() -> InventoryDump {
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
    on_each(|t| {
        let store = &mut t.store;
        store.import(&sample_dump()).unwrap();
        let exported = store.export().unwrap();
        let ids: Vec<&str> = exported.volumes.iter().map(|v| v.volume.as_str()).collect();
        assert_eq!(ids, ["A1", "B2"]);
        // A volume new to the store keeps the dump's version (A1 has 9, B2 none).
        assert_eq!(exported.volumes[0].version, Some(9));
        assert_eq!(exported.volumes[1].version, Some(1));
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
        assert_eq!(a1.version, 10);
        let history = copy.volume_history(&scope(), "A1").unwrap();
        assert_eq!(history.last().unwrap().user, "import");
    });
}

#[test]
fn an_inconsistent_dump_imports_nothing() {
    on_each(|t| {
        let store = &mut t.store;
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
    });
}

/// An inventory with history (versions above 1) moves from SQLite to PostgreSQL and back:
/// every export along the way is the same.
#[test]
fn an_inventory_moves_between_backends_unchanged() {
    let Some(db) = crate::testing::TestDatabase::create() else {
        return;
    };
    let mut sqlite = Store::open_in_memory().unwrap();
    sqlite.import(&sample_dump()).unwrap();
    for (key, slot) in [("k1", "1"), ("k2", "2")] {
        let current = sqlite.volume(&scope(), "B2").unwrap().unwrap().version;
        apply_one(
            &mut sqlite,
            "a",
            key,
            false,
            change("B2", Some(current), &[(Field::Slot, Some(slot))]),
        )
        .unwrap();
    }
    let original = sqlite.export().unwrap();
    assert_eq!(original.volumes[1].version, Some(3));
    let mut postgres = Store::open_location(&db.location()).unwrap();
    postgres.import(&original).unwrap();
    let moved = postgres.export().unwrap();
    assert_eq!(moved, original);
    let mut back = Store::open_in_memory().unwrap();
    back.import(&moved).unwrap();
    assert_eq!(back.export().unwrap(), original);
}
