//! `HttpTarget::download_table` and its scope reader against the real `tapesync serve` on
//! loopback: the tables equal the store's own, compressed or not, rights and bad columns
//! map to the same errors as other calls, and every download is counted once.

use crate::server_support::Server;
use std::collections::BTreeMap;
use tapesync_model::{ApplyBatch, Field, ScopeKey, VolumeChange};
use tapesync_runtime::target::table_from_snapshot;
use tapesync_runtime::{HttpTarget, Target, TargetError};
use tapesync_store::{Role, Store};

fn scope(customer: &str) -> ScopeKey {
    ScopeKey {
        customer: customer.into(),
        media: "LTO".into(),
    }
}

/// ACME/LTO with 2,000 volumes; `reader` may read ACME only.
fn prepare(path: &std::path::Path) {
    let mut store = Store::open(path).unwrap();
    store.add_customer("ACME", "Acme").unwrap();
    store.add_media("ACME", "LTO", "").unwrap();
    store.add_repository("ACME", "LIBR", "Library").unwrap();
    store.add_customer("BETA", "Beta").unwrap();
    store.add_media("BETA", "LTO", "").unwrap();
    store.add_user("reader", "reader pw", false).unwrap();
    store.grant("reader", "ACME", Role::Read).unwrap();
    let batch = ApplyBatch {
        idempotency_key: "seed".into(),
        session: None,
        create_missing: true,
        changes: (0..2000)
            .map(|i| {
                let mut set = BTreeMap::new();
                if i % 2 == 0 {
                    set.insert(Field::Repository, Some("LIBR".to_string()));
                }
                if i % 7 != 0 {
                    set.insert(Field::Slot, Some(format!("{i}")));
                }
                VolumeChange {
                    volume: format!("H{i:05}"),
                    expected_version: None,
                    set,
                }
            })
            .collect(),
    };
    store.apply("seed", &scope("ACME"), &batch).unwrap();
}

#[test]
fn tables_over_http_equal_the_stores_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    prepare(&path);
    let server = Server::start(&path, 0);
    let store = Store::open(&path).unwrap();
    let columns = [Field::Slot, Field::Repository];
    let expected = store.download_table(&scope("ACME"), &columns).unwrap();
    assert_eq!(expected.len(), 2000);

    let mut target = HttpTarget::connect(&server.url(), "reader", "reader pw").unwrap();
    assert_eq!(
        target.download_table(&scope("ACME"), &columns).unwrap(),
        expected
    );
    target.set_gzip_downloads(true);
    assert_eq!(
        target.download_table(&scope("acme"), &columns).unwrap(),
        expected
    );
    let snapshot = target.download_scope(&scope("ACME")).unwrap();
    assert_eq!(table_from_snapshot(snapshot, &columns).unwrap(), expected);
    assert_eq!(
        target.download_table(&scope("ACME"), &[]).unwrap(),
        store.download_table(&scope("ACME"), &[]).unwrap()
    );

    // The reader works on a thread of its own and counts into the target's round trips.
    let mut reader = target.scope_reader().expect("an HTTP target has a reader");
    let on_thread = std::thread::spawn(move || reader.download_table(&scope("ACME"), &columns));
    assert_eq!(on_thread.join().unwrap().unwrap(), expected);

    match target.download_table(&scope("BETA"), &columns) {
        Err(TargetError::Unauthorised(_)) => {}
        other => panic!("ungranted customer: {other:?}"),
    }
    match target.download_table(&scope("ACME"), &[Field::RepositoryDesc]) {
        Err(TargetError::Refused(m)) => assert!(m.contains("REPOSITORY_DESC"), "{m}"),
        other => panic!("unstored column: {other:?}"),
    }
    let trips = target.round_trips();
    assert_eq!(
        (trips.logons, trips.scope_downloads, trips.retries),
        (1, 7, 0)
    );
}
