//! The data-driven run cases of `tests/cases/run/` (layout: cli/tests/e2e/run_cases.rs) once more,
//! over HTTP: each case gets its own `tapesync serve` on loopback holding the case's starting
//! inventory, and `tapesync run --server … --user …` must produce exactly the files the
//! embedded run produces — exit code, standard output and error, statistics and the final
//! inventory. The harness (`run_harness`) is the embedded one's; only the target differs.

use crate::common;

use crate::run_harness::{case_dirs, run_case, Mode};
use crate::server_support::{admin, export, Server};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tapesync_store::testing::TestDatabase;

const USER: &str = "sync";
const PASSWORD: &str = "sync password";

/// `tapesync serve` per case, over a file in the case's directory or (`postgres`) a
/// PostgreSQL schema of the case's own; the previous case's server (and schema) goes when
/// the next one is prepared.
struct Http {
    postgres: bool,
    case: Mutex<Option<Case>>,
}

struct Case {
    dir: PathBuf,
    store: OsString,
    server: Server,
    _db: Option<TestDatabase>,
}

impl Http {
    fn new(postgres: bool) -> Http {
        Http {
            postgres,
            case: Mutex::new(None),
        }
    }

    fn store(&self, tmp: &Path) -> OsString {
        let slot = self.case.lock().expect("case slot");
        let case = slot.as_ref().expect("prepared");
        assert_eq!(case.dir, tmp, "a case that was not prepared");
        case.store.clone()
    }
}

impl Mode for Http {
    fn prepare(&self, tmp: &Path, inventory: Option<&Path>) -> Result<(), String> {
        let mut slot = self.case.lock().map_err(|e| e.to_string())?;
        *slot = None;
        let (store, db) = if self.postgres {
            let db = TestDatabase::create().ok_or("no PostgreSQL test database")?;
            (OsString::from(db.url()), Some(db))
        } else {
            (tmp.join("inventory.db").into_os_string(), None)
        };
        if let Some(inv) = inventory {
            admin(&store, &["import", &inv.display().to_string()], None);
        }
        // An administrator: --add-new cases create customers, which needs rights on them all.
        admin(&store, &["user", "add", USER, "--admin"], Some(PASSWORD));
        let server = Server::start(&store, 0);
        *slot = Some(Case {
            dir: tmp.to_path_buf(),
            store,
            server,
            _db: db,
        });
        Ok(())
    }

    fn target_args(&self, tmp: &Path) -> Vec<String> {
        let slot = self.case.lock().expect("case slot");
        let case = slot.as_ref().expect("prepared");
        assert_eq!(
            case.dir, tmp,
            "target_args for a case that was not prepared"
        );
        vec![
            "--server".into(),
            case.server.url(),
            "--user".into(),
            USER.into(),
        ]
    }

    fn export(&self, tmp: &Path) -> Result<String, String> {
        Ok(export(self.store(tmp)))
    }

    /// `tapesync run --server` reads the password from here (never from an argument).
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        vec![("TAPESYNC_PASSWORD", PASSWORD)]
    }
}

#[test]
fn run_cases_over_http_match_the_embedded_results() {
    if common::blessing() {
        // The embedded harness writes the expected files; this one only holds HTTP to them.
        eprintln!(
            "NOTICE: run_cases_http skipped while blessing (run it again without TAPESYNC_BLESS)"
        );
        return;
    }
    let dirs = case_dirs();
    let http = Http::new(false);
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d, &http)).collect();
    common::finish(failures, dirs.len());
}

/// The same over a server whose store is on PostgreSQL.
#[test]
fn run_cases_over_http_on_postgres_match_the_embedded_results() {
    if common::blessing() || tapesync_store::testing::postgres_or_skip().is_none() {
        return;
    }
    let dirs = case_dirs();
    let http = Http::new(true);
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d, &http)).collect();
    common::finish(failures, dirs.len());
}
