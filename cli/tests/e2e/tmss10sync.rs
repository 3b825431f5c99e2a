//! Operators' TMSS10Sync batch lines against the real server on loopback:
//! `tapesync run -S user:password@server:port -a -d file.ttidef < report`, the warning about a
//! password on the command line, and each TMSS10Sync flag tapesync refuses (exit 2, naming
//! what replaces it, nothing written).

use crate::common;
use crate::run_harness::describe as text;
use crate::server_support::{admin, export, Server, ADMIN_PASSWORD, CSV_DEFINITION};
use std::path::Path;
use std::process::{Output, Stdio};

/// `tapesync run ARGS…` with the report on standard input and no settings from the
/// developer's environment.
fn run_with_stdin(dir: &Path, args: &[&str], report: &Path, password_env: Option<&str>) -> Output {
    let mut cmd = common::command();
    cmd.current_dir(dir)
        .arg("-v")
        .arg("run")
        .args(args)
        .env("TAPESYNC_CONFIG", "")
        .env("TAPESYNC_CACHE_DIR", dir.join("cache"))
        .env_remove("TAPESYNC_SERVER")
        .env_remove("TAPESYNC_USER")
        .env_remove("TAPESYNC_STORE")
        .env_remove("TAPESYNC_ADD_NEW")
        .env_remove("TAPESYNC_PASSWORD")
        .stdin(std::fs::File::open(report).expect("report"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password_env {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    cmd.output().expect("tapesync runs")
}

/// A store with customer ACME (media LTO, repositories LIBR and OFFS) and the user alice,
/// who may write ACME; a definition and a two-volume report in `dir`.
fn prepare(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("served.db");
    admin(
        &store,
        &["user", "add", "root", "--admin"],
        Some(ADMIN_PASSWORD),
    );
    admin(&store, &["customer", "add", "ACME", "Acme"], None);
    admin(&store, &["media", "add", "ACME", "LTO"], None);
    admin(
        &store,
        &["repository", "add", "ACME", "LIBR", "Library"],
        None,
    );
    admin(
        &store,
        &["repository", "add", "ACME", "OFFS", "Vault"],
        None,
    );
    admin(&store, &["user", "add", "alice"], Some("alice pw"));
    admin(&store, &["grant", "alice", "ACME", "write"], None);
    std::fs::write(dir.join("sync.ttidef"), CSV_DEFINITION).unwrap();
    std::fs::write(
        dir.join("report.csv"),
        "ACME,LTO,A00001,LIBR,1\nACME,LTO,A00002,OFFS,\n",
    )
    .unwrap();
    store
}

#[test]
fn a_tmss10sync_batch_line_syncs_over_http_and_warns_about_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepare(dir.path());
    let server = Server::start(&store, 0);
    let report = dir.path().join("report.csv");
    // As TapeTrack writes it: the password after `:-`; the report on standard input.
    let logon = format!("alice:-alice pw@127.0.0.1:{}", server.port);
    let out = run_with_stdin(
        dir.path(),
        &["-S", &logon, "-a", "-d", "sync.ttidef"],
        &report,
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: -S puts the password on the command line, where other users of this \
             machine can read it (ps, /proc); set TAPESYNC_PASSWORD (or `password` in a private \
             configuration file, docs/configuration.md) and write -S USER@SERVER:PORT"
        ),
        "{}",
        text(&out)
    );
    // Not even the detailed log (-v) shows it.
    assert!(!stderr.contains("alice pw"), "{}", text(&out));
    let inventory = export(&store);
    assert!(
        inventory.contains("A00001") && inventory.contains("A00002"),
        "{inventory}"
    );

    // Without a password in -S: TAPESYNC_PASSWORD, and no warning.
    std::fs::write(&report, "ACME,LTO,A00003,LIBR,3\n").unwrap();
    let logon = format!("alice@127.0.0.1:{}", server.port);
    let out = run_with_stdin(
        dir.path(),
        &["-S", &logon, "-a", "-d", "sync.ttidef"],
        &report,
        Some("alice pw"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning: -S"),
        "{}",
        text(&out)
    );
    assert!(export(&store).contains("A00003"));

    // A wrong password in -S is the server's refusal, exit 2.
    let logon = format!("alice:-wrong@127.0.0.1:{}", server.port);
    let out = run_with_stdin(
        dir.path(),
        &["-S", &logon, "-a", "-d", "sync.ttidef"],
        &report,
        Some("alice pw"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn tmss10sync_flags_tapesync_cannot_honour_are_usage_errors_naming_the_replacement() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sync.ttidef"), CSV_DEFINITION).unwrap();
    let report = dir.path().join("report.csv");
    std::fs::write(&report, "ACME,LTO,A00001,LIBR,1\n").unwrap();
    let cases: [(&[&str], &str); 8] = [
        (
            &["-A", "3"],
            "-A (TMSS10Sync: write DESCRIPTION into an extended attribute) is not supported",
        ),
        (
            &["-c", "batch.cfg"],
            "tapesync's settings are a TOML file given with --config FILE",
        ),
        (&["-M"], "-M (TMSS10Sync) has no counterpart in tapesync"),
        (&["-T"], "-T (TMSS10Sync) has no counterpart in tapesync"),
        (&["-l"], "-l (TMSS10Sync) has no counterpart in tapesync"),
        (&["-p"], "-p (TMSS10Sync) has no counterpart in tapesync"),
        (&["-s"], "-s (TMSS10Sync) has no counterpart in tapesync"),
        (&["-t"], "-t (TMSS10Sync) has no counterpart in tapesync"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["-a", "-d", "sync.ttidef", "--store", "refused.db"];
        args.extend_from_slice(flags);
        let out = run_with_stdin(dir.path(), &args, &report, None);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{flags:?}: {}", text(&out));
        assert!(
            stderr.contains("\"Coming from TMSS10Sync\""),
            "{flags:?}: {}",
            text(&out)
        );
        assert!(
            !dir.path().join("refused.db").exists(),
            "{flags:?} wrote a store"
        );
    }
    // -S and the flags it replaces, and a logon string that names no server.
    for (args, expected) in [
        (
            &["-S", "a:-b@host:1", "--server", "http://host:1"][..],
            "cannot be used with",
        ),
        (
            &["-S", "a:-b@host:1", "--user", "a"][..],
            "cannot be used with",
        ),
        (&["-S", "a:-b@"][..], "names no server"),
    ] {
        let mut all = vec!["-d", "sync.ttidef"];
        all.extend_from_slice(args);
        let out = run_with_stdin(dir.path(), &all, &report, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out)
        );
    }
}
