//! `tapesync run` end to end, data-driven and target-agnostic.
//!
//! Each folder of `tests/cases/run/` holds `definition.ttidef`, the report `report.*`, an
//! optional starting inventory `inventory.json` (an `InventoryDump`), optional `args` (extra
//! `run` flags, one per line) and the expected outputs (docs/testing.md): `expected-stats.json`
//! (the `--stats-json` output with `elapsed_ms` set to 0), `expected-inventory.json` (`admin
//! export` afterwards), `expected-stderr`, `expected-stdout` (the statistics table, dry-run
//! changes; elapsed time blanked) and `expected-exit`. The run's working directory is the case
//! folder, so rejection lines read `report.csv:3: rejected: …`.
//!
//! Every case also runs a second time against the result of the first: a run must converge,
//! so the second run may neither update nor add anything.
//!
//! The target is a parameter ([`Mode`]): the embedded store here; the HTTP server mode plugs
//! in as a second [`Mode`]. Bless with
//! `TAPESYNC_BLESS=1 cargo test -p tapesync --test e2e run_cases`.

//!
//! The harness itself is `run_harness.rs` (shared with other target modes).

use crate::common;
use crate::run_harness;

use crate::run_harness::{
    case_dirs, describe, run_case, stats_without_timing, tapesync, Embedded, Mode, PostgresEmbedded,
};

#[test]
fn run_cases_embedded() {
    let dirs = case_dirs();
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d, &Embedded)).collect();
    common::finish(failures, dirs.len());
}

/// The same cases with the store on PostgreSQL: the same files, byte for byte.
#[test]
fn run_cases_embedded_on_postgres() {
    if common::blessing() {
        eprintln!("NOTICE: run_cases_embedded_on_postgres skipped while blessing");
        return;
    }
    let Some(postgres) = PostgresEmbedded::new() else {
        return;
    };
    let dirs = case_dirs();
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d, &postgres)).collect();
    common::finish(failures, dirs.len());
}

/// The embedded store with a pass forced onto one thread: `Sequential(VAR)` runs with
/// `VAR=sequential` (`TAPESYNC_PASS1`, `TAPESYNC_PASS2`).
struct Sequential(&'static str);

impl Mode for Sequential {
    fn prepare(
        &self,
        tmp: &std::path::Path,
        inventory: Option<&std::path::Path>,
    ) -> Result<(), String> {
        Embedded.prepare(tmp, inventory)
    }
    fn target_args(&self, tmp: &std::path::Path) -> Vec<String> {
        Embedded.target_args(tmp)
    }
    fn export(&self, tmp: &std::path::Path) -> Result<String, String> {
        Embedded.export(tmp)
    }
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        vec![(self.0, "sequential")]
    }
}

/// Every case with `mode`, which must give the same files as the default.
fn run_cases_forced(name: &str, mode: &Sequential) {
    if common::blessing() {
        eprintln!("NOTICE: {name} skipped while blessing");
        return;
    }
    let dirs = case_dirs();
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d, mode)).collect();
    common::finish(failures, dirs.len());
}

/// The same cases with pass 1 on one thread: on a machine with two cores or more the default
/// derives on several (runtime/src/run/parallel.rs), and both must give the same files — the
/// same spill, statistics, rejections with their line numbers — byte for byte.
#[test]
fn run_cases_sequential_pass1() {
    run_cases_forced(
        "run_cases_sequential_pass1",
        &Sequential(tapesync_runtime::run::PASS1_ENV),
    );
}

/// The same cases with pass 2 comparing on the run's thread: on a machine with two cores or
/// more the default compares on diff workers (runtime/src/run/diff_pool.rs), and both must
/// give the same files — statistics, rejections, warnings, progress — byte for byte.
#[test]
fn run_cases_sequential_pass2() {
    run_cases_forced(
        "run_cases_sequential_pass2",
        &Sequential(tapesync_runtime::run::PASS2_ENV),
    );
}

/// A dry run leaves the store exactly as it was: same export, same session list.
#[test]
fn dry_run_changes_nothing() {
    let dir = common::root().join("tests/cases/run/update-basic");
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("inventory.db");
    let store = db.display().to_string();
    Embedded
        .prepare(tmp.path(), Some(&dir.join("inventory.json")))
        .expect("import");
    let snapshot = || {
        let export = Embedded.export(tmp.path()).expect("export");
        let sessions = tapesync(
            tmp.path(),
            &[
                "admin".into(),
                "--store".into(),
                store.clone(),
                "sessions".into(),
                "--json".into(),
            ],
        )
        .expect("sessions");
        (
            export,
            String::from_utf8_lossy(&sessions.stdout).into_owned(),
        )
    };
    let before = snapshot();
    let out = tapesync(
        &dir,
        &[
            "run".into(),
            "-d".into(),
            "definition.ttidef".into(),
            "--input".into(),
            "report.csv".into(),
            "--store".into(),
            store.clone(),
            "--dry-run".into(),
            // Run in the case folder: no scope cache written into the source tree.
            "--no-cache".into(),
        ],
    )
    .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("US01.LTO3 A00002 REPOSITORY: \"LIBR\" → \"OFFS\""),
        "{stdout}"
    );
    assert_eq!(before, snapshot());
}

