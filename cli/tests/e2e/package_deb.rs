//! The Debian package: `scripts/package-deb` run on the binary this test run built (quick
//! compression; the release package is built the same way from the release binary), then its
//! contents, its control data, its maintainer scripts, the installed binary in a temporary
//! root, and `systemd-analyze verify` of its unit files.
//!
//! Needs Debian's dpkg; on a machine without it the test says so and checks nothing else.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package into `out`; returns its path.
fn build_package(out: &Path) -> PathBuf {
    let printed = ok(
        Command::new(common::root().join("scripts/package-deb"))
            .arg("--binary")
            .arg(common::bin())
            .arg("--out")
            .arg(out)
            .arg("--fast")
            .output()
            .unwrap(),
        "scripts/package-deb",
    );
    PathBuf::from(printed.trim())
}

#[test]
fn the_debian_package_installs_a_working_tapesync_with_its_units_pages_and_completions() {
    if !have("dpkg-deb") {
        eprintln!("skipped: dpkg-deb is not installed (not a Debian system)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(&dir.path().join("out"));
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("tapesync_{version}_")) && name.ends_with(".deb"),
        "{name}"
    );

    // Contents: owned by root, the files an operator expects where Debian puts them.
    let contents = ok(
        Command::new("dpkg-deb")
            .arg("--contents")
            .arg(&deb)
            .output()
            .unwrap(),
        "dpkg-deb --contents",
    );
    for path in [
        "./usr/bin/tapesync",
        "./usr/share/man/man1/tapesync.1.gz",
        "./usr/share/man/man1/tapesync-run.1.gz",
        "./usr/share/man/man1/tapesync-serve.1.gz",
        "./usr/share/bash-completion/completions/tapesync",
        "./usr/share/zsh/vendor-completions/_tapesync",
        "./usr/share/fish/vendor_completions.d/tapesync.fish",
        "./usr/lib/systemd/system/tapesync.service",
        "./usr/lib/systemd/system/tapesync-sync@.service",
        "./usr/lib/systemd/system/tapesync-sync@.timer",
        "./etc/tapesync/config.toml",
        "./usr/share/doc/tapesync/copyright",
        "./usr/share/doc/tapesync/operating.md",
        "./usr/share/doc/tapesync/examples/sync.toml",
        "./usr/share/doc/tapesync/examples/netbackup/netbackup.ttidef",
    ] {
        let line = contents
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{contents}"));
        assert!(line.contains(" root/root "), "{line}");
    }
    assert!(!contents.contains("expected-"), "test goldens shipped");

    // Control data and maintainer scripts.
    let field = |name: &str| {
        ok(
            Command::new("dpkg-deb")
                .args(["--field"])
                .arg(&deb)
                .arg(name)
                .output()
                .unwrap(),
            "dpkg-deb --field",
        )
        .trim()
        .to_string()
    };
    assert_eq!(field("Package"), "tapesync");
    assert_eq!(field("Version"), version);
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));
    let control = dir.path().join("control");
    ok(
        Command::new("dpkg-deb")
            .arg("--control")
            .arg(&deb)
            .arg(&control)
            .output()
            .unwrap(),
        "dpkg-deb --control",
    );
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/tapesync/config.toml\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o755, 0o755, "{script} is not executable");
        }
        ok(
            Command::new("sh").arg("-n").arg(&path).output().unwrap(),
            &format!("sh -n {script}"),
        );
    }
    check_postinst(&control.join("postinst"), dir.path());

    // Installed into a temporary root, the binary runs and names its version. The root first
    // gets the host's systemd units, which `systemd-analyze verify` looks up under it (the
    // package's units name multi-user, timers and network-online targets); dpkg then puts the
    // package's own files over them.
    let root = dir.path().join("root");
    let host_units = seed_host_units(&root);
    ok(
        Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .output()
            .unwrap(),
        "dpkg -x",
    );
    let installed = ok(
        Command::new(root.join("usr/bin/tapesync"))
            .arg("--version")
            .output()
            .unwrap(),
        "the installed tapesync --version",
    );
    assert!(
        installed.starts_with(&format!("tapesync {version}")),
        "{installed}"
    );
    // The shipped server configuration is one tapesync accepts.
    let shown = ok(
        Command::new(root.join("usr/bin/tapesync"))
            .arg("--config")
            .arg(root.join("etc/tapesync/config.toml"))
            .args(["config", "show"])
            .output()
            .unwrap(),
        "config show of the shipped configuration",
    );
    assert!(shown.contains("/var/lib/tapesync/tapesync.db"), "{shown}");
    verify_units(&root, host_units);
}

/// Runs postinst `configure` with stand-ins for the commands it calls, and checks that a first
/// installation creates the system user and the state folder, and an upgrade keeps the user.
fn check_postinst(postinst: &Path, dir: &Path) {
    let bin = dir.join("stand-ins");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.join("calls.log");
    for (tool, status) in [("adduser", 0), ("install", 0), ("systemctl", 0)] {
        stand_in(&bin, tool, status, &calls);
    }
    let run = |user_exists: bool, args: &[&str]| {
        let _ = std::fs::remove_file(&calls);
        stand_in(&bin, "getent", if user_exists { 0 } else { 2 }, &calls);
        ok(
            Command::new("sh")
                .arg(postinst)
                .args(args)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap(),
            "postinst",
        );
        std::fs::read_to_string(&calls).unwrap_or_default()
    };
    let fresh = run(false, &["configure"]);
    assert!(
        fresh.contains("adduser --system --group --home /var/lib/tapesync"),
        "{fresh}"
    );
    assert!(
        fresh.contains("install -d -o tapesync -g tapesync -m 0750 /var/lib/tapesync"),
        "{fresh}"
    );
    let upgrade = run(true, &["configure", "0.0.1"]);
    assert!(!upgrade.contains("adduser"), "{upgrade}");
    assert!(upgrade.contains("/var/lib/tapesync"), "{upgrade}");
    // Other actions change nothing.
    assert_eq!(run(false, &["abort-upgrade"]), "");
}

fn stand_in(bin: &Path, tool: &str, status: i32, log: &Path) {
    let path = bin.join(tool);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexit {status}\n",
            log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Copies the host's systemd unit folder to `root`; false where the host has none.
fn seed_host_units(root: &Path) -> bool {
    let Some(host) = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join("multi-user.target").exists())
    else {
        return false;
    };
    let units = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    ok(
        Command::new("cp")
            .args(["-r", &format!("{host}/."), &units.display().to_string()])
            .output()
            .unwrap(),
        "copying the host's units",
    );
    true
}

/// `systemd-analyze verify` of the three units as installed; it prints problems as warnings
/// and still exits 0, so any output at all fails the test.
fn verify_units(root: &Path, host_units: bool) {
    if !have("systemd-analyze") {
        eprintln!("skipped systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    if !host_units {
        eprintln!("skipped systemd-analyze verify: this machine has no systemd unit folder");
        return;
    }
    let units = root.join("usr/lib/systemd/system");
    // Template units are verified as an instance.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg(units.join("tapesync.service"))
        .arg(units.join("tapesync-sync@nightly.service"))
        .arg(units.join("tapesync-sync@nightly.timer"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}
