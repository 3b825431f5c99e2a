//! Pending moves end to end: the picking and distribution lists of `tapesync moves list`
//! from a store and from a server (the API's `…/moves`), in every format, with the rights
//! and the bad input the issue names.

use crate::common;
use crate::server_support::{admin, get, logon, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;

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
    run_moves(args, None, password)
}

/// `tapesync moves ARGS`, with `stdin` (or nothing) on standard input.
fn run_moves(args: &[&str], stdin: Option<&str>, password: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = common::command();
    cmd.arg("moves")
        .args(args)
        .env_remove("TAPESYNC_PASSWORD")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
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

/// `tapesync moves confirm` with the scan file on standard input.
fn confirm(args: &[&str], scan: &str, password: Option<&str>) -> (i32, String, String) {
    let args: Vec<&str> = std::iter::once("confirm")
        .chain(args.iter().copied())
        .chain(["-"])
        .collect();
    run_moves(&args, Some(scan), password)
}

#[test]
fn a_confirmation_lists_its_discrepancies_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let s = store.to_str().unwrap();
    let day = ["--store", s, "--customer", "ACME", "--due", "2026-11-30"];
    let before = crate::server_support::export(&store);

    // An unknown barcode, a CSV without a volume column: refused, nothing changed.
    let (code, _, err) = confirm(&day, "A1\nQQ77\n", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no volume of customer ACME has the barcode QQ77"),
        "{err}"
    );
    let (code, _, err) = confirm(&day, "barcode,where\nA1,OFFS\n", None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the CSV has no `volume` column (its columns: barcode, where)"),
        "{err}"
    );
    let (code, _, err) = confirm(&day, "from,to,volume\nLIBR,OFFS,A1,extra\n", None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(crate::server_support::export(&store), before);

    // The list's own CSV, ticked: A1 and A3 were expected; A4 was not, A3 was not scanned.
    let scan = "from,to,media,volume,slot,move_date\nLIBR,OFFS,LTO,A1,7,\n,,,A4,,\n";
    let (code, out, err) = confirm(&day, scan, None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("confirmed 1 move due by 2026-11-30\n  LTO A1: LIBR -> OFFS\n"),
        "{out}"
    );
    assert!(
        out.contains("A3: expected, not scanned: expected out of OFFS to LIBR"),
        "{out}"
    );
    assert!(
        out.contains("A4: scanned, not expected: no move is pending"),
        "{out}"
    );
    let (_, listed, _) = moves(
        &[
            "list",
            "--store",
            s,
            "--customer",
            "ACME",
            "--format",
            "csv",
        ],
        None,
    );
    assert!(!listed.contains(",A1,"), "{listed}");

    // Over HTTP: a read grant may not confirm; a write grant may, as itself in the history.
    admin(&store, &["user", "add", "op"], Some("op pass"));
    admin(&store, &["grant", "op", "ACME", "write"], None);
    let server = Server::start(&store, 0);
    let base = server.url();
    let http = |user: &str| {
        [
            "--server".to_string(),
            base.clone(),
            "--user".into(),
            user.into(),
            "--customer".into(),
            "ACME".into(),
            "--due".into(),
            "2026-11-30".into(),
        ]
    };
    let viewer = http("viewer");
    let viewer: Vec<&str> = viewer.iter().map(String::as_str).collect();
    let (code, _, err) = confirm(&viewer, "A3\n", Some("viewer pass"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("403"), "{err}");
    let op = http("op");
    let op: Vec<&str> = op.iter().map(String::as_str).collect();
    let (code, out, err) = confirm(&op, "A3\n", Some("op pass"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("LTO A3: OFFS -> LIBR"), "{out}");
    let token = logon(&base, "viewer", "viewer pass");
    let (_, history) = get(
        &base,
        "/api/v1/customers/ACME/media/LTO/volumes/A3/history",
        &token,
    );
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["user"], "op", "{history}");
    assert_eq!(last["field"], "CURRENT_REPOSITORY");
    assert_eq!(last["new"], "LIBR");
    let (status, _) = crate::server_support::post(
        &base,
        "/api/v1/customers/BETA/moves:confirm",
        &logon(&base, "op", "op pass"),
        &json!({"due": "2026-11-30", "barcodes": ["B1"]}),
    );
    assert_eq!(status, 404);
}

/// POST the web page's confirmation form with the API token: (status, HTML).
fn post_form(
    base: &str,
    path: &str,
    token: &str,
    barcodes: &str,
    cross_site: bool,
) -> (u16, String) {
    let mut r = crate::server_support::client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("barcodes={}", urlencode(barcodes)));
    if cross_site {
        r = r.header("sec-fetch-site", "cross-site");
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_web_page_confirms_moves_for_a_write_grant_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    admin(&store, &["user", "add", "op"], Some("op pass"));
    admin(&store, &["grant", "op", "ACME", "write"], None);
    let server = Server::start(&store, 0);
    let base = server.url();
    let viewer = logon(&base, "viewer", "viewer pass");
    let op = logon(&base, "op", "op pass");
    let form = "/moves/confirm?customer=ACME&due=2026-11-30";

    // A read grant sees the list but no form, and its post is refused.
    let (status, html) = page(&base, "/moves?customer=ACME&due=2026-11-30", &viewer);
    assert_eq!(status, 200);
    assert!(html.contains("data-volume=\"A1\""), "{html}");
    assert!(!html.contains("id=\"confirm-form\""), "{html}");
    let before = crate::server_support::export(&store);
    let (status, html) = post_form(&base, form, &viewer, "A1\n", false);
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("needs a write grant"), "{html}");
    // Another customer's: 404, as everywhere.
    let (status, _) = post_form(
        &base,
        "/moves/confirm?customer=BETA&due=2026-11-30",
        &op,
        "B1\n",
        false,
    );
    assert_eq!(status, 404);

    // The write grant's page has the form, posting to the day shown.
    let (status, html) = page(&base, "/moves?customer=ACME&due=2026-11-30", &op);
    assert_eq!(status, 200);
    assert!(
        html.contains(
            "id=\"confirm-form\" method=\"post\" action=\"/moves/confirm?customer=ACME&amp;due=2026-11-30\""
        ),
        "{html}"
    );
    assert!(
        html.contains("<textarea id=\"barcodes\" name=\"barcodes\""),
        "{html}"
    );

    // Bad input changes nothing, and the form comes back with the text and what to fix.
    let (status, html) = post_form(&base, form, &op, "A1\nQQ77\n", false);
    assert_eq!(status, 400, "{html}");
    assert!(
        html.contains("no volume of customer ACME has the barcode QQ77"),
        "{html}"
    );
    assert!(html.contains(">A1\nQQ77\n</textarea>"), "{html}");
    let (status, html) = post_form(&base, form, &op, "barcode,where\nA1,OFFS\n", false);
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("(its columns: barcode, where)"), "{html}");
    let (status, html) = post_form(&base, form, &op, " \n", false);
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("no barcode was given"), "{html}");
    let (status, html) = post_form(
        &base,
        "/moves/confirm?customer=ACME&due=30.11.2026",
        &op,
        "A1\n",
        false,
    );
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("YYYY-MM-DD"), "{html}");
    // A form another site posts in the operator's name is refused.
    let (status, html) = post_form(&base, form, &op, "A1\n", true);
    assert_eq!(status, 403, "{html}");
    assert_eq!(crate::server_support::export(&store), before);

    // The list's own CSV with A1 kept and A4 added: A1 confirmed; A4 not expected and A3 not
    // scanned are discrepancies, listed and not accepted.
    let scan = "from,to,media,volume,slot,move_date\r\nLIBR,OFFS,LTO,A1,7,\r\n,,,A4,,\r\n";
    let (status, html) = post_form(&base, form, &op, scan, false);
    assert_eq!(status, 200, "{html}");
    for expected in [
        "By <strong id=\"confirmed-by\">op</strong>",
        "<tr data-volume=\"A1\"><td>A1</td><td>LTO</td><td>LIBR</td><td>OFFS</td>",
        "data-volume=\"A3\" data-problem=\"not_scanned\"",
        "data-volume=\"A4\" data-problem=\"not_expected\"",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in {html}");
    }
    let (_, a1) = get(
        &base,
        "/api/v1/customers/ACME/media/LTO/volumes/A1",
        &viewer,
    );
    assert_eq!(a1["fields"]["CURRENT_REPOSITORY"], "OFFS", "{a1}");
    let (_, a3) = get(
        &base,
        "/api/v1/customers/ACME/media/LTO/volumes/A3",
        &viewer,
    );
    assert_eq!(a3["fields"]["CURRENT_REPOSITORY"], "OFFS", "{a3}");
    let (_, history) = get(
        &base,
        "/api/v1/customers/ACME/media/LTO/volumes/A1/history",
        &viewer,
    );
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["user"], &last["field"], &last["new"]),
        (&json!("op"), &json!("CURRENT_REPOSITORY"), &json!("OFFS")),
        "{history}"
    );
}

