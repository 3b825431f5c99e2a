//! Compiles filter strings into [`Pattern`]s (the pattern language of TapeTrack's
//! "Pattern Matching And Filter Strings" page): `*`, `?`, `[abc]`, `[a|b]`, `[a-z]`, `[!…]`,
//! `(A|B)` and a leading `!` that negates the whole filter. `*LIST:` (a file of patterns, read
//! through the loader) and `*REG:` (refused) are handled by `Compiler::pattern` before it calls
//! [`compile_glob`].

use super::Str;
use crate::compile::loader::resolve;
use crate::compile::Compiler;
use crate::diagnostics::{Code, Diagnostic, FileId};
use crate::plan::{Pattern, PatternBody, PatternToken};
use tapesync_grammar::Span as ByteSpan;

/// Where and why a filter is malformed; offsets are bytes of the (expanded) filter text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Something accepted but worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternWarning {
    /// `!(` without a closing `)` (TapeTrack's own `"!([0-9]*"` example): read as if the `(`
    /// were not there. `at` is the byte offset of the `(`.
    UnbalancedNegation { at: usize },
}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn offset(&self) -> usize {
        self.chars
            .get(self.pos)
            .map_or(self.text.len(), |&(o, _)| o)
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> PatternError {
        PatternError {
            start,
            end,
            message: message.into(),
            help: None,
        }
    }

    /// A token sequence up to the end, or (inside a group) up to `|` or `)`.
    fn sequence(&mut self, in_group: bool) -> Result<Vec<PatternToken>, PatternError> {
        let mut tokens: Vec<PatternToken> = Vec::new();
        while let Some(c) = self.peek() {
            let at = self.offset();
            match c {
                '|' | ')' if in_group => break,
                '*' => {
                    self.pos += 1;
                    if tokens.last() != Some(&PatternToken::AnyRun) {
                        tokens.push(PatternToken::AnyRun);
                    }
                }
                '?' => {
                    self.pos += 1;
                    tokens.push(PatternToken::AnyOne);
                }
                '[' => tokens.push(self.class()?),
                '(' => tokens.push(self.group()?),
                ')' => {
                    return Err(self.error(at, at + 1, "`)` without a matching `(`"));
                }
                ']' => {
                    return Err(self.error(at, at + 1, "`]` without a matching `[`"));
                }
                '|' => {
                    let mut e = self.error(at, at + 1, "`|` outside `(…)` or `[…]`");
                    e.help = Some("alternatives are written in parentheses: `(A|B)`".into());
                    return Err(e);
                }
                _ => {
                    self.pos += 1;
                    match tokens.last_mut() {
                        Some(PatternToken::Text(t)) => t.push(c),
                        _ => tokens.push(PatternToken::Text(c.to_string())),
                    }
                }
            }
        }
        Ok(tokens)
    }

    fn class(&mut self) -> Result<PatternToken, PatternError> {
        let open = self.offset();
        self.pos += 1;
        let negated = self.peek() == Some('!');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        loop {
            let at = self.offset();
            let Some(c) = self.peek() else {
                let mut e = self.error(open, open + 1, "`[` is never closed");
                e.help = Some("add `]` to end the character set".into());
                return Err(e);
            };
            self.pos += 1;
            match c {
                ']' => break,
                '|' => continue,
                _ => {
                    if self.peek() == Some('-')
                        && self.chars.get(self.pos + 1).is_some_and(|&(_, n)| n != ']')
                    {
                        self.pos += 1;
                        let hi = self.peek().unwrap_or(c);
                        let hi_at = self.offset();
                        self.pos += 1;
                        if hi < c {
                            return Err(self.error(
                                at,
                                hi_at + hi.len_utf8(),
                                format!("range `{c}-{hi}` is reversed; write `{hi}-{c}`"),
                            ));
                        }
                        ranges.push((c, hi));
                    } else {
                        ranges.push((c, c));
                    }
                }
            }
        }
        if ranges.is_empty() {
            let end = self.offset();
            return Err(self.error(open, end, "empty character set `[]`"));
        }
        Ok(PatternToken::Class { negated, ranges })
    }

    fn group(&mut self) -> Result<PatternToken, PatternError> {
        let open = self.offset();
        self.pos += 1;
        let mut alternatives = Vec::new();
        loop {
            alternatives.push(self.sequence(true)?);
            match self.peek() {
                Some('|') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    let mut e = self.error(open, open + 1, "`(` is never closed");
                    e.help = Some("add `)` to end the alternatives".into());
                    return Err(e);
                }
            }
        }
        Ok(PatternToken::Group(alternatives))
    }
}

