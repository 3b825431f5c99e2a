//! Reconciliations through the real router: recorded with write rights, listed and read with
//! read rights, 404 across customers, bad input refused with nothing recorded.

mod common;

use axum::http::StatusCode;
use common::{call, get, logon, post};
use serde_json::{json, Value};
use tapesync_store::{Role, Store, StoreLocation};

const RECONCILE: &str = "/api/v1/customers/ACME/reconciliations";

/// ACME: A00001 and A00002 in OFFS, A00003 in LIBR; alice writes ACME, rita reads it, bob
/// writes BETA.
fn app(location: &StoreLocation) -> axum::Router {
    let store = Store::open_location(location).unwrap();
    store.ensure_admin(Some("admin-pw")).unwrap();
    store.add_customer("ACME", "Acme Corp").unwrap();
    store.add_media("ACME", "LTO", "").unwrap();
    store.add_repository("ACME", "LIBR", "").unwrap();
    store.add_repository("ACME", "OFFS", "").unwrap();
    store.add_customer("BETA", "").unwrap();
    for (name, customer, role) in [
        ("alice", "ACME", Role::Write),
        ("rita", "ACME", Role::Read),
        ("bob", "BETA", Role::Write),
    ] {
        store.add_user(name, &format!("{name}-pw"), false).unwrap();
        store.grant(name, customer, role).unwrap();
    }
    let mut store = store;
    let scope = tapesync_model::ScopeKey {
        customer: "ACME".into(),
        media: "LTO".into(),
    };
    let changes = [("A00001", "OFFS"), ("A00002", "OFFS"), ("A00003", "LIBR")]
        .iter()
        .map(|(v, r)| tapesync_model::VolumeChange {
            volume: v.to_string(),
            expected_version: None,
            set: [(tapesync_model::Field::Repository, Some(r.to_string()))].into(),
        })
        .collect();
    let batch = tapesync_model::ApplyBatch {
        idempotency_key: "seed".into(),
        session: None,
        create_missing: true,
        create: None,
        changes,
    };
    store.apply("seed", &scope, &batch).unwrap();
    drop(store);
    common::app(location, tapesync_server::ServerConfig::default())
}

fn scan(repository: &str, barcodes: &[&str]) -> Value {
    json!({"repository": repository, "barcodes": barcodes, "source": "scan.txt"})
}

#[tokio::test]
async fn recorded_with_write_rights_and_read_back_with_read_rights() {
    for backend in common::backends() {
        let _named = common::Named(backend.name);
        let location = backend.location.clone();
        let app = common::blocking(move || app(&location));
        let alice = logon(&app, "alice", "alice-pw").await;
        let rita = logon(&app, "rita", "rita-pw").await;
        let bob = logon(&app, "bob", "bob-pw").await;

        let a = call(
            &app,
            post(
                RECONCILE,
                Some(&alice),
                &scan("OFFS", &["A00001", "A00003", "X9"]),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
        let done = a.json();
        assert_eq!(done["summary"]["actor"], "alice");
        assert_eq!(done["summary"]["source"], "scan.txt");
        assert_eq!(
            done["summary"]["counts"],
            json!({"expected": 2, "found": 3, "present": 1, "missing": 1, "surplus": 2})
        );
        assert_eq!(
            done["missing"],
            json!([{"media": "LTO", "volume": "A00002"}])
        );
        assert_eq!(
            done["surplus"],
            json!([
                {"volume": "A00003", "media": "LTO", "current_repository": "LIBR"},
                {"volume": "X9", "media": null, "current_repository": null}
            ])
        );
        let id = done["summary"]["id"].as_i64().unwrap();

        // A read grant may not record one, but may list and read it.
        let a = call(
            &app,
            post(RECONCILE, Some(&rita), &scan("OFFS", &["A00001"])),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let a = call(&app, get(RECONCILE, Some(&rita))).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json().as_array().unwrap().len(), 1);
        assert_eq!(a.json()[0], done["summary"]);
        let a = call(&app, get(&format!("{RECONCILE}/{id}"), Some(&rita))).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json(), done);

        // Across customers: 404 for the list, the certificate and recording.
        for path in [RECONCILE.to_string(), format!("{RECONCILE}/{id}")] {
            let a = call(&app, get(&path, Some(&bob))).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        }
        let a = call(
            &app,
            post(RECONCILE, Some(&bob), &scan("OFFS", &["A00001"])),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let other = format!("/api/v1/customers/BETA/reconciliations/{id}");
        let a = call(&app, get(&other, Some(&bob))).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "another customer's id");
        let a = call(&app, get(&format!("{RECONCILE}/x"), Some(&alice))).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let a = call(&app, get(RECONCILE, None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_records_nothing() {
    for backend in common::backends() {
        let _named = common::Named(backend.name);
        let location = backend.location.clone();
        let app = common::blocking(move || app(&location));
        let alice = logon(&app, "alice", "alice-pw").await;
        for (body, says) in [
            (scan("NOPE", &["A00001"]), "no repository NOPE"),
            (scan("OFFS", &[]), "no barcodes"),
            (scan("OFFS", &["A00001", "not a barcode"]), "not a barcode"),
            (
                json!({"repository": "OFFS", "barcodes": ["A00001"]}),
                "source",
            ),
            (
                json!({"repository": "OFFS", "barcodes": ["A00001"], "source": "s", "x": 1}),
                "x",
            ),
        ] {
            let a = call(&app, post(RECONCILE, Some(&alice), &body)).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
            let message = a.json()["error"].as_str().unwrap_or_default().to_string();
            assert!(message.contains(says), "{body}: {message}");
        }
        let a = call(&app, get(RECONCILE, Some(&alice))).await;
        assert_eq!(a.json(), json!([]));
    }
}
