//! Statement-level recovery around the LALRPOP grammar.
//!
//! The token stream is cut into statements first: a statement ends at `;` outside an argument
//! list, and a name followed by `(` at the start of a line always starts a new one. Each piece
//! is parsed on its own, so a broken statement costs only itself. A `;` inside an argument list
//! that is followed by more arguments on the same line is the well-known typo for `,` (it is in
//! TapeTrack's own documentation); it is reported with a fix and read as `,`.

use crate::ast::{SourceFile, Span, Statement};
use crate::error::{SyntaxError, SyntaxErrorKind, SyntaxFix};
use crate::lexer::{lex, LexProblem, Tok, Token};
use lalrpop_util::ParseError;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_parens, dead_code)]
    grammar
);

/// Parses a whole definition file. Never fails: problems come back beside the tree.
pub fn parse(source: &str) -> (SourceFile, Vec<SyntaxError>) {
    let (tokens, problems) = lex(source);
    let mut errors: Vec<SyntaxError> = problems.into_iter().map(from_lex).collect();
    let lex_spans: Vec<Span> = errors.iter().map(|e| e.span).collect();
    let chunks = split_statements(source, tokens, &mut errors);
    let parser = grammar::StatementParser::new();
    let mut file = SourceFile::default();
    for chunk in chunks {
        if chunk.is_empty() || (chunk.len() == 1 && chunk[0].tok == Tok::Semi) {
            continue;
        }
        let chunk_span = chunk[0].span.to(chunk[chunk.len() - 1].span);
        // Lexer problems were reported already; a statement that contains one is parsed
        // without the bad token, and its own parse error (a knock-on) is not reported.
        let had_lex_error = lex_spans
            .iter()
            .any(|s| s.start >= chunk_span.start && s.start < chunk_span.end.max(s.start + 1));
        let clean: Vec<Token<'_>> = chunk.into_iter().filter(|t| t.tok != Tok::Error).collect();
        match parse_statement(&parser, source, &clean, had_lex_error) {
            Ok((stmt, extra)) => {
                file.statements.push(stmt);
                if !had_lex_error {
                    errors.extend(extra);
                }
            }
            Err(e) => {
                if !had_lex_error {
                    errors.push(e);
                }
            }
        }
    }
    errors.sort_by_key(|e| (e.span.start, e.span.end));
    (file, errors)
}

fn from_lex(p: LexProblem) -> SyntaxError {
    SyntaxError {
        kind: p.kind,
        span: p.span,
        message: p.message,
        help: p.help,
        fix: p
            .fix
            .map(|(span, replacement)| SyntaxFix { span, replacement }),
    }
}

fn starts_line(source: &str, prev_end: Option<usize>, start: usize) -> bool {
    match prev_end {
        None => true,
        Some(end) => source.get(end..start).is_some_and(|gap| gap.contains('\n')),
    }
}

