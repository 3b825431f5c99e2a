//! Puts the commit into the version: `tapesync --version` prints
//! `tapesync 0.1.0 (abc1234 2026-11-29)` (short hash and commit date).
//!
//! Built from a source tarball there is no repository, and the version is the plain crate
//! version; a packager can supply the part in brackets with `TAPESYNC_BUILD_COMMIT`. A tarball
//! unpacked inside some other git checkout must not take that checkout's commit, so the
//! repository is used only when its top level is this workspace.

// Cargo reads its instructions from standard output (cli/clippy.toml is for the binary).
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::Command;

const OVERRIDE: &str = "TAPESYNC_BUILD_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var(OVERRIDE)
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| commit_from_git(&manifest_dir));
    let long = match commit {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=TAPESYNC_LONG_VERSION={long}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn commit_from_git(manifest_dir: &Path) -> Option<String> {
    let workspace = manifest_dir.parent()?;
    let top = git(workspace, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(workspace).ok()? {
        return None;
    }
    // Build again when HEAD moves: HEAD itself, the branch it names, packed refs, and HEAD's
    // reflog (it grows with every commit, also when the branch's ref was packed and a new
    // loose one appears). Only files that exist are named: a missing one would make cargo run
    // this script, and rebuild the crate, every time.
    let mut watched = vec![
        "HEAD".to_string(),
        "packed-refs".to_string(),
        "logs/HEAD".to_string(),
    ];
    if let Some(branch) = git(workspace, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(workspace, &["rev-parse", "--git-path", &name]) {
            let path = workspace.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(workspace, &["log", "-1", "--format=%h %cs"])
}
