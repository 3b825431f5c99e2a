//! The compiler proper, step by step: `loading.rs` reads the definition and its includes and
//! turns the grammar's syntax errors into diagnostics; [`arguments`] checks each statement's
//! arguments against the catalogue's signature and compiles patterns, templates, date formats
//! and durations; one module per directive family gives the statements their meaning —
//! `input_format.rs`, `line_rules.rs`, `fields.rs` (field derivation and translations),
//! `value_parts.rs` (parts of values, values built from fields) and
//! `repository_and_date_rules.rs`; `checks.rs` looks at the whole definition; `lower.rs`
//! builds the [`Plan`]. All problems become [`Diagnostic`]s; a plan is produced only without
//! errors.
//!
//! Adding a directive: its entry in the catalogue (`crate::catalogue`, the one list of
//! directives, with a new `DirectiveId`), one line in `Compiler::directive` (the match is
//! exhaustive, so the compiler points at it), and the handler in its family's module, next to
//! what that family gathers from the statements and lowers into the plan.

pub mod arguments;
mod checks;
mod fields;
mod input_format;
mod line_rules;
pub mod loader;
mod loading;
mod lower;
mod repository_and_date_rules;
mod value_parts;

use crate::catalogue::{self, DirectiveId, DirectiveInfo};
use crate::diagnostics::suggest;
use crate::diagnostics::Code;
use crate::diagnostics::{Diagnosed, Diagnostic, FileId, Severity, SourceMap};
use crate::plan::Plan;
use arguments::{Site, Val};
use loader::{normalise, SourceLoader};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tapesync_grammar::Statement;

/// Options of a compilation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// TapeTrack compatibility: warn on every tapesync extension.
    pub compat: bool,
}

/// The outcome: a plan when there are no errors, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Compilation {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
    pub files: SourceMap,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub fn has_warnings(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning)
    }
}

impl Diagnosed for Compilation {
    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
    fn sources(&self) -> &SourceMap {
        &self.files
    }
}

/// What the statements gave, family by family, with where it came from.
#[derive(Default)]
struct Given {
    input: input_format::InputFormat,
    lines: line_rules::LineRules,
    fields: fields::FieldRules,
    parts: value_parts::ValueParts,
    rules: repository_and_date_rules::RepositoryAndDateRules,
}

/// One statement whose arguments passed their checks: what a directive's handler gets.
struct Directive<'s> {
    info: &'static DirectiveInfo,
    statement: &'s Statement,
    /// The arguments, converted to their parameters' kinds (optional ones left out).
    args: Vec<Val>,
    /// The whole statement.
    site: Site,
}

struct Compiler<'a> {
    loader: &'a dyn SourceLoader,
    options: &'a CompileOptions,
    files: SourceMap,
    /// The resolved path of each file in `files` (includes and lists resolve against it).
    paths: Vec<PathBuf>,
    diags: Vec<Diagnostic>,
    /// `SetVariable` values by upper-case name.
    vars: HashMap<String, String>,
    /// The files being included, outermost first (to find cycles).
    stack: Vec<PathBuf>,
    given: Given,
}

/// Compiles definition text. `name` is how the file is shown in messages and the base for
/// relative includes.
pub fn compile_source(
    name: &str,
    text: &str,
    loader: &dyn SourceLoader,
    options: &CompileOptions,
) -> Compilation {
    let mut c = Compiler {
        loader,
        options,
        files: SourceMap::default(),
        paths: Vec::new(),
        diags: Vec::new(),
        vars: HashMap::new(),
        stack: Vec::new(),
        given: Given::default(),
    };
    let path = normalise(Path::new(name));
    let file = c.add_file(name, text, path.clone());
    c.stack.push(path);
    c.process_file(file);
    c.stack.pop();
    let plan = c.finish(name, file);
    let mut diagnostics = c.diags;
    diagnostics.sort_by_key(|d| {
        (
            d.primary.file,
            d.primary.span.start,
            d.primary.span.end,
            d.code,
        )
    });
    Compilation {
        plan,
        diagnostics,
        files: c.files,
    }
}

