//! `tapesync`: the command line. Each subcommand lives in its own module with its clap `Args`
//! and a `run` function; the logic itself belongs to the library crates.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod exit;

#[derive(Parser)]
#[command(
    name = "tapesync",
    version,
    about = "Keeps a tape inventory in step with what backup software reports",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // One variant per subcommand; each module owns its Args.
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout with exit 0; real usage errors are exit 2.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {}
}
