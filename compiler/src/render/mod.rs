//! Renderers: human (codespan-reporting), short (`file:line:col: error[E0009]: message`) and
//! JSON (the versioned public [`JsonReport`], documented in docs/diagnostics/json.md).

use crate::compile::Compilation;
use crate::diagnostics::diagnostic::{Diagnostic, Label, Severity, SourceMap};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use serde::{Deserialize, Serialize};

pub mod sarif;

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
pub fn json_report(c: &Compilation) -> JsonReport {
    JsonReport {
        version: JSON_FORMAT_VERSION,
        diagnostics: c
            .diagnostics
            .iter()
            .map(|d| json_diagnostic(&c.files, d))
            .collect(),
        failures: Vec::new(),
    }
}

pub fn render_json(c: &Compilation) -> String {
    serde_json::to_string_pretty(&json_report(c))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `file:line:col: severity[code]: message`, one line per diagnostic.
pub fn render_short(c: &Compilation) -> String {
    let mut out = String::new();
    for d in &c.diagnostics {
        let loc = c.files.location(d.primary.file, d.primary.span.start);
        out.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            c.files.name(d.primary.file),
            loc.line,
            loc.column,
            d.severity.as_str(),
            d.code,
            d.message
        ));
    }
    out
}

fn to_codespan(d: &Diagnostic, files: &SourceMap) -> cs::Diagnostic<usize> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Note => cs::Severity::Note,
    };
    let mut labels = vec![cs::Label::primary(d.primary.file.0, d.primary.span.range())
        .with_message(d.primary.message.clone())];
    labels.extend(
        d.secondary.iter().map(|l| {
            cs::Label::secondary(l.file.0, l.span.range()).with_message(l.message.clone())
        }),
    );
    let mut notes = d.notes.clone();
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    if let Some(f) = &d.fix {
        let loc = files.location(f.file, f.span.start);
        let what = if f.replacement.is_empty() {
            "remove the marked text".to_string()
        } else if f.span.is_empty() {
            format!("insert `{}`", f.replacement)
        } else {
            format!("replace with `{}`", f.replacement)
        };
        notes.push(format!("fix ({}:{}): {what}", loc.line, loc.column));
    }
    cs::Diagnostic::new(severity)
        .with_code(d.code.to_string())
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// The human rendering (rustc-like snippets). `color` adds ANSI colours.
pub fn render_human(c: &Compilation, color: bool) -> String {
    let mut files = SimpleFiles::new();
    for (_, f) in c.files.files() {
        files.add(f.name.clone(), f.text.clone());
    }
    let config = term::Config::default();
    let mut out = String::new();
    for d in &c.diagnostics {
        let diag = to_codespan(d, &c.files);
        if color {
            let mut buffer = term::termcolor::Buffer::ansi();
            if term::emit_to_write_style(&mut buffer, &config, &files, &diag).is_ok() {
                out.push_str(&String::from_utf8_lossy(buffer.as_slice()));
            }
        } else {
            let mut s = String::new();
            if term::emit_to_string(&mut s, &config, &files, &diag).is_ok() {
                out.push_str(&s);
            }
        }
    }
    out
}