#[test]
fn the_volume_list_filters_volumes_with_a_pending_move() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let server = Server::start(&store, 0);
    let base = server.url();
    let token = logon(&base, "viewer", "viewer pass");
    let listed = crate::web_page::rows;

    // The overview and the picking list link to the volumes with a pending move.
    let moving = "href=\"/volumes?customer=ACME&amp;pending=yes\"";
    let (_, overview) = page(&base, "/", &token);
    assert!(overview.contains(moving), "{overview}");
    let (_, moves) = page(&base, "/moves?customer=ACME&due=2026-11-30", &token);
    assert!(moves.contains(moving), "{moves}");

    // Every pending move, whatever its day (A2 is due on 1 December).
    let (status, html) = page(&base, "/volumes?customer=ACME&pending=yes", &token);
    assert_eq!(status, 200, "{html}");
    assert_eq!(listed(&html), ["A1", "A2", "A3"]);
    assert!(
        html.contains("<option value=\"yes\" selected>yes</option>"),
        "the form keeps the choice: {html}"
    );
    assert!(
        html.contains("id=\"csv-export\" href=\"/volumes.csv?customer=ACME&amp;pending=yes\""),
        "{html}"
    );
    let (status, html) = page(
        &base,
        "/volumes?customer=ACME&pending=no&repository=&scratch=&text=",
        &token,
    );
    assert_eq!(status, 200, "{html}");
    assert_eq!(listed(&html), ["A4"]);
    let (status, html) = page(
        &base,
        "/volumes?customer=ACME&pending=yes&repository=LIBR",
        &token,
    );
    assert_eq!(status, 200, "{html}");
    assert_eq!(listed(&html), ["A3"], "bound for LIBR");

    // The CSV export carries the filter.
    let csv = crate::server_support::client()
        .get(format!("{base}/volumes.csv?customer=ACME&pending=yes"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r.starts_with("ACME,LTO,A")), "{csv}");

    let (status, html) = page(&base, "/volumes?customer=ACME&pending=maybe", &token);
    assert_eq!(status, 400);
    assert!(html.contains("pending is yes or no"), "{html}");
    let (status, _) = page(&base, "/volumes?customer=BETA&pending=yes", &token);
    assert_eq!(status, 404);
}
