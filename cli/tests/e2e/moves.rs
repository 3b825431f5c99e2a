//! Pending moves end to end: the picking and distribution lists of `tapesync moves list`
//! from a store and from a server (the API's `…/moves`), in every format, with the rights
//! and the bad input the issue names.

use crate::common;
use crate::server_support::{admin, get, logon, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

/// ACME: A1 and A2 in LIBR bound for OFFS (A2 on 2026-12-01), A3 in OFFS bound for LIBR, A4
/// where it should be; BETA: one volume bound elsewhere. `viewer` reads ACME only.
fn seed(store: &Path) {
    let volume = |c: &str, v: &str, target: &str, current: &str, date: Option<&str>| {
        let mut fields = json!({"REPOSITORY": target, "CURRENT_REPOSITORY": current, "SLOT": "7"});
        if let Some(d) = date {
            fields["MOVEDATE"] = json!(d);
        }
        json!({"customer": c, "media": "LTO", "volume": v, "fields": fields})
    };
    let dump = json!({
        "customers": [
            {"id": "ACME", "media": [{"id": "LTO"}],
             "repositories": [{"id": "LIBR"}, {"id": "OFFS"}]},
            {"id": "BETA", "media": [{"id": "LTO"}],
             "repositories": [{"id": "LIBR"}, {"id": "OFFS"}]}
        ],
        "volumes": [
            volume("ACME", "A1", "OFFS", "LIBR", None),
            volume("ACME", "A2", "OFFS", "LIBR", Some("2026-12-01")),
            volume("ACME", "A3", "LIBR", "OFFS", None),
            volume("ACME", "A4", "LIBR", "LIBR", None),
            volume("BETA", "B1", "OFFS", "LIBR", None),
        ]
    });
    let file = store.with_file_name("dump.json");
    std::fs::write(&file, dump.to_string()).unwrap();
    admin(store, &["import", file.to_str().unwrap()], None);
    admin(store, &["user", "add", "viewer"], Some("viewer pass"));
    admin(store, &["grant", "viewer", "ACME", "read"], None);
}

/// `tapesync moves ARGS` with the password in the environment: (exit code, stdout, stderr).
fn moves(args: &[&str], password: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(common::bin());
    cmd.arg("moves")
        .args(args)
        .env_remove("TAPESYNC_PASSWORD")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_lists_of_a_day_come_from_the_store_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let s = store.to_str().unwrap();

    let (code, csv, err) = moves(
        &[
            "list",
            "--store",
            s,
            "--customer",
            "acme",
            "--format",
            "csv",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        csv,
        "from,to,media,volume,slot,move_date\n\
         LIBR,OFFS,LTO,A1,7,\n\
         LIBR,OFFS,LTO,A2,7,2026-12-01\n\
         OFFS,LIBR,LTO,A3,7,\n"
    );

    // The day before A2 is due: not on the list.
    let (code, text, err) = moves(
        &[
            "list",
            "--store",
            s,
            "--customer",
            "ACME",
            "--due",
            "2026-11-30",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let volumes: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["volume"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, ["A1", "A3"]);
    assert_eq!(listed[0]["from"], "LIBR");
    assert_eq!(listed[0]["to"], "OFFS");

    let (code, table, err) = moves(&["list", "--store", s, "--customer", "ACME"], None);
    assert_eq!(code, 0, "{err}");
    assert!(table.starts_with("take out of LIBR (2):\n"), "{table}");
    assert!(table.contains("take out of OFFS (1):\n"), "{table}");
    assert!(
        table.contains("A2          LTO   OFFS  7           2026-12-01"),
        "{table}"
    );
    assert!(table.ends_with("going to: LIBR 1; OFFS 2\n"), "{table}");

    // A date in another form, an unknown customer: a clear message, exit 1.
    let (code, _, err) = moves(
        &[
            "list",
            "--store",
            s,
            "--customer",
            "ACME",
            "--due",
            "30/11/2026",
        ],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`30/11/2026` is not a date: write the day as YYYY-MM-DD"),
        "{err}"
    );
    let (code, _, err) = moves(&["list", "--store", s, "--customer", "NOPE"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("customer NOPE does not exist"), "{err}");
}

#[test]
fn over_http_a_read_grant_sees_the_lists_of_its_customer_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let server = Server::start(&store, 0);
    let base = server.url();

    let (code, csv, err) = moves(
        &[
            "list",
            "--server",
            &base,
            "--user",
            "viewer",
            "--customer",
            "ACME",
            "--format",
            "csv",
            "--due",
            "2026-11-30",
        ],
        Some("viewer pass"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        csv,
        "from,to,media,volume,slot,move_date\nLIBR,OFFS,LTO,A1,7,\nOFFS,LIBR,LTO,A3,7,\n"
    );

    // Another customer's moves: 404, as if it did not exist.
    let (code, _, err) = moves(
        &[
            "list",
            "--server",
            &base,
            "--user",
            "viewer",
            "--customer",
            "BETA",
        ],
        Some("viewer pass"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
    let token = logon(&base, "viewer", "viewer pass");
    let (status, _) = get(&base, "/api/v1/customers/BETA/moves", &token);
    assert_eq!(status, 404);
    let (status, body) = get(&base, "/api/v1/customers/ACME/moves?due=tomorrow", &token);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{body}"
    );
    let (status, body) = get(&base, "/api/v1/customers/ACME/moves?day=2026-11-30", &token);
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&base, "/api/v1/customers/ACME/moves", &token);
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 3, "{body}");
}

/// GET a page with the API token: (status, HTML).
fn page(base: &str, path: &str, token: &str) -> (u16, String) {
    let r = crate::server_support::client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn the_web_page_prints_the_picking_list_of_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let server = Server::start(&store, 0);
    let base = server.url();
    let token = logon(&base, "viewer", "viewer pass");

    let (status, overview) = page(&base, "/", &token);
    assert_eq!(status, 200);
    assert!(
        overview.contains("href=\"/moves?customer=ACME\""),
        "{overview}"
    );

    let (status, html) = page(&base, "/moves?customer=acme&due=2026-11-30", &token);
    assert_eq!(status, 200, "{html}");
    let section = |from: &str| {
        let start = html
            .find(&format!("data-from=\"{from}\""))
            .unwrap_or_else(|| panic!("no list for {from}: {html}"));
        let rest = &html[start..];
        rest[..rest.find("</section>").unwrap()].to_string()
    };
    let libr = section("LIBR");
    assert!(libr.contains("Take out of LIBR (1)"), "{libr}");
    assert!(
        libr.contains("data-volume=\"A1\" data-to=\"OFFS\""),
        "{libr}"
    );
    assert!(!libr.contains("A2"), "A2 is due on 1 December: {libr}");
    assert!(section("OFFS").contains("data-volume=\"A3\" data-to=\"LIBR\""));
    assert!(html.contains("id=\"distribution\""), "{html}");

    // Without a day: today's list (the form shows the day it is for).
    let (status, today) = page(&base, "/moves?customer=ACME", &token);
    assert_eq!(status, 200);
    let day = regex::Regex::new(r#"id="due-day" type="date" name="due" value="\d{4}-\d{2}-\d{2}""#)
        .unwrap();
    assert!(day.is_match(&today), "{today}");

    let (status, _) = page(&base, "/moves?customer=BETA", &token);
    assert_eq!(status, 404);
    let (status, html) = page(&base, "/moves?customer=ACME&due=30.11.2026", &token);
    assert_eq!(status, 400);
    assert!(html.contains("YYYY-MM-DD"), "{html}");
}