impl Compiler<'_> {
    fn add_file(&mut self, name: &str, text: &str, path: PathBuf) -> FileId {
        self.paths.push(path);
        self.files.add(name, text)
    }

    fn emit(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reports a setting given a second time (the last one wins): a duplicate when it repeats
    /// the same value, a conflict when it changes it.
    fn given_twice(&mut self, site: Site, first: Site, same: bool, message: impl Into<String>) {
        let code = if same {
            Code::DUPLICATE_DEFINITION
        } else {
            Code::CONFLICTING_DEFINITIONS
        };
        self.repeated(code, site, first, message, "first given here");
    }

    /// Reports the statement at `site`, which repeats (or replaces) the one at `first`.
    fn repeated(
        &mut self,
        code: Code,
        site: Site,
        first: Site,
        message: impl Into<String>,
        first_label: &str,
    ) {
        self.emit(
            Diagnostic::new(code, site.file, site.span, message).secondary(
                first.file,
                first.span,
                first_label,
            ),
        );
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// One statement: its directive looked up in the catalogue, its arguments checked, then
    /// handed to the directive's family.
    fn statement(&mut self, file: FileId, stmt: &Statement) {
        let name = &stmt.name;
        let Some(info) = catalogue::lookup(&name.text) else {
            let names = catalogue::catalogue()
                .iter()
                .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()));
            let mut d = Diagnostic::new(
                Code::UNKNOWN_DIRECTIVE,
                file,
                name.span,
                format!("unknown directive `{}`", name.text),
            )
            .label("not a directive");
            if let Some(best) = suggest::best(&name.text, names) {
                d = d
                    .help(format!("did you mean `{best}`?"))
                    .fix(name.span, best);
            } else {
                d = d.note("docs/language.md lists every directive");
            }
            self.emit(d);
            return;
        };
        if info.extension && self.options.compat {
            self.emit(
                Diagnostic::new(
                    Code::EXTENSION_USED,
                    file,
                    name.span,
                    format!(
                        "`{}` is a tapesync extension; TapeTrack does not know it",
                        info.name
                    ),
                )
                .note("remove it or drop --compat if the definition is only used with tapesync"),
            );
        }
        let Some(args) = self.arguments(file, info, stmt) else {
            return;
        };
        let site = Site {
            file,
            span: stmt.span,
        };
        self.directive(&Directive {
            info,
            statement: stmt,
            args,
            site,
        });
    }

    /// What a directive means: every directive of the catalogue, by family.
    fn directive(&mut self, d: &Directive<'_>) {
        use DirectiveId::*;
        match d.info.id {
            // Definition files (loading.rs)
            Include => self.include(d),
            SetVariable => self.set_variable(d),
            // Input format (input_format.rs)
            SetFile => self.set_file(d),
            SetCsvDelimiter => self.set_csv_delimiter(d),
            SetWhitespaceDelimited => self.set_whitespace_delimited(d),
            SetRulerColumns => self.set_ruler_columns(d),
            SetKeyValueFormat => self.set_key_value_format(d),
            SetCsvQuote => self.set_csv_quote(d),
            SetRecordStart => self.set_record_start(d),
            SetRecordLines => self.set_record_lines(d),
            SetRecordIndent => self.set_record_indent(d),
            // Line rules (line_rules.rs)
            AddString => self.add_string(d),
            SetHeaderCount => self.set_header_count(d),
            // Field derivation and translations (fields.rs)
            SetLiteral => self.set_literal(d),
            Extract => self.extract(d),
            ExtractKey => self.extract_key(d),
            ExtractLine => self.extract_line(d),
            RemoveSpaces => self.remove_spaces(d),
            RemoveCharacters => self.remove_characters(d),
            AddTranslation | AddTranslation2 => self.add_translation(d),
            AddExclusionOnValue => self.add_exclusion_on_value(d),
            // Parts of values and values built from fields (value_parts.rs)
            SetSubstring => self.set_substring(d),
            SetValueTemplate => self.set_value_template(d),
            // Repository and date rules (repository_and_date_rules.rs)
            SetMoveDateFormat | SetWriteTimeFormat | SetDateFormat => self.set_date_format(d),
            AddMoveDateAdjustment => self.add_move_date_adjustment(d),
            AddRepositoryOnWriteTime => self.add_repository_on_write_time(d),
            AddRepositoryOnMoveDate => self.add_repository_on_move_date(d),
            AddSkipOnRepositoryChange => self.add_skip_on_repository_change(d),
        }
    }
}
