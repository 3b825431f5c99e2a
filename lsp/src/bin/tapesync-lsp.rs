//! The language server as a stand-alone executable, for editors configured without the full
//! `tapesync` binary and for this crate's stdio tests. `tapesync lsp` is the same server.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Editor clients may pass `--stdio`; stdio is the only transport, so arguments are ignored.
    match tapesync_lsp::run_stdio(tapesync_lsp::ServerOptions::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapesync-lsp: {e}");
            ExitCode::from(2)
        }
    }
}
