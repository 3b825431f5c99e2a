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
        create: None,
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
    let mut from_snapshot = table_from_snapshot(snapshot, &columns).unwrap();
    // A snapshot does not carry the scope version; everything else is the same.
    from_snapshot.scope_version = expected.scope_version;
    assert_eq!(from_snapshot, expected);
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

#[test]
fn scope_versions_over_http_equal_the_stores_and_leave_out_unreadable_customers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    prepare(&path);
    let server = Server::start(&path, 0);
    let store = Store::open(&path).unwrap();
    let asked = [
        scope("ACME"),
        scope("BETA"),
        scope("acme"),
        ScopeKey {
            customer: "ACME".into(),
            media: "DLT".into(),
        },
        scope("NONE"),
    ];

    // An administrator sees every scope, in the order asked, as the store answers.
    let expected = store.scope_versions(&asked).unwrap();
    store.add_user("boss", "boss pw", true).unwrap();
    let mut boss = HttpTarget::connect(&server.url(), "boss", "boss pw").unwrap();
    assert_eq!(boss.scope_versions(&asked).unwrap(), expected);
    assert_eq!(expected.scopes.len(), 5);
    assert!(expected.scopes[0].version > 0);
    assert_eq!(
        expected.scopes[4].version, 0,
        "a customer that does not exist"
    );

    // A user with a grant on ACME only: BETA and the unknown customer are simply left out.
    let mut reader = HttpTarget::connect(&server.url(), "reader", "reader pw").unwrap();
    let seen = reader.scope_versions(&asked).unwrap();
    assert_eq!(seen.store, expected.store);
    let names: Vec<String> = seen
        .scopes
        .iter()
        .map(|s| format!("{}/{}@{}", s.customer, s.media, s.version))
        .collect();
    let acme = expected.scopes[0].version;
    let dlt = expected.scopes[3].version;
    assert_eq!(
        names,
        [
            format!("ACME/LTO@{acme}"),
            format!("ACME/LTO@{acme}"),
            format!("ACME/DLT@{dlt}")
        ]
    );
    assert_eq!(reader.round_trips().version_calls, 1);

    // A write moves the version the server reports, and the table carries it.
    let batch = ApplyBatch {
        idempotency_key: "move".into(),
        session: None,
        create_missing: false,
        create: None,
        changes: vec![VolumeChange {
            volume: "H00001".into(),
            expected_version: Some(1),
            set: BTreeMap::from([(Field::Slot, Some("moved".to_string()))]),
        }],
    };
    let answer = boss.apply(&scope("ACME"), &batch).unwrap();
    let step = answer.scope_version.expect("the step of the batch");
    assert_eq!(
        (step.before, step.after, step.only_this_batch),
        (acme, acme + 1, true)
    );
    let now = reader.scope_versions(&asked[..1]).unwrap();
    assert_eq!(now.scopes[0].version, acme + 1);
    let table = reader
        .download_table(&scope("ACME"), &[Field::Slot])
        .unwrap();
    assert_eq!(table.scope_version, acme + 1);

    // A bad scope is a 400 like everywhere else.
    let bad = ScopeKey {
        customer: "TOO LONG".into(),
        media: "LTO".into(),
    };
    assert!(matches!(
        reader.scope_versions(&[bad]),
        Err(TargetError::Refused(_))
    ));
}
