//! The target-agnostic part of the `tapesync run` case harness, shared by every target mode:
//! a test module implements [`Mode`] for its target
//! (or uses [`Embedded`]) and calls [`run_case`] for each of [`case_dirs`].
//!
//! See `run_cases.rs` (beside this file) for the case layout.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use tapesync_store::testing::TestDatabase;

/// "Now" for every case (repository rules depend on it).
pub const NOW: &str = "2026-06-15T12:00:00";

/// What a mode does with one case: prepare a target holding `inventory` (if any), run
/// `tapesync run` with `args` in `case_dir`, and export the inventory afterwards.
pub trait Mode {
    /// Sets up a fresh target in `tmp`, loaded with the dump at `inventory`.
    fn prepare(&self, tmp: &Path, inventory: Option<&Path>) -> Result<(), String>;
    /// The flags that point `tapesync run` at the target.
    fn target_args(&self, tmp: &Path) -> Vec<String>;
    /// `admin export` of the target (pretty JSON).
    fn export(&self, tmp: &Path) -> Result<String, String>;
    /// Environment variables `tapesync run` needs for the target (a password). Given to the
    /// command only: the e2e tests share one process, whose environment stays untouched.
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

/// The embedded SQLite store (`--store`).
pub struct Embedded;

impl Embedded {
    fn db(tmp: &Path) -> PathBuf {
        tmp.join("inventory.db")
    }
}

impl Mode for Embedded {
    fn prepare(&self, tmp: &Path, inventory: Option<&Path>) -> Result<(), String> {
        import(tmp, &Self::db(tmp).display().to_string(), inventory)
    }

    fn target_args(&self, tmp: &Path) -> Vec<String> {
        vec!["--store".into(), Self::db(tmp).display().to_string()]
    }

