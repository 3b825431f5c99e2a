//! The binary scope-table download (`GET .../media/{media}/table?columns=...`) through the
//! real router: rights as for the JSON download, column validation, counters, and a byte-exact
//! round trip of the store's own table, plain and gzipped.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{call, logon};
use std::collections::BTreeMap;
use std::io::Read;
use tapesync_model::{ApplyBatch, Field, ScopeKey, ScopeTable, VolumeChange};
use tapesync_server::ServerConfig;
use tapesync_store::{Role, Store};

const TABLE: &str = "/api/v1/customers/ACME/media/LTO/table";
const TABLE_TYPE: &str = "application/vnd.tapesync.scope-table";

struct Fixture {
    app: Router,
    backend: common::Backend,
    _named: common::Named,
}

fn scope() -> ScopeKey {
    ScopeKey {
        customer: "ACME".into(),
        media: "LTO".into(),
    }
}

/// ACME/LTO with 300 volumes (some fields unset); alice may read ACME, bob only BETA.
/// The fixture on each backend.
fn fixtures() -> impl Iterator<Item = Fixture> {
    common::backends()
        .into_iter()
        .map(|b| common::blocking(move || fixture(b)))
}

fn fixture(backend: common::Backend) -> Fixture {
    let mut store = Store::open_location(&backend.location).unwrap();
    store.ensure_admin(Some("admin-pw")).unwrap();
    store.add_customer("ACME", "Acme").unwrap();
    store.add_media("ACME", "LTO", "").unwrap();
    store.add_repository("ACME", "LIBR", "Library").unwrap();
    store.add_customer("BETA", "Beta").unwrap();
    store.add_user("alice", "alice-pw", false).unwrap();
    store.grant("alice", "ACME", Role::Read).unwrap();
    store.add_user("bob", "bob-pw", false).unwrap();
    store.grant("bob", "BETA", Role::Write).unwrap();
    let batch = ApplyBatch {
        idempotency_key: "seed".into(),
        session: None,
        create_missing: true,
        create: None,
        changes: (0..300)
            .map(|i| {
                let mut set = BTreeMap::new();
                if i % 2 == 0 {
                    set.insert(Field::Repository, Some("LIBR".to_string()));
                }
                if i % 3 != 0 {
                    set.insert(Field::Slot, Some(format!("{i}")));
                }
                VolumeChange {
                    volume: format!("T{i:05}"),
                    expected_version: None,
                    set,
                }
            })
            .collect(),
    };
    store.apply("seed", &scope(), &batch).unwrap();
    drop(store);
    let app = common::app(&backend.location, ServerConfig::default());
    Fixture {
        app,
        _named: common::Named(backend.name),
        backend,
    }
}

fn get(path: &str, token: &str) -> Request<Body> {
    common::get(path, Some(token))
}

fn store_table(f: &Fixture, columns: &[Field]) -> ScopeTable {
    let (location, columns) = (f.backend.location.clone(), columns.to_vec());
    common::blocking(move || {
        Store::open_location(&location)
            .unwrap()
            .download_table(&scope(), &columns)
            .unwrap()
    })
}

#[tokio::test]
async fn the_table_is_the_stores_table_byte_for_byte() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        for (query, columns) in [
            (
                "?columns=REPOSITORY,SLOT",
                vec![Field::Repository, Field::Slot],
            ),
            ("?columns=SLOT", vec![Field::Slot]),
            ("?columns=", vec![]),
            ("", vec![]),
        ] {
            let a = call(&f.app, get(&format!("{TABLE}{query}"), &alice)).await;
            assert_eq!(a.status, StatusCode::OK, "{query}");
            assert_eq!(a.headers[header::CONTENT_TYPE], TABLE_TYPE);
            let expected = store_table(&f, &columns);
            assert_eq!(a.body, expected.encode(), "{query}");
            let table = ScopeTable::decode(&a.body).unwrap();
            assert_eq!(table, expected);
            assert_eq!(table.len(), 300);
        }
        // A media type or customer that does not exist (but may be read) is an empty table.
        let a = call(
            &f.app,
            get(
                "/api/v1/customers/ACME/media/DLT/table?columns=SLOT",
                &alice,
            ),
        )
        .await;
        let table = ScopeTable::decode(&a.body).unwrap();
        assert!(table.customer_exists && !table.media_exists && table.is_empty());
    }
}

#[tokio::test]
async fn gzip_is_used_only_when_asked_for() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let req = Request::get(format!("{TABLE}?columns=REPOSITORY,SLOT"))
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        let a = call(&f.app, req).await;
        assert_eq!(a.headers[header::CONTENT_ENCODING], "gzip");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(&a.body[..])
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(
            bytes,
            store_table(&f, &[Field::Repository, Field::Slot]).encode()
        );
        let a = call(&f.app, get(&format!("{TABLE}?columns=SLOT"), &alice)).await;
        assert!(a.headers.get(header::CONTENT_ENCODING).is_none());
    }
}

#[tokio::test]
async fn rights_columns_and_counters() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let bob = logon(&f.app, "bob", "bob-pw").await;
        let admin = logon(&f.app, "admin", "admin-pw").await;
        // No grant: 404 like a customer that does not exist, before the columns are looked at.
        for path in [
            format!("{TABLE}?columns=SLOT"),
            format!("{TABLE}?columns=NOPE"),
            "/api/v1/customers/NONE/media/LTO/table".to_string(),
        ] {
            let a = call(&f.app, get(&path, &bob)).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(a.json()["error"], "not found");
        }
        let a = call(&f.app, Request::get(TABLE).body(Body::empty()).unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        for (query, field) in [
            ("NOPE", "columns"),
            ("SLOT,,REPOSITORY", "columns"),
            ("USER1", "USER1"),
            ("REPOSITORY_DESC", "REPOSITORY_DESC"),
            ("CUSTOMER", "CUSTOMER"),
            ("SLOT,SLOT", "SLOT"),
        ] {
            let a = call(&f.app, get(&format!("{TABLE}?columns={query}"), &alice)).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(a.json()["field"], field, "{query}");
        }
        let a = call(
            &f.app,
            get("/api/v1/customers/TOOLONG/media/LTO/table", &alice),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);

        let before = call(&f.app, get("/api/v1/server-statistics", &admin))
            .await
            .json()["scope_downloads"]
            .as_u64()
            .unwrap();
        call(&f.app, get(&format!("{TABLE}?columns=SLOT"), &alice)).await;
        let after = call(&f.app, get("/api/v1/server-statistics", &admin))
            .await
            .json()["scope_downloads"]
            .as_u64()
            .unwrap();
        assert_eq!(after, before + 1);
    }
}
