//! The output and exit-code contract of every command (docs/exit-codes.md): standard output
//! that cannot be written (a reader that went away: `tapesync … | head`) is exit 2 with one
//! message, never a panic; input the user gave that is wrong is exit 1 in every command;
//! usage, I/O and internal failures are exit 2.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "correct horse battery";

fn tapesync(args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .env_remove("TAPESYNC_PASSWORD")
        .env("TAPESYNC_CONFIG", "")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with standard output a pipe whose reading end is already closed, so the first
/// write fails (EPIPE) however early it comes.
fn into_closed_pipe(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped());
    cmd.output().expect("tapesync runs")
}

fn captured(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.output().expect("tapesync runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally, not by a signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn netbackup(file: &str) -> String {
    common::root()
        .join("examples/netbackup")
        .join(file)
        .display()
        .to_string()
}

/// A store with a customer, a user and one recorded sync session.
fn populated_store(dir: &Path) -> PathBuf {
    let store = dir.join("inventory.db");
    let s = store.display().to_string();
    for args in [
        vec!["admin", "--store", &s, "customer", "add", "us01", "Acme"],
        vec!["admin", "--store", &s, "user", "add", "alice"],
    ] {
        let out = captured(tapesync(&args).env("TAPESYNC_PASSWORD", PASSWORD));
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    let definition = netbackup("netbackup.ttidef");
    let input = netbackup("sample.txt");
    let out = captured(&mut tapesync(&[
        "run",
        "--definition",
        &definition,
        "--input",
        &input,
        "--add-new",
        "--store",
        &s,
    ]));
    assert_eq!(code(&out), 0, "the sample sync: {}", stderr(&out));
    store
}

#[test]
fn a_closed_standard_output_is_exit_2_with_one_message_in_every_command() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = populated_store(tmp.path());
    let s = store.display().to_string();
    let definition = netbackup("netbackup.ttidef");
    let input = netbackup("sample.txt");
    let commands: Vec<Vec<&str>> = vec![
        vec!["admin", "--store", &s, "customer", "list"],
        vec!["admin", "--store", &s, "customer", "list", "--json"],
        vec!["admin", "--store", &s, "user", "list"],
        vec!["admin", "--store", &s, "sessions"],
        vec!["admin", "--store", &s, "export"],
        vec!["admin", "--store", &s, "customer", "add", "eu02"],
        vec![
            "run",
            "--definition",
            &definition,
            "--input",
            &input,
            "--store",
            &s,
        ],
        vec![
            "run",
            "--definition",
            &definition,
            "--input",
            &input,
            "--store",
            &s,
            "--dry-run",
            "--add-new",
        ],
        vec!["check", "--format", "json", &definition],
        vec!["check", "--format", "sarif", &definition],
        vec!["explain", &definition],
        vec!["config", "show"],
        vec!["completions", "bash"],
    ];
    let mut failures = Vec::new();
    for args in &commands {
        let out = into_closed_pipe(&mut tapesync(args));
        let err = stderr(&out);
        let messages = err.matches("error: writing standard output").count();
        if out.status.code() != Some(2) || messages != 1 || err.contains("panicked") {
            failures.push(format!(
                "{args:?}: exit {:?}, stderr:\n{err}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
