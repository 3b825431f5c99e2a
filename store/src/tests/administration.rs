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

/// `prune` removes expired tokens and idempotency records older than the retention, and keeps
/// everything a client may still use; running it twice (two nodes at once) removes nothing
/// more.
#[test]
fn prune_removes_expired_tokens_and_old_idempotency_records() {
    on_each_seeded(|store| {
        let alice = store.add_user("alice", "pw", false).unwrap();
        let live = store.create_token(&alice, 3600).unwrap();
        store.create_token(&alice, 0).unwrap();
        store
            .apply(
                "alice",
                &scope(),
                &batch("old", true, vec![change("V1", None, &[])]),
            )
            .unwrap();
        store
            .apply(
                "alice",
                &scope(),
                &batch("new", true, vec![change("V2", None, &[])]),
            )
            .unwrap();
        store.backend.test_execute(
            "UPDATE applied_batches SET at = '2000-01-01T00:00:00.000Z' WHERE idempotency_key = 'old'",
        );
        let report = store.prune(&crate::ThrottlePolicy::default()).unwrap();
        assert_eq!(report.expired_tokens, 1, "{report:?}");
        assert_eq!(report.idempotency_records, 1, "{report:?}");
        assert!(store.user_for_token(&live).unwrap().is_some());
        assert_eq!(
            store
                .backend
                .test_scalar("SELECT count(*) FROM applied_batches WHERE idempotency_key = 'new'"),
            1
        );
        let again = store.prune(&crate::ThrottlePolicy::default()).unwrap();
        assert_eq!((again.expired_tokens, again.idempotency_records), (0, 0));
    });
}