/// 100,000 records over 10 scopes in round-robin order cost one download per scope, and a
/// second run converges with no change.
#[test]
fn unsorted_input_downloads_each_scope_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let def = tmp.path().join("def.ttidef");
    std::fs::write(
        &def,
        "SetCSVDelimiter(\",\");\nExtract(CUSTOMER, 1, 4, 0);\nExtract(MEDIA, 2, 4, 0);\n\
         Extract(VOLUME, 3, 10, 0);\nExtract(SLOT, 4, 10, 0);\n",
    )
    .expect("write definition");
    let report = tmp.path().join("report.csv");
    let mut text = String::with_capacity(3_000_000);
    for i in 0..100_000u32 {
        let scope = i % 10;
        text.push_str(&format!(
            "C{},M{},V{:07},{}\n",
            scope / 2,
            scope % 2,
            i,
            i % 97
        ));
    }
    std::fs::write(&report, text).expect("write report");
    let stats = tmp.path().join("stats.json");
    let run = || {
        tapesync(
            tmp.path(),
            &[
                "run".into(),
                "-d".into(),
                def.display().to_string(),
                "--input".into(),
                report.display().to_string(),
                "--store".into(),
                tmp.path().join("db").display().to_string(),
                "--add-new".into(),
                // The customers and media come from the report.
                "--add-new-ids".into(),
                "--stats-json".into(),
                stats.display().to_string(),
            ],
        )
        .expect("run")
    };
    let out = run();
    assert!(out.status.success(), "{}", describe(&out));
    let (s, _) = stats_without_timing(&stats).expect("stats");
    assert_eq!(s["records_read"], 100_000);
    assert_eq!(s["volumes_added"], 100_000);
    assert_eq!(s["scopes"], 10);
    assert_eq!(s["scope_downloads"], 10);
    assert_eq!(s["grouped_by_scope"], true);
    assert_eq!(s["apply_batches"], 100);
    let out = run();
    assert!(out.status.success(), "{}", describe(&out));
    let (s, _) = stats_without_timing(&stats).expect("stats");
    assert_eq!(s["volumes_unchanged"], 100_000);
    assert_eq!(s["volumes_updated"], 0);
    assert_eq!(s["scope_downloads"], 10);
}

/// A definition with errors: diagnostics on stderr, exit code 1, nothing run.
#[test]
fn definition_errors_exit_1() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("bad.ttidef"), "SetLiteral(VOLUME;\n").expect("write");
    let out = tapesync(
        tmp.path(),
        &[
            "run".into(),
            "-d".into(),
            "bad.ttidef".into(),
            "--input".into(),
            "-".into(),
            "--store".into(),
            "db".into(),
        ],
    )
    .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!tmp.path().join("db").exists());
}

/// `--input -` reads the report from standard input; without `--input` the definition's
/// `SetFile` names it (relative to the working directory).
#[test]
fn stdin_and_set_file() {
    use std::io::Write;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().expect("temp dir");
    let def = "SetCSVDelimiter(\",\");\nSetLiteral(CUSTOMER, \"US01\");\n\
               SetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 1, 10, 0);\n\
               Extract(SLOT, 2, 10, 0);\n";
    std::fs::write(tmp.path().join("stdin.ttidef"), def).expect("write");
    std::fs::write(
        tmp.path().join("file.ttidef"),
        format!("{def}SetFile(\"named.csv\");\n"),
    )
    .expect("write");
    std::fs::write(tmp.path().join("named.csv"), "B1,9\n").expect("write");
    let mut child = common::command()
        .args([
            "run",
            "-d",
            "stdin.ttidef",
            "--input",
            "-",
            "--store",
            "db",
            "-a",
        ])
        .current_dir(tmp.path())
        .env("TAPESYNC_NOW", run_harness::NOW)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"A1,1\nA2,2\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("volumes added") && l.ends_with(" 2")),
        "{stdout}"
    );
    let out = tapesync(
        tmp.path(),
        &[
            "run".into(),
            "-d".into(),
            "file.ttidef".into(),
            "--store".into(),
            "db".into(),
            "-a".into(),
        ],
    )
    .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let export = tapesync(
        tmp.path(),
        &[
            "admin".into(),
            "--store".into(),
            "db".into(),
            "export".into(),
        ],
    )
    .expect("export");
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(text.contains("\"B1\""), "{text}");
    assert!(text.contains("\"A2\""), "{text}");
}
