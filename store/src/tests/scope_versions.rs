//! Scope versions and the store identity: every write that changes what a download of a
//! scope returns moves the scope's version in its own transaction; nothing else does.

use super::*;
use tapesync_model::{ScopeVersionStep, ScopeVersions};

fn dlt() -> ScopeKey {
    ScopeKey {
        customer: "US01".into(),
        media: "DLT".into(),
    }
}

fn versions(store: &Store) -> ScopeVersions {
    store.scope_versions(&[scope(), dlt()]).unwrap()
}

fn version_of(store: &Store, scope: &ScopeKey) -> u64 {
    store
        .scope_versions(std::slice::from_ref(scope))
        .unwrap()
        .scopes[0]
        .version
}

#[test]
fn the_identity_is_made_once_per_store() {
    let mut identities = Vec::new();
    on_each(|t| {
        let first = versions(&t.store).store;
        assert_eq!(first.len(), 32, "{first}");
        assert_eq!(
            versions(&t.reopen()).store,
            first,
            "stable across connections"
        );
        identities.push(first);
    });
    // Two stores (and the same kind of store made twice) never share an identity.
    on_each(|t| identities.push(versions(&t.store).store));
    let mut distinct = identities.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), identities.len(), "{identities:?}");
}

#[test]
fn a_scope_that_does_not_exist_is_at_zero_and_answers_come_in_the_order_asked() {
    on_each(|t| {
        let v = versions(&t.store);
        assert_eq!(
            v.scopes
                .iter()
                .map(|s| (s.customer.as_str(), s.media.as_str(), s.version))
                .collect::<Vec<_>>(),
            [("US01", "LTO", 0), ("US01", "DLT", 0)]
        );
        let bad = ScopeKey {
            customer: "not a customer".into(),
            media: "LTO".into(),
        };
        assert!(matches!(
            t.store.scope_versions(&[bad]),
            Err(StoreError::Invalid { .. })
        ));
    });
}

#[test]
fn the_customer_media_and_repositories_move_every_scope_of_the_customer() {
    on_each(|t| {
        let store = &t.store;
        let mut last = (0, 0);
        let mut moved = |store: &Store, what: &str| {
            let now = (version_of(store, &scope()), version_of(store, &dlt()));
            assert!(
                now.0 > last.0 && now.1 > last.1,
                "{what}: {last:?} → {now:?}"
            );
            last = now;
        };
        store.add_customer("US01", "Acme").unwrap();
        moved(store, "customer");
        store.add_media("US01", "LTO", "").unwrap();
        moved(store, "media");
        store.add_repository("US01", "LIBR", "").unwrap();
        moved(store, "repository");
        // Refused additions change nothing and move nothing.
        assert!(store.add_repository("US01", "LIBR", "").is_err());
        assert_eq!(
            (version_of(store, &scope()), version_of(store, &dlt())),
            last
        );
        // Another customer's scopes stay where they are.
        store.add_customer("EU02", "").unwrap();
        assert_eq!(
            (version_of(store, &scope()), version_of(store, &dlt())),
            last
        );
    });
}

#[test]
fn a_batch_reports_how_it_moved_the_version_and_a_download_carries_it() {
    on_each_seeded(|store| {
        let start = version_of(store, &scope());
        let other = version_of(store, &dlt());
        let created = apply_one(
            store,
            "u",
            "k1",
            true,
            change("A00001", None, &[(Field::Slot, Some("1"))]),
        )
        .unwrap();
        let step = ScopeVersionStep {
            before: start,
            after: start + 1,
            only_this_batch: true,
        };
        assert_eq!(created.scope_version, Some(step));
        assert_eq!(version_of(store, &scope()), start + 1);
        assert_eq!(version_of(store, &dlt()), other, "other scopes do not move");
        let table = store.download_table(&scope(), &[Field::Slot]).unwrap();
        assert_eq!(table.scope_version, start + 1);

        // A replay answers with the recorded step and moves nothing.
        let replay = apply_one(
            store,
            "u",
            "k1",
            true,
            change("A00001", None, &[(Field::Slot, Some("1"))]),
        )
        .unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.scope_version, Some(step));
        assert_eq!(version_of(store, &scope()), start + 1);

        // A batch that writes nothing (a conflict, a change to the same value) moves nothing.
        for (key, c) in [
            ("k2", change("A00001", Some(7), &[(Field::Slot, Some("2"))])),
            ("k3", change("A00001", Some(1), &[(Field::Slot, Some("1"))])),
        ] {
            let r = apply_one(store, "u", key, false, c).unwrap();
            assert_eq!(
                r.scope_version,
                Some(ScopeVersionStep {
                    before: start + 1,
                    after: start + 1,
                    only_this_batch: true,
                }),
                "{key}"
            );
        }

        // A batch that also creates a repository moves every scope of the customer: a copy
        // of the table kept by the client is no longer the whole story.
        let r = apply_one(
            store,
            "u",
            "k4",
            true,
            change("A00001", Some(1), &[(Field::Repository, Some("NEWR"))]),
        )
        .unwrap();
        let step = r.scope_version.unwrap();
        assert_eq!(step.before, start + 1);
        assert!(step.after >= start + 3, "{step:?}");
        assert!(!step.only_this_batch);
        assert!(version_of(store, &dlt()) > other);
        assert_eq!(version_of(store, &scope()), step.after);
    });
}

#[test]
fn an_import_moves_the_scopes_it_writes() {
    on_each_seeded(|store| {
        let dump = {
            let mut s = store.export().unwrap();
            s.volumes.push(tapesync_model::VolumeDump {
                customer: "US01".into(),
                media: "LTO".into(),
                volume: "A00009".into(),
                version: None,
                fields: BTreeMap::from([(Field::Slot, "9".to_string())]),
            });
            s
        };
        let before = version_of(store, &scope());
        store.import(&dump).unwrap();
        let after = version_of(store, &scope());
        assert!(after > before, "{before} → {after}");
        // Into another store: a store of its own, with an identity of its own.
        let mut copy = Store::open_in_memory().unwrap();
        copy.import(&store.export().unwrap()).unwrap();
        assert_ne!(versions(&copy).store, versions(store).store);
        assert_eq!(
            copy.download_table(&scope(), &[Field::Slot]).unwrap().len(),
            1
        );
    });
}

#[test]
fn a_scope_versions_request_refuses_unknown_members() {
    use tapesync_model::ScopeVersionsRequest;
    let good = r#"{"scopes": [{"customer": "ACME", "media": "LTO"}]}"#;
    assert!(serde_json::from_str::<ScopeVersionsRequest>(good).is_ok());
    for bad in [
        r#"{"scopes": [{"customer": "A", "media": "B", "extra": 1}]}"#,
        r#"{"scopes": [], "extra": 1}"#,
        r#"{}"#,
    ] {
        assert!(
            serde_json::from_str::<ScopeVersionsRequest>(bad).is_err(),
            "{bad}"
        );
    }
}
