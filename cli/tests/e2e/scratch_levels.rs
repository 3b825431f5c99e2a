//! Scratch minimums end to end: `tapesync admin scratch-min` sets them, and a sync that leaves
//! a library under its minimum says so in its statistics table and its `--stats-json` — run
//! on the store directly and over HTTP (where the levels come from the API) alike. The web
//! page shows the levels against the minimums.

use crate::common;
use crate::server_support::{admin, client, logon, Server};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

/// ACME with LTO, LIBR and OFFS; LIBR should hold at least 2 scratch LTO volumes, OFFS 0.
fn prepare(store: &Path) {
    admin(store, &["customer", "add", "ACME"], None);
    admin(store, &["media", "add", "ACME", "LTO"], None);
    admin(store, &["repository", "add", "ACME", "LIBR"], None);
    admin(store, &["repository", "add", "ACME", "OFFS"], None);
    admin(
        store,
        &["scratch-min", "set", "acme", "lto", "libr", "2"],
        None,
    );
    admin(
        store,
        &["scratch-min", "set", "ACME", "LTO", "OFFS", "0"],
        None,
    );
}

/// The README's NetBackup sample (1 scratch volume in LIBR, 1 active in OFFS), synced.
fn sync(dir: &Path, target: &[String], password: Option<&str>) -> (String, Value) {
    let root = common::root();
    let stats = dir.join("stats.json");
    let mut cmd = common::command();
    cmd.arg("run")
        .arg("--definition")
        .arg(root.join("examples/netbackup/netbackup.ttidef"))
        .arg("--input")
        .arg(root.join("examples/netbackup/sample.txt"))
        .arg("--add-new")
        .arg("--stats-json")
        .arg(&stats)
        .args(target)
        .env_remove("TAPESYNC_PASSWORD")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_str(&std::fs::read_to_string(stats).unwrap()).unwrap();
    (stdout, json)
}

fn assert_short(stdout: &str, json: &Value) {
    assert!(stdout.contains("scratch below minimum"), "{stdout}");
    assert!(
        stdout.contains("ACME.LTO LIBR: 1 scratch, minimum 2"),
        "{stdout}"
    );
    assert_eq!(
        json["scratch_short"],
        serde_json::json!([{"customer": "ACME", "media": "LTO", "repository": "LIBR",
                            "minimum": 2, "scratch": 1}]),
        "{json}"
    );
}

#[test]
fn a_sync_that_leaves_a_library_short_of_scratch_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    prepare(&store);
    let (stdout, json) = sync(
        dir.path(),
        &["--store".into(), store.display().to_string()],
        None,
    );
    assert_short(&stdout, &json);

    let listed = admin(&store, &["scratch-min", "list", "--json"], None);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // Enough scratch: nothing said, and the JSON has no list.
    admin(
        &store,
        &["scratch-min", "set", "ACME", "LTO", "LIBR", "1"],
        None,
    );
    let (stdout, json) = sync(
        dir.path(),
        &["--store".into(), store.display().to_string()],
        None,
    );
    assert!(!stdout.contains("scratch below minimum"), "{stdout}");
    assert!(json.get("scratch_short").is_none(), "{json}");
}

#[test]
fn over_http_the_levels_come_from_the_server_and_the_page_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    prepare(&store);
    admin(&store, &["user", "add", "syncer"], Some("syncer pass"));
    admin(&store, &["grant", "syncer", "ACME", "write"], None);
    admin(&store, &["user", "add", "other"], Some("other pass"));
    let server = Server::start(&store, 0);
    let base = server.url();
    let (stdout, json) = sync(
        dir.path(),
        &[
            "--server".into(),
            base.clone(),
            "--user".into(),
            "syncer".into(),
        ],
        Some("syncer pass"),
    );
    assert_short(&stdout, &json);

    // The API: read rights on the customer, 404 without.
    let token = logon(&base, "syncer", "syncer pass");
    let (status, levels) =
        crate::server_support::get(&base, "/api/v1/customers/acme/scratch-levels", &token);
    assert_eq!(status, 200);
    assert_eq!(levels[0]["scratch"], 1);
    let other = logon(&base, "other", "other pass");
    let (status, _) =
        crate::server_support::get(&base, "/api/v1/customers/ACME/scratch-levels", &other);
    assert_eq!(status, 404);

    // The overview: the level against the minimum, the short one marked.
    let page = client()
        .get(format!("{base}/"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<tr class=\"short\" data-media=\"LTO\" data-repository=\"LIBR\">"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"n level\"><a href=\"/volumes?customer=ACME&amp;media=LTO&amp;repository=LIBR&amp;scratch=scratch\">1</a></td><td class=\"n minimum\">2</td><td class=\"state\">below minimum</td>"),
        "{page}"
    );
    assert!(
        page.contains("<tr data-media=\"LTO\" data-repository=\"OFFS\">"),
        "{page}"
    );
}
