//! Customers, media and repositories: ids are checked and canonical, duplicates refused.

use super::*;
use crate::VolumeCount;

#[test]
fn administration_validates_ids_and_refuses_duplicates() {
    on_each_seeded(|store| {
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
    });
}

#[test]
fn volume_counts_group_by_repository_and_scratch() {
    on_each(|t| {
        let store = &mut t.store;
        store.import(&super::dump::sample_dump()).unwrap();
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
    });
}
