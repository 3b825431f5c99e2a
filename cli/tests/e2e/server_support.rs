//! Shared by the server end-to-end tests: a real `tapesync serve` process on loopback, the
//! `tapesync admin` commands that prepare its store, and small HTTP helpers.
#![allow(dead_code)]

use crate::common;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin secret 1";

/// A definition for comma-separated reports: customer, media, volume, repository, slot.
pub const CSV_DEFINITION: &str = "\
SetCSVDelimiter(\",\");
Extract(CUSTOMER, 1, 4, 0);
Extract(MEDIA, 2, 4, 0);
Extract(VOLUME, 3, 10, 0);
Extract(REPOSITORY, 4, 4, 0);
Extract(SLOT, 5, 10, 0);
";

/// A running `tapesync serve`; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The `--store` it serves: a file or a `postgres://` URL.
    pub store: OsString,
}

impl Server {
    /// Starts the server over `store` (a file or a URL) on `127.0.0.1:port` (0: any free
    /// port) and waits for its address line.
    pub fn start(store: impl AsRef<OsStr>, port: u16) -> Server {
        Server::start_with(store, port, &[])
    }

    /// [`Server::start`] with further `serve` flags.
    pub fn start_with(store: impl AsRef<OsStr>, port: u16, flags: &[&str]) -> Server {
        // Errors only: a large sync's request lines would flood the test output.
        Server::start_logging(store, port, &["-q"], flags, Stdio::inherit())
    }

    /// [`Server::start_with`] with global flags before `serve` (`--log-format json`, …) and
    /// its standard error sent to `stderr`; no configuration file is read.
    pub fn start_logging(
        store: impl AsRef<OsStr>,
        port: u16,
        global_flags: &[&str],
        flags: &[&str],
        stderr: Stdio,
    ) -> Server {
        let store = store.as_ref();
        let mut child = common::command()
            .args(global_flags)
            .args(["serve", "--store"])
            .arg(store)
            .args(flags)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TAPESYNC_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TAPESYNC_CONFIG", "")
            .env_remove("TAPESYNC_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("tapesync serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut first)
            .expect("reads the address line");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let port = first
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from serve: {first:?}"));
        Server {
            child,
            port,
            store: store.to_os_string(),
        }
    }

    /// Starts on the given port, retrying briefly while the old listener's port is released.
    pub fn restart_on(store: impl AsRef<OsStr>, port: u16) -> Server {
        let store = store.as_ref();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = common::command()
                .args(["-q", "serve", "--store"])
                .arg(store)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("tapesync serve starts");
            let stdout = child.stdout.take().expect("piped stdout");
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            if first.starts_with("listening on") {
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                        sink.clear();
                    }
                });
                return Server {
                    child,
                    port,
                    store: store.to_os_string(),
                };
            }
            let _ = child.wait();
            assert!(Instant::now() < deadline, "cannot restart on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown, no flushing — the crash the store must survive.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `tapesync admin --store STORE ARGS…` (password from TAPESYNC_PASSWORD) and panics
/// on failure.
pub fn admin(store: impl AsRef<OsStr>, args: &[&str], password: Option<&str>) -> String {
    let mut cmd = common::command();
    cmd.arg("admin")
        .arg("--store")
        .arg(store.as_ref())
        .args(args);
    cmd.env_remove("TAPESYNC_PASSWORD");
    if let Some(p) = password {
        cmd.env("TAPESYNC_PASSWORD", p);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("tapesync admin runs");
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

pub fn logon(base: &str, user: &str, password: &str) -> String {
    let answer: Value = client()
        .post(format!("{base}/api/v1/logon"))
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .expect("logon request")
        .json()
        .expect("logon answer");
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}

/// GET with a bearer token: (status, body as JSON or Null).
pub fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub fn post(base: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The inventory as `tapesync admin export` prints it.
pub fn export(store: impl AsRef<OsStr>) -> String {
    admin(store, &["export"], None)
}
