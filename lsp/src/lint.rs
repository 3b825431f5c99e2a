//! Compiling an open document and turning the compiler's diagnostics into LSP diagnostics and
//! quick fixes.

use crate::text::LineIndex;
use crate::uri::uri_for_path;
use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Range, TextEdit, Url,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tapesync_compiler::compile::loader::{normalise, resolve};
use tapesync_compiler::{
    compile_source, Compilation, CompileOptions, FileId, Severity, SourceLoader, SourceMap,
};
use tapesync_grammar::{parse, ArgKind, Span};

/// A quick fix offered for one published diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickFix {
    pub title: String,
    pub diagnostic: Diagnostic,
    pub edit: TextEdit,
}

/// Everything one lint run produces for a document.
#[derive(Debug, Clone, Default)]
pub struct LintResult {
    pub diagnostics: Vec<Diagnostic>,
    pub fixes: Vec<QuickFix>,
    /// Files the compilation read besides the document (includes, `*LIST:` files): a change
    /// to one of them re-lints the document.
    pub dependencies: Vec<PathBuf>,
}

/// How diagnostics link to their documentation.
#[derive(Debug, Clone)]
pub struct LintSettings {
    /// Prefix of a code's page: the page is `{docs_base}docs/diagnostics/E0009.md`. `None`:
    /// no published docs are configured, and diagnostics carry no link (a `file://` path of
    /// the build tree would be dead on the editor's machine).
    pub docs_base: Option<String>,
    pub compile: CompileOptions,
}

impl Default for LintSettings {
    fn default() -> Self {
        LintSettings {
            docs_base: tapesync_compiler::diagnostics::codes::docs_base(),
            compile: CompileOptions::default(),
        }
    }
}

/// Compiles `text` as the file `name` (a path: includes resolve against it).
pub fn lint(
    uri: &Url,
    name: &str,
    text: &str,
    loader: &dyn SourceLoader,
    settings: &LintSettings,
) -> LintResult {
    let compilation = compile_source(name, text, loader, &settings.compile);
    convert(uri, text, &compilation, settings)
}

/// Converts a compilation of the document `uri` (file 0 of the compilation) to LSP terms.
pub fn convert(
    uri: &Url,
    text: &str,
    compilation: &Compilation,
    settings: &LintSettings,
) -> LintResult {
    let main = FileId(0);
    let index = LineIndex::new(text);
    let files = &compilation.files;
    let sites = include_sites(text, files);
    let mut result = LintResult {
        dependencies: files
            .files()
            .skip(1)
            .map(|(_, f)| normalise(Path::new(&f.name)))
            .collect(),
        ..LintResult::default()
    };
    for d in &compilation.diagnostics {
        let mut message = d.message.clone();
        let mut related = Vec::new();
        let range = if d.primary.file == main {
            index.range(d.primary.span.start, d.primary.span.end)
        } else {
            // A problem inside an included file is shown at the include that brought the
            // file in; the exact place is in the related information.
            let site = site_for(&sites, d.primary.file).unwrap_or_default();
            if let Some(location) = location(uri, files, d.primary.file, d.primary.span) {
                related.push(DiagnosticRelatedInformation {
                    location,
                    message: d.message.clone(),
                });
            }
            let at = files.location(d.primary.file, d.primary.span.start);
            message = format!(
                "in included file `{}` ({}:{}): {}",
                files.name(d.primary.file),
                at.line,
                at.column,
                d.message
            );
            index.range(site.start, site.end)
        };
        if !d.primary.message.is_empty() && d.primary.file == main {
            message = format!("{message} ({})", d.primary.message);
        }
        for label in &d.secondary {
            if let Some(location) = location(uri, files, label.file, label.span) {
                related.push(DiagnosticRelatedInformation {
                    location,
                    message: if label.message.is_empty() {
                        "related".to_string()
                    } else {
                        label.message.clone()
                    },
                });
            }
        }
        for note in &d.notes {
            message.push_str("\nnote: ");
            message.push_str(note);
        }
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let code = d.code.to_string();
        let diagnostic = Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
                Severity::Note => DiagnosticSeverity::INFORMATION,
            }),
            code: Some(NumberOrString::String(code.clone())),
            code_description: settings
                .docs_base
                .as_ref()
                .and_then(|base| Url::parse(&format!("{base}{}", d.code.info().doc_path())).ok())
                .map(|href| CodeDescription { href }),
            source: Some("tapesync".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        };
        if let Some(fix) = d.fix.as_ref().filter(|f| f.file == main) {
            let title = match &d.help {
                Some(help) => capitalise(help),
                None if fix.replacement.is_empty() => "Remove this".to_string(),
                None => format!("Replace with `{}`", fix.replacement),
            };
            result.fixes.push(QuickFix {
                title,
                diagnostic: diagnostic.clone(),
                edit: TextEdit {
                    range: index.range(fix.span.start, fix.span.end),
                    new_text: fix.replacement.clone(),
                },
            });
        }
        result.diagnostics.push(diagnostic);
    }
    result
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn location(main_uri: &Url, files: &SourceMap, file: FileId, span: Span) -> Option<Location> {
    let source = files.get(file)?;
    let uri = if file == FileId(0) {
        main_uri.clone()
    } else {
        uri_for_path(Path::new(&source.name))?
    };
    let index = LineIndex::new(&source.text);
    Some(Location::new(uri, index.range(span.start, span.end)))
}

