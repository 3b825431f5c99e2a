//! Logon throttling through the real router, on both backends: by user and client address,
//! with the address taken from forwarding headers only behind a trusted proxy; counted
//! before the password is checked; the same work for unknown users and wrong passwords; and
//! password checks that never hold the store connections other requests need.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{call, get, logon, Backend};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tapesync_server::{ServerConfig, ThrottlePolicy, TrustedProxies};
use tapesync_store::Store;

fn config(proxies: &[&str]) -> ServerConfig {
    ServerConfig {
        throttle: ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(30),
            ..ThrottlePolicy::default()
        },
        trusted_proxies: TrustedProxies::new(
            proxies
                .iter()
                .map(|p| TrustedProxies::parse_one(p).unwrap())
                .collect(),
        ),
        ..ServerConfig::default()
    }
}

/// Each backend with users `admin` and `carol`.
fn backends() -> Vec<Backend> {
    common::blocking(|| {
        let backends = common::backends();
        for b in &backends {
            let store = Store::open_location(&b.location).unwrap();
            store.ensure_admin(Some("admin-pw")).unwrap();
            store.add_user("carol", "carol-pw", false).unwrap();
        }
        backends
    })
}

fn app(b: &Backend, config: ServerConfig, peer: [u8; 4]) -> Router {
    let location = b.location.clone();
    common::blocking(move || common::app_from(&location, config, SocketAddr::from((peer, 4000))))
}

