//! `tapesync lsp`: a language server for `.ttidef` definition files.
//!
//! It reuses the compiler for diagnostics (published on open and, debounced, on change;
//! cleared on close), the directive catalogue and the field table for hovers and completion,
//! and the syntax tree for go-to-definition on `Include("…")` and `%NAME%`. It never runs a
//! sync and never writes a file: edits reach the client only as quick-fix proposals.

pub mod completion;
pub mod context;
pub mod definition;
pub mod documents;
pub mod hover;
pub mod keywords;
pub mod lint;
pub mod server;
pub mod symbols;
pub mod text;
pub mod uri;

pub use server::{capabilities, serve, ServerError, ServerOptions};

/// Serves the protocol on standard input/output until the client says `exit`.
pub fn run_stdio(options: ServerOptions) -> Result<(), ServerError> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    let outcome = serve(&connection, options);
    drop(connection);
    let io = io_threads.join();
    // After a clean shutdown the client may already have closed its end of the pipes; an
    // I/O error then is of no consequence. Without one, it is the reason the session ended.
    match (outcome, io) {
        (Ok(()), _) => Ok(()),
        (Err(ServerError::Disconnected), Err(e)) => Err(ServerError::Io(e)),
        (Err(e), _) => Err(e),
    }
}
