//! Exit codes, the same for every subcommand and output format.

/// Clean (warnings allowed unless `--deny-warnings`).
pub const OK: u8 = 0;
/// The input (definition, report records) has errors.
pub const INPUT_ERRORS: u8 = 1;
/// Usage, I/O or internal failure.
pub const USAGE: u8 = 2;

/// Writes a command's whole output to standard output: exit 0, or 2 with a message when it
/// cannot be written (a closed pipe included, as `admin export` does).
pub fn write_stdout(bytes: &[u8]) -> std::process::ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => std::process::ExitCode::from(OK),
        Err(e) => {
            eprintln!("error: writing standard output: {e}");
            std::process::ExitCode::from(USAGE)
        }
    }
}
