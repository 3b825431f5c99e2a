//! The renderers of diagnostics: human (codespan-reporting snippets), short (one line each),
//! JSON (the versioned public [`JsonReport`]) and SARIF 2.1.0. Each takes diagnostics with the
//! sources they point into ([`crate::Diagnosed`]), not a compilation: the CLI, the fuzzer and
//! tests pass a [`crate::Compilation`], which is one.

mod human;
mod json;
pub mod sarif;
mod short;

pub use human::render_human;
pub use json::{
    json_diagnostic, json_report, render_json, JsonDiagnostic, JsonFailure, JsonFix, JsonLabel,
    JsonReport, JSON_FORMAT_VERSION,
};
pub use short::render_short;
