//! PostgreSQL for tests (feature `testing`, or this crate's own tests): a private schema per
//! test in the database the test run was given, dropped when the test ends.
//!
//! Where the database comes from: the environment variable `TAPESYNC_TEST_POSTGRES` (a
//! `postgres://` URL), else the file `.ci/postgres-url` of the workspace, which `.ci/install`
//! writes after it starts the local PostgreSQL and creates the test role and database. Without
//! either, tests that need PostgreSQL are skipped with one line on standard error saying so —
//! unless `CI=true`, where a missing database fails the test: CI must test both backends.

use crate::location::redact_url;
use crate::StoreLocation;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// The variable that names the test database.
pub const TEST_POSTGRES_ENV: &str = "TAPESYNC_TEST_POSTGRES";

/// The test database's URL, if one is configured.
pub fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var(TEST_POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Some(url.trim().to_string());
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/postgres-url");
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The test database, or `None` after printing (once per process) why PostgreSQL tests are
/// skipped. Under `CI=true` a missing database is a failure.
pub fn postgres_or_skip() -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        let on_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !on_ci,
            "CI=true but no PostgreSQL test database: set {TEST_POSTGRES_ENV} or run .ci/install"
        );
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping the PostgreSQL tests: no test database \
                 ({TEST_POSTGRES_ENV} unset and no .ci/postgres-url; see docs/store.md, \"Tests\")"
            );
        });
    }
    url
}

/// A schema of its own in the test database; dropped (with everything in it) on drop.
pub struct TestDatabase {
    base: String,
    schema: String,
    url: String,
}

impl TestDatabase {
    /// A fresh, empty schema, or `None` when PostgreSQL tests are skipped (see
    /// [`postgres_or_skip`]). Panics if the configured database cannot be used.
    pub fn create() -> Option<TestDatabase> {
        let base = postgres_or_skip()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(&base, &format!("CREATE SCHEMA {schema}"));
        let url = with_search_path(&base, &schema);
        Some(TestDatabase { base, schema, url })
    }

    /// The URL of this schema (the tables tapesync creates land in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn location(&self) -> StoreLocation {
        StoreLocation::Postgres(self.url.clone())
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Runs SQL in this schema (setting up a case the API cannot make, e.g. a newer schema).
    pub fn execute(&self, sql: &str) {
        admin(&self.url, sql);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let base = self.base.clone();
        // On a thread of its own: a test may drop this on an async thread (see `admin`).
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = client.batch_execute(&sql);
            }
        })
        .join();
    }
}

/// Runs `sql` on a thread of its own: the blocking client cannot run on a thread that drives
/// asynchronous tasks, which is where an async test calls this from.
fn admin(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    let outcome = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).map_err(|e| {
            format!(
                "the PostgreSQL test database {} cannot be reached: {e}",
                redact_url(&url)
            )
        })?;
        client
            .batch_execute(&sql)
            .map_err(|e| format!("{sql}: {e}"))
    })
    .join()
    .expect("the test database thread");
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// `url` with `search_path` set to `schema` for every connection made from it.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// A PostgreSQL server of a test's own (initdb in a temporary directory, its own port), for
/// tests that stop or restart the database — which the shared test database must not see.
/// Uses the installed PostgreSQL binaries (`TAPESYNC_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`); as root it runs them as the `postgres` user.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivateCluster {
    /// Starts one, or `None` (after saying why, once; a failure under `CI=true`) when no
    /// PostgreSQL test database is configured — the same switch as the other PostgreSQL tests.
    pub fn start() -> Option<PrivateCluster> {
        postgres_or_skip()?;
        let bin = pg_bin().expect("PostgreSQL's initdb and pg_ctl (set TAPESYNC_TEST_PG_BIN)");
        let dir = tempfile::Builder::new()
            .prefix("tapesync-pg-")
            .tempdir()
            .expect("a temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            run(std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = PrivateCluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "tapesync",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.ctl(&["start"]);
        Some(cluster)
    }

    /// The database to use: user `tapesync` (trusted), database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://tapesync@127.0.0.1:{}/postgres", self.port)
    }

    /// A new, empty schema `name` in it; the URL that uses it.
    pub fn schema(&self, name: &str) -> String {
        admin(&self.url(), &format!("CREATE SCHEMA {name}"));
        with_search_path(&self.url(), name)
    }

    /// Stops the server (fast: connections are ended, transactions rolled back) and starts
    /// it again.
    pub fn restart(&self) {
        self.ctl(&["-m", "fast", "restart"]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let data = self.data();
        let mut all = vec!["-D", &data, "-l", &log, "-w", "-o", &options];
        all.extend_from_slice(args);
        self.pg("pg_ctl", &all);
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        command.args(args).current_dir(self.dir.path());
        run(&mut command);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn run(command: &mut std::process::Command) {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pg_bin() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("TAPESYNC_TEST_PG_BIN") {
        return Some(dir.into());
    }
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
