//! `tapesync`: the command line. Each subcommand lives in its own module with its clap `Args`
//! and a `run` function; the logic itself belongs to the library crates.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// See cli/Cargo.toml: the allocator is a measurable share of a large sync.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod check;
mod client;
mod console;
mod exit;
mod explain;
mod lsp;
mod run;
mod serve;

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
    /// Manage an inventory store: users, grants, customers, import/export, sessions
    Admin(admin::Args),
    /// Check definition files and report problems (human, short or JSON)
    Check(check::Args),
    /// Print the compiled plan of a definition file as JSON
    Explain(explain::Args),
    /// Language server for .ttidef files (LSP over stdio) for editors
    Lsp(lsp::Args),
    /// Sync the inventory with a report: derive, diff, apply changes, print statistics
    Run(run::Args),
    /// Run the inventory server: HTTP API, logon, per-customer rights, web page
    Serve(serve::Args),
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
    match cli.command {
        Command::Admin(args) => admin::run(args),
        Command::Check(args) => check::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
