//! `HttpTarget::apply_group` against the real `tapesync serve` on loopback (the same answers
//! as the embedded store's, one request per group) and against a stand-in for a server from
//! before groups (the target says it cannot, once, and applies nothing).

use crate::server_support::Server;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tapesync_model::{ApplyBatch, Field, ScopeKey, ScopedBatch, VolumeChange};
use tapesync_runtime::{EmbeddedTarget, HttpTarget, Target};
use tapesync_store::{Role, Store};

/// ACME and BETA with media LTO and repository LIBR, ACME/LTO with 20 volumes; `writer` may
/// write both.
fn prepare(path: &std::path::Path) {
    let mut store = Store::open(path).unwrap();
    for customer in ["ACME", "BETA"] {
        store.add_customer(customer, "").unwrap();
        store.add_media(customer, "LTO", "").unwrap();
        store.add_repository(customer, "LIBR", "").unwrap();
    }
    store.add_user("writer", "writer pw", false).unwrap();
    store.grant("writer", "ACME", Role::Write).unwrap();
    store.grant("writer", "BETA", Role::Write).unwrap();
    let seed = batch("seed", (0..20).map(|i| change(i, None, "1")).collect());
    let scope = ScopeKey {
        customer: "ACME".into(),
        media: "LTO".into(),
    };
    store.apply("writer", &scope, &seed).unwrap();
}

fn change(i: usize, expected: Option<u64>, slot: &str) -> VolumeChange {
    VolumeChange {
        volume: format!("G{i:05}"),
        expected_version: expected,
        set: BTreeMap::from([
            (Field::Repository, Some("LIBR".to_string())),
            (Field::Slot, Some(slot.to_string())),
        ]),
    }
}

fn batch(key: &str, changes: Vec<VolumeChange>) -> ApplyBatch {
    ApplyBatch {
        idempotency_key: key.into(),
        session: None,
        create_missing: true,
        create: None,
        changes,
    }
}

fn scoped(customer: &str, batch: ApplyBatch) -> ScopedBatch {
    ScopedBatch {
        customer: customer.into(),
        media: "LTO".into(),
        batch,
    }
}

/// Updates, a conflict and creations in ACME, creations in BETA, and a second batch of ACME
/// that changes what the first one did.
fn group() -> Vec<ScopedBatch> {
    vec![
        scoped(
            "ACME",
            batch(
                "g-1",
                vec![
                    change(0, Some(1), "2"),
                    change(1, Some(7), "2"),
                    change(30, None, "3"),
                ],
            ),
        ),
        scoped("BETA", batch("g-2", vec![change(0, None, "4")])),
        scoped("ACME", batch("g-3", vec![change(0, Some(2), "5")])),
    ]
}

#[test]
fn a_group_over_http_answers_what_the_embedded_store_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (served, local) = (dir.path().join("served.db"), dir.path().join("local.db"));
    prepare(&served);
    prepare(&local);
    let server = Server::start(&served, 0);
    let mut http = HttpTarget::connect(&server.url(), "writer", "writer pw").unwrap();
    let mut embedded = EmbeddedTarget::open(&local, "writer").unwrap();

    let before = http.round_trips().applies;
    let over_http = http
        .apply_group(&group())
        .unwrap()
        .expect("the server has groups");
    assert_eq!(
        http.round_trips().applies,
        before + 1,
        "one request per group"
    );
    let in_process = embedded.apply_group(&group()).unwrap().unwrap();
    assert_eq!(over_http, in_process);
    assert_eq!(over_http.len(), 3);
    assert!(over_http.iter().all(|r| !r.replayed));

    // Resent (as after a lost answer): every batch replays, over HTTP as in process.
    let again = http.apply_group(&group()).unwrap().unwrap();
    assert!(again.iter().all(|r| r.replayed));
    assert_eq!(
        again.iter().map(|r| &r.results).collect::<Vec<_>>(),
        over_http.iter().map(|r| &r.results).collect::<Vec<_>>()
    );
    drop(server);
    let export = |path: &std::path::Path| Store::open(path).unwrap().export().unwrap();
    assert_eq!(export(&served), export(&local));
}

/// A server from before groups: logs on, answers `status` to `POST /api/v1/batches` and
/// counts those requests; anything else is a 500 (nothing else should be asked).
fn older_server(status: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let group_requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&group_requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (status, body) = if line.starts_with("POST /api/v1/logon ") {
                (
                    "200 OK",
                    r#"{"token":"t","expires_at":"2099-01-01T00:00:00Z","user":"writer","is_admin":false}"#,
                )
            } else if line.starts_with("POST /api/v1/batches ") {
                counted.fetch_add(1, Ordering::SeqCst);
                (status, r#"{"error":"not found"}"#)
            } else {
                ("500 Internal Server Error", r#"{"error":"unexpected"}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, group_requests)
}

#[test]
fn a_server_without_groups_is_asked_once_and_nothing_is_applied() {
    for status in ["404 Not Found", "405 Method Not Allowed"] {
        let (url, group_requests) = older_server(status);
        let mut http = HttpTarget::connect(&url, "writer", "writer pw").unwrap();
        assert_eq!(http.apply_group(&group()).unwrap(), None, "{status}");
        assert_eq!(http.apply_group(&group()).unwrap(), None, "{status}");
        // Remembered for the rest of the run: the second group was not sent.
        assert_eq!(group_requests.load(Ordering::SeqCst), 1, "{status}");
        assert_eq!(http.round_trips().applies, 1, "{status}");
    }
}
