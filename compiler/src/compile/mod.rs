//! The compiler proper: flattens includes, resolves names, type-checks arguments, compiles
//! patterns, templates, dates and durations, checks literals against field limits and builds
//! the [`Plan`]. All problems become [`Diagnostic`]s; a plan is produced only without errors.

pub mod arguments;
pub mod loader;

use crate::catalogue::{self, DirectiveId, DirectiveInfo, ParamKind};
use crate::diagnostics::suggest;
use crate::diagnostics::Code;
use crate::diagnostics::{Diagnosed, Diagnostic, FileId, Severity, SourceMap};
use crate::plan::*;
use arguments::date_format::compile_date_format;
use arguments::duration::{parse_duration, uses_units};
use arguments::expand::{expand, ExpandProblem, Expanded};
use arguments::pattern::{compile_glob, PatternWarning};
use arguments::template::{compile_template, constant_result};
use loader::{normalise, resolve, SourceLoader};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tapesync_grammar::{Arg, ArgKind, Span as ByteSpan, Statement, SyntaxErrorKind};
use tapesync_model::{canonicalise, Field};

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

/// Where a statement or argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Site {
    file: FileId,
    span: ByteSpan,
}

/// A string argument after expansion.
#[derive(Debug, Clone)]
struct Str {
    exp: Expanded,
    /// Span of the whole argument (with quotes).
    arg: ByteSpan,
}

impl Str {
    fn text(&self) -> &str {
        &self.exp.text
    }
}

/// A type-checked argument.
#[derive(Debug, Clone)]
enum Val {
    Field(Field),
    Keyword(String),
    Int(i64),
    Str(Str),
    NoneWord,
}

