//! docs/openapi.json against the running server: every documented path and method is served
//! (with real parameters it answers a documented success status, and an empty body to a JSON
//! endpoint is a documented 400 — never the router's "no such route").

use crate::common;

use crate::server_support::{admin, logon, Server, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

fn spec() -> Value {
    let path = common::root().join("docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("docs/openapi.json")).expect("JSON")
}

/// A valid body for each documented request body, so the success path is exercised.
fn valid_body(path: &str, session: i64) -> Option<(&'static str, String)> {
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    match path {
        "/api/v1/logon" => json_body(json!({"user": "root", "password": ADMIN_PASSWORD})),
        "/api/v1/customers/{customer}/media/{media}/volumes:apply" => json_body(json!({
            "idempotency_key": "openapi-1", "session": session, "create_missing": false,
            "changes": [{"volume": "V00001", "expected_version": 1, "set": {"SLOT": "7"}}]})),
        "/api/v1/sync-sessions" => json_body(json!({
            "definition_hash": "00", "definition_name": "d", "source_name": "s"})),
        "/api/v1/sync-sessions/{id}/finish" => json_body(json!({
            "outcome": "completed",
            "statistics": tapesync_model::SyncStatistics { records_read: 1, ..Default::default() }})),
        "/logon" => Some((
            "application/x-www-form-urlencoded",
            format!("user=root&password={}", ADMIN_PASSWORD.replace(' ', "+")),
        )),
        _ => None,
    }
}

#[test]
fn the_server_serves_every_documented_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inv.db");
    admin(
        &store,
        &["user", "add", "root", "--admin"],
        Some(ADMIN_PASSWORD),
    );
    let dump = dir.path().join("dump.json");
    std::fs::write(
        &dump,
        json!({"customers": [{"id": "ACME", "media": [{"id": "LTO"}], "repositories": [{"id": "LIBR"}]}],
               "volumes": [{"customer": "ACME", "media": "LTO", "volume": "V00001",
                            "fields": {"REPOSITORY": "LIBR"}}]})
        .to_string(),
    )
    .unwrap();
    admin(&store, &["import", dump.to_str().unwrap()], None);
    let server = Server::start(&store, 0);
    let base = server.url();
    let token = logon(&base, "root", ADMIN_PASSWORD);
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let session: i64 = client
        .post(format!("{base}/api/v1/sync-sessions"))
        .bearer_auth(&token)
        .json(&json!({"definition_hash": "00", "definition_name": "d", "source_name": "s"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // The web page's cookie, from its logon form.
    let cookie = client
        .post(format!("{base}/logon"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "user=root&password={}",
            ADMIN_PASSWORD.replace(' ', "+")
        ))
        .send()
        .unwrap()
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the logon form sets a cookie")
        .to_string();

    let spec = spec();
    let paths = spec["paths"].as_object().expect("paths");
    let mut failures = Vec::new();
    let mut operations = 0;
    for (template, item) in paths {
        let url = format!(
            "{base}{}",
            template
                .replace("{customer}", "ACME")
                .replace("{media}", "LTO")
                .replace("{volume}", "V00001")
                .replace("{id}", &session.to_string())
        );
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            // Required query parameters get a real value.
            let query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| match p["name"].as_str() {
                    Some("volume") => "volume=V00001".to_string(),
                    other => panic!("{template}: no test value for query parameter {other:?}"),
                })
                .collect();
            let url = if query.is_empty() {
                url.clone()
            } else {
                format!("{url}?{}", query.join("&"))
            };
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            let success = documented.iter().copied().filter(|s| *s < 400).min();
            let secured = op.get("security").is_some();
            let request = |body: Option<(&str, String)>| {
                let mut r = match method.as_str() {
                    "get" => client.get(&url),
                    "post" => client.post(&url),
                    other => panic!("{template}: method {other} not handled by this test"),
                };
                if secured {
                    r = r.bearer_auth(&token);
                } else if template != "/logout" {
                    // Web page routes use the cookie (logout would revoke it for the rest).
                    r = r.header("cookie", &cookie);
                }
                if let Some((content_type, text)) = body {
                    r = r.header("content-type", content_type).body(text);
                }
                r.send().expect("request").status().as_u16()
            };
            let status = request(valid_body(template, session));
            if Some(status) != success {
                failures.push(format!(
                    "{method} {template}: answered {status}, documented success {success:?}"
                ));
            }
            // A JSON endpoint given an empty object answers a documented 400 (proving the
            // route exists and validates; the router's fallback would be 404).
            if method == "post" && template.starts_with("/api/") {
                let status = request(Some(("application/json", "{}".into())));
                if status != 400 || !documented.contains(&400) {
                    failures.push(format!(
                        "{method} {template}: empty body answered {status}; documented {documented:?}"
                    ));
                }
            }
        }
    }
    assert!(operations >= 15, "only {operations} operations documented");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // And the reverse for the API: an undocumented path is the router's JSON 404.
    let status = client
        .get(format!("{base}/api/v1/undocumented"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
}
