//! Reconciliation end to end: the cases of tests/cases/reconcile (a vault's inventory read
//! through a definition, scans, bad input) against a store, with their certificates as golden
//! files; and the same through a real server with the rights the issue names.

use crate::common;
use crate::server_support::{admin, Server};
use std::path::Path;
use std::process::Stdio;

/// `tapesync reconcile ARGS` in `dir`, `stdin` on standard input: (exit code, stdout, stderr).
fn reconcile(
    dir: &Path,
    args: &[&str],
    stdin: &str,
    password: Option<&str>,
) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = common::command();
    cmd.arg("reconcile")
        .args(args)
        .current_dir(dir)
        .env_remove("TAPESYNC_PASSWORD")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    let mut child = cmd.spawn().unwrap();
    // The command may not read its input at all (bad arguments): a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The certificate's date and author change from run to run.
fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("Date:") {
                "Date:        <date>".to_string()
            } else if l.starts_with("By:") {
                "By:          <who>".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn store_with_cases_inventory(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("inventory.db");
    let dump = common::root().join("tests/cases/reconcile/store.json");
    admin(&store, &["import", dump.to_str().unwrap()], None);
    store
}

/// A server over the cases' inventory: `clerk` writes ACME, `viewer` reads it, `other`
/// writes BETA (each user's password is `<name> pass`).
fn server_with_users(dir: &Path) -> Server {
    let store = store_with_cases_inventory(dir);
    for (user, customer, role) in [
        ("clerk", "ACME", "write"),
        ("viewer", "ACME", "read"),
        ("other", "BETA", "write"),
    ] {
        admin(
            &store,
            &["user", "add", user],
            Some(&format!("{user} pass")),
        );
        admin(&store, &["grant", user, customer, role], None);
    }
    Server::start(&store, 0)
}

#[test]
fn reconcile_cases() {
    let root = common::root().join("tests/cases/reconcile");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        let case = root.join(name);
        let tmp = tempfile::tempdir().unwrap();
        let store = store_with_cases_inventory(tmp.path());
        let args = std::fs::read_to_string(case.join("args")).unwrap();
        let mut argv: Vec<&str> = vec!["--store", store.to_str().unwrap()];
        argv.extend(args.lines().filter(|l| !l.is_empty()));
        let (code, out, err) = reconcile(&case, &argv, "", None);
        let actual = format!(
            "exit: {code}\n--- standard output\n{}--- standard error\n{err}",
            normalise(&out)
        );
        if let Err(e) = common::check_golden(&case.join("expected.txt"), &actual) {
            failures.push(e);
        }
        // Bad input records nothing; a reconciliation is recorded once.
        let (_, list, _) = reconcile(
            &case,
            &[
                "--store",
                store.to_str().unwrap(),
                "--customer",
                "ACME",
                "--list",
                "--format",
                "csv",
            ],
            "",
            None,
        );
        let recorded = list.lines().count().saturating_sub(1);
        let want = usize::from(!out.is_empty());
        if recorded != want {
            failures.push(format!(
                "{name:?}: {recorded} recorded, expected {want}:\n{list}"
            ));
        }
    }
    common::finish(failures, names.len());
}