/// Cuts the token stream into statements (see the module documentation).
fn split_statements<'a>(
    source: &str,
    tokens: Vec<Token<'a>>,
    errors: &mut Vec<SyntaxError>,
) -> Vec<Vec<Token<'a>>> {
    let mut chunks = Vec::new();
    let mut current: Vec<Token<'a>> = Vec::new();
    let mut depth = 0usize;
    let n = tokens.len();
    let is_call_start = |i: usize| {
        matches!(tokens[i].tok, Tok::Ident(_))
            && tokens.get(i + 1).is_some_and(|t| t.tok == Tok::LParen)
    };
    // First pass decides; second moves (tokens are borrowed by the closure above).
    let mut decisions = Vec::with_capacity(n);
    for i in 0..n {
        let prev_end = if i == 0 {
            None
        } else {
            Some(tokens[i - 1].span.end)
        };
        let new_line_call =
            i > 0 && is_call_start(i) && starts_line(source, prev_end, tokens[i].span.start);
        let mut as_comma = false;
        let mut ends = false;
        if new_line_call {
            // A new statement starts: whatever the previous one left open is abandoned.
            depth = 0;
        }
        match tokens[i].tok {
            Tok::LParen => depth += 1,
            Tok::RParen => depth = depth.saturating_sub(1),
            Tok::Semi => {
                let continues_same_line = i + 1 < n
                    && !starts_line(source, Some(tokens[i].span.end), tokens[i + 1].span.start)
                    && !is_call_start(i + 1)
                    && tokens[i + 1].tok != Tok::Semi
                    && tokens[i + 1].tok != Tok::RParen;
                if depth > 0 && continues_same_line {
                    as_comma = true;
                } else {
                    ends = true;
                    depth = 0;
                }
            }
            _ => {}
        }
        decisions.push((new_line_call, as_comma, ends));
    }
    for (token, (new_line_call, as_comma, ends)) in tokens.into_iter().zip(decisions) {
        if new_line_call && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
        if as_comma {
            errors.push(SyntaxError {
                kind: SyntaxErrorKind::SemicolonForComma,
                span: token.span,
                message: "`;` inside an argument list; arguments are separated by `,`".into(),
                help: Some("replace `;` with `,`".into()),
                fix: Some(SyntaxFix {
                    span: token.span,
                    replacement: ",".into(),
                }),
            });
            current.push(Token {
                tok: Tok::Comma,
                span: token.span,
            });
            continue;
        }
        current.push(token);
        if ends {
            chunks.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

type Triple<'a> = Result<(usize, Tok<'a>, usize), ()>;

fn run<'a>(
    parser: &grammar::StatementParser,
    tokens: impl Iterator<Item = Token<'a>>,
) -> Result<Statement, ParseError<usize, Tok<'a>, ()>> {
    parser.parse(tokens.map(|t| -> Triple<'a> { Ok((t.span.start, t.tok, t.span.end)) }))
}

/// Parses one statement; a missing `;` (or `)` and `;`) at its end is reported and supplied,
/// so the statement still counts.
fn parse_statement<'a>(
    parser: &grammar::StatementParser,
    source: &str,
    chunk: &[Token<'a>],
    had_lex_error: bool,
) -> Result<(Statement, Vec<SyntaxError>), SyntaxError> {
    let err = match run(parser, chunk.iter().cloned()) {
        Ok(stmt) => return Ok((stmt, Vec::new())),
        Err(e) => e,
    };
    let end = chunk.last().map_or(0, |t| t.span.end);
    // Supplying a terminator is only safe when nothing was lost to a lexer error (an
    // unterminated string swallows the rest of its line, `)` and `;` included).
    if matches!(err, ParseError::UnrecognizedEof { .. }) && !had_lex_error {
        for (insert, what) in [(";", "`;`"), (");", "`)` and `;`")] {
            let extra = insert.chars().map(|c| Token {
                tok: if c == ';' { Tok::Semi } else { Tok::RParen },
                span: Span::new(end, end),
            });
            if let Ok(stmt) = run(parser, chunk.iter().cloned().chain(extra)) {
                let e = SyntaxError {
                    kind: SyntaxErrorKind::MissingTerminator,
                    span: chunk.last().map_or(Span::new(end, end), |t| t.span),
                    message: format!("missing {what} at the end of the statement"),
                    help: Some(format!("add {what}")),
                    fix: Some(SyntaxFix {
                        span: Span::new(end, end),
                        replacement: insert.to_string(),
                    }),
                };
                return Ok((stmt, vec![e]));
            }
        }
    }
    // `Name(args;` — the `)` is missing before the final `;`.
    if let ParseError::UnrecognizedToken {
        token: (l, Tok::Semi, _),
        ref expected,
    } = err
    {
        let last_is_this = chunk.last().is_some_and(|t| t.span.start == l);
        if last_is_this && !had_lex_error && expected.iter().any(|e| e == "\")\"") {
            let semi = chunk[chunk.len() - 1].clone();
            let close = Token {
                tok: Tok::RParen,
                span: Span::new(l, l),
            };
            let tokens = chunk[..chunk.len() - 1]
                .iter()
                .cloned()
                .chain([close, semi]);
            if let Ok(stmt) = run(parser, tokens) {
                let e = SyntaxError {
                    kind: SyntaxErrorKind::MissingTerminator,
                    span: Span::new(l, l + 1),
                    message: "missing `)` before `;`".into(),
                    help: Some("close the argument list with `)`".into()),
                    fix: Some(SyntaxFix {
                        span: Span::new(l, l),
                        replacement: ")".into(),
                    }),
                };
                return Ok((stmt, vec![e]));
            }
        }
    }
    Err(describe(err, source, end))
}

fn expected_list(expected: &[String]) -> String {
    let names: Vec<String> = expected
        .iter()
        .map(|e| match e.as_str() {
            "\"name\"" => "a name".to_string(),
            "\"integer\"" => "an integer".to_string(),
            "\"string\"" => "a string".to_string(),
            other => format!("`{}`", other.trim_matches('"')),
        })
        .collect();
    match names.len() {
        0 => "nothing".into(),
        1 => names[0].clone(),
        _ => format!(
            "{} or {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ),
    }
}

fn describe(err: ParseError<usize, Tok<'_>, ()>, _source: &str, end: usize) -> SyntaxError {
    let (span, message) = match err {
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => (
            Span::new(l, r),
            format!(
                "expected {}, found {}",
                expected_list(&expected),
                tok.describe()
            ),
        ),
        ParseError::UnrecognizedEof { location, expected } => (
            Span::new(location.min(end), end),
            format!(
                "statement ends early; expected {}",
                expected_list(&expected)
            ),
        ),
        ParseError::ExtraToken { token: (l, tok, r) } => {
            (Span::new(l, r), format!("unexpected {}", tok.describe()))
        }
        ParseError::InvalidToken { location } => {
            (Span::new(location, location + 1), "invalid token".into())
        }
        ParseError::User { .. } => (Span::new(end, end), "invalid statement".into()),
    };
    SyntaxError {
        kind: SyntaxErrorKind::UnexpectedToken,
        span,
        message,
        help: Some(
            "a statement is written `Name(argument, argument, ...);`: arguments separated by \
             `,`, text in double quotes, field names and keywords bare"
                .into(),
        ),
        fix: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::ArgKind;

    #[test]
    fn parses_statements() {
        let (f, e) = parse("SetLiteral(CUSTOMER, \"US01\");\nExtract(VOLUME, 1, 25, 0);\nSetWhitespaceDelimited();");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(f.statements.len(), 3);
        assert_eq!(f.statements[0].name.text, "SetLiteral");
        assert!(
            matches!(&f.statements[0].args[1].kind, ArgKind::Str { value, content, .. } if value == "US01" && content.start == 22)
        );
        assert!(f.statements[2].args.is_empty());
    }

    #[test]
    fn semicolon_for_comma_is_fixed() {
        let (f, e) = parse("AddMoveDateAdjustment(DESCRIPTION, \"*YEARLY*\"; 7, 0, 0);");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, SyntaxErrorKind::SemicolonForComma);
        assert_eq!(e[0].span, Span::new(45, 46));
        assert_eq!(f.statements.len(), 1);
        assert_eq!(f.statements[0].args.len(), 5);
    }

    #[test]
    fn one_bad_statement_does_not_hide_the_next() {
        let (f, e) = parse("SetLiteral(CUSTOMER \"US01\");\nSetLiteral(MEDIA, \"LTO\");\nRemoveSpaces(VOLUME)\nSetFile(\"x\");");
        assert_eq!(f.statements.len(), 3, "{e:?}");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kind, SyntaxErrorKind::UnexpectedToken);
        assert_eq!(e[1].kind, SyntaxErrorKind::MissingTerminator);
    }

    #[test]
    fn missing_close_paren_before_semicolon_is_supplied() {
        let (f, e) = parse("SetLiteral(CUSTOMER, \"US01\";\nSetFile(\"x\");");
        assert_eq!(f.statements.len(), 2, "{e:?}");
        assert_eq!(e[0].kind, SyntaxErrorKind::MissingTerminator);
        assert_eq!(e[0].fix.as_ref().map(|f| f.replacement.as_str()), Some(")"));
    }

    #[test]
    fn unterminated_string_reported_once() {
        let (f, e) = parse("SetFile(\"abc);\nSetLiteral(MEDIA, \"LTO\");");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].kind, SyntaxErrorKind::UnterminatedString);
        assert_eq!(e[0].span, Span::new(8, 9));
        assert_eq!(f.statements.len(), 1);
    }
}
