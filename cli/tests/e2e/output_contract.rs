//! The output and exit-code contract of every command (docs/exit-codes.md): standard output
//! that cannot be written (a reader that went away: `tapesync … | head`) is exit 2 with one
//! message, never a panic; input the user gave that is wrong is exit 1 in every command;
//! usage, I/O and internal failures are exit 2.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "correct horse battery";

fn tapesync(args: &[&str]) -> Command {
    let mut cmd = common::command();
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

/// One rule in every command: what the user gave that is wrong (a definition, a report, a
/// dump) is exit 1; usage (flags, settings), I/O and internal failures are exit 2.
#[test]
fn every_command_maps_wrong_input_to_1_and_usage_or_io_to_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = populated_store(tmp.path());
    let s = store.display().to_string();
    let dir = tmp.path();
    // Latin-1 text, not UTF-8: wrong input, not an unreadable file.
    let latin1 = dir.join("latin1.ttidef");
    std::fs::write(&latin1, b"SetFile: caf\xe9.txt\n").unwrap();
    let latin1 = latin1.display().to_string();
    let random = dir.join("random.bin");
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    let random = random.display().to_string();
    let missing = dir.join("missing").display().to_string();
    let input = netbackup("sample.txt");
    let definition = netbackup("netbackup.ttidef");
    let bad_config = dir.join("bad.toml");
    std::fs::write(&bad_config, "no_such_setting = 1\n").unwrap();
    let bad_config = bad_config.display().to_string();
    let cases: Vec<(i32, Vec<&str>)> = vec![
        (1, vec!["check", &latin1]),
        (1, vec!["check", "--format", "json", &latin1]),
        (1, vec!["check", "--format", "sarif", &latin1]),
        (2, vec!["check", &missing]),
        (2, vec!["check", "--format", "json", &missing]),
        (1, vec!["explain", &latin1]),
        (2, vec!["explain", &missing]),
        (
            1,
            vec!["run", "-d", &latin1, "--input", &input, "--store", &s],
        ),
        (
            2,
            vec!["run", "-d", &missing, "--input", &input, "--store", &s],
        ),
        (
            2,
            vec!["run", "-d", &definition, "--input", &missing, "--store", &s],
        ),
        (2, vec!["run", "--no-such-flag"]),
        (1, vec!["admin", "--store", &s, "import", &random]),
        (1, vec!["admin", "--store", &s, "import", &latin1]),
        (2, vec!["admin", "--store", &s, "import", &missing]),
        (
            1,
            vec!["admin", "--store", &s, "customer", "add", "TOOLONG"],
        ),
        (2, vec!["admin", "--store", &missing, "customer", "list"]),
        (2, vec!["--config", &bad_config, "config", "show"]),
        (2, vec!["--config", &bad_config, "check", &definition]),
        (
            2,
            vec!["serve", "--store", &missing, "--listen", "999.0.0.1:1"],
        ),
    ];
    let mut failures = Vec::new();
    for (want, args) in &cases {
        let out = captured(&mut tapesync(args));
        if code(&out) != *want {
            failures.push(format!(
                "{args:?}: exit {} where {want} is due, stderr:\n{}",
                code(&out),
                stderr(&out)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `admin import -` reads the dump from standard input under the same rule.
#[test]
fn a_dump_on_standard_input_that_is_not_json_text_is_wrong_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = tmp.path().join("inventory.db").display().to_string();
    let mut child = tapesync(&["admin", "--store", &store, "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tapesync runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let _ = stdin.write_all(b"\xff\xfe{\x00\"\x00v\x00\x80\x81");
    }
    let out = child.wait_with_output().expect("tapesync finishes");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an inventory dump"),
        "{}",
        stderr(&out)
    );
}

/// A server address without a scheme is a usage error that says what to write, before any
/// password is asked for or any connection is tried.
#[test]
fn a_server_without_a_scheme_is_a_usage_error_that_suggests_http() {
    let definition = netbackup("netbackup.ttidef");
    let input = netbackup("sample.txt");
    for (given, suggested) in [
        ("127.0.0.1:8740", "http://127.0.0.1:8740"),
        ("localhost:8740", "http://localhost:8740"),
        ("inventory.example.com", "http://inventory.example.com"),
    ] {
        for password in [None, Some(PASSWORD)] {
            let mut cmd = tapesync(&[
                "run",
                "-d",
                &definition,
                "--input",
                &input,
                "--server",
                given,
                "--user",
                "u",
            ]);
            if let Some(p) = password {
                cmd.env("TAPESYNC_PASSWORD", p);
            }
            let out = captured(&mut cmd);
            let err = stderr(&out);
            assert_eq!(code(&out), 2, "{given}: {err}");
            assert!(
                err.contains(&format!("`{suggested}`")) && !err.contains("relative URL"),
                "{given}: {err}"
            );
        }
    }
}
