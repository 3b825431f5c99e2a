//! Tokens of the definition language (logos). Characters that start no token become
//! [`Tok::Error`] so the parser can report them and carry on.

use crate::ast::Span;
use logos::Logos;

/// Raw logos tokens; [`lex`] turns them into [`Token`]s with decoded payloads.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
enum Raw {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"-?[0-9]+")]
    Int,
    #[regex(r#""[^"\n]*""#)]
    Str,
    #[regex(r#""[^"\n]*"#)]
    UnterminatedStr,
    #[regex(r#"[“”][^“”"\n]*[“”"]"#)]
    TypographicStr,
    #[regex(r#"[“”][^“”"\n]*"#)]
    UnterminatedTypographicStr,
    #[regex(r"'[^'\n]*'")]
    SingleQuoted,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
}

/// A string literal as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit<'a> {
    pub content: &'a str,
    pub content_span: Span,
    pub typographic: bool,
}

/// A token with its payload borrowed from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'a> {
    Ident(&'a str),
    Int(i64),
    Str(StrLit<'a>),
    LParen,
    RParen,
    Comma,
    Semi,
    /// Anything the lexer could not make sense of (already reported).
    Error,
}

impl Tok<'_> {
    /// How the token is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Str(s) => format!("string \"{}\"", s.content),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Semi => "`;`".into(),
            Tok::Error => "an invalid character".into(),
        }
    }
}

/// A token with its byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    pub span: Span,
}

/// A lexical problem: kind, span and message are turned into a `SyntaxError` by the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexProblem {
    pub kind: crate::error::SyntaxErrorKind,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
    pub fix: Option<(Span, String)>,
}

/// Splits `source` into tokens. Problems are returned beside the tokens; the token stream
/// keeps a best-effort token in their place so parsing can continue.
pub fn lex(source: &str) -> (Vec<Token<'_>>, Vec<LexProblem>) {
    use crate::error::SyntaxErrorKind as K;
    let mut tokens = Vec::new();
    let mut problems = Vec::new();
    let mut lexer = Raw::lexer(source);
    while let Some(raw) = lexer.next() {
        let r = lexer.span();
        let span = Span::new(r.start, r.end);
        let slice = lexer.slice();
        let tok = match raw {
            Ok(Raw::Ident) => Tok::Ident(slice),
            Ok(Raw::Int) => match slice.parse::<i64>() {
                Ok(v) => Tok::Int(v),
                Err(_) => {
                    problems.push(LexProblem {
                        kind: K::IntegerOutOfRange,
                        span,
                        message: format!("integer `{slice}` is out of range"),
                        help: Some(
                            "offsets, lengths, counts and date adjustments are small whole \
                             numbers; check for a missing `,` between two numbers"
                                .into(),
                        ),
                        fix: None,
                    });
                    Tok::Error
                }
            },
            Ok(Raw::Str) => Tok::Str(StrLit {
                content: &slice[1..slice.len() - 1],
                content_span: Span::new(span.start + 1, span.end - 1),
                typographic: false,
            }),
            Ok(Raw::TypographicStr) => {
                let open = slice.chars().next().map_or(1, char::len_utf8);
                let close = slice.chars().next_back().map_or(1, char::len_utf8);
                Tok::Str(StrLit {
                    content: &slice[open..slice.len() - close],
                    content_span: Span::new(span.start + open, span.end - close),
                    typographic: true,
                })
            }
            Ok(Raw::UnterminatedStr) | Ok(Raw::UnterminatedTypographicStr) => {
                let open = slice.chars().next().map_or(1, char::len_utf8);
                problems.push(LexProblem {
                    kind: K::UnterminatedString,
                    span: Span::new(span.start, span.start + open),
                    message: "unterminated string: the closing `\"` is missing".into(),
                    help: Some("strings end on the line they start; add the closing `\"`".into()),
                    fix: None,
                });
                Tok::Error
            }
            Ok(Raw::SingleQuoted) => {
                let content = &slice[1..slice.len() - 1];
                problems.push(LexProblem {
                    kind: K::SingleQuotedString,
                    span,
                    message: "strings are written in double quotes".into(),
                    help: Some(format!("write \"{content}\"")),
                    fix: Some((span, format!("\"{content}\""))),
                });
                Tok::Str(StrLit {
                    content,
                    content_span: Span::new(span.start + 1, span.end - 1),
                    typographic: false,
                })
            }
            Ok(Raw::LParen) => Tok::LParen,
            Ok(Raw::RParen) => Tok::RParen,
            Ok(Raw::Comma) => Tok::Comma,
            Ok(Raw::Semi) => Tok::Semi,
            Err(()) => {
                let ch = slice.chars().next().unwrap_or('?');
                problems.push(LexProblem {
                    kind: K::InvalidCharacter,
                    span,
                    message: format!("unexpected character `{}`", ch.escape_debug()),
                    help: Some(
                        "outside strings only names, numbers, `(`, `)`, `,` and `;` may appear: \
                         put text in double quotes, or start a comment with `#`"
                            .into(),
                    ),
                    fix: None,
                });
                Tok::Error
            }
        };
        tokens.push(Token { tok, span });
    }
    (tokens, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok<'_>> {
        lex(src).0.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn basic_tokens() {
        let t = kinds("SetLiteral(CUSTOMER, \"US01\"); # comment\nExtract(VOLUME, -1, 6, 0);");
        assert_eq!(t[0], Tok::Ident("SetLiteral"));
        assert_eq!(t[1], Tok::LParen);
        assert!(matches!(&t[4], Tok::Str(s) if s.content == "US01" && !s.typographic));
        assert_eq!(t[6], Tok::Semi);
        assert_eq!(t[7], Tok::Ident("Extract"));
        assert_eq!(t[11], Tok::Int(-1));
    }

    #[test]
    fn typographic_and_unterminated() {
        let (t, p) = lex("X(“abc”, \"open");
        assert!(matches!(&t[2].tok, Tok::Str(s) if s.content == "abc" && s.typographic));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].span, Span::new(13, 14));
    }

    #[test]
    fn invalid_characters_are_error_tokens() {
        let (t, p) = lex("X(@);");
        assert_eq!(t[2].tok, Tok::Error);
        assert_eq!(p[0].kind, crate::error::SyntaxErrorKind::InvalidCharacter);
    }
}
