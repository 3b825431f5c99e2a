//! Definition files → a typed [`plan::Plan`] plus diagnostics.
//!
//! The steps, each a folder:
//!
//! 1. [`compile`] — [`compile_source`]/[`compile_path`]: the definition and its includes
//!    loaded through a [`SourceLoader`], each statement's arguments checked against the
//!    [`catalogue()`] of directives ([`compile::arguments`]), its meaning given by the module of
//!    its directive family, the whole definition checked, and the plan lowered;
//! 2. [`plan`] — the plan as plain data, with what evaluates its compiled parts (patterns,
//!    translation templates, and the one date engine, [`plan::dates`]);
//! 3. [`diagnostics`] — the code registry, the [`Diagnostic`] model and its [`SourceMap`];
//! 4. [`render`] — human, short, JSON and SARIF output of anything [`Diagnosed`].
//!
//! The CLI, the runtime and the language server use the facade re-exported here.
//! docs/architecture.md has the whole pipeline.

pub mod catalogue;
pub mod compile;
pub mod diagnostics;
pub mod plan;
pub mod render;

pub use catalogue::{catalogue, DirectiveInfo, Param, ParamKind};
pub use compile::loader::{FsLoader, MemoryLoader, SourceLoader};
pub use compile::{compile_source, Compilation, CompileOptions};
pub use diagnostics::{
    Code, CodeInfo, Diagnosed, Diagnostic, FileId, Fix, Label, Location, Severity, SourceMap,
    REGISTRY,
};
pub use render::sarif;
pub use render::{
    json_report, render_human, render_json, render_short, JsonReport, JSON_FORMAT_VERSION,
};

use std::path::Path;

/// Reads and compiles a definition file from the file system (includes and `*LIST:` files
/// relative to it). A file that cannot be read at all is a diagnostic here; see
/// [`try_compile_path`] for a caller that tells the two apart.
pub fn compile_path(path: &Path, options: &CompileOptions) -> Compilation {
    try_compile_path(path, options).unwrap_or_else(|e| unreadable(path, &e))
}

/// Like [`compile_path`], but a definition file that cannot be read (missing, no permission:
/// an I/O failure, exit 2 in the CLI) is an `Err`. A file that was read but is not UTF-8 text
/// is wrong input like anything wrong inside it (exit 1): a diagnostic, as it is for an
/// included file (docs/exit-codes.md).
pub fn try_compile_path(path: &Path, options: &CompileOptions) -> std::io::Result<Compilation> {
    match FsLoader.load(path) {
        Ok(text) => Ok(compile_source(
            &path.display().to_string(),
            &text,
            &FsLoader,
            options,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(unreadable(path, &e)),
        Err(e) => Err(e),
    }
}

/// A compilation of a file whose text could not be had: one diagnostic, no plan.
fn unreadable(path: &Path, e: &std::io::Error) -> Compilation {
    // No text to point into: an empty file entry carries the message.
    let mut files = SourceMap::default();
    let name = path.display().to_string();
    let id = files.add(name.clone(), "");
    Compilation {
        plan: None,
        diagnostics: vec![Diagnostic::new(
            Code::INCLUDE_NOT_FOUND,
            id,
            tapesync_grammar::Span::new(0, 0),
            format!("cannot read `{name}`: {e}"),
        )],
        files,
    }
}
