//! The HTTP API through the real router (no socket): rights, validation, throttling, replay,
//! compression. The end-to-end tests with the real binary live in cli/tests/e2e/server_e2e.rs.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{call, get, logon, logon_attempt, post, post_raw};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use tapesync_server::{ServerConfig, ThrottlePolicy};
use tapesync_store::{Role, Store};

struct Fixture {
    app: Router,
    backend: common::Backend,
    _named: common::Named,
}

/// The fixture on each backend.
fn fixtures() -> impl Iterator<Item = Fixture> {
    common::backends()
        .into_iter()
        .map(|b| common::blocking(move || fixture(b)))
}

fn fixture(backend: common::Backend) -> Fixture {
    let store = Store::open_location(&backend.location).unwrap();
    store.ensure_admin(Some("admin-pw")).unwrap();
    store.add_customer("ACME", "Acme Corp").unwrap();
    store.add_media("ACME", "LTO", "LTO tapes").unwrap();
    store.add_repository("ACME", "LIBR", "Library").unwrap();
    store.add_customer("BETA", "Beta <Ltd>").unwrap();
    store.add_media("BETA", "LTO", "").unwrap();
    store.add_repository("BETA", "LIBR", "").unwrap();
    store.add_user("alice", "alice-pw", false).unwrap();
    store.grant("alice", "ACME", Role::Write).unwrap();
    store.add_user("rita", "rita-pw", false).unwrap();
    store.grant("rita", "ACME", Role::Read).unwrap();
    store.add_user("bob", "bob-pw", false).unwrap();
    store.grant("bob", "BETA", Role::Write).unwrap();
    drop(store);
    let config = ServerConfig {
        throttle: ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(30),
            ..ThrottlePolicy::default()
        },
        ..ServerConfig::default()
    };
    let app = common::app(&backend.location, config);
    Fixture {
        app,
        _named: common::Named(backend.name),
        backend,
    }
}

const SCOPE: &str = "/api/v1/customers/ACME/media/LTO/volumes";
const APPLY: &str = "/api/v1/customers/ACME/media/LTO/volumes:apply";

fn batch(key: &str, volume: &str, repository: &str) -> Value {
    json!({
        "idempotency_key": key,
        "session": null,
        "create_missing": true,
        "changes": [{"volume": volume, "expected_version": null,
                     "set": {"REPOSITORY": repository, "SLOT": "12"}}]
    })
}