#[test]
fn over_http_a_write_grant_records_and_a_read_grant_shows() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path());
    let url = server.url();
    let at = |user: &str| {
        vec![
            "--server".to_string(),
            url.clone(),
            "--user".to_string(),
            user.to_string(),
        ]
    };
    let args = |user: &str, rest: &[&str]| {
        let mut v = at(user);
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let run = |argv: &[String], stdin: &str, password: &str| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        reconcile(dir.path(), &argv, stdin, Some(password))
    };
    let scan = "A00001\nA00002\nA00003\n";

    // A read grant may not record one (403).
    let (code, _, err) = run(
        &args(
            "viewer",
            &["--customer", "ACME", "--repository", "OFFS", "-"],
        ),
        scan,
        "viewer pass",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("403"), "{err}");

    // A write grant records a clean one from standard input: exit 0, recorded as the user.
    let (code, out, err) = run(
        &args(
            "clerk",
            &[
                "--customer",
                "acme",
                "--repository",
                "OFFS",
                "-",
                "--format",
                "json",
            ],
        ),
        scan,
        "clerk pass",
    );
    assert_eq!(code, 0, "{err}");
    let done: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["summary"]["actor"], "clerk");
    assert_eq!(done["summary"]["source"], "standard input");
    assert_eq!(done["summary"]["counts"]["present"], 3);
    let id = done["summary"]["id"].as_i64().unwrap().to_string();

    // The vault's inventory through a definition, read by the client: exit 1, discrepancies.
    let case = common::root().join("tests/cases/reconcile/vault-inventory");
    let definition = case.join("vault.ttidef");
    let input = case.join("inventory.csv");
    let (code, out, err) = run(
        &args(
            "clerk",
            &[
                "--customer",
                "ACME",
                "--repository",
                "OFFS",
                "--definition",
                definition.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ],
        ),
        "",
        "clerk pass",
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("DISCREPANCIES: 1 missing, 2 surplus"), "{out}");
    assert!(out.contains("By:          clerk"), "{out}");
    assert!(err.contains("1 of customer BETA"), "{err}");

    // The read grant lists both, newest first, and shows the first again.
    let (code, out, err) = run(
        &args("viewer", &["--customer", "ACME", "--list"]),
        "",
        "viewer pass",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("missing     1") && lines[1].starts_with(&format!("#{id} ")),
        "{out}"
    );
    let (code, out, err) = run(
        &args(
            "viewer",
            &["--customer", "ACME", "--id", &id, "--format", "csv"],
        ),
        "",
        "viewer pass",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "list,media,volume,detail\npresent,LTO,A00001,\npresent,LTO,A00002,\npresent,LTO,A00003,\n"
    );

    // Another customer's user sees none of it (404, exit 1).
    let (code, _, err) = run(
        &args("other", &["--customer", "ACME", "--id", &id]),
        "",
        "other pass",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = run(
        &args("other", &["--customer", "BETA", "--id", &id]),
        "",
        "other pass",
    );
    assert_eq!(code, 1, "{err}");
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn page(base: &str, path: &str, token: &str) -> (u16, String) {
    let r = browser()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Posts the reconciliation form as a browser on the page's own origin (or `site`).
fn post_form(base: &str, token: &str, form: &[(&str, &str)], site: &str) -> (u16, String, String) {
    let r = browser()
        .post(format!("{base}/reconciliations"))
        .bearer_auth(token)
        .header("sec-fetch-site", site)
        .form(form)
        .send()
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location, r.text().unwrap())
}

#[test]
fn the_web_page_records_from_pasted_barcodes_and_prints_the_certificate() {
    use crate::server_support::logon;
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_users(dir.path());
    let base = server.url();
    let clerk = logon(&base, "clerk", "clerk pass");
    let viewer = logon(&base, "viewer", "viewer pass");

    // The overview links to the page; the page has the form for a write grant.
    let (status, overview) = page(&base, "/", &clerk);
    assert_eq!(status, 200);
    assert!(
        overview.contains(r#"href="/reconciliations?customer=ACME""#),
        "{overview}"
    );
    let (status, html) = page(&base, "/reconciliations?customer=acme", &clerk);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"<form id="reconcile" method="post" action="/reconciliations">"#),
        "{html}"
    );
    assert!(html.contains("no-reconciliations"), "{html}");

    // Bad input: the form again with the message, nothing recorded.
    let form = |repository: &'static str, barcodes: &'static str| {
        vec![
            ("customer", "ACME"),
            ("repository", repository),
            ("media", ""),
            ("barcodes", barcodes),
            ("source", ""),
        ]
    };
    let (status, _, html) = post_form(&base, &clerk, &form("SHIP", "A00001"), "same-origin");
    assert_eq!(status, 400);
    assert!(html.contains("no repository SHIP"), "{html}");
    let (status, _, html) = post_form(&base, &clerk, &form("OFFS", " \r\n "), "same-origin");
    assert_eq!(status, 400);
    assert!(html.contains("no barcodes"), "{html}");
    // Another site's form, and a read grant: refused.
    let (status, _, _) = post_form(&base, &clerk, &form("OFFS", "A00001"), "cross-site");
    assert_eq!(status, 403);
    let (status, html) = page(&base, "/reconciliations?customer=ACME", &viewer);
    assert_eq!(status, 200);
    assert!(
        html.contains("read-only") && !html.contains(r#"id="reconcile""#),
        "{html}"
    );
    let (status, _, _) = post_form(&base, &viewer, &form("OFFS", "A00001"), "same-origin");
    assert_eq!(status, 403);
    let (_, html) = page(&base, "/reconciliations?customer=ACME", &clerk);
    assert!(
        html.contains("no-reconciliations"),
        "nothing was recorded: {html}"
    );

    // Pasted barcodes (Windows line ends, a blank line): recorded, 303 to the certificate.
    let (status, location, _) = post_form(
        &base,
        &clerk,
        &form("offs", "a00001\r\n\r\nA00002\r\nZ00099\r\n"),
        "same-origin",
    );
    assert_eq!(status, 303);
    assert!(
        location.starts_with("/reconciliations?customer=ACME&id="),
        "{location}"
    );
    let (status, html) = page(&base, &location, &viewer);
    assert_eq!(status, 200, "{html}");
    for part in [
        r#"<td id="customer">ACME</td>"#,
        r#"<td id="repository">OFFS</td>"#,
        r#"<td id="actor">clerk</td>"#,
        r#"<td id="source">web form</td>"#,
        "expected 3, found 3, present 2, missing 1, surplus 1",
        "Discrepancies: 1 missing, 1 surplus.",
        r#"<tr data-volume="A00003"><td>A00003</td><td>LTO</td></tr>"#,
        "unknown volume",
    ] {
        assert!(html.contains(part), "{part} not in {html}");
    }
    assert!(html.contains(" UTC</td>"), "dated: {html}");
    // Listed; another id is not found.
    let (_, html) = page(&base, "/reconciliations?customer=ACME", &viewer);
    assert!(html.contains(r#"data-clean="false""#), "{html}");
    let (status, _) = page(&base, "/reconciliations?customer=ACME&id=999", &viewer);
    assert_eq!(status, 404);
}
