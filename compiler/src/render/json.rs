//! The JSON output (`tapesync check --format json`): the versioned public [`JsonReport`],
//! documented in docs/diagnostics/json.md.

use crate::diagnostics::{Diagnosed, Diagnostic, Label, SourceMap};
use serde::{Deserialize, Serialize};

/// Version of [`JsonReport`]; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The JSON output of `tapesync check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonReport {
    pub version: u32,
    pub diagnostics: Vec<JsonDiagnostic>,
    /// Files that could not be checked at all (unreadable): exit code 2.
    #[serde(default)]
    pub failures: Vec<JsonFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonFailure {
    pub file: String,
    pub message: String,
}

/// A position range; lines and columns are 1-based, columns count characters (`column`) and
/// UTF-16 code units (`column_utf16`, for LSP clients); bytes are 0-based offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub column_utf16: usize,
    pub end_column_utf16: usize,
    pub byte_start: usize,
    pub byte_end: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonFix {
    pub file: String,
    pub byte_start: usize,
    pub byte_end: usize,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: String,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub column_utf16: usize,
    pub end_column_utf16: usize,
    pub byte_start: usize,
    pub byte_end: usize,
    /// The primary label first, then secondary labels.
    pub labels: Vec<JsonLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    pub fix: Option<JsonFix>,
}

fn json_label(files: &SourceMap, l: &Label) -> JsonLabel {
    let start = files.location(l.file, l.span.start);
    let end = files.location(l.file, l.span.end);
    JsonLabel {
        file: files.name(l.file).to_string(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        column_utf16: start.column_utf16,
        end_column_utf16: end.column_utf16,
        byte_start: l.span.start,
        byte_end: l.span.end,
        message: l.message.clone(),
    }
}

/// One diagnostic in its JSON form.
pub fn json_diagnostic(files: &SourceMap, d: &Diagnostic) -> JsonDiagnostic {
    let p = json_label(files, &d.primary);
    JsonDiagnostic {
        code: d.code.to_string(),
        severity: d.severity.as_str().to_string(),
        message: d.message.clone(),
        file: p.file.clone(),
        line: p.line,
        column: p.column,
        end_line: p.end_line,
        end_column: p.end_column,
        column_utf16: p.column_utf16,
        end_column_utf16: p.end_column_utf16,
        byte_start: p.byte_start,
        byte_end: p.byte_end,
        labels: std::iter::once(p)
            .chain(d.secondary.iter().map(|l| json_label(files, l)))
            .collect(),
        notes: d.notes.clone(),
        help: d.help.clone(),
        fix: d.fix.as_ref().map(|f| JsonFix {
            file: files.name(f.file).to_string(),
            byte_start: f.span.start,
            byte_end: f.span.end,
            replacement: f.replacement.clone(),
        }),
    }
}

/// The JSON report of one compilation (the CLI merges several).
pub fn json_report<D: Diagnosed + ?Sized>(d: &D) -> JsonReport {
    JsonReport {
        version: JSON_FORMAT_VERSION,
        diagnostics: d
            .diagnostics()
            .iter()
            .map(|diagnostic| json_diagnostic(d.sources(), diagnostic))
            .collect(),
        failures: Vec::new(),
    }
}

pub fn render_json<D: Diagnosed + ?Sized>(d: &D) -> String {
    serde_json::to_string_pretty(&json_report(d))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