impl Val {
    fn field(&self) -> Field {
        match self {
            Val::Field(f) => *f,
            _ => Field::Customer,
        }
    }
    fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            _ => 0,
        }
    }
    fn str(&self) -> Option<&Str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    fn text(&self) -> &str {
        self.str().map_or("", Str::text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FormatChoice {
    Delimited(u8),
    Whitespace(Option<usize>),
    KeyValue(String),
}

impl FormatChoice {
    fn describe(&self) -> String {
        match self {
            FormatChoice::Delimited(d) => {
                format!("delimited input (`{}`)", char::from(*d).escape_debug())
            }
            FormatChoice::Whitespace(_) => "whitespace-separated input".into(),
            FormatChoice::KeyValue(s) => format!("key/value input (`{s}`)"),
        }
    }
}

#[derive(Debug, Clone)]
enum PendingExtract {
    Offset { offset: usize, record: usize },
    Key(String),
}

/// Everything gathered from the statements, with where it came from.
#[derive(Default)]
struct Builder {
    file: Option<(String, Site)>,
    format: Option<(FormatChoice, Site)>,
    quote: Option<(Option<u8>, Site)>,
    record_start: Option<(Pattern, Site)>,
    header_count: Option<(usize, Site)>,
    line_rules: Vec<(LineRule, Site)>,
    literals: Vec<(Field, String, Site)>,
    extractions: Vec<(Field, PendingExtract, usize, Site)>,
    remove_spaces: Vec<(Field, Site)>,
    remove_characters: Vec<RemoveCharacters>,
    translations: Vec<Translation>,
    translations2: Vec<Translation>,
    value_exclusions: Vec<ValueFilter>,
    date_formats: BTreeMap<Field, (DateFormat, Site)>,
    move_date_adjustments: Vec<MoveDateAdjustment>,
    repository_on_move_date: Vec<RepositoryOnMoveDate>,
    repository_on_write_time: Vec<RepositoryOnWriteTime>,
    skip_on_repository_change: Vec<SkipOnRepositoryChange>,
    /// Fields given a value by translations and rules (not literals or extraction).
    derived: Vec<Field>,
}

struct Compiler<'a> {
    loader: &'a dyn SourceLoader,
    options: &'a CompileOptions,
    files: SourceMap,
    paths: Vec<PathBuf>,
    diags: Vec<Diagnostic>,
    vars: HashMap<String, String>,
    stack: Vec<PathBuf>,
    b: Builder,
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
        b: Builder::default(),
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
        self.emit(
            Diagnostic::new(code, site.file, site.span, message).secondary(
                first.file,
                first.span,
                "first given here",
            ),
        );
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    fn process_file(&mut self, file: FileId) {
        let text = self
            .files
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let (ast, errors) = tapesync_grammar::parse(&text);
        for e in errors {
            let code = match e.kind {
                SyntaxErrorKind::InvalidCharacter => Code::INVALID_CHARACTER,
                SyntaxErrorKind::UnterminatedString => Code::UNTERMINATED_STRING,
                SyntaxErrorKind::SingleQuotedString => Code::SINGLE_QUOTED_STRING,
                SyntaxErrorKind::IntegerOutOfRange => Code::INTEGER_OUT_OF_RANGE,
                SyntaxErrorKind::UnexpectedToken => Code::SYNTAX_ERROR,
                SyntaxErrorKind::MissingTerminator => Code::MISSING_TERMINATOR,
                SyntaxErrorKind::SemicolonForComma => Code::SEMICOLON_FOR_COMMA,
            };
            let mut d = Diagnostic::new(code, file, e.span, e.message);
            d.help = e.help;
            if let Some(fix) = e.fix {
                d = d.fix(fix.span, fix.replacement);
            }
            self.emit(d);
        }
        for stmt in &ast.statements {
            if self.options.compat {
                self.trailing_comment(file, &text, stmt.span.end);
            }
            self.statement(file, stmt);
        }
    }

    /// Under `--compat`: a `#` comment after a statement on the same line is an extension
    /// (TapeTrack shows comments only on lines of their own).
    fn trailing_comment(&mut self, file: FileId, text: &str, end: usize) {
        let rest = text.get(end..).unwrap_or("");
        let line = rest.split('\n').next().unwrap_or("");
        let lead = line.len() - line.trim_start().len();
        if line.trim_start().starts_with('#') {
            let start = end + lead;
            let stop = end + line.trim_end().len();
            self.emit(
                Diagnostic::new(
                    Code::EXTENSION_USED,
                    file,
                    ByteSpan::new(start, stop.max(start + 1)),
                    "a comment after a statement is a tapesync extension",
                )
                .help("move the comment to a line of its own"),
            );
        }
    }

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
        let n = stmt.args.len();
        if n < info.min_args() || n > info.params.len() {
            let expected = if info.optional > 0 {
                format!("{} to {}", info.min_args(), info.params.len())
            } else {
                info.params.len().to_string()
            };
            let span = if n > info.params.len() {
                stmt.args[info.params.len()].span.to(stmt.args[n - 1].span)
            } else {
                stmt.args_span
            };
            self.emit(
                Diagnostic::new(
                    Code::ARGUMENT_COUNT,
                    file,
                    span,
                    format!(
                        "`{}` takes {expected} argument{}, but {n} {} given",
                        info.name,
                        if expected == "1" { "" } else { "s" },
                        if n == 1 { "was" } else { "were" }
                    ),
                )
                .label(if n > info.params.len() {
                    "unexpected arguments"
                } else {
                    "arguments missing"
                })
                .help(format!("the signature is {}", info.signature())),
            );
            return;
        }
        let errors_before = self.error_count();
        let mut vals = Vec::with_capacity(n);
        for (param, arg) in info.params.iter().zip(&stmt.args) {
            vals.push(self.convert(file, info, param.kind, arg));
        }
        if self.error_count() > errors_before {
            return;
        }
        let vals: Vec<Val> = vals
            .into_iter()
            .map(|v| v.unwrap_or(Val::NoneWord))
            .collect();
        let site = Site {
            file,
            span: stmt.span,
        };
        self.apply(info, stmt, &vals, site);
    }

    // -----------------------------------------------------------------------------------------
    // Argument conversion

    fn convert(
        &mut self,
        file: FileId,
        info: &DirectiveInfo,
        kind: ParamKind,
        arg: &Arg,
    ) -> Option<Val> {
        let wrong = |this: &mut Self, fix: Option<String>| {
            let mut d = Diagnostic::new(
                Code::ARGUMENT_TYPE,
                file,
                arg.span,
                format!("expected {}, found {}", kind.describe(), arg.describe()),
            )
            .label(format!("{} expected", kind.describe()))
            .help(format!("the signature is {}", info.signature()));
            if let Some(f) = fix {
                d = d.fix(arg.span, f);
            }
            this.emit(d);
            None
        };
        match (&arg.kind, kind) {
            (ArgKind::Word { text }, ParamKind::Field) => self.field(file, arg.span, text),
            (
                ArgKind::Str {
                    value, typographic, ..
                },
                ParamKind::Field,
            ) => {
                self.typographic(file, arg, *typographic, value);
                self.field(file, arg.span, value)
            }
            (
                ArgKind::Word { text } | ArgKind::Str { value: text, .. },
                ParamKind::Keyword { values },
            ) => {
                let upper = text.to_ascii_uppercase();
                if values.contains(&upper.as_str()) {
                    if let ArgKind::Str {
                        typographic, value, ..
                    } = &arg.kind
                    {
                        self.typographic(file, arg, *typographic, value);
                    }
                    return Some(Val::Keyword(upper));
                }
                let mut d = Diagnostic::new(
                    Code::UNKNOWN_KEYWORD,
                    file,
                    arg.span,
                    format!("`{text}` is not one of {}", values.join(", ")),
                )
                .label("unknown keyword");
                if let Some(best) = suggest::best(text, values.iter().copied()) {
                    d = d
                        .help(format!("did you mean `{best}`?"))
                        .fix(arg.span, best);
                }
                self.emit(d);
                None
            }
            (ArgKind::Int { value }, ParamKind::Int { min, max }) => {
                if *value < min || *value > max {
                    let range = if max == i32::MAX as i64 {
                        format!("at least {min}")
                    } else {
                        format!("between {min} and {max}")
                    };
                    self.emit(
                        Diagnostic::new(
                            Code::ARGUMENT_OUT_OF_RANGE,
                            file,
                            arg.span,
                            format!("`{value}` is out of range: it must be {range}"),
                        )
                        .label("out of range")
                        .help(format!("the signature is {}", info.signature())),
                    );
                    return None;
                }
                Some(Val::Int(*value))
            }
            (ArgKind::Str { value, .. }, ParamKind::Int { .. }) => {
                let fix = value.trim().parse::<i64>().ok().map(|v| v.to_string());
                wrong(self, fix)
            }
            (ArgKind::Int { value }, ParamKind::Value) => Some(Val::Str(Str {
                exp: Expanded::verbatim(&value.to_string(), arg.span.start),
                arg: arg.span,
            })),
            (ArgKind::Word { text }, ParamKind::CharOrNone)
                if text.eq_ignore_ascii_case("NONE") =>
            {
                Some(Val::NoneWord)
            }
            (ArgKind::Word { text }, ParamKind::Name) => Some(Val::Keyword(text.clone())),
            (
                ArgKind::Str {
                    value,
                    content,
                    typographic,
                },
                ParamKind::Name,
            ) => {
                self.typographic(file, arg, *typographic, value);
                let _ = content;
                Some(Val::Keyword(value.clone()))
            }
            (
                ArgKind::Str {
                    value,
                    content,
                    typographic,
                },
                _,
            ) => {
                self.typographic(file, arg, *typographic, value);
                let exp = self.expand(file, value, content.start);
                Some(Val::Str(Str { exp, arg: arg.span }))
            }
            (ArgKind::Word { text }, _) => wrong(self, Some(format!("\"{text}\""))),
            (ArgKind::Int { value }, _) => wrong(
                self,
                matches!(
                    kind,
                    ParamKind::Duration | ParamKind::Text | ParamKind::Filter | ParamKind::Template
                )
                .then(|| format!("\"{value}\"")),
            ),
        }
    }

    fn typographic(&mut self, file: FileId, arg: &Arg, typographic: bool, value: &str) {
        if typographic {
            self.emit(
                Diagnostic::new(
                    Code::TYPOGRAPHIC_QUOTES,
                    file,
                    arg.span,
                    "string in typographic quotes “…”",
                )
                .label("read as a normal string")
                .help("use straight double quotes")
                .fix(arg.span, format!("\"{value}\"")),
            );
        }
    }

    fn expand(&mut self, file: FileId, raw: &str, start: usize) -> Expanded {
        let vars = &self.vars;
        let loader = self.loader;
        let lookup = |name: &str| -> Option<String> {
            vars.get(&name.to_ascii_uppercase())
                .cloned()
                .or_else(|| loader.env(name))
        };
        let (exp, problems) = expand(raw, start, &lookup);
        for p in problems {
            match p {
                ExpandProblem::Undefined { name, start, end } => self.emit(
                    Diagnostic::new(
                        Code::UNDEFINED_VARIABLE,
                        file,
                        ByteSpan::new(start, end),
                        format!("variable `{name}` is not defined"),
                    )
                    .label("neither a SetVariable nor an environment variable")
                    .help(format!(
                        "define it with `SetVariable({name}, \"…\");` before this line, or write `%%` for a literal `%`"
                    )),
                ),
                ExpandProblem::LonePercent { at } => self.emit(
                    Diagnostic::new(
                        Code::LONE_PERCENT,
                        file,
                        ByteSpan::new(at, at + 1),
                        "single `%` in a string",
                    )
                    .label("read as a literal `%`")
                    .help("write `%%` for a literal `%` (date formats double every `%`)")
                    .fix(ByteSpan::new(at, at + 1), "%%"),
                ),
            }
        }
        exp
    }

    fn field(&mut self, file: FileId, span: ByteSpan, text: &str) -> Option<Val> {
        if let Some(f) = Field::lookup(text) {
            return Some(Val::Field(f));
        }
        let names = Field::ALL
            .iter()
            .flat_map(|f| std::iter::once(f.info().name).chain(f.info().aliases.iter().copied()));
        let mut d = Diagnostic::new(
            Code::UNKNOWN_FIELD,
            file,
            span,
            format!("unknown field `{text}`"),
        )
        .label("not a field");
        if let Some(best) = suggest::best(text, names) {
            d = d.help(format!("did you mean `{best}`?")).fix(span, best);
        } else {
            d = d.note("fields are listed in docs/language.md (\"Fields\")");
        }
        self.emit(d);
        None
    }

    // -----------------------------------------------------------------------------------------
    // Directive semantics

    fn empty(&mut self, file: FileId, s: &Str, what: &str) -> bool {
        if s.text().is_empty() {
            self.emit(
                Diagnostic::new(
                    Code::EMPTY_STRING,
                    file,
                    s.arg,
                    format!("{what} must not be empty"),
                )
                .label("empty string")
                .help("write the value between the quotes, or remove the statement"),
            );
            true
        } else {
            false
        }
    }

    fn span_of(s: &Str, start: usize, end: usize) -> ByteSpan {
        s.exp.source_span(start, end)
    }

    /// Compiles a filter argument (with `*LIST:` / `*REG:`).
    fn pattern(&mut self, file: FileId, s: &Str) -> Option<Pattern> {
        if self.empty(file, s, "a filter") {
            return None;
        }
        let text = s.text();
        let upper = text.to_ascii_uppercase();
        let (negated, rest_at) = if text.starts_with('!') {
            (true, 1)
        } else {
            (false, 0)
        };
        let rest_upper = &upper[rest_at..];
        if rest_upper.starts_with("*REG:") {
            self.emit(
                Diagnostic::new(
                    Code::REGISTRY_LIST_UNSUPPORTED,
                    file,
                    Self::span_of(s, rest_at, rest_at + 5),
                    "`*REG:` lists read the Windows registry and are unsupported on this system",
                )
                .label("registry list")
                .help("put the patterns in a text file, one per line, and use `*LIST:path`"),
            );
            return None;
        }
        if rest_upper.starts_with("*LIST:") {
            let path_text = text[rest_at + 6..].trim().to_string();
            let base = self.paths.get(file.0).cloned().unwrap_or_default();
            let path = resolve(&base, &path_text);
            let list_span = Self::span_of(s, rest_at, text.len());
            let content = match self.loader.load(&path) {
                Ok(c) => c,
                Err(e) => {
                    self.emit(
                        Diagnostic::new(
                            Code::LIST_FILE_UNREADABLE,
                            file,
                            list_span,
                            format!("cannot read list file `{}`: {e}", path.display()),
                        )
                        .label("list file")
                        .note("list paths are relative to the definition file"),
                    );
                    return None;
                }
            };
            let list_file = self.add_file(&path.display().to_string(), &content, path.clone());
            let mut patterns = Vec::new();
            let mut offset = 0;
            for line in content.split_inclusive('\n') {
                let trimmed = line.trim();
                let lead = line.len() - line.trim_start().len();
                if !trimmed.is_empty() && !trimmed.starts_with('#') {
                    match compile_glob(trimmed) {
                        Ok((p, _)) => patterns.push(p),
                        Err(e) => {
                            let span =
                                ByteSpan::new(offset + lead + e.start, offset + lead + e.end);
                            let mut d = Diagnostic::new(
                                Code::MALFORMED_PATTERN,
                                list_file,
                                span,
                                e.message,
                            )
                            .label("in this list entry")
                            .secondary(
                                file,
                                list_span,
                                "list used here",
                            );
                            d.help = e.help;
                            self.emit(d);
                        }
                    }
                }
                offset += line.len();
            }
            return Some(Pattern {
                source: text.to_string(),
                negated,
                body: PatternBody::List {
                    path: path_text,
                    patterns,
                },
            });
        }
        match compile_glob(text) {
            Ok((p, warnings)) => {
                for w in warnings {
                    let PatternWarning::UnbalancedNegation { at } = w;
                    let span = Self::span_of(s, at, at + 1);
                    self.emit(
                        Diagnostic::new(
                            Code::UNBALANCED_NEGATION,
                            file,
                            span,
                            "`(` after `!` is never closed; read as if it were not there",
                        )
                        .label("unbalanced `(`")
                        .note(format!(
                            "the filter means `!{}`: values NOT matching `{}`",
                            &text[at + 1..],
                            &text[at + 1..]
                        ))
                        .help("remove the `(`")
                        .fix(span, ""),
                    );
                }
                Some(p)
            }
            Err(e) => {
                let span = Self::span_of(s, e.start, e.end);
                let mut d = Diagnostic::new(
                    Code::MALFORMED_PATTERN,
                    file,
                    span,
                    format!("malformed filter: {}", e.message),
                )
                .label("here");
                d.help = e.help;
                self.emit(d);
                None
            }
        }
    }

    fn date_format(&mut self, file: FileId, s: &Str, raw_written: &str) -> Option<DateFormat> {
        if self.empty(file, s, "a date format") {
            return None;
        }
        match compile_date_format(raw_written, s.text()) {
            Ok(f) => Some(f),
            Err(e) => {
                let mut d = Diagnostic::new(Code::BAD_DATE_FORMAT, file, s.arg, e.message)
                    .label("date format");
                d.help = e.help;
                self.emit(d);
                None
            }
        }
    }

    fn duration(&mut self, file: FileId, s: &Str) -> Option<Span> {
        if self.empty(file, s, "a duration") {
            return None;
        }
        match parse_duration(s.text()) {
            Ok(span) => {
                if self.options.compat && uses_units(s.text()) {
                    self.emit(
                        Diagnostic::new(
                            Code::EXTENSION_USED,
                            file,
                            s.arg,
                            "unit suffixes in durations are a tapesync extension",
                        )
                        .help("TapeTrack reads colon-separated days:months:years"),
                    );
                }
                Some(span)
            }
            Err(e) => {
                self.emit(
                    Diagnostic::new(
                        Code::BAD_DURATION,
                        file,
                        Self::span_of(s, e.start, e.end),
                        format!("invalid duration: {}", e.message),
                    )
                    .label("here")
                    .help("write days:months:years (\"7\", \"0:0:1\") or units (\"12h\", \"7d\", \"6m\", \"1y\")"),
                );
                None
            }
        }
    }

    fn repository(&mut self, file: FileId, s: &Str) -> Option<String> {
        if self.empty(file, s, "a Repository-ID") {
            return None;
        }
        match canonicalise(Field::Repository, s.text()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.emit(
                    Diagnostic::new(Code::VALUE_INVALID, file, s.arg, e.to_string())
                        .label("not a Repository-ID"),
                );
                None
            }
        }
    }

    fn one_char(&mut self, file: FileId, s: &Str, what: &str) -> Option<u8> {
        let t = s.text();
        let mut chars = t.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii() && c != '\n' && c != '\r' => Some(c as u8),
            _ => {
                self.emit(
                    Diagnostic::new(
                        Code::BAD_DELIMITER,
                        file,
                        s.arg,
                        format!(
                            "{what} must be exactly one ASCII character, not `{}`",
                            t.escape_debug()
                        ),
                    )
                    .label("not one character")
                    .help("a tab delimiter is written as a tab character between the quotes"),
                );
                None
            }
        }
    }

    fn set_format(&mut self, choice: FormatChoice, site: Site, name: &str) {
        if let Some((old, old_site)) = self.b.format.clone() {
            let (code, msg) = if old == choice {
                (
                    Code::DUPLICATE_DEFINITION,
                    format!("`{name}` repeats the record format"),
                )
            } else {
                (
                    Code::CONFLICTING_DEFINITIONS,
                    format!(
                        "`{name}` replaces the record format chosen earlier ({}); the last one wins",
                        old.describe()
                    ),
                )
            };
            self.emit(Diagnostic::new(code, site.file, site.span, msg).secondary(
                old_site.file,
                old_site.span,
                "record format first chosen here",
            ));
        }
        self.b.format = Some((choice, site));
    }

    fn apply(&mut self, info: &DirectiveInfo, stmt: &Statement, v: &[Val], site: Site) {
        let file = site.file;
        match info.id {
            DirectiveId::SetFile => {
                let Some(s) = v[0].str() else { return };
                if self.empty(file, s, "a file name") {
                    return;
                }
                if let Some((_, first)) = &self.b.file {
                    let first = *first;
                    self.given_twice(
                        site,
                        first,
                        true,
                        "`SetFile` given twice; the last one wins",
                    );
                }
                self.b.file = Some((s.text().to_string(), site));
            }
            DirectiveId::SetCsvDelimiter => {
                let Some(s) = v[0].str() else { return };
                if let Some(d) = self.one_char(file, s, "a delimiter") {
                    self.set_format(FormatChoice::Delimited(d), site, info.name);
                }
            }
            DirectiveId::SetWhitespaceDelimited => {
                let tail = v.first().map(|t| t.int() as usize);
                self.set_format(FormatChoice::Whitespace(tail), site, info.name);
            }
            DirectiveId::SetKeyValueFormat => {
                let Some(s) = v[0].str() else { return };
                if !self.empty(file, s, "a key/value separator") {
                    self.set_format(
                        FormatChoice::KeyValue(s.text().to_string()),
                        site,
                        info.name,
                    );
                }
            }
            DirectiveId::SetCsvQuote => {
                let quote = match &v[0] {
                    Val::NoneWord => None,
                    Val::Str(s) => match self.one_char(file, s, "a quote character") {
                        Some(c) => Some(c),
                        None => return,
                    },
                    _ => return,
                };
                if let Some((old, first)) = self.b.quote {
                    let message = "`SetCSVQuote` given twice; the last one wins";
                    self.given_twice(site, first, old == quote, message);
                }
                self.b.quote = Some((quote, site));
            }
            DirectiveId::SetRecordStart => {
                let Some(s) = v[0].str() else { return };
                if let Some(p) = self.pattern(file, s) {
                    self.b.record_start = Some((p, site));
                }
            }
            DirectiveId::SetLiteral => {
                let field = v[0].field();
                let Some(s) = v[1].str() else { return };
                if self.empty(file, s, "a literal value") {
                    return;
                }
                if !field.is_temporal() {
                    if let Err(e) = canonicalise(field, s.text()) {
                        self.emit(
                            Diagnostic::new(Code::VALUE_INVALID, file, s.arg, e.to_string())
                                .label(format!("does not fit {field}"))
                                .note(format!("{field}: {}", field.info().doc)),
                        );
                        return;
                    }
                }
                if let Some((_, _, old)) = self.b.literals.iter().find(|(f, _, _)| *f == field) {
                    let old = *old;
                    self.emit(
                        Diagnostic::new(
                            Code::DUPLICATE_DEFINITION,
                            file,
                            site.span,
                            format!("{field} is set by SetLiteral twice; the last one wins"),
                        )
                        .secondary(old.file, old.span, "first set here"),
                    );
                }
                self.b
                    .literals
                    .push((field, s.text().to_string(), Site { file, span: s.arg }));
            }
            DirectiveId::Extract => {
                let pending = PendingExtract::Offset {
                    offset: v[1].int() as usize,
                    record: v[3].int() as usize,
                };
                self.b
                    .extractions
                    .push((v[0].field(), pending, v[2].int() as usize, site));
            }
            DirectiveId::ExtractKey => {
                let Some(s) = v[1].str() else { return };
                if self.empty(file, s, "a key") {
                    return;
                }
                let key = s.text().trim().to_string();
                self.b.extractions.push((
                    v[0].field(),
                    PendingExtract::Key(key),
                    v[2].int() as usize,
                    site,
                ));
            }
            DirectiveId::RemoveSpaces => {
                let field = v[0].field();
                if let Some((_, old)) = self.b.remove_spaces.iter().find(|(f, _)| *f == field) {
                    let old = *old;
                    self.emit(
                        Diagnostic::new(
                            Code::DUPLICATE_DEFINITION,
                            file,
                            site.span,
                            format!("RemoveSpaces({field}) is given twice"),
                        )
                        .secondary(old.file, old.span, "first given here"),
                    );
                    return;
                }
                self.b.remove_spaces.push((field, site));
            }
            DirectiveId::RemoveCharacters => {
                let Some(s) = v[1].str() else { return };
                if !self.empty(file, s, "the characters to remove") {
                    self.b.remove_characters.push(RemoveCharacters {
                        field: v[0].field(),
                        chars: s.text().to_string(),
                    });
                }
            }
            DirectiveId::AddString => {
                let kind = match &v[0] {
                    Val::Keyword(k) => match k.as_str() {
                        "HEADER" => LineRuleKind::Header,
                        "EXCLUSION" => LineRuleKind::Exclusion,
                        "START" => LineRuleKind::Start,
                        "END" => LineRuleKind::End,
                        _ => LineRuleKind::Terminate,
                    },
                    _ => return,
                };
                let Some(s) = v[2].str() else { return };
                if let Some(filter) = self.pattern(file, s) {
                    self.b.line_rules.push((
                        LineRule {
                            kind,
                            offset: v[1].int() as usize,
                            filter,
                        },
                        site,
                    ));
                }
            }
            DirectiveId::SetHeaderCount => {
                let n = v[0].int() as usize;
                if let Some((old, first)) = self.b.header_count {
                    let message = "`SetHeaderCount` given twice; the last one wins";
                    self.given_twice(site, first, old == n, message);
                }
                self.b.header_count = Some((n, site));
            }
            DirectiveId::AddExclusionOnValue => {
                let Some(s) = v[1].str() else { return };
                if let Some(filter) = self.pattern(file, s) {
                    self.b.value_exclusions.push(ValueFilter {
                        field: v[0].field(),
                        filter,
                    });
                }
            }
            DirectiveId::AddTranslation | DirectiveId::AddTranslation2 => {
                let two = info.id == DirectiveId::AddTranslation2;
                let field = v[0].field();
                let tested = if two { v[1].field() } else { field };
                let (fs, ts) = if two { (&v[2], &v[3]) } else { (&v[1], &v[2]) };
                let (Some(fs), Some(ts)) = (fs.str(), ts.str()) else {
                    return;
                };
                let filter = self.pattern(file, fs);
                let template = compile_template(ts.text());
                if ts.text().is_empty() && self.options.compat {
                    self.emit(
                        Diagnostic::new(
                            Code::EXTENSION_USED,
                            file,
                            ts.arg,
                            "an empty translation (\"no value\") is a tapesync extension",
                        )
                        .note("TapeTrack requires a translation of at least one character"),
                    );
                }
                if let Some(constant) = constant_result(&template) {
                    if !constant.is_empty() && !field.is_temporal() {
                        if let Err(e) = canonicalise(field, &constant) {
                            self.emit(
                                Diagnostic::new(Code::VALUE_INVALID, file, ts.arg, e.to_string())
                                    .label(format!("does not fit {field}")),
                            );
                            return;
                        }
                    }
                }
                let Some(filter) = filter else { return };
                let t = Translation {
                    field,
                    tested,
                    filter,
                    template,
                };
                self.b.derived.push(field);
                if two {
                    self.b.translations2.push(t);
                } else {
                    self.b.translations.push(t);
                }
            }
            DirectiveId::SetMoveDateFormat
            | DirectiveId::SetWriteTimeFormat
            | DirectiveId::SetDateFormat => {
                let (field, fmt_arg) = match info.id {
                    DirectiveId::SetMoveDateFormat => (Field::MoveDate, &v[0]),
                    DirectiveId::SetWriteTimeFormat => (Field::WriteTime, &v[0]),
                    _ => (v[0].field(), &v[1]),
                };
                let Some(s) = fmt_arg.str() else { return };
                if !field.is_temporal() {
                    self.emit(
                        Diagnostic::new(
                            Code::FIELD_NOT_ALLOWED,
                            file,
                            stmt.args[0].span,
                            format!("{field} is not a date or time field"),
                        )
                        .label("no date format applies")
                        .note("date and time fields: MOVEDATE, WRITETIME, EXPIRYDATE, MOUNTTIME, READTIME"),
                    );
                    return;
                }
                let written = match &stmt.args[stmt.args.len() - 1].kind {
                    ArgKind::Str { value, .. } => value.clone(),
                    _ => s.text().to_string(),
                };
                let Some(format) = self.date_format(file, s, &written) else {
                    return;
                };
                if let Some((old, first)) = self.b.date_formats.get(&field) {
                    let (same, first) = (old.strftime == format.strftime, *first);
                    let message =
                        format!("the date format of {field} is given twice; the last one wins");
                    self.given_twice(site, first, same, message);
                }
                self.b.date_formats.insert(field, (format, site));
            }
            DirectiveId::AddMoveDateAdjustment => {
                let Some(s) = v[1].str() else { return };
                if let Some(filter) = self.pattern(file, s) {
                    self.b.move_date_adjustments.push(MoveDateAdjustment {
                        field: v[0].field(),
                        filter,
                        years: v[2].int() as i32,
                        months: v[3].int() as i32,
                        days: v[4].int() as i32,
                    });
                }
            }
            DirectiveId::AddRepositoryOnWriteTime => {
                let (Some(fs), Some(age), Some(repo), Some(md)) =
                    (v[1].str(), v[2].str(), v[3].str(), v[4].str())
                else {
                    return;
                };
                let filter = self.pattern(file, fs);
                let age = self.duration(file, age);
                let repository = self.repository(file, repo);
                let move_date = self.duration(file, md);
                if let (Some(filter), Some(age), Some(repository), Some(move_date)) =
                    (filter, age, repository, move_date)
                {
                    self.b.derived.push(Field::Repository);
                    let move_date = (move_date != Span::default()).then_some(move_date);
                    if move_date.is_some() {
                        self.b.derived.push(Field::MoveDate);
                    }
                    self.b.repository_on_write_time.push(RepositoryOnWriteTime {
                        field: v[0].field(),
                        filter,
                        age,
                        repository,
                        move_date,
                    });
                }
            }
            DirectiveId::AddRepositoryOnMoveDate => {
                let (Some(fs), Some(within), Some(repo)) = (v[1].str(), v[2].str(), v[3].str())
                else {
                    return;
                };
                let filter = self.pattern(file, fs);
                let within = self.duration(file, within);
                let repository = self.repository(file, repo);
                if let (Some(filter), Some(within), Some(repository)) = (filter, within, repository)
                {
                    self.b.derived.push(Field::Repository);
                    self.b.repository_on_move_date.push(RepositoryOnMoveDate {
                        field: v[0].field(),
                        filter,
                        within,
                        repository,
                    });
                }
            }
            DirectiveId::AddSkipOnRepositoryChange => {
                let (Some(a), Some(b), Some(c)) = (v[0].str(), v[1].str(), v[2].str()) else {
                    return;
                };
                let (a, b, c) = (
                    self.pattern(file, a),
                    self.pattern(file, b),
                    self.pattern(file, c),
                );
                if let (Some(proposed), Some(target), Some(current)) = (a, b, c) {
                    self.b
                        .skip_on_repository_change
                        .push(SkipOnRepositoryChange {
                            proposed,
                            target,
                            current,
                        });
                }
            }
            DirectiveId::Include => {
                let Some(s) = v[0].str() else { return };
                if !self.empty(file, s, "an include path") {
                    self.include(file, s);
                }
            }
            DirectiveId::SetVariable => {
                let name = match &v[0] {
                    Val::Keyword(k) => k.clone(),
                    _ => return,
                };
                let valid = name
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    self.emit(
                        Diagnostic::new(
                            Code::ARGUMENT_TYPE,
                            file,
                            stmt.args[0].span,
                            format!("`{name}` is not a valid variable name"),
                        )
                        .label("letters, digits and `_`, not starting with a digit"),
                    );
                    return;
                }
                self.vars
                    .insert(name.to_ascii_uppercase(), v[1].text().to_string());
            }
        }
    }

    fn include(&mut self, file: FileId, s: &Str) {
        let base = self.paths.get(file.0).cloned().unwrap_or_default();
        let path = resolve(&base, s.text());
        if let Some(pos) = self.stack.iter().position(|p| *p == path) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&path))
                .map(|p| p.display().to_string())
                .collect();
            self.emit(
                Diagnostic::new(
                    Code::INCLUDE_CYCLE,
                    file,
                    s.arg,
                    format!("`{}` includes itself", path.display()),
                )
                .label("include cycle")
                .note(format!("cycle: {}", chain.join(" → "))),
            );
            return;
        }
        if self.stack.len() > 32 {
            self.emit(
                Diagnostic::new(
                    Code::INCLUDE_CYCLE,
                    file,
                    s.arg,
                    "includes are nested more than 32 deep",
                )
                .label("too deep"),
            );
            return;
        }
        let text = match self.loader.load(&path) {
            Ok(t) => t,
            Err(e) => {
                self.emit(
                    Diagnostic::new(
                        Code::INCLUDE_NOT_FOUND,
                        file,
                        s.arg,
                        format!("cannot read included file `{}`: {e}", path.display()),
                    )
                    .label("included here")
                    .note("include paths are relative to the including file"),
                );
                return;
            }
        };
        let id = self.add_file(&path.display().to_string(), &text, path.clone());
        self.stack.push(path);
        self.process_file(id);
        self.stack.pop();
    }

    // -----------------------------------------------------------------------------------------
    // Whole-definition checks and the plan

    fn finish(&mut self, name: &str, main: FileId) -> Option<Plan> {
        let format = match self.b.format.as_ref().map(|(f, _)| f.clone()) {
            None => RecordFormat::FixedColumns,
            Some(FormatChoice::Delimited(d)) => RecordFormat::Delimited {
                delimiter: d,
                quote: self.b.quote.map_or(Some(b'"'), |(q, _)| q),
            },
            Some(FormatChoice::Whitespace(_)) => RecordFormat::Whitespace,
            Some(FormatChoice::KeyValue(sep)) => RecordFormat::KeyValue {
                separator: sep,
                record_start: self.b.record_start.as_ref().map(|(p, _)| p.clone()),
            },
        };
        let whitespace_tail = match &self.b.format {
            Some((FormatChoice::Whitespace(t), _)) => *t,
            _ => None,
        };
        if let Some((_, site)) = self.b.quote {
            if !matches!(format, RecordFormat::Delimited { .. }) {
                self.emit(
                    Diagnostic::new(
                        Code::WRONG_RECORD_FORMAT,
                        site.file,
                        site.span,
                        "`SetCSVQuote` applies to delimited input only",
                    )
                    .help("add `SetCSVDelimiter(\",\");` or remove this line"),
                );
            }
        }
        if let Some((_, site)) = &self.b.record_start {
            let site = *site;
            if !matches!(format, RecordFormat::KeyValue { .. }) {
                self.emit(
                    Diagnostic::new(
                        Code::WRONG_RECORD_FORMAT,
                        site.file,
                        site.span,
                        "`SetRecordStart` applies to key/value input only",
                    )
                    .help("add `SetKeyValueFormat(\":\");` or remove this line"),
                );
            }
        }

        // Header sections.
        let has_header_rule = self
            .b
            .line_rules
            .iter()
            .any(|(r, _)| r.kind == LineRuleKind::Header);
        let header_count = match (self.b.header_count, has_header_rule) {
            (Some((n, _)), true) => n,
            (None, true) => {
                let site = self
                    .b
                    .line_rules
                    .iter()
                    .find(|(r, _)| r.kind == LineRuleKind::Header)
                    .map(|(_, s)| *s);
                if let Some(site) = site {
                    self.emit(
                        Diagnostic::new(
                            Code::INCOMPLETE_HEADER,
                            site.file,
                            site.span,
                            "HEADER rule without `SetHeaderCount`: a header section is one record",
                        )
                        .help("add `SetHeaderCount(n);` with the number of records in a header"),
                    );
                }
                1
            }
            (Some((_, site)), false) => {
                self.emit(
                    Diagnostic::new(
                        Code::INCOMPLETE_HEADER,
                        site.file,
                        site.span,
                        "`SetHeaderCount` without an `AddString(HEADER, …)` rule has no effect",
                    )
                    .help("add the rule that recognises the first record of a header"),
                );
                0
            }
            (None, false) => 0,
        };

        // Extractions, resolved for the record format.
        let mut extractions = Vec::new();
        let pending = std::mem::take(&mut self.b.extractions);
        for (field, p, length, site) in &pending {
            let source = match (p, &format) {
                (PendingExtract::Key(key), RecordFormat::KeyValue { .. }) => {
                    ExtractSource::Key { key: key.clone() }
                }
                (PendingExtract::Key(_), _) => {
                    self.emit(
                        Diagnostic::new(
                            Code::WRONG_RECORD_FORMAT,
                            site.file,
                            site.span,
                            "`ExtractKey` needs key/value input",
                        )
                        .help("add `SetKeyValueFormat(\":\");` (or use Extract for this format)"),
                    );
                    continue;
                }
                (PendingExtract::Offset { .. }, RecordFormat::KeyValue { .. }) => {
                    self.emit(
                        Diagnostic::new(
                            Code::WRONG_RECORD_FORMAT,
                            site.file,
                            site.span,
                            "`Extract` cannot address key/value input",
                        )
                        .help("use `ExtractKey(field, \"key\", length);`"),
                    );
                    continue;
                }
                (PendingExtract::Offset { offset, record }, RecordFormat::FixedColumns) => {
                    if *record > 0 {
                        let problem = if !has_header_rule {
                            Some("takes a header record, but no `AddString(HEADER, …)` rule defines headers".to_string())
                        } else if *record > header_count {
                            Some(format!("takes header record {record}, but a header has {header_count} record(s)"))
                        } else {
                            None
                        };
                        if let Some(problem) = problem {
                            self.emit(
                                Diagnostic::new(
                                    Code::HEADER_RECORD_INVALID,
                                    site.file,
                                    site.span,
                                    format!("`Extract` {problem}"),
                                )
                                .help(
                                    "the 4th argument is 0 for body records or 1..=SetHeaderCount",
                                ),
                            );
                            continue;
                        }
                    }
                    ExtractSource::Columns {
                        offset: *offset,
                        record: *record,
                    }
                }
                (PendingExtract::Offset { offset, .. }, _) => {
                    if *offset == 0 {
                        ExtractSource::WholeRecord
                    } else {
                        ExtractSource::Element { index: *offset }
                    }
                }
            };
            if field.is_temporal() && !self.b.date_formats.contains_key(field) {
                let fix = match field {
                    Field::MoveDate => "SetMoveDateFormat(\"%%d/%%m/%%Y\");".to_string(),
                    Field::WriteTime => {
                        "SetWriteTimeFormat(\"%%d/%%m/%%Y %%H:%%M:%%S\");".to_string()
                    }
                    f => format!("SetDateFormat({f}, \"%%d/%%m/%%Y\");"),
                };
                self.emit(
                    Diagnostic::new(
                        Code::DATE_FORMAT_MISSING,
                        site.file,
                        site.span,
                        format!("{field} is extracted but has no date format"),
                    )
                    .label("extracted here")
                    .help(format!("add a format, e.g. `{fix}`")),
                );
                continue;
            }
            extractions.push(Extraction {
                field: *field,
                source,
                length: *length,
            });
        }

        // Literals of date fields are read with the field's format (or must be canonical).
        let mut literals = Vec::new();
        let lits = std::mem::take(&mut self.b.literals);
        for (field, value, site) in &lits {
            let canonical = if field.is_temporal() {
                let parsed = self
                    .b
                    .date_formats
                    .get(field)
                    .and_then(|(f, _)| f.parse(value).ok());
                match parsed {
                    Some(t) => Some(crate::plan::dates::canonical(field.kind(), &t)),
                    None => canonicalise(*field, value).ok(),
                }
            } else {
                canonicalise(*field, value).ok()
            };
            match canonical {
                Some(v) => literals.push(Literal {
                    field: *field,
                    value: v,
                }),
                None => {
                    let (code, msg, help) = match self.b.date_formats.get(field) {
                        Some((f, _)) => (
                            Code::VALUE_INVALID,
                            format!(
                                "`{value}` does not match the date format `{}` of {field}",
                                f.written
                            ),
                            "write the date in the field's format".to_string(),
                        ),
                        None => (
                            Code::DATE_FORMAT_MISSING,
                            format!(
                                "{field} `{value}` needs a date format (or the form YYYY-MM-DD)"
                            ),
                            "give the field a date format or write the date as YYYY-MM-DD"
                                .to_string(),
                        ),
                    };
                    self.emit(Diagnostic::new(code, site.file, site.span, msg).help(help));
                }
            }
        }

        // Conflicts between ways of setting one field.
        for (field, _, lit_site) in &lits {
            if let Some((_, _, _, ex_site)) = pending.iter().find(|(f, _, _, _)| f == field) {
                self.emit(
                    Diagnostic::new(
                        Code::CONFLICTING_DEFINITIONS,
                        ex_site.file,
                        ex_site.span,
                        format!("{field} is both a literal and extracted"),
                    )
                    .label("extracted here")
                    .secondary(lit_site.file, lit_site.span, "literal here")
                    .note("the extracted value replaces the literal whenever it is not empty"),
                );
            }
        }

        let mut fields_set: Vec<Field> = lits
            .iter()
            .map(|(f, _, _)| *f)
            .chain(pending.iter().map(|(f, _, _, _)| *f))
            .chain(self.b.derived.iter().copied())
            .collect();
        if fields_set.contains(&Field::RepositoryDesc) {
            fields_set.push(Field::Repository);
        }
        fields_set.sort();
        fields_set.dedup();

        let sets_repo_directly = lits.iter().any(|(f, _, _)| *f == Field::Repository)
            || pending.iter().any(|(f, _, _, _)| *f == Field::Repository);
        let desc_site = lits
            .iter()
            .map(|(f, _, s)| (*f, *s))
            .chain(pending.iter().map(|(f, _, _, s)| (*f, *s)))
            .find(|(f, _)| *f == Field::RepositoryDesc);
        if let (true, Some((_, site))) = (sets_repo_directly, desc_site) {
            self.emit(
                Diagnostic::new(
                    Code::CONFLICTING_DEFINITIONS,
                    site.file,
                    site.span,
                    "both REPOSITORY and REPOSITORY_DESC are set",
                )
                .note("REPOSITORY_DESC is looked up and overrides REPOSITORY when it resolves"),
            );
        }

        // Missing keys: only when nothing else went wrong, since a broken statement may well
        // have been the one that sets the key.
        if self.error_count() == 0 {
            let first_line = self
                .files
                .get(main)
                .map(|f| f.text.find('\n').unwrap_or(f.text.len()))
                .unwrap_or(0);
            for key in [Field::Customer, Field::Media, Field::Volume] {
                if !fields_set.contains(&key) {
                    let example = match key {
                        Field::Volume => "Extract(VOLUME, 1, 10, 0);".to_string(),
                        k => format!("SetLiteral({k}, \"…\");"),
                    };
                    self.emit(
                        Diagnostic::new(
                            Code::MISSING_KEY_FIELD,
                            main,
                            ByteSpan::new(0, first_line),
                            format!("the definition never sets {key}"),
                        )
                        .note("every record needs CUSTOMER, MEDIA and VOLUME")
                        .help(format!("add e.g. `{example}`")),
                    );
                }
            }
        }

        if self.error_count() > 0 {
            return None;
        }
        Some(Plan {
            format_version: PLAN_FORMAT_VERSION,
            definition: name.to_string(),
            input: InputSpec {
                file: self.b.file.as_ref().map(|(f, _)| f.clone()),
            },
            format,
            header_count,
            line_rules: self.b.line_rules.iter().map(|(r, _)| r.clone()).collect(),
            literals,
            extractions,
            remove_spaces: self.b.remove_spaces.iter().map(|(f, _)| *f).collect(),
            remove_characters: std::mem::take(&mut self.b.remove_characters),
            whitespace_tail,
            translations: std::mem::take(&mut self.b.translations),
            translations2: std::mem::take(&mut self.b.translations2),
            value_exclusions: std::mem::take(&mut self.b.value_exclusions),
            date_formats: self
                .b
                .date_formats
                .iter()
                .map(|(f, (d, _))| (*f, d.clone()))
                .collect(),
            move_date_adjustments: std::mem::take(&mut self.b.move_date_adjustments),
            repository_on_move_date: std::mem::take(&mut self.b.repository_on_move_date),
            repository_on_write_time: std::mem::take(&mut self.b.repository_on_write_time),
            skip_on_repository_change: std::mem::take(&mut self.b.skip_on_repository_change),
            fields_set,
        })
    }
}
