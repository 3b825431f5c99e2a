//! The human output: rustc-like snippets through codespan-reporting.

use crate::diagnostics::{Diagnosed, Diagnostic, Severity, SourceMap};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;

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
pub fn render_human<D: Diagnosed + ?Sized>(diagnosed: &D, color: bool) -> String {
    let sources = diagnosed.sources();
    let mut files = SimpleFiles::new();
    for (_, f) in sources.files() {
        files.add(f.name.clone(), f.text.clone());
    }
    let config = term::Config::default();
    let mut out = String::new();
    for d in diagnosed.diagnostics() {
        let diag = to_codespan(d, sources);
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