/// Whether the `(` at char index `open` has a matching `)` (ignoring `[…]` contents).
fn has_matching_paren(chars: &[(usize, char)], open: usize) -> bool {
    let mut depth = 0usize;
    let mut in_class = false;
    for &(_, c) in &chars[open..] {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Compiles a wildcard filter (not `*LIST:`/`*REG:`).
pub fn compile_glob(text: &str) -> Result<(Pattern, Vec<PatternWarning>), PatternError> {
    let mut p = Parser {
        chars: text.char_indices().collect(),
        pos: 0,
        text,
    };
    let mut warnings = Vec::new();
    let negated = p.peek() == Some('!');
    if negated {
        p.pos += 1;
        if p.peek() == Some('(') && !has_matching_paren(&p.chars, p.pos) {
            warnings.push(PatternWarning::UnbalancedNegation { at: p.offset() });
            p.pos += 1;
        }
    }
    let tokens = p.sequence(false)?;
    Ok((
        Pattern {
            source: text.to_string(),
            negated,
            body: PatternBody::Glob {
                tokens: tokens.into(),
            },
        },
        warnings,
    ))
}

impl Compiler<'_> {
    /// Compiles a filter argument (with `*LIST:` / `*REG:`).
    pub(in crate::compile) fn pattern(&mut self, file: FileId, s: &Str) -> Option<Pattern> {
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
                    Compiler::span_of(s, rest_at, rest_at + 5),
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
            let list_span = Compiler::span_of(s, rest_at, text.len());
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
                self.lint_pattern(file, s);
                for w in warnings {
                    let PatternWarning::UnbalancedNegation { at } = w;
                    let span = Compiler::span_of(s, at, at + 1);
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
                let span = Compiler::span_of(s, e.start, e.end);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Pattern {
        compile_glob(t).unwrap().0
    }

    #[test]
    fn documented_examples() {
        assert!(ok("CLN*").matches("CLN001"));
        assert!(ok("??????L4").matches("A00001L4"));
        assert!(!ok("??????L4").matches("A0001L4"));
        assert!(ok("??????L[4-8]").matches("A00001L6"));
        assert!(ok("[4|5]").matches("5"));
        assert!(ok("[!4-5]").matches("6"));
        assert!(!ok("[!4-5]").matches("4"));
        assert!(ok("*(OFFS|LEGL|DEST)").matches("XLEGL"));
        assert!(ok("*YEARLY*").matches("a yearly backup"));
        assert!(ok("*").matches(""));
    }

    #[test]
    fn unbalanced_negation_is_accepted_with_a_warning() {
        let (p, w) = compile_glob("!([0-9]*").unwrap();
        assert_eq!(w, vec![PatternWarning::UnbalancedNegation { at: 1 }]);
        assert!(p.matches("Volume"));
        assert!(!p.matches("123 abc"));
        let (p, w) = compile_glob("!(A|B)").unwrap();
        assert!(w.is_empty());
        assert!(p.matches("C"));
    }

    #[test]
    fn errors_point_at_the_bad_character() {
        let e = compile_glob("AB[12").unwrap_err();
        assert_eq!((e.start, e.end), (2, 3));
        let e = compile_glob("A(B|C").unwrap_err();
        assert_eq!((e.start, e.end), (1, 2));
        let e = compile_glob("AB)").unwrap_err();
        assert_eq!((e.start, e.end), (2, 3));
        let e = compile_glob("[z-a]").unwrap_err();
        assert_eq!((e.start, e.end), (1, 4));
        assert!(compile_glob("[]").is_err());
        assert!(compile_glob("A|B").is_err());
    }
}
