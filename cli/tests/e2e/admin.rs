//! `tapesync admin` end to end: the real binary against a fresh store file.
//!
//! Data-driven cases live in `tests/cases/admin/<case>/`: `commands` holds one admin command
//! per line (arguments split on whitespace; `#` lines are comments), run in the case folder
//! against a new store; `expected-transcript` is what it printed (command, stdout, stderr,
//! exit code).

use crate::common;

use std::path::Path;
use std::process::{Output, Stdio};

const PASSWORD: &str = "correct horse battery";

fn admin(store: &Path, args: &[&str], password: Option<&str>, stdin: Option<&str>) -> Output {
    let mut cmd = common::command();
    cmd.arg("admin").arg("--store").arg(store).args(args);
    cmd.env_remove("TAPESYNC_PASSWORD");
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tapesync runs");
    if let Some(text) = stdin {
        use std::io::Write;
        // The command may exit before reading (a refused password): a broken pipe is fine.
        let _ = child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(text.as_bytes());
    }
    child.wait_with_output().expect("tapesync finishes")
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = admin(store, args, Some(PASSWORD), None);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn data_driven_cases() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = tmp.path().join("inventory.db").display().to_string();
    run_data_driven_cases(&|| store.clone(), &store);
}

/// The same transcripts with the store on PostgreSQL (a schema of its own per case).
#[test]
fn data_driven_cases_on_postgres() {
    if common::blessing() {
        return;
    }
    if tapesync_store::testing::postgres_or_skip().is_none() {
        return;
    }
    let databases = std::cell::RefCell::new(Vec::new());
    let fresh = || {
        let db = tapesync_store::testing::TestDatabase::create().expect("test database");
        let url = db.url().to_string();
        databases.borrow_mut().push(db);
        url
    };
    // "": messages show each URL without its password.
    run_data_driven_cases(&fresh, "");
}

/// Runs every case of `tests/cases/admin/` against a new store from `new_store`; `shown` (or
/// the store as messages show it) is replaced by `STORE` in the transcript.
fn run_data_driven_cases(new_store: &dyn Fn() -> String, shown: &str) {
    let dir = common::root().join("tests/cases/admin");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases/admin exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("commands").is_file())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let store = new_store();
        if !shown.is_empty() {
            let _ = std::fs::remove_file(&store);
        }
        let shown = if shown.is_empty() {
            tapesync_store::redact_url(&store)
        } else {
            shown.to_string()
        };
        let script = std::fs::read_to_string(case.join("commands")).expect("commands readable");
        let mut transcript = String::new();
        for line in script.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args: Vec<&str> = line.split_whitespace().collect();
            let out = common::command()
                .current_dir(case)
                .arg("admin")
                .arg("--store")
                .arg(&store)
                .args(&args)
                .env("TAPESYNC_PASSWORD", PASSWORD)
                .stdin(Stdio::null())
                .output()
                .expect("tapesync runs");
            transcript.push_str(&format!("$ tapesync admin {line}\n"));
            transcript.push_str(&String::from_utf8_lossy(&out.stdout));
            let stderr = String::from_utf8_lossy(&out.stderr);
            // The store's name differs per run; the transcript must not.
            transcript.push_str(&stderr.replace(&shown, "STORE"));
            transcript.push_str(&format!("[exit {}]\n", code(&out)));
        }
        if let Err(e) = common::check_golden(&case.join("expected-transcript"), &transcript) {
            failures.push(e);
        }
    }
    common::finish(failures, cases.len());
}

