//! Shared helpers of the data-driven test harnesses: where things are, how to run the real
//! binary, and golden-file comparison with one bless switch (`TAPESYNC_BLESS=1 cargo test`).

use std::path::{Path, PathBuf};

/// The workspace root (cases live in `tests/cases/` there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The real `tapesync` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tapesync"))
}

/// The CLI, with its scope cache under the build's temporary folder rather than the user's
/// cache folder (a test that looks at the cache passes its own `--cache-dir`).
pub fn command() -> std::process::Command {
    let mut command = std::process::Command::new(bin());
    command.env(
        "TAPESYNC_CACHE_DIR",
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scope-cache"),
    );
    command
}

pub fn blessing() -> bool {
    std::env::var_os("TAPESYNC_BLESS").is_some_and(|v| v != "0")
}

/// Compares `actual` with the golden file at `expected`. With `TAPESYNC_BLESS=1` the file is
/// (re)written instead. Returns a description of the mismatch, so a harness can collect every
/// failing case before it fails.
pub fn check_golden(expected: &Path, actual: &str) -> Result<(), String> {
    if blessing() {
        std::fs::write(expected, actual).map_err(|e| format!("{}: {e}", expected.display()))?;
        return Ok(());
    }
    let want = std::fs::read_to_string(expected).map_err(|e| {
        format!(
            "{}: {e} (run `TAPESYNC_BLESS=1 cargo test` to create it)",
            expected.display()
        )
    })?;
    if want == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs (run `TAPESYNC_BLESS=1 cargo test` to accept):\n{}",
            expected.display(),
            line_diff(&want, actual)
        ))
    }
}

/// Fails the test with every collected mismatch.
pub fn finish(failures: Vec<String>, cases: usize) {
    assert!(cases > 0, "no cases found: the harness would test nothing");
    if !failures.is_empty() {
        panic!(
            "{} of {cases} cases failed:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

fn line_diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for i in 0..w.len().max(g.len()) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                out.push_str(&format!(
                    "  line {}:\n    expected: {}\n    actual:   {}\n",
                    i + 1,
                    a.unwrap_or(&"<none>"),
                    b.unwrap_or(&"<none>")
                ));
            }
        }
    }
    out
}
