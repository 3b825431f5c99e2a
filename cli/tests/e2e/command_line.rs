//! The command line as an operator meets it: `--version` with the commit, shell completions,
//! manual pages, the configuration file and its layers, `-q`, and colour (`--color`,
//! `NO_COLOR`, `TERM=dumb`, the latter two checked on a real pseudo-terminal).

use crate::common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary with a clean settings environment: no configuration file and none of the
/// variables a developer's shell might carry.
fn tapesync() -> Command {
    let mut cmd = common::command();
    cmd.env("TAPESYNC_CONFIG", "").stdin(Stdio::null());
    for var in [
        "TAPESYNC_STORE",
        "TAPESYNC_SERVER",
        "TAPESYNC_USER",
        "TAPESYNC_PASSWORD",
        "TAPESYNC_DEFINITION",
        "TAPESYNC_INPUT_COMMAND",
        "TAPESYNC_ADD_NEW",
        "TAPESYNC_BATCH_SIZE",
        "TAPESYNC_LOG_FORMAT",
        "TAPESYNC_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tapesync runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = run(tapesync().arg("--version"));
    assert!(out.status.success());
    let text = stdout(&out);
    let version = env!("CARGO_PKG_VERSION");
    let commit = Command::new("git")
        .args(["log", "-1", "--format=%h %cs"])
        .current_dir(common::root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match commit {
        // A checkout: the binary was built from HEAD (cargo rebuilds when HEAD moves).
        Some(commit) => assert_eq!(text.trim(), format!("tapesync {version} ({commit})")),
        // A source tarball: the plain version.
        None => assert_eq!(text.trim(), format!("tapesync {version}")),
    }
}

#[test]
fn completions_are_printed_for_every_shell() {
    let markers = [
        ("bash", "complete -F _tapesync"),
        ("zsh", "#compdef tapesync"),
        ("fish", "complete -c tapesync"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    for (shell, marker) in markers {
        let out = run(tapesync().args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in ["serve", "batch-size", "log-format"] {
            assert!(script.contains(word), "{shell}: {word} not completed");
        }
    }
    // Where bash is there, the script must at least parse.
    if Command::new("bash").arg("--version").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tapesync.bash");
        std::fs::write(&path, run(tapesync().args(["completions", "bash"])).stdout).unwrap();
        let check = run(Command::new("bash").arg("-n").arg(&path));
        assert!(check.status.success(), "{}", stderr(&check));
    }
    let out = run(tapesync().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn manual_pages_are_written_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = run(tapesync().arg("man").arg("--out").arg(&out_dir));
    assert!(out.status.success(), "{}", stderr(&out));
    for (page, words) in [
        (
            "tapesync.1",
            &[".TH tapesync 1", "TAPESYNC_CONFIG", "--log-format"][..],
        ),
        (
            "tapesync-run.1",
            &["--batch-size", "TAPESYNC_BATCH_SIZE"][..],
        ),
        ("tapesync-serve.1", &["--listen"][..]),
        ("tapesync-config-show.1", &["masked"][..]),
        ("tapesync-admin-user-add.1", &["--admin"][..]),
    ] {
        let text =
            std::fs::read_to_string(out_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        for word in words {
            // roff escapes hyphens in option names.
            let plain = text.replace("\\-", "-");
            assert!(plain.contains(word), "{page} lacks {word}");
        }
    }
    assert!(
        !out_dir.join("tapesync-man.1").exists(),
        "the hidden command has no page"
    );
}

fn write_config(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

fn shown(out: &Output) -> Vec<(String, Value, Value)> {
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)));
    json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["value"].clone(),
                r["source"].clone(),
            )
        })
        .collect()
}

#[test]
fn config_show_tells_each_settings_value_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "c.toml",
        "server = \"http://inventory.example:8740\"\nuser = \"sync\"\npassword = \"pw in file\"\n\
         batch_size = 50\nlog_format = \"json\"\n[serve]\nreaders = 8\n",
        0o600,
    );
    let out = run(tapesync()
        .arg("--config")
        .arg(&file)
        .args(["--log-format", "text", "config", "show", "--json"])
        .env("TAPESYNC_BATCH_SIZE", "70"));
    assert!(out.status.success(), "{}", stderr(&out));
    let from_file = Value::String(format!("file {}", file.display()));
    let rows = shown(&out);
    let row = |key: &str| {
        rows.iter()
            .find(|r| r.0 == key)
            .map(|r| (r.1.clone(), r.2.clone()))
            .unwrap_or_else(|| panic!("no row {key}"))
    };
    assert_eq!(
        row("server"),
        (
            Value::from("\"http://inventory.example:8740\""),
            from_file.clone()
        )
    );
    assert_eq!(
        row("password"),
        (Value::from("********"), from_file.clone())
    );
    assert_eq!(
        row("batch_size"),
        (
            Value::from("70"),
            Value::from("environment TAPESYNC_BATCH_SIZE")
        )
    );
    assert_eq!(
        row("log_format"),
        (Value::from("\"text\""), Value::from("flag --log-format"))
    );
    assert_eq!(row("serve.readers"), (Value::from("8"), from_file));
    assert_eq!(
        row("store"),
        (Value::from("\"tapesync.db\""), Value::from("default"))
    );
    assert_eq!(row("input_command"), (Value::Null, Value::Null));
    assert!(!stdout(&out).contains("pw in file"));

    // The table says the same, also masked.
    let table = run(tapesync()
        .arg("--config")
        .arg(&file)
        .args(["config", "show"]));
    let text = stdout(&table);
    assert!(
        text.contains(&format!("# configuration file: {}", file.display())),
        "{text}"
    );
    assert!(
        text.contains("password") && text.contains("********"),
        "{text}"
    );
    assert!(!text.contains("pw in file"), "{text}");

    // TAPESYNC_CONFIG chooses the file when --config does not.
    let out = run(tapesync()
        .env("TAPESYNC_CONFIG", &file)
        .args(["config", "show", "--json"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["file_chosen_by"], "TAPESYNC_CONFIG");
}

#[cfg(unix)]
#[test]
fn a_password_in_a_file_other_users_can_read_is_refused_by_name_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "c.toml", "password = \"pw\"\n", 0o644);
    let out = run(tapesync()
        .arg("--config")
        .arg(&file)
        .args(["config", "show"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn a_mistake_in_the_file_is_reported_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "c.toml",
        "user = \"u\"\nbatch_size = 0\n",
        0o644,
    );
    let out = run(tapesync()
        .arg("--config")
        .arg(&file)
        .args(["run", "--dry-run"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:2:14: batch_size: 0 is not in 1..=1000000",
            file.display()
        )),
        "{err}"
    );
    // A misspelt key is refused, not silently a default.
    let file = write_config(
        dir.path(),
        "d.toml",
        "user = \"u\"\nbatch_sise = 5\n",
        0o644,
    );
    let out = run(tapesync()
        .arg("--config")
        .arg(&file)
        .args(["config", "show"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:2:1: ", file.display())), "{err}");
    assert!(err.contains("batch_sise"), "{err}");
    let missing = dir.path().join("nope.toml");
    let out = run(tapesync()
        .arg("--config")
        .arg(&missing)
        .args(["config", "show"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
}

#[test]
fn a_nightly_run_takes_everything_from_its_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let sample = root.join("examples/netbackup/sample.txt");
    // Paths in the file are relative to the file's folder, wherever the job runs from.
    std::fs::copy(
        root.join("examples/netbackup/netbackup.ttidef"),
        dir.path().join("netbackup.ttidef"),
    )
    .unwrap();
    let file = write_config(
        dir.path(),
        "netbackup.toml",
        &format!(
            "store = \"inventory.db\"\ndefinition = \"netbackup.ttidef\"\n\
             input_command = \"cat '{}'\"\nadd_new = true\n",
            sample.display()
        ),
        0o644,
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let out = run(tapesync()
        .current_dir(elsewhere.path())
        .arg("--config")
        .arg(&file)
        .arg("run")
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(dir.path().join("inventory.db").exists());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(report["volumes_added"], 2, "{report}");

    // A flag beats the file: --input replaces the file's input command.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = run(tapesync()
        .arg("--config")
        .arg(&file)
        .arg("run")
        .arg("--input")
        .arg(&empty)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(report["records_read"], 0, "{report}");
}

#[test]
fn quiet_runs_print_nothing_but_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let sync = |extra: &[&str]| {
        run(tapesync()
            .args(extra)
            .arg("run")
            .arg("-d")
            .arg(root.join("examples/netbackup/netbackup.ttidef"))
            .arg("--input")
            .arg(root.join("examples/netbackup/sample.txt"))
            .arg("--add-new")
            .arg("--store")
            .arg(dir.path().join("t.db")))
    };
    let loud = sync(&[]);
    assert!(loud.status.success());
    assert!(!stdout(&loud).is_empty(), "the statistics table");
    let quiet = sync(&["-q"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stdout(&quiet), "");
    assert_eq!(stderr(&quiet), "");
    // -v tells what the run does, on standard error.
    let verbose = sync(&["-v"]);
    assert!(
        stderr(&verbose).contains("sync starts"),
        "{}",
        stderr(&verbose)
    );
}

const ESC: &str = "\u{1b}[";

fn bad_definition(dir: &Path) -> PathBuf {
    let path = dir.join("bad.ttidef");
    std::fs::write(&path, "Extract(NOSUCH, 1, 4, 0);\n").unwrap();
    path
}

#[test]
fn color_flag_forces_or_forbids_colour() {
    let dir = tempfile::tempdir().unwrap();
    let bad = bad_definition(dir.path());
    let always = run(tapesync().args(["check", "--color", "always"]).arg(&bad));
    assert_eq!(always.status.code(), Some(1));
    assert!(stderr(&always).contains(ESC), "{}", stderr(&always));
    // `always` wins over NO_COLOR: it is the explicit choice.
    let forced = run(tapesync()
        .args(["--color=always", "check"])
        .arg(&bad)
        .env("NO_COLOR", "1"));
    assert!(stderr(&forced).contains(ESC));
    let never = run(tapesync().args(["check", "--color", "never"]).arg(&bad));
    assert_eq!(never.status.code(), Some(1));
    assert!(!stderr(&never).contains(ESC));
    let wrong = run(tapesync().args(["check", "--color", "sometimes"]).arg(&bad));
    assert_eq!(wrong.status.code(), Some(2));
}

/// `tapesync ARGS` on a pseudo-terminal (util-linux `script`), its output as the terminal
/// showed it; `None` where `script` is missing.
fn on_terminal(args: &str, env: &[(&str, &str)]) -> Option<String> {
    let probe = Command::new("script").arg("--version").output();
    if probe.map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipped: util-linux `script` is not installed, so no pseudo-terminal");
        return None;
    }
    let command = format!("'{}' {args}", common::bin().display());
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env("TAPESYNC_CONFIG", "")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script runs");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_no_color_and_a_dumb_terminal_turn_colour_off() {
    let dir = tempfile::tempdir().unwrap();
    let bad = bad_definition(dir.path());
    let check = format!("check '{}'", bad.display());
    let Some(plain) = on_terminal(&check, &[]) else {
        return;
    };
    // The terminal itself gets colour: otherwise the cases below would prove nothing.
    assert!(plain.contains(ESC), "{plain}");
    assert!(plain.contains("unknown field"), "{plain}");
    for (what, env) in [
        ("NO_COLOR", &[("NO_COLOR", "1")][..]),
        ("TERM=dumb", &[("TERM", "dumb")][..]),
    ] {
        let text = on_terminal(&check, env).unwrap();
        assert!(text.contains("unknown field"), "{what}: {text}");
        assert!(!text.contains(ESC), "{what}: colour despite it: {text}");
    }
    let never = on_terminal(&format!("--color never {check}"), &[]).unwrap();
    assert!(!never.contains(ESC), "{never}");
    // The setting in a configuration file works the same way.
    let file = write_config(dir.path(), "c.toml", "color = \"never\"\n", 0o644);
    let text = on_terminal(&format!("--config '{}' {check}", file.display()), &[]).unwrap();
    assert!(!text.contains(ESC), "{text}");
}