#[test]
fn users_and_grants() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("inv.db");
    ok(&store, &["customer", "add", "us01", "Acme"]);
    assert_eq!(ok(&store, &["user", "add", "alice"]), "added user alice\n");
    ok(&store, &["user", "add", "root", "--admin"]);
    ok(&store, &["grant", "alice", "US01", "write"]);
    let list = ok(&store, &["user", "list"]);
    assert_eq!(
        list,
        "USER   ADMIN  STATE    GRANTS\nalice  no     enabled  US01:write\nroot   yes    enabled\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&store, &["user", "list", "--json"])).unwrap();
    assert_eq!(json[0]["grants"][0][1], "write");
    // The password works through the store (and is not stored in plain text).
    let s = tapesync_store::Store::open(&store).unwrap();
    assert!(s.verify_password("alice", PASSWORD).unwrap().is_some());
    drop(s);
    let raw = std::fs::read(&store).unwrap();
    assert!(!raw
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes()));

    let out = admin(
        &store,
        &["user", "passwd", "alice"],
        Some("n3w password"),
        None,
    );
    assert_eq!(code(&out), 0);
    let s = tapesync_store::Store::open(&store).unwrap();
    assert!(s
        .verify_password("alice", "n3w password")
        .unwrap()
        .is_some());
    drop(s);

    assert_eq!(
        ok(&store, &["revoke", "alice", "us01"]),
        "revoked alice's grant on US01\n"
    );
    let dup = admin(&store, &["user", "add", "alice"], Some(PASSWORD), None);
    assert_eq!(code(&dup), 1);
    let nobody = admin(&store, &["grant", "nobody", "US01", "read"], None, None);
    assert_eq!(code(&nobody), 1);
}

#[test]
fn a_password_is_never_taken_from_a_non_terminal_without_the_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("inv.db");
    let out = admin(&store, &["user", "add", "bob"], None, Some("secret\n"));
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("TAPESYNC_PASSWORD"));
    // There is no command-line option for it either.
    let out = admin(
        &store,
        &["user", "add", "bob", "--password", "x"],
        None,
        None,
    );
    assert_eq!(code(&out), 2);
}

