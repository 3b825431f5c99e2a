//! What the cursor is on: a directive name, an argument of some directive, the start of a
//! statement, or a comment.
//!
//! Editors ask about half-typed text (`Extract(VOL` with no `)` yet), which the parser rightly
//! does not turn into a statement, so this works on the token stream: it replays the same
//! statement-splitting rules as the parser (a `;` ends a statement, a `Name(` at the start of a
//! line starts a new one, a `;` followed by more arguments on its line is a typo for `,`).

use tapesync_grammar::lexer::{lex, Tok, Token};
use tapesync_grammar::Span;

/// The token under (or just before) the cursor, reduced to what the features need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Under {
    /// A bare word (directive name, field name, keyword).
    Word {
        text: String,
        span: Span,
    },
    Int {
        span: Span,
    },
    /// A string; `content` is the text between the quotes (for an unterminated string, up
    /// to the end of the line).
    Str {
        content: String,
        content_span: Span,
        span: Span,
    },
    /// No token at the cursor (whitespace, punctuation).
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// Inside a comment, or after a complete `(...)` waiting for `;`: nothing to offer.
    Nowhere,
    /// Where a directive name belongs; `prefix` is the word typed so far, if any.
    StatementStart { prefix: Option<(String, Span)> },
    /// On the name of a statement (a word followed by `(`).
    DirectiveName { name: String, span: Span },
    /// Inside the argument list of `directive`, at 0-based argument `index`.
    Argument {
        directive: String,
        directive_span: Span,
        index: usize,
        under: Under,
    },
}

/// Works out the context of byte `pos` in `text`.
pub fn context_at(text: &str, pos: usize) -> Context {
    let pos = pos.min(text.len());
    if in_comment(text, pos) {
        return Context::Nowhere;
    }
    let (tokens, _) = lex(text);
    // Only words, numbers and strings can be "under" the cursor; punctuation right before
    // it (`(`, `,`) belongs to the statement state.
    let content = |t: &Token<'_>| {
        matches!(
            t.tok,
            Tok::Ident(_) | Tok::Int(_) | Tok::Str(_) | Tok::Error
        )
    };
    let at = tokens
        .iter()
        .position(|t| content(t) && t.span.start < pos && pos <= t.span.end)
        .or_else(|| {
            tokens
                .iter()
                .position(|t| content(t) && t.span.start == pos && t.span.end > pos)
        });
    let under = at.map_or(Under::Nothing, |i| describe(text, &tokens[i]));
    // Tokens that lie wholly before the cursor decide the statement state; an unterminated
    // string runs to the end of its line, so one that started before the cursor counts as
    // the cursor's own token (handled by `at`).
    let before = at.unwrap_or_else(|| tokens.partition_point(|t| t.span.end <= pos));
    let state = replay(text, &tokens[..before]);

    if let (Some(i), Under::Word { text: word, span }) = (at, &under) {
        let followed_by_paren = tokens.get(i + 1).is_some_and(|t| t.tok == Tok::LParen);
        if followed_by_paren && (state.depth == 0 || starts_line(text, &tokens, i)) {
            return Context::DirectiveName {
                name: word.clone(),
                span: *span,
            };
        }
    }
    match state.call {
        Some(call) if state.depth > 0 && !abandoned(text, &tokens, before, pos) => {
            Context::Argument {
                directive: call.name,
                directive_span: call.span,
                index: call.index,
                under,
            }
        }
        _ if state.closed => Context::Nowhere,
        _ => Context::StatementStart {
            prefix: match under {
                Under::Word { text, span } => Some((text, span)),
                _ => None,
            },
        },
    }
}

#[derive(Debug, Clone)]
struct Call {
    name: String,
    span: Span,
    index: usize,
}

#[derive(Debug, Default)]
struct State {
    call: Option<Call>,
    depth: usize,
    /// The argument list was closed with `)`; only `;` may follow.
    closed: bool,
}

fn replay(text: &str, tokens: &[Token<'_>]) -> State {
    let mut state = State::default();
    for (i, token) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1);
        match &token.tok {
            Tok::Ident(name)
                if next.is_some_and(|t| t.tok == Tok::LParen)
                    && (state.depth == 0 || starts_line(text, tokens, i)) =>
            {
                state = State {
                    call: Some(Call {
                        name: (*name).to_string(),
                        span: token.span,
                        index: 0,
                    }),
                    depth: 0,
                    closed: false,
                };
            }
            Tok::LParen => state.depth += 1,
            Tok::RParen => {
                state.depth = state.depth.saturating_sub(1);
                if state.depth == 0 {
                    state.closed = true;
                }
            }
            Tok::Comma if state.depth == 1 => {
                if let Some(call) = &mut state.call {
                    call.index += 1;
                }
            }
            Tok::Semi => {
                // The parser's rule: more arguments follow on the same line.
                let continues = next.is_some_and(|n| {
                    let starts_call = matches!(n.tok, Tok::Ident(_))
                        && tokens.get(i + 2).is_some_and(|t| t.tok == Tok::LParen);
                    let ends = matches!(n.tok, Tok::Semi | Tok::RParen);
                    !gap_has_newline(text, token.span.end, n.span.start) && !starts_call && !ends
                });
                if state.depth > 0 && continues {
                    if let Some(call) = &mut state.call {
                        call.index += 1;
                    }
                } else {
                    state = State::default();
                }
            }
            _ => {}
        }
    }
    state
}

