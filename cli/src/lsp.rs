//! `tapesync lsp`: the language server for `.ttidef` files, over standard input/output.

use crate::exit;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Speak LSP over standard input/output (the only transport; accepted because editor
    /// clients such as vscode-languageclient pass it)
    #[arg(long)]
    stdio: bool,
    /// Quiet time in milliseconds after the last edit before a document is checked again
    #[arg(long, value_name = "MS", default_value_t = 200)]
    debounce_ms: u64,
}

pub fn run(args: Args) -> ExitCode {
    let options = tapesync_lsp::ServerOptions {
        debounce: Duration::from_millis(args.debounce_ms),
    };
    match tapesync_lsp::run_stdio(options) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eoutln!("tapesync lsp: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