#[test]
fn export_is_deterministic_and_imports_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("inv.db");
    let dump = r#"{
      "customers": [{"id": "us01", "name": "Acme",
                     "media": [{"id": "LTO", "description": "LTO-8"}],
                     "repositories": [{"id": "LIBR", "description": "Library"}]}],
      "volumes": [
        {"customer": "US01", "media": "LTO", "volume": "b00002", "fields": {"SCRATCH": "yes"}},
        {"customer": "US01", "media": "LTO", "volume": "A00001",
         "fields": {"REPOSITORY": "LIBR", "SLOT": "17"}}
      ]
    }"#;
    let out = admin(&store, &["import", "-"], None, Some(dump));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let first = ok(&store, &["export"]);
    assert!(first.ends_with("}\n"));
    assert_eq!(ok(&store, &["export"]), first);
    let parsed: tapesync_model::InventoryDump = serde_json::from_str(&first).unwrap();
    let ids: Vec<&str> = parsed.volumes.iter().map(|v| v.volume.as_str()).collect();
    assert_eq!(ids, ["A00001", "B00002"]);

    let file = tmp.path().join("dump.json");
    ok(&store, &["export", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
    let copy = tmp.path().join("copy.db");
    ok(&copy, &["import", file.to_str().unwrap()]);
    assert_eq!(ok(&copy, &["export"]), first);

    let history = ok(&store, &["history", "us01", "lto", "a00001"]);
    assert!(history.starts_with("AT "));
    assert!(history.contains("REPOSITORY"), "{history}");
    assert!(history.ends_with("US01.LTO A00001 is at version 1\n"));
    let unknown = admin(&store, &["history", "US01", "LTO", "ZZ9"], None, None);
    assert_eq!(code(&unknown), 1);

    let bad = admin(&store, &["import", "-"], None, Some("{not json"));
    assert_eq!(code(&bad), 1);
    let missing = admin(&store, &["import", "/nonexistent/dump.json"], None, None);
    assert_eq!(code(&missing), 2);
}

#[test]
fn sessions_are_listed_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("inv.db");
    {
        let s = tapesync_store::Store::open(&store).unwrap();
        for name in ["first.ttidef", "second.ttidef"] {
            let id = s
                .begin_session(
                    "alice",
                    &tapesync_model::SessionStart {
                        definition_hash: "00".repeat(32),
                        definition_name: name.into(),
                        source_name: "report.csv".into(),
                    },
                )
                .unwrap();
            s.finish_session(
                id,
                tapesync_model::SessionOutcome::Completed,
                &tapesync_model::SyncStatistics {
                    records_read: 42,
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    let table = ok(&store, &["sessions"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID  USER"));
    assert!(lines[1].starts_with("2 ") && lines[1].contains("second.ttidef"));
    assert!(lines[1].contains("completed") && lines[1].contains(" 42 "));
    let one: serde_json::Value =
        serde_json::from_str(&ok(&store, &["sessions", "--limit", "1", "--json"])).unwrap();
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["definition_name"], "second.ttidef");
    // Neither session applied anything, so none belongs to a customer.
    let us01 = ok(&store, &["sessions", "--customer", "us01"]);
    assert_eq!(us01.lines().count(), 1, "{us01}");
}

#[test]
fn reading_a_missing_store_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("absent.db");
    let out = admin(&store, &["customer", "list"], None, None);
    assert_eq!(code(&out), 2);
    assert!(!store.exists(), "a mistyped --store must not create a file");
}

/// Reading must not need write access: `admin export`, `admin customer list` and `run
/// --dry-run` work on a store whose file is read-only (0444) in a read-only directory, run as
/// a user who may not write there (`nobody` when the tests run as root, who may write
/// anywhere), and leave the folder as it was.
#[cfg(unix)]
#[test]
fn a_read_only_store_can_be_read() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let store = dir.join("inventory.db");
    ok(&store, &["customer", "add", "ACME", "Acme"]);
    ok(&store, &["media", "add", "ACME", "LTO8"]);
    std::fs::write(
        dir.join("d.ttidef"),
        "SetCSVDelimiter(\",\");\nExtract(CUSTOMER, 1, 4, 0);\nExtract(MEDIA, 2, 4, 0);\n\
         Extract(VOLUME, 3, 10, 0);\n",
    )
    .unwrap();
    std::fs::write(dir.join("r.csv"), "ACME,LTO8,V00001\n").unwrap();
    let expected = ok(&store, &["export"]);
    let listing: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Root may write into a read-only folder: then the commands run as `nobody`.
    let privileged = std::fs::write(dir.join("probe"), "").is_ok();
    let _ = std::fs::remove_file(dir.join("probe"));
    let as_reader = |args: &[&str]| {
        let mut cmd = common::command();
        cmd.args(args)
            .current_dir(&dir)
            .env("TAPESYNC_CONFIG", "")
            .stdin(Stdio::null());
        if privileged {
            cmd.uid(65534).gid(65534);
        }
        cmd.output().expect("tapesync runs")
    };
    let shown = |out: &Output| {
        format!(
            "exit {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let export = as_reader(&["admin", "--store", "inventory.db", "export"]);
    assert!(export.status.success(), "{}", shown(&export));
    assert_eq!(String::from_utf8_lossy(&export.stdout), expected);
    let list = as_reader(&["admin", "--store", "inventory.db", "customer", "list"]);
    assert!(list.status.success(), "{}", shown(&list));
    let dry = as_reader(&[
        "run",
        "--definition",
        "d.ttidef",
        "--input",
        "r.csv",
        "--store",
        "inventory.db",
        "--add-new",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", shown(&dry));
    let after: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(after, listing);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What the admin listings print of stored text is escaped for the terminal: text stored
/// before control characters were refused (written here straight into the file) cannot move
/// the cursor, retitle the window or reorder the line.
#[test]
fn listings_escape_control_characters() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = tmp.path().join("inventory.db");
    ok(&store, &["customer", "add", "ACME"]);
    ok(&store, &["media", "add", "ACME", "LTO"]);
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute_batch(
        "UPDATE customers SET name = 'Ac\x1b[2Jme';
         INSERT INTO sync_sessions (user, started_at, definition_name, definition_hash,
             source_name, outcome)
         VALUES ('bob', '2026-01-01T00:00:00Z', 'd\x07', 'h', 'src\u{202e}txt.exe', 'running');
         INSERT INTO volumes (customer, media, volume, version, created_at, updated_at,
             description)
         VALUES ('ACME', 'LTO', 'V00001', 1, 'then', 'then', 'x');
         INSERT INTO audit (session, actor, at, customer, media, volume, field, old, new)
         VALUES (NULL, 'bob', 'then', 'ACME', 'LTO', 'V00001', 'DESCRIPTION', NULL,
             'a' || char(13) || 'b' || char(0) || 'c');",
    )
    .unwrap();
    drop(conn);
    for args in [
        &["customer", "list"][..],
        &["sessions"],
        &["history", "ACME", "LTO", "V00001"],
    ] {
        let out = ok(&store, args);
        assert!(
            !out.chars()
                .any(|c| c != '\n' && tapesync_model::is_control(c)),
            "{args:?} printed a raw control: {out:?}"
        );
        assert!(out.contains("\\u{"), "{args:?}: {out}");
    }
}
