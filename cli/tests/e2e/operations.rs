//! What an operator sees of a running server: request logs on standard error (text and JSON
//! lines), internal errors that always reach standard error, and the Prometheus `/metrics`
//! endpoint after a real sync (docs/operating.md). Real processes on loopback.

use crate::common;

use crate::server_support::{admin, client, logon, Server, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A `tapesync serve` whose standard error goes to a file the test reads.
struct LoggedServer {
    // Killed when dropped.
    _server: Server,
    url: String,
    log: PathBuf,
}

impl LoggedServer {
    fn start(store: &Path, global_flags: &[&str]) -> LoggedServer {
        let log = store.with_extension("stderr");
        let stderr = Stdio::from(std::fs::File::create(&log).unwrap());
        let server = Server::start_logging(store, 0, global_flags, &[], stderr);
        LoggedServer {
            url: server.url(),
            _server: server,
            log,
        }
    }

    /// The log so far, once it holds `needle` (the line of the last request may lag a moment
    /// behind its answer).
    fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn request_id(response: &reqwest::blocking::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_request_is_logged_with_its_id_user_and_latency_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t.db");
    let server = LoggedServer::start(&store, &[]);
    let logon_answer = client()
        .post(format!("{}/api/v1/logon", server.url))
        .json(&json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .unwrap();
    let logon_id = request_id(&logon_answer);
    let token = logon_answer.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let customers = client()
        .get(format!("{}/api/v1/customers", server.url))
        .bearer_auth(&token)
        .header("x-request-id", "proxy-abc.1")
        .send()
        .unwrap();
    assert_eq!(
        request_id(&customers),
        "proxy-abc.1",
        "a proxy's id is kept"
    );
    let log = server.log_with("proxy-abc.1");

    let line = |id: &str| {
        log.lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no log line for request {id} in:\n{log}"))
            .to_string()
    };
    let logon_line = line(&logon_id);
    for part in [
        "POST",
        "/api/v1/logon",
        "user=admin",
        "status=200",
        "latency_ms=",
    ] {
        assert!(logon_line.contains(part), "{part} missing: {logon_line}");
    }
    let customers_line = line("proxy-abc.1");
    for part in ["GET", "/api/v1/customers", "user=admin", "status=200"] {
        assert!(
            customers_line.contains(part),
            "{part} missing: {customers_line}"
        );
    }
    assert!(!log.contains(ADMIN_PASSWORD), "password in the log:\n{log}");
    assert!(!log.contains(&token), "token in the log:\n{log}");
}

#[test]
fn json_log_lines_carry_the_same_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t.db");
    let server = LoggedServer::start(&store, &["--log-format", "json"]);
    let answer = client()
        .post(format!("{}/api/v1/logon", server.url))
        .json(&json!({"user": "admin", "password": "wrong"}))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let id = request_id(&answer);
    let log = server.log_with(&id);
    let mut found = false;
    for line in log.lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if value["span"]["id"] == id {
            found = true;
            assert_eq!(value["status"], 401, "{line}");
            assert_eq!(value["span"]["path"], "/api/v1/logon", "{line}");
            assert_eq!(value["span"]["client"], "127.0.0.1", "{line}");
            assert!(value["latency_ms"].is_number(), "{line}");
            // A refused logon names no user.
            assert!(value["span"].get("user").is_none(), "{line}");
        }
    }
    assert!(found, "no line for {id}:\n{log}");
    assert!(
        !log.contains("wrong"),
        "the tried password is logged:\n{log}"
    );
}

#[test]
fn an_internal_error_reaches_standard_error_with_its_request_id_even_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t.db");
    let server = LoggedServer::start(&store, &["-q"]);
    let token = logon(&server.url, "admin", ADMIN_PASSWORD);
    // Break the store under the running server: the sessions table disappears.
    rusqlite::Connection::open(&store)
        .unwrap()
        .execute_batch("ALTER TABLE sync_sessions RENAME TO gone")
        .unwrap();
    let answer = client()
        .get(format!("{}/api/v1/sync-sessions", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    let id = request_id(&answer);
    let log = server.log_with(&id);
    let line = log
        .lines()
        .find(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("no internal error on stderr:\n{log}"));
    assert!(line.contains("ERROR") && line.contains(&id), "{line}");
    assert!(
        line.contains("sync_sessions"),
        "the cause is missing: {line}"
    );
    // Quiet: the request lines themselves are not written.
    assert!(!log.contains("answered"), "{log}");
}

const DEFINITION: &str = "\
SetCSVDelimiter(\",\");
Extract(CUSTOMER, 1, 4, 0);
Extract(MEDIA, 2, 4, 0);
Extract(VOLUME, 3, 10, 0);
Extract(SLOT, 4, 10, 0);
";

/// `name{labels} value` lines of a scrape, for the series named (with labels as written).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn scrape(url: &str, headers: &[(&str, &str)], token: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{url}/metrics"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().unwrap();
    let status = answer.status().as_u16();
    if status == 200 {
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    }
    (status, answer.text().unwrap())
}

#[test]
fn metrics_count_a_real_sync_conflicts_and_refused_logons() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t.db");
    admin(&store, &["user", "add", "alice"], Some("alice pw"));
    admin(&store, &["grant", "alice", "ACME", "write"], None);
    admin(&store, &["user", "add", "carol"], Some("carol pw"));
    let server = LoggedServer::start(&store, &["-q"]);
    let (status, before) = scrape(&server.url, &[], None);
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        sample(&before, "tapesync_sync_sessions_started_total"),
        Some(0.0)
    );

    // A real sync: 12 new volumes in batches of 5 (customer and media come from the report).
    std::fs::write(dir.path().join("sync.ttidef"), DEFINITION).unwrap();
    let report: String = (0..12).map(|i| format!("ACME,LTO,V{i:05},{i}\n")).collect();
    std::fs::write(dir.path().join("report.csv"), report).unwrap();
    let run = common::command()
        .args([
            "run",
            "--add-new",
            "--add-new-ids",
            "--batch-size",
            "5",
            "-d",
        ])
        .arg(dir.path().join("sync.ttidef"))
        .arg("--input")
        .arg(dir.path().join("report.csv"))
        .args(["--server", &server.url, "--user", "alice"])
        .env("TAPESYNC_PASSWORD", "alice pw")
        .env("TAPESYNC_CONFIG", "")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // A stale version is a conflict.
    let token = logon(&server.url, "alice", "alice pw");
    let stale = json!({
        "idempotency_key": "metrics-conflict-1",
        "session": null,
        "changes": [{"volume": "V00001", "expected_version": 99, "set": {"SLOT": "7"}}]
    });
    let answer = client()
        .post(format!(
            "{}/api/v1/customers/ACME/media/LTO/volumes:apply",
            server.url
        ))
        .bearer_auth(&token)
        .json(&stale)
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    // Wrong passwords for carol from one address: five are checked (the fifth failure locks
    // the pair), the sixth and seventh are refused unchecked (docs/server-api.md, "Throttling").
    let attempt = || {
        client()
            .post(format!("{}/api/v1/logon", server.url))
            .json(&json!({"user": "carol", "password": "wrong"}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let statuses: Vec<u16> = (0..7).map(|_| attempt()).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);

    let (status, after) = scrape(&server.url, &[], None);
    assert_eq!(status, 200);
    let expect = [
        ("tapesync_sync_sessions_started_total", 1.0),
        ("tapesync_syncs_total{outcome=\"completed\"}", 1.0),
        ("tapesync_apply_batches_total{result=\"applied\"}", 4.0),
        ("tapesync_volumes_changed_total{change=\"created\"}", 12.0),
        ("tapesync_volume_conflicts_total", 1.0),
        ("tapesync_logon_failures_total", 5.0),
        ("tapesync_logons_throttled_total", 2.0),
        ("tapesync_logons_total", 2.0),
        ("tapesync_store_read_connections", 4.0),
    ];
    let mut wrong = Vec::new();
    for (series, want) in expect {
        let got = sample(&after, series);
        if got != Some(want) {
            wrong.push(format!("{series}: {got:?}, expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}\n\n{after}", wrong.join("\n"));
    // The latency histogram saw the applies, under the routes' patterns: the sync sent its
    // scope's three batches as one group (docs/running.md, "How a run works"), the stale
    // change went alone.
    let groups = sample(
        &after,
        "tapesync_http_request_duration_seconds_count{method=\"POST\",\
         route=\"/api/v1/batches\",status=\"200\"}",
    );
    assert_eq!(groups, Some(1.0), "{after}");
    let applies = sample(
        &after,
        "tapesync_http_request_duration_seconds_count{method=\"POST\",\
         route=\"/api/v1/customers/{customer}/media/{media}/volumes:apply\",status=\"200\"}",
    );
    assert_eq!(applies, Some(1.0), "{after}");
    let waits = sample(
        &after,
        "tapesync_store_wait_seconds_count{access=\"write\"}",
    );
    assert!(waits.is_some_and(|n| n >= 2.0), "{after}");
}

#[test]
fn metrics_from_behind_a_proxy_need_an_administrators_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t.db");
    admin(
        &store,
        &["user", "add", "root", "--admin"],
        Some(ADMIN_PASSWORD),
    );
    admin(&store, &["user", "add", "dave"], Some("dave pw"));
    let server = LoggedServer::start(&store, &["-q"]);
    let proxied = [("x-forwarded-for", "203.0.113.9")];
    let (status, body) = scrape(&server.url, &proxied, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "JSON error body: {body}");
    let dave = logon(&server.url, "dave", "dave pw");
    assert_eq!(scrape(&server.url, &proxied, Some(&dave)).0, 403);
    let root = logon(&server.url, "root", ADMIN_PASSWORD);
    let (status, body) = scrape(&server.url, &proxied, Some(&root));
    assert_eq!(status, 200);
    assert!(body.contains("tapesync_logons_total"), "{body}");
}