#[tokio::test]
async fn health_and_unknown_routes_answer_json() {
    for f in fixtures() {
        let a = call(&f.app, get("/healthz", None)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["status"], "ok");
        let a = call(&f.app, get("/api/v1/nothing-here", None)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert_eq!(a.json()["error"], "not found");
        // Wrong method: axum's own 405 rewritten as JSON.
        let a = call(&f.app, get(APPLY, None)).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(a.json()["error"].is_string());
    }
}

#[tokio::test]
async fn logon_does_not_say_which_part_was_wrong_and_is_throttled() {
    for f in fixtures() {
        let wrong_pw = logon_attempt(&f.app, "alice", "x").await;
        let no_user = logon_attempt(&f.app, "nobody", "x").await;
        assert_eq!(wrong_pw.status, StatusCode::UNAUTHORIZED);
        assert_eq!(no_user.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong_pw.body, no_user.body);
        // Third failure from this address (free: 3); the fourth locks the address and the user.
        for _ in 0..2 {
            logon_attempt(&f.app, "alice", "y").await;
        }
        let locked = logon_attempt(&f.app, "alice", "alice-pw").await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = locked.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "Retry-After {retry}");
        // Bad body: 400 naming the missing part.
        let a = call(
            &f.app,
            post("/api/v1/logon", None, &json!({"user": "alice"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    for f in fixtures() {
        let a = call(&f.app, get("/api/v1/customers", None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        let a = call(&f.app, get("/api/v1/customers", Some("deadbeef"))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(a.json()["error"].is_string());
    }
}

#[tokio::test]
async fn a_user_sees_only_granted_customers_and_gets_404_for_others() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let a = call(&f.app, get("/api/v1/customers", Some(&alice))).await;
        let ids: Vec<String> = a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["ACME"]);
        let admin = logon(&f.app, "admin", "admin-pw").await;
        let a = call(&f.app, get("/api/v1/customers", Some(&admin))).await;
        assert_eq!(a.json().as_array().unwrap().len(), 2);

        let bob = logon(&f.app, "bob", "bob-pw").await;
        // Alice creates a volume in ACME.
        let a = call(
            &f.app,
            post(APPLY, Some(&alice), &batch("k1", "A00001", "LIBR")),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["results"][0]["outcome"], "created");
        // Bob (BETA only) gets 404 for everything of ACME, reads and writes alike, and cannot
        // tell it from a customer that does not exist.
        for path in [
            SCOPE.to_string(),
            format!("{SCOPE}/A00001"),
            format!("{SCOPE}/A00001/history"),
            "/api/v1/customers/ACME/volume-counts".to_string(),
        ] {
            let a = call(&f.app, get(&path, Some(&bob))).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
            let missing = call(&f.app, get(&path.replace("ACME", "ZZZZ"), Some(&bob))).await;
            assert_eq!(missing.status, StatusCode::NOT_FOUND);
            assert_eq!(a.body, missing.body);
        }
        let a = call(
            &f.app,
            post(APPLY, Some(&bob), &batch("k2", "A00001", "OFFS")),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        // Even an invalid body is a 404 for bob: rights are checked first.
        let a = call(&f.app, post_raw(APPLY, Some(&bob), b"{nonsense".to_vec())).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        // Nothing changed.
        let a = call(&f.app, get(&format!("{SCOPE}/A00001"), Some(&alice))).await;
        assert_eq!(a.json()["version"], 1);
        assert_eq!(a.json()["fields"]["REPOSITORY"], "LIBR");
        // Read-only rita can read but not write.
        let rita = logon(&f.app, "rita", "rita-pw").await;
        let a = call(&f.app, get(SCOPE, Some(&rita))).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["volumes"][0]["volume"], "A00001");
        let a = call(
            &f.app,
            post(APPLY, Some(&rita), &batch("k3", "A00002", "LIBR")),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        // History is there for alice.
        let a = call(
            &f.app,
            get(&format!("{SCOPE}/A00001/history"), Some(&alice)),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let fields: Vec<String> = a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert!(
            fields.contains(&"REPOSITORY".to_string()) && fields.contains(&"SLOT".to_string()),
            "{fields:?}"
        );
        assert!(a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["user"] == "alice"));
    }
}

#[tokio::test]
async fn invalid_batches_are_400_naming_the_field_and_write_nothing() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        // Unknown field name: the JSON path names where.
        let mut b = batch("k1", "A00001", "LIBR");
        b["changes"][0]["set"]["NOSUCHFIELD"] = json!("x");
        let a = call(&f.app, post(APPLY, Some(&alice), &b)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(
            a.json()["field"]
                .as_str()
                .unwrap()
                .contains("changes[0].set"),
            "{}",
            a.json()
        );
        // A value too long for its field, after a valid change: whole batch refused.
        let b = json!({"idempotency_key": "k2", "session": null, "create_missing": true, "changes": [
            {"volume": "A00001", "expected_version": null, "set": {"SLOT": "1"}},
            {"volume": "A00002", "expected_version": null, "set": {"SCRATCH": "maybe"}}]});
        let a = call(&f.app, post(APPLY, Some(&alice), &b)).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["field"], "SCRATCH");
        // Bad volume id.
        let a = call(
            &f.app,
            post(APPLY, Some(&alice), &batch("k3", "-BAD", "LIBR")),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["field"], "VOLUME");
        // Empty idempotency key.
        let a = call(
            &f.app,
            post(APPLY, Some(&alice), &batch("", "A00001", "LIBR")),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["field"], "idempotency_key");
        // Not JSON at all.
        let a = call(&f.app, post_raw(APPLY, Some(&alice), b"{".to_vec())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        // Bad path id.
        let a = call(
            &f.app,
            post(
                "/api/v1/customers/TOOLONG/media/LTO/volumes:apply",
                Some(&alice),
                &batch("k4", "A00001", "LIBR"),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["field"], "CUSTOMER");
        let a = call(&f.app, get(SCOPE, Some(&alice))).await;
        assert_eq!(a.json()["volumes"], json!([]));
        let location = f.backend.location.clone();
        let audit = common::blocking(move || {
            Store::open_location(&location)
                .unwrap()
                .volume_history(
                    &tapesync_model::ScopeKey {
                        customer: "ACME".into(),
                        media: "LTO".into(),
                    },
                    "A00001",
                )
                .unwrap()
        });
        assert!(audit.is_empty());
    }
}

#[tokio::test]
async fn a_repeated_batch_is_replayed_not_applied_twice() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let first = call(
            &f.app,
            post(APPLY, Some(&alice), &batch("same", "A00001", "LIBR")),
        )
        .await;
        let again = call(
            &f.app,
            post(APPLY, Some(&alice), &batch("same", "A00001", "LIBR")),
        )
        .await;
        assert_eq!(first.json()["replayed"], false);
        assert_eq!(again.json()["replayed"], true);
        assert_eq!(first.json()["results"], again.json()["results"]);
        let a = call(&f.app, get(&format!("{SCOPE}/A00001"), Some(&alice))).await;
        assert_eq!(a.json()["version"], 1);
        let admin = logon(&f.app, "admin", "admin-pw").await;
        let stats = call(&f.app, get("/api/v1/server-statistics", Some(&admin)))
            .await
            .json();
        assert_eq!(stats["apply_requests"], 2);
        assert_eq!(stats["applies_replayed"], 1);
        let a = call(&f.app, get("/api/v1/server-statistics", Some(&alice))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn gzip_requests_are_accepted_and_large_answers_compressed() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let changes: Vec<Value> = (0..500)
            .map(|i| json!({"volume": format!("G{i:05}"), "expected_version": null, "set": {"SLOT": i.to_string()}}))
            .collect();
        let body = serde_json::to_vec(&json!({"idempotency_key": "gz", "session": null, "create_missing": true, "changes": changes})).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        let gz = enc.finish().unwrap();
        let req = Request::post(APPLY)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .body(Body::from(gz))
            .unwrap();
        let a = call(&f.app, req).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["results"].as_array().unwrap().len(), 500);
        let req = Request::get(SCOPE)
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        let a = call(&f.app, req).await;
        assert_eq!(a.headers[header::CONTENT_ENCODING], "gzip");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&a.body[..])
            .read_to_string(&mut text)
            .unwrap();
        let snapshot: tapesync_model::ScopeSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(snapshot.volumes.len(), 500);
        assert!(a.body.len() < text.len() / 3);
    }
}

#[tokio::test]
async fn sessions_are_recorded_finished_by_their_owner_and_listed_by_customer() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let bob = logon(&f.app, "bob", "bob-pw").await;
        let start =
            json!({"definition_hash": "ab", "definition_name": "x.ttidef", "source_name": "r.csv"});
        let a = call(&f.app, post("/api/v1/sync-sessions", Some(&alice), &start)).await;
        assert_eq!(a.status, StatusCode::CREATED);
        let id = a.json()["id"].as_i64().unwrap();
        let mut b = batch("s1", "A00001", "LIBR");
        b["session"] = json!(id);
        // Bob cannot attach batches to alice's session, nor finish it.
        let a = call(
            &f.app,
            post(
                "/api/v1/customers/BETA/media/LTO/volumes:apply",
                Some(&bob),
                &b,
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let finish = json!({"outcome": "completed", "statistics": {
            "records_read": 7, "records_excluded": 0, "records_rejected": 0, "volumes_unchanged": 6,
            "volumes_updated": 0, "volumes_added": 1, "volumes_not_in_inventory": 0,
            "volumes_not_in_report": 0, "conflicts": 0, "volumes_skipped": 0, "scope_downloads": 1,
            "apply_batches": 1, "scopes": 1, "grouped_by_scope": false, "elapsed_ms": 5}});
        let a = call(
            &f.app,
            post(
                &format!("/api/v1/sync-sessions/{id}/finish"),
                Some(&bob),
                &finish,
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let a = call(&f.app, post(APPLY, Some(&alice), &b)).await;
        assert_eq!(a.status, StatusCode::OK);
        let a = call(
            &f.app,
            post(
                &format!("/api/v1/sync-sessions/{id}/finish"),
                Some(&alice),
                &finish,
            ),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::NO_CONTENT,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        // A second finish changes nothing and is not counted again in /metrics.
        let mut failed = finish.clone();
        failed["outcome"] = json!("failed");
        let a = call(
            &f.app,
            post(
                &format!("/api/v1/sync-sessions/{id}/finish"),
                Some(&alice),
                &failed,
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        assert!(a.json()["error"]
            .as_str()
            .unwrap()
            .contains("already finished"));
        let metrics = call(&f.app, get("/metrics", None)).await;
        let text = String::from_utf8_lossy(&metrics.body).to_string();
        assert!(
            text.contains("tapesync_syncs_total{outcome=\"completed\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("tapesync_syncs_total{outcome=\"failed\"}"),
            "{text}"
        );
        let a = call(
            &f.app,
            post("/api/v1/sync-sessions/abc/finish", Some(&alice), &finish),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        let listed = call(&f.app, get("/api/v1/sync-sessions", Some(&alice)))
            .await
            .json();
        assert_eq!(listed[0]["id"], id);
        assert_eq!(listed[0]["statistics"]["records_read"], 7);
        assert_eq!(listed[0]["outcome"], "completed");
        let listed = call(&f.app, get("/api/v1/sync-sessions", Some(&bob)))
            .await
            .json();
        assert_eq!(listed, json!([]));
        let a = call(&f.app, get("/api/v1/sync-sessions?limit=x", Some(&bob))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn the_web_page_logs_on_with_a_cookie_and_escapes_what_it_shows() {
    for f in fixtures() {
        let a = call(&f.app, get("/", None)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&a.body).contains("action=\"/logon\""));
        let req = Request::post("/logon")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("user=admin&password=admin-pw"))
            .unwrap();
        let a = call(&f.app, req).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly"));
        let pair = cookie.split(';').next().unwrap().to_string();
        let page = |path: &str| {
            Request::get(path)
                .header(header::COOKIE, pair.clone())
                .body(Body::empty())
                .unwrap()
        };
        let a = call(&f.app, page("/")).await;
        let html = String::from_utf8(a.body).unwrap();
        assert!(html.contains("Beta &lt;Ltd&gt;"), "{html}");
        assert!(!html.contains("Beta <Ltd>"));
        // The cookie is no bearer token for the API.
        let req = Request::get("/api/v1/customers")
            .header(header::COOKIE, pair.clone())
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(&f.app, req).await.status, StatusCode::UNAUTHORIZED);
        // A wrong password shows the form again with 401.
        let req = Request::post("/logon")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("user=admin&password=nope"))
            .unwrap();
        assert_eq!(call(&f.app, req).await.status, StatusCode::UNAUTHORIZED);
        let a = call(&f.app, page("/volume?volume=%3Cb%3E")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(!String::from_utf8_lossy(&a.body).contains("<b>"));
    }
}

/// Sync sessions cost store space: beginning one needs a write grant on at least one customer
/// (or being an administrator), and each user may begin only so many per minute on a node
/// (429 with Retry-After beyond that).
#[tokio::test]
async fn beginning_sessions_needs_a_write_grant_and_is_rate_limited() {
    for f in fixtures() {
        let start = json!({"definition_hash": "ab", "definition_name": "d", "source_name": "s"});
        let rita = logon(&f.app, "rita", "rita-pw").await;
        let a = call(&f.app, post("/api/v1/sync-sessions", Some(&rita), &start)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.json()["error"].as_str().unwrap().contains("write"));
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let limit = ServerConfig::default().session_begins_per_minute;
        for n in 0..limit {
            let a = call(&f.app, post("/api/v1/sync-sessions", Some(&alice), &start)).await;
            assert_eq!(a.status, StatusCode::CREATED, "begin {n}");
        }
        let a = call(&f.app, post("/api/v1/sync-sessions", Some(&alice), &start)).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Another user has a budget of its own.
        let bob = logon(&f.app, "bob", "bob-pw").await;
        let a = call(&f.app, post("/api/v1/sync-sessions", Some(&bob), &start)).await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
}

/// Login CSRF: a form POST that a browser marks as coming from another site (`Origin` of
/// another host, or `Sec-Fetch-Site: cross-site`/`same-site`) is refused with 403 before the
/// password is looked at, and sets no cookie; the page's own form (same origin, or a client
/// that sends neither header) still works. The same holds for `/logout`.
#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    for f in fixtures() {
        let form = |path: &str, headers: &[(&str, &str)]| {
            let mut req = Request::post(path)
                .header(header::HOST, "inventory.example:8740")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            req.body(Body::from("user=admin&password=admin-pw"))
                .unwrap()
        };
        for headers in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://inventory.example:9999")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://inventory.example:8740"),
            ],
        ] {
            for path in ["/logon", "/logout"] {
                let a = call(&f.app, form(path, headers)).await;
                assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} {headers:?}");
                assert!(!a.headers.contains_key(header::SET_COOKIE), "{headers:?}");
            }
        }
        for headers in [
            &[][..],
            &[("origin", "http://inventory.example:8740")],
            &[("origin", "https://inventory.example:8740")],
            &[("sec-fetch-site", "same-origin")],
            &[("sec-fetch-site", "none")],
        ] {
            let a = call(&f.app, form("/logon", headers)).await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{headers:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_run_beside_applies_without_errors() {
    for f in fixtures() {
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = f.app.clone();
            let token = alice.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    let a = call(
                        &app,
                        post(
                            APPLY,
                            Some(&token),
                            &batch(&format!("c{i}"), &format!("C{i:05}"), "LIBR"),
                        ),
                    )
                    .await;
                    assert_eq!(a.status, StatusCode::OK);
                    assert_eq!(a.json()["results"][0]["outcome"], "created");
                } else {
                    let a = call(&app, get(SCOPE, Some(&token))).await;
                    assert_eq!(a.status, StatusCode::OK);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let a = call(&f.app, get(SCOPE, Some(&alice))).await;
        assert_eq!(a.json()["volumes"].as_array().unwrap().len(), 10);
    }
}

const GROUP: &str = "/api/v1/batches";

fn scoped(customer: &str, key: &str, volume: &str) -> Value {
    json!({"customer": customer, "media": "LTO", "batch": batch(key, volume, "LIBR")})
}

/// How many volumes the scope of `customer` holds, as the administrator sees it.
async fn volumes_of(app: &Router, admin: &str, customer: &str) -> usize {
    let a = call(
        app,
        get(
            &format!("/api/v1/customers/{customer}/media/LTO/volumes"),
            Some(admin),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    a.json()["volumes"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_group_naming_a_customer_the_caller_may_not_write_is_refused_whole() {
    for f in fixtures() {
        let admin = logon(&f.app, "admin", "admin-pw").await;
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let rita = logon(&f.app, "rita", "rita-pw").await;
        let both =
            json!({"batches": [scoped("ACME", "g1", "A00001"), scoped("beta", "g2", "B00001")]});
        // Alice writes ACME but has no role on BETA: 404, as for a customer that does not exist.
        let a = call(&f.app, post(GROUP, Some(&alice), &both)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{:?}", a.json());
        let missing =
            json!({"batches": [scoped("ACME", "g1", "A00001"), scoped("NOPE", "g2", "B00001")]});
        let b = call(&f.app, post(GROUP, Some(&alice), &missing)).await;
        assert_eq!(b.status, StatusCode::NOT_FOUND);
        assert_eq!(a.body, b.body);
        // Rita may only read ACME: refused before her body is looked at.
        let acme = json!({"batches": [scoped("ACME", "g1", "A00001")]});
        let a = call(&f.app, post(GROUP, Some(&rita), &acme)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let a = call(&f.app, post(GROUP, None, &acme)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(volumes_of(&f.app, &admin, "ACME").await, 0);
        assert_eq!(volumes_of(&f.app, &admin, "BETA").await, 0);
        // The refused keys were not recorded: the same group applies for the administrator.
        let a = call(&f.app, post(GROUP, Some(&admin), &both)).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
        assert!(a.json()["responses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["replayed"] == false));
    }
}

#[tokio::test]
async fn a_group_is_applied_whole_and_replayed_when_resent() {
    for f in fixtures() {
        let admin = logon(&f.app, "admin", "admin-pw").await;
        let alice = logon(&f.app, "alice", "alice-pw").await;
        let mut group = json!({"batches": [
            scoped("ACME", "n1", "A00001"),
            scoped("acme", "n2", "A00002"),
            scoped("ACME", "n3", "A00001"),
        ]});
        group["batches"][2]["batch"]["changes"][0]["expected_version"] = json!(1);
        group["batches"][2]["batch"]["changes"][0]["set"]["SLOT"] = json!("13");
        let first = call(&f.app, post(GROUP, Some(&alice), &group)).await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.json());
        let responses = first.json()["responses"].as_array().unwrap().clone();
        assert_eq!(responses.len(), 3);
        assert_eq!(responses[0]["results"][0]["outcome"], "created");
        assert_eq!(responses[1]["results"][0]["outcome"], "created");
        // The third batch sees the first one's volume, at the version the first gave it.
        assert_eq!(responses[2]["results"][0]["outcome"], "applied");
        assert_eq!(responses[2]["results"][0]["version"], 2);
        assert_eq!(volumes_of(&f.app, &admin, "ACME").await, 2);

        let again = call(&f.app, post(GROUP, Some(&alice), &group)).await;
        assert_eq!(again.status, StatusCode::OK);
        for (a, b) in again.json()["responses"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&responses)
        {
            assert_eq!(a["replayed"], true);
            assert_eq!(a["results"], b["results"]);
        }
        let stats = call(&f.app, get("/api/v1/server-statistics", Some(&admin)))
            .await
            .json();
        assert_eq!(stats["apply_requests"], 6);
        assert_eq!(stats["applies_replayed"], 3);

        // One bad batch (an unknown field) refuses the whole group and names the batch.
        let mut bad =
            json!({"batches": [scoped("ACME", "m1", "A00003"), scoped("ACME", "m2", "A00004")]});
        bad["batches"][1]["batch"]["changes"][0]["set"]["NOT_A_FIELD"] = json!("x");
        let a = call(&f.app, post(GROUP, Some(&alice), &bad)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.json());
        let mut bad =
            json!({"batches": [scoped("ACME", "m1", "A00003"), scoped("ACME", "m2", "A00004")]});
        bad["batches"][1]["batch"]["idempotency_key"] = json!("");
        let a = call(&f.app, post(GROUP, Some(&alice), &bad)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["field"], "batches[1].batch.idempotency_key");
        let mut bad =
            json!({"batches": [scoped("ACME", "m1", "A00003"), scoped("ACME", "m2", "A00004")]});
        bad["batches"][1]["media"] = json!("TOOLONG");
        let a = call(&f.app, post(GROUP, Some(&alice), &bad)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["field"], "batches[1].media");
        let a = call(&f.app, post(GROUP, Some(&alice), &json!({"batches": []}))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(volumes_of(&f.app, &admin, "ACME").await, 2);
    }
}
