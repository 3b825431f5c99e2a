//! Arguments: each statement's arguments checked against its directive's signature in the
//! catalogue (count, kind, range) and converted to `Val`s, with variables expanded in
//! strings. The modules below read what a string argument says — filters ([`pattern`]),
//! translation templates ([`template`]), date formats ([`date_format`]), durations
//! ([`duration`]) — each with the diagnostics it reports.

pub mod date_format;
pub mod duration;
pub mod expand;
pub mod pattern;
pub mod pattern_lint;
pub mod template;

use super::Compiler;
use crate::catalogue::{DirectiveInfo, ParamKind};
use crate::diagnostics::{suggest, Code, Diagnostic, FileId};
use expand::{expand, ExpandProblem, Expanded};
use tapesync_grammar::{Arg, ArgKind, Span as ByteSpan, Statement};
use tapesync_model::{canonicalise, Field};

/// Where a statement or argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::compile) struct Site {
    pub(in crate::compile) file: FileId,
    pub(in crate::compile) span: ByteSpan,
}

/// A string argument after expansion.
#[derive(Debug, Clone)]
pub(in crate::compile) struct Str {
    pub(in crate::compile) exp: Expanded,
    /// Span of the whole argument (with quotes).
    pub(in crate::compile) arg: ByteSpan,
}

impl Str {
    pub(in crate::compile) fn text(&self) -> &str {
        &self.exp.text
    }
}

/// A type-checked argument.
#[derive(Debug, Clone)]
pub(in crate::compile) enum Val {
    Field(Field),
    Keyword(String),
    Int(i64),
    Str(Str),
    NoneWord,
}

impl Val {
    pub(in crate::compile) fn field(&self) -> Field {
        match self {
            Val::Field(f) => *f,
            _ => Field::Customer,
        }
    }
    pub(in crate::compile) fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            _ => 0,
        }
    }
    pub(in crate::compile) fn str(&self) -> Option<&Str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(in crate::compile) fn text(&self) -> &str {
        self.str().map_or("", Str::text)
    }
}

impl Compiler<'_> {
    /// The arguments of `stmt`, converted to the kinds of `info`'s parameters; `None` (with
    /// the problems reported) when their number or any of them is wrong.
    pub(in crate::compile) fn arguments(
        &mut self,
        file: FileId,
        info: &DirectiveInfo,
        stmt: &Statement,
    ) -> Option<Vec<Val>> {
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
            return None;
        }
        let errors_before = self.error_count();
        let mut vals = Vec::with_capacity(n);
        for (param, arg) in info.params.iter().zip(&stmt.args) {
            vals.push(self.convert(file, info, param.kind, arg));
        }
        if self.error_count() > errors_before {
            return None;
        }
        Some(
            vals.into_iter()
                .map(|v| v.unwrap_or(Val::NoneWord))
                .collect(),
        )
    }

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

    /// A field name (reported when it is none).
    pub(in crate::compile) fn field(
        &mut self,
        file: FileId,
        span: ByteSpan,
        text: &str,
    ) -> Option<Val> {
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

    /// Whether `s` is empty (reported: `what` must not be).
    pub(in crate::compile) fn empty(&mut self, file: FileId, s: &Str, what: &str) -> bool {
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

    /// The source span of bytes `start..end` of the expanded string `s`.
    pub(in crate::compile) fn span_of(s: &Str, start: usize, end: usize) -> ByteSpan {
        s.exp.source_span(start, end)
    }

    /// A Repository-ID argument in canonical form.
    pub(in crate::compile) fn repository(&mut self, file: FileId, s: &Str) -> Option<String> {
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

    /// A one-character argument (delimiter, quote) as its byte.
    pub(in crate::compile) fn one_char(&mut self, file: FileId, s: &Str, what: &str) -> Option<u8> {
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
}