async fn attempt(
    app: &Router,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> StatusCode {
    let mut request =
        Request::post("/api/v1/logon").header(header::CONTENT_TYPE, "application/json");
    if let Some(f) = forwarded_for {
        request = request.header("x-forwarded-for", f);
    }
    let body = json!({"user": user, "password": password}).to_string();
    call(app, request.body(Body::from(body)).unwrap())
        .await
        .status
}

#[tokio::test]
async fn a_throttled_address_does_not_lock_the_user_out_from_another() {
    for b in backends() {
        let _named = common::Named(b.name);
        // Two clients on two addresses, two server nodes on one store.
        let first = app(&b, config(&[]), [192, 0, 2, 1]);
        let second = app(&b, config(&[]), [192, 0, 2, 2]);
        for _ in 0..3 {
            assert_eq!(
                attempt(&first, "carol", "guess", None).await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            attempt(&first, "carol", "carol-pw", None).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the guessing address is locked, even with the right password"
        );
        assert_eq!(
            attempt(&second, "carol", "carol-pw", None).await,
            StatusCode::OK
        );
        assert_eq!(
            attempt(&first, "carol", "carol-pw", None).await,
            StatusCode::TOO_MANY_REQUESTS,
            "a success elsewhere does not unlock the guesser"
        );
    }
}

/// Behind a trusted proxy every request has the proxy's address; the client's comes from
/// `X-Forwarded-For`. From anyone else the header is ignored.
#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    for b in backends() {
        let _named = common::Named(b.name);
        let proxied = app(&b, config(&["127.0.0.1"]), [127, 0, 0, 1]);
        for _ in 0..3 {
            attempt(&proxied, "carol", "guess", Some("198.51.100.1")).await;
        }
        assert_eq!(
            attempt(&proxied, "carol", "carol-pw", Some("198.51.100.1")).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // Another client behind the same proxy is not locked out.
        assert_eq!(
            attempt(&proxied, "carol", "carol-pw", Some("198.51.100.2")).await,
            StatusCode::OK
        );
        // Not trusted: the header is the client's own claim and changes nothing.
        let direct = app(&b, config(&["127.0.0.1"]), [203, 0, 113, 5]);
        for n in 0..3 {
            let claimed = format!("198.51.100.{}", 10 + n);
            attempt(&direct, "carol", "guess", Some(&claimed)).await;
        }
        assert_eq!(
            attempt(&direct, "carol", "carol-pw", Some("198.51.100.99")).await,
            StatusCode::TOO_MANY_REQUESTS,
            "a forged X-Forwarded-For must not reset the count"
        );
    }
}

/// Parallel wrong passwords cannot pass the count: each attempt is counted before its
/// password is checked, so only the free ones are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_before_they_are_checked() {
    for b in backends() {
        let _named = common::Named(b.name);
        let app = app(&b, config(&[]), [192, 0, 2, 7]);
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { attempt(&app, "carol", "guess", None).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((checked, refused), (3, 21), "{statuses:?}");
        let admin = logon(&app, "admin", "admin-pw").await;
        let stats = call(&app, get("/api/v1/server-statistics", Some(&admin)))
            .await
            .json();
        assert_eq!(stats["password_checks"], 3 + 1);
    }
}

/// A logon of a name that is no user does what one with a wrong password does: one password
/// check and the same count in the store — nothing tells the two apart.
#[tokio::test]
async fn unknown_users_and_wrong_passwords_take_the_same_steps() {
    for b in backends() {
        let _named = common::Named(b.name);
        let app = app(&b, config(&[]), [192, 0, 2, 9]);
        let admin = logon(&app, "admin", "admin-pw").await;
        let checks = |app: Router, admin: String| async move {
            let stats = call(&app, get("/api/v1/server-statistics", Some(&admin)))
                .await
                .json();
            stats["password_checks"].as_u64().unwrap()
        };
        let before = checks(app.clone(), admin.clone()).await;
        let wrong = attempt(&app, "carol", "guess", None).await;
        let after_wrong = checks(app.clone(), admin.clone()).await;
        let unknown = attempt(&app, "nobody", "guess", None).await;
        let after_unknown = checks(app.clone(), admin.clone()).await;
        assert_eq!(wrong, unknown);
        assert_eq!(after_wrong - before, 1);
        assert_eq!(after_unknown - after_wrong, 1);
        // Both count once against their (user, address) pair: three more and each is locked.
        for _ in 0..2 {
            attempt(&app, "carol", "guess", None).await;
            attempt(&app, "nobody", "guess", None).await;
        }
        assert_eq!(
            attempt(&app, "carol", "x", None).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            attempt(&app, "nobody", "x", None).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

/// While every password check is busy, logons wait for a permit — holding neither a thread
/// nor a store connection — and signed-in requests are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_password_checks_do_not_starve_other_requests() {
    for b in backends() {
        let _named = common::Named(b.name);
        let location = b.location.clone();
        // Through a trusted proxy, from 16 clients: none of them is throttled.
        let config = ServerConfig {
            password_checks: 1,
            ..config(&["127.0.0.1"])
        };
        let (app, state) = common::blocking(move || common::app_with_state(&location, config));
        let admin = logon(&app, "admin", "admin-pw").await;
        // Every permit taken: logons now queue for one.
        let permit = state.password_checks().acquire().await.unwrap();
        let waiting: Vec<_> = (0..16)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move {
                    let from = format!("198.51.100.{i}");
                    attempt(&app, "carol", "guess", Some(&from)).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The store's connections (2 readers in these tests) are free: reads go through.
        for _ in 0..8 {
            let a = tokio::time::timeout(
                Duration::from_secs(30),
                call(&app, get("/api/v1/customers", Some(&admin))),
            )
            .await
            .expect("a signed-in request waited for password checks");
            assert_eq!(a.status, StatusCode::OK);
        }
        assert!(
            waiting.iter().all(|t| !t.is_finished()),
            "the logons waited"
        );
        drop(permit);
        for t in waiting {
            assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
        }
    }
}

/// What the server's counters say about password checks and remembered logons.
async fn checks_and_remembered(app: &Router, admin: &str) -> (u64, u64) {
    let stats = call(app, get("/api/v1/server-statistics", Some(admin)))
        .await
        .json();
    (
        stats["password_checks"].as_u64().unwrap(),
        stats["logons_remembered"].as_u64().unwrap(),
    )
}

/// Two logons of one user with the same password hash once: the second is recognised from the
/// first (docs/server.md, "Remembered logons") and still gets a token of its own that works.
#[tokio::test]
async fn two_logons_of_one_user_hash_once() {
    for b in backends() {
        let _named = common::Named(b.name);
        let app = app(&b, config(&[]), [192, 0, 2, 20]);
        let admin = logon(&app, "admin", "admin-pw").await;
        let before = checks_and_remembered(&app, &admin).await;
        let first = logon(&app, "carol", "carol-pw").await;
        let second = logon(&app, "carol", "carol-pw").await;
        assert_ne!(first, second);
        let after = checks_and_remembered(&app, &admin).await;
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
        for token in [&first, &second] {
            let me = call(&app, get("/api/v1/customers", Some(token))).await;
            assert_eq!(me.status, StatusCode::OK);
        }
        // Switched off: every logon hashes.
        let off = ServerConfig {
            remember_logons_secs: 0,
            ..config(&[])
        };
        let app = self::app(&b, off, [192, 0, 2, 21]);
        let admin = logon(&app, "admin", "admin-pw").await;
        let before = checks_and_remembered(&app, &admin).await;
        logon(&app, "carol", "carol-pw").await;
        logon(&app, "carol", "carol-pw").await;
        let after = checks_and_remembered(&app, &admin).await;
        assert_eq!((after.0 - before.0, after.1 - before.1), (2, 0));
    }
}

/// A wrong password after a remembered right one is checked in full and throttled exactly as
/// before: each is a password check and a counted failure, and once the pair is locked even
/// the right (remembered) password is refused with 429 until the lock ends.
#[tokio::test]
async fn a_wrong_password_after_a_remembered_one_fails_and_is_throttled_the_same() {
    for b in backends() {
        let _named = common::Named(b.name);
        let app = app(&b, config(&[]), [192, 0, 2, 22]);
        // From another address, so that its checks do not count against carol's pair.
        let observer = self::app(&b, config(&[]), [192, 0, 2, 23]);
        let admin = logon(&observer, "admin", "admin-pw").await;
        logon(&app, "carol", "carol-pw").await;
        assert_eq!(
            attempt(&app, "carol", "carol-pw", None).await,
            StatusCode::OK
        );
        let before = checks_and_remembered(&app, &admin).await;
        // config(): three free failures, then the pair is locked for 30 s.
        for _ in 0..3 {
            assert_eq!(
                attempt(&app, "carol", "guess", None).await,
                StatusCode::UNAUTHORIZED
            );
        }
        let after = checks_and_remembered(&app, &admin).await;
        assert_eq!((after.0 - before.0, after.1 - before.1), (3, 0));
        assert_eq!(
            attempt(&app, "carol", "carol-pw", None).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        let locked = checks_and_remembered(&app, &admin).await;
        assert_eq!(locked, after, "a locked logon checks nothing");
    }
}

/// A password changed in the store (from anywhere: another node, `tapesync admin`) ends the
/// remembered logon at once: the old password fails after a full check, the new one is
/// checked in full once and then remembered.
#[tokio::test]
async fn a_changed_password_or_a_disabled_user_is_not_recognised() {
    for b in backends() {
        let _named = common::Named(b.name);
        let app = app(&b, config(&[]), [192, 0, 2, 24]);
        let observer = self::app(&b, config(&[]), [192, 0, 2, 25]);
        let admin = logon(&observer, "admin", "admin-pw").await;
        logon(&app, "carol", "carol-pw").await;
        let location = b.location.clone();
        common::blocking(move || {
            let store = Store::open_location(&location).unwrap();
            store.set_password("carol", "carol-new").unwrap();
        });
        let before = checks_and_remembered(&app, &admin).await;
        assert_eq!(
            attempt(&app, "carol", "carol-pw", None).await,
            StatusCode::UNAUTHORIZED
        );
        logon(&app, "carol", "carol-new").await;
        logon(&app, "carol", "carol-new").await;
        let after = checks_and_remembered(&app, &admin).await;
        assert_eq!((after.0 - before.0, after.1 - before.1), (2, 1));
        let location = b.location.clone();
        common::blocking(move || {
            let store = Store::open_location(&location).unwrap();
            store.set_disabled("carol", true).unwrap();
        });
        assert_eq!(
            attempt(&app, "carol", "carol-new", None).await,
            StatusCode::UNAUTHORIZED
        );
        let disabled = checks_and_remembered(&app, &admin).await;
        assert_eq!((disabled.0 - after.0, disabled.1 - after.1), (1, 0));
    }
}