/// For each `Include` of the main file that was read: the first file id its subtree got,
/// and the span of the statement's path argument. The compiler adds files depth-first in
/// include order, so a file belongs to the last include whose first id is not after it.
fn include_sites(text: &str, files: &SourceMap) -> Vec<(FileId, Span)> {
    let Some(main) = files.get(FileId(0)) else {
        return Vec::new();
    };
    let base = normalise(Path::new(&main.name));
    let (tree, _) = parse(text);
    let mut by_name: HashMap<PathBuf, FileId> = HashMap::new();
    for (id, f) in files.files().skip(1) {
        by_name.entry(normalise(Path::new(&f.name))).or_insert(id);
    }
    let mut sites: Vec<(FileId, Span)> = tree
        .statements
        .iter()
        .filter(|s| s.name.text.eq_ignore_ascii_case("Include"))
        .filter_map(|s| {
            let arg = s.args.first()?;
            let ArgKind::Str { value, .. } = &arg.kind else {
                return None;
            };
            let id = by_name.get(&resolve(&base, value))?;
            Some((*id, arg.span))
        })
        .collect();
    sites.sort_by_key(|(id, _)| *id);
    sites
}

fn site_for(sites: &[(FileId, Span)], file: FileId) -> Option<Span> {
    sites
        .iter()
        .rev()
        .find(|(first, _)| *first <= file)
        .or_else(|| sites.first())
        .map(|(_, span)| *span)
}

/// The lint result for a range request: the fixes whose diagnostic overlaps `range`.
pub fn fixes_in(fixes: &[QuickFix], range: Range) -> Vec<&QuickFix> {
    fixes
        .iter()
        .filter(|f| f.diagnostic.range.start <= range.end && range.start <= f.diagnostic.range.end)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapesync_compiler::MemoryLoader;

    fn code_links(docs_base: Option<&str>) -> Vec<Option<String>> {
        let uri = Url::parse("file:///defs/a.ttidef").unwrap();
        let settings = LintSettings {
            docs_base: docs_base.map(str::to_string),
            compile: CompileOptions::default(),
        };
        lint(
            &uri,
            "/defs/a.ttidef",
            "Frobnicate(1);\n",
            &MemoryLoader::new(),
            &settings,
        )
        .diagnostics
        .iter()
        .map(|d| d.code_description.as_ref().map(|c| c.href.to_string()))
        .collect()
    }

    #[test]
    fn codes_link_to_published_docs_only() {
        let none = code_links(None);
        assert!(!none.is_empty());
        assert!(none.iter().all(Option::is_none), "{none:?}");
        let linked = code_links(Some("https://docs.example.org/t/"));
        assert!(linked.contains(&Some(
            "https://docs.example.org/t/docs/diagnostics/E0009.md".to_string()
        )));
    }
}