/// A statement left open on an earlier line, with the cursor on a fresh line after a
/// complete argument (not after `,` or `(`): the user has moved on to a new statement.
fn abandoned(text: &str, tokens: &[Token<'_>], before: usize, pos: usize) -> bool {
    let Some(prev) = before.checked_sub(1).and_then(|i| tokens.get(i)) else {
        return false;
    };
    let token_start = tokens.get(before).map_or(pos, |t| t.span.start.min(pos));
    gap_has_newline(text, prev.span.end, token_start)
        && !matches!(prev.tok, Tok::Comma | Tok::LParen)
}

fn starts_line(text: &str, tokens: &[Token<'_>], i: usize) -> bool {
    i == 0 || gap_has_newline(text, tokens[i - 1].span.end, tokens[i].span.start)
}

fn gap_has_newline(text: &str, from: usize, to: usize) -> bool {
    text.get(from..to.max(from))
        .is_some_and(|g| g.contains('\n'))
}

fn describe(text: &str, token: &Token<'_>) -> Under {
    match &token.tok {
        Tok::Ident(word) => Under::Word {
            text: (*word).to_string(),
            span: token.span,
        },
        Tok::Int(_) => Under::Int { span: token.span },
        Tok::Str(s) => Under::Str {
            content: s.content.to_string(),
            content_span: s.content_span,
            span: token.span,
        },
        Tok::Error => {
            // An unterminated string is an error token that starts with its quote.
            let slice = text.get(token.span.range()).unwrap_or("");
            match slice.chars().next() {
                Some(q @ ('"' | '“' | '”')) => {
                    let start = token.span.start + q.len_utf8();
                    Under::Str {
                        content: slice[q.len_utf8()..].to_string(),
                        content_span: Span::new(start, token.span.end),
                        span: token.span,
                    }
                }
                _ => Under::Nothing,
            }
        }
        _ => Under::Nothing,
    }
}

/// Whether `pos` is after a `#` outside a string on its line.
pub fn in_comment(text: &str, pos: usize) -> bool {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let mut quote: Option<char> = None;
    for ch in text[line_start..pos].chars() {
        match (quote, ch) {
            (None, '#') => return true,
            (None, '"') => quote = Some('"'),
            (None, '“' | '”') => quote = Some('”'),
            (None, '\'') => quote = Some('\''),
            (Some('"'), '"') | (Some('\''), '\'') => quote = None,
            (Some('”'), '“' | '”' | '"') => quote = None,
            _ => {}
        }
    }
    false
}

/// A `%NAME%` reference inside a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    pub name: String,
    /// From the first `%` to the last, in source bytes.
    pub span: Span,
}

/// The `%NAME%` references in string content starting at source byte `start`, following the
/// compiler's expansion rules (`%%` is a literal `%`; names are `[A-Za-z_][A-Za-z0-9_]*`).
pub fn variable_refs(content: &str, start: usize) -> Vec<VariableRef> {
    let bytes = content.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let named = j > i + 1 && !bytes[i + 1].is_ascii_digit();
        if named && bytes.get(j) == Some(&b'%') {
            refs.push(VariableRef {
                name: content[i + 1..j].to_string(),
                span: Span::new(start + i, start + j + 1),
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(marked: &str) -> Context {
        let pos = marked.find('|').expect("cursor mark");
        let text = marked.replacen('|', "", 1);
        context_at(&text, pos)
    }

    fn arg(c: &Context) -> Option<(&str, usize)> {
        match c {
            Context::Argument {
                directive, index, ..
            } => Some((directive.as_str(), *index)),
            _ => None,
        }
    }

    #[test]
    fn statement_start_and_names() {
        assert_eq!(ctx("|"), Context::StatementStart { prefix: None });
        assert!(
            matches!(ctx("SetFile(\"a\");\nExt|"), Context::StatementStart { prefix: Some((p, _)) } if p == "Ext")
        );
        assert!(
            matches!(ctx("Extr|act(VOLUME, 1, 2, 0);"), Context::DirectiveName { name, .. } if name == "Extract")
        );
        assert_eq!(ctx("SetFile(\"a\")|;"), Context::Nowhere);
        assert_eq!(ctx("# Extract(|"), Context::Nowhere);
        assert_eq!(ctx("SetFile(\"a#b\"); # |"), Context::Nowhere);
    }

    #[test]
    fn argument_positions() {
        assert_eq!(arg(&ctx("Extract(|")), Some(("Extract", 0)));
        assert_eq!(arg(&ctx("Extract(VOL|")), Some(("Extract", 0)));
        assert_eq!(arg(&ctx("AddString(HEADER, 0, |")), Some(("AddString", 2)));
        assert_eq!(
            arg(&ctx("AddMoveDateAdjustment(DESCRIPTION, \"*Y*\"; 7, |")),
            Some(("AddMoveDateAdjustment", 3))
        );
        assert_eq!(
            arg(&ctx("AddTranslation(VOLUME,\n   |")),
            Some(("AddTranslation", 1))
        );
        assert!(matches!(
            ctx("SetFile(\"in|put.txt\");"),
            Context::Argument { under: Under::Str { content, .. }, .. } if content == "input.txt"
        ));
        assert!(matches!(
            ctx("Include(\"sub/|"),
            Context::Argument { under: Under::Str { content, .. }, .. } if content == "sub/"
        ));
    }

    #[test]
    fn an_unfinished_statement_does_not_capture_the_next_line() {
        assert!(matches!(
            ctx("Extract(VOLUME, 1\nSetL|"),
            Context::StatementStart { .. }
        ));
        assert!(matches!(
            ctx("RemoveSpaces(VOLUME)\nSetLiteral(|"),
            Context::Argument { index: 0, .. }
        ));
    }

    #[test]
    fn variable_references() {
        let refs = variable_refs("%%d %SITE%-%X_1% 5% %9%", 10);
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["SITE", "X_1"]);
        assert_eq!(refs[0].span, Span::new(14, 20));
    }
}