    fn export(&self, tmp: &Path) -> Result<String, String> {
        if !Self::db(tmp).exists() {
            return Ok("(no store)\n".into());
        }
        let out = tapesync(
            tmp,
            &[
                "admin".into(),
                "--store".into(),
                Self::db(tmp).display().to_string(),
                "export".into(),
            ],
        )?;
        if !out.status.success() {
            return Err(format!("admin export failed: {}", describe(&out)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The embedded store on PostgreSQL (`--store postgres://…`): each case in a schema of its
/// own, made in [`Mode::prepare`] and dropped when the next case is prepared.
pub struct PostgresEmbedded {
    case: Mutex<Option<(PathBuf, TestDatabase)>>,
}

impl PostgresEmbedded {
    /// `None` (after saying why) when no PostgreSQL test database is configured.
    pub fn new() -> Option<PostgresEmbedded> {
        tapesync_store::testing::postgres_or_skip()?;
        Some(PostgresEmbedded {
            case: Mutex::new(None),
        })
    }

    fn url(&self, tmp: &Path) -> String {
        let slot = self.case.lock().expect("case slot");
        let (dir, db) = slot.as_ref().expect("prepared");
        assert_eq!(dir, tmp, "a case that was not prepared");
        db.url().to_string()
    }
}

impl Mode for PostgresEmbedded {
    fn prepare(&self, tmp: &Path, inventory: Option<&Path>) -> Result<(), String> {
        let db = TestDatabase::create().ok_or("no PostgreSQL test database")?;
        let url = db.url().to_string();
        *self.case.lock().map_err(|e| e.to_string())? = Some((tmp.to_path_buf(), db));
        import(tmp, &url, inventory)
    }

    fn target_args(&self, tmp: &Path) -> Vec<String> {
        vec!["--store".into(), self.url(tmp)]
    }

    /// As for a SQLite file that was never created, a schema without tables (the run failed
    /// before it opened the store) exports as "(no store)".
    fn export(&self, tmp: &Path) -> Result<String, String> {
        let out = tapesync(
            tmp,
            &[
                "admin".into(),
                "--store".into(),
                self.url(tmp),
                "export".into(),
            ],
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("does not exist") {
            return Ok("(no store)\n".into());
        }
        if !out.status.success() {
            return Err(format!("admin export failed: {}", describe(&out)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// `admin --store STORE import INVENTORY`, if there is an inventory.
fn import(tmp: &Path, store: &str, inventory: Option<&Path>) -> Result<(), String> {
    let Some(inv) = inventory else {
        return Ok(());
    };
    let args = [
        "admin",
        "--store",
        store,
        "import",
        &inv.display().to_string(),
    ];
    let out = tapesync(tmp, &args.map(String::from))?;
    if !out.status.success() {
        return Err(format!("admin import failed: {}", describe(&out)));
    }
    Ok(())
}

pub fn tapesync(cwd: &Path, args: &[String]) -> Result<Output, String> {
    tapesync_with(cwd, cwd, args, &[])
}

/// [`tapesync`] in `cwd` with extra environment variables (and none inherited that a case could
/// see). The scope cache goes to `tmp`: the case's own, not the user's, and never written into
/// the case folder of the source tree (the working directory of a case's run).
fn tapesync_with(
    cwd: &Path,
    tmp: &Path,
    args: &[String],
    env: &[(&str, &str)],
) -> Result<Output, String> {
    Command::new(common::bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("TAPESYNC_PASSWORD")
        .env("TAPESYNC_NOW", NOW)
        .env("TAPESYNC_CACHE_DIR", tmp.join("scope-cache"))
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run tapesync: {e}"))
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn case_dirs() -> Vec<PathBuf> {
    let root = common::root().join("tests/cases/run");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/cases/run exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("definition.ttidef").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn report_of(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("report."))
}

/// The run's standard output with the (varying) elapsed time blanked.
fn without_elapsed(stdout: &str) -> String {
    stdout
        .lines()
        .map(|l| {
            if l.starts_with("elapsed ") {
                "elapsed (not compared)"
            } else {
                l
            }
        })
        .fold(String::new(), |acc, l| acc + l + "\n")
}

/// The statistics JSON without timing, pretty-printed.
pub fn stats_without_timing(path: &Path) -> Result<(serde_json::Value, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    v["elapsed_ms"] = 0.into();
    let pretty = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n";
    Ok((v, pretty))
}

/// Runs one case in `mode`; returns the mismatches.
pub fn run_case(dir: &Path, mode: &dyn Mode) -> Vec<String> {
    match try_case(dir, mode) {
        Ok(m) => m,
        Err(e) => vec![format!("{}: {e}", dir.display())],
    }
}

fn try_case(dir: &Path, mode: &dyn Mode) -> Result<Vec<String>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let inventory = dir.join("inventory.json");
    mode.prepare(
        tmp.path(),
        inventory.is_file().then_some(inventory.as_path()),
    )?;
    let extra: Vec<String> = std::fs::read_to_string(dir.join("args"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    let stats = tmp.path().join("stats.json");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--definition".into(),
        "definition.ttidef".into(),
    ];
    if !extra.iter().any(|a| a == "--input-command") {
        args.push("--input".into());
        args.push(report_of(dir).ok_or("no report.* file")?);
    }
    args.extend(mode.target_args(tmp.path()));
    args.push("--stats-json".into());
    args.push(stats.display().to_string());
    args.extend(extra.iter().cloned());

    let env = mode.env();
    let out = tapesync_with(dir, tmp.path(), &args, &env)?;
    let mut failures = Vec::new();
    let mut check = |file: &str, actual: &str| {
        if let Err(e) = common::check_golden(&dir.join(file), actual) {
            failures.push(e);
        }
    };
    check(
        "expected-exit",
        &format!("{}\n", out.status.code().unwrap_or(-1)),
    );
    check("expected-stderr", &String::from_utf8_lossy(&out.stderr));
    check(
        "expected-stdout",
        &without_elapsed(&String::from_utf8_lossy(&out.stdout)),
    );
    let first = if stats.exists() {
        let (value, pretty) = stats_without_timing(&stats)?;
        check("expected-stats.json", &pretty);
        Some(value)
    } else {
        check("expected-stats.json", "(no statistics)\n");
        None
    };
    check("expected-inventory.json", &mode.export(tmp.path())?);

    // Convergence: the same input again changes nothing.
    let dry = extra.iter().any(|a| a == "--dry-run");
    if first.is_some() && !dry && out.status.code() != Some(2) {
        let again = tapesync_with(dir, tmp.path(), &args, &env)?;
        let (second, _) = stats_without_timing(&stats)?;
        if second["volumes_updated"] != 0 || second["volumes_added"] != 0 {
            failures.push(format!(
                "{}: the second run changed something again: {second}\n{}",
                dir.display(),
                describe(&again)
            ));
        }
    }
    Ok(failures)
}
