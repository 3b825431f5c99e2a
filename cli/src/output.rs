//! Everything the command line prints goes through here, so that output which cannot be
//! written follows the exit-code contract (docs/exit-codes.md) in every command: the first
//! failed write to standard output (a reader that went away: `tapesync … | head`) is reported
//! once on standard error, later writes to that stream are skipped, and the command ends with
//! exit code 2 instead of a panic (`outln!` panics on a closed pipe). A command does not
//! thread this through its own code: `main` asks [`exit_code`] at the end.
//!
//! Use the macros `out!`/`outln!` (standard output) and `eout!`/`eoutln!` (standard error)
//! instead of `out!`/`outln!`/`eout!`/`eoutln!` (cli/clippy.toml forbids those).

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output (see the module comment for what a failure does).
pub fn stdout(args: fmt::Arguments) {
    with_stdout(|out| out.write_fmt(args));
}

/// Writes bytes to standard output (generated files, whole documents).
pub fn stdout_bytes(bytes: &[u8]) {
    with_stdout(|out| out.write_all(bytes));
}

/// Sends what standard output holds now (a long-running command's first lines).
pub fn flush() {
    with_stdout(|out| out.flush());
}

/// One write to standard output, unless an earlier one failed; a failure is reported once.
fn with_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = write(&mut io::stdout().lock()) {
        stdout_failed(&e);
    }
}

/// Writes to standard error. A failure there cannot be reported anywhere; it still makes the
/// exit code 2, because output the user asked for was lost.
pub fn stderr(args: fmt::Arguments) {
    if STDERR_FAILED.load(Ordering::Relaxed) {
        return;
    }
    if io::stderr().lock().write_fmt(args).is_err() {
        STDERR_FAILED.store(true, Ordering::Relaxed);
    }
}

fn stdout_failed(e: &io::Error) {
    if !STDOUT_FAILED.swap(true, Ordering::Relaxed) {
        stderr(format_args!("error: writing standard output: {e}\n"));
    }
}

/// The exit code of a command that wanted to end with `code`: flushes standard output (a
/// failure there counts like any other) and turns the code into 2 when output was lost.
pub fn exit_code(code: ExitCode) -> ExitCode {
    flush();
    if STDOUT_FAILED.load(Ordering::Relaxed) || STDERR_FAILED.load(Ordering::Relaxed) {
        ExitCode::from(crate::exit::USAGE)
    } else {
        code
    }
}

/// `out!` through [`stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `outln!` through [`stdout`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eout!` through [`stderr`].
#[macro_export]
macro_rules! eout {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}

/// `eoutln!` through [`stderr`].
#[macro_export]
macro_rules! eoutln {
    () => { $crate::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}
