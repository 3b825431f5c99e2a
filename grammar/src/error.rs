//! Syntax errors: what went wrong while reading the text, with a span and, where the intended
//! text is clear, a machine-applicable fix.

use crate::ast::Span;
use serde::Serialize;

/// Distinguishes the syntax problems so the compiler can give each its diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyntaxErrorKind {
    /// A character that starts no token.
    InvalidCharacter,
    /// A string without its closing quote before the end of the line.
    UnterminatedString,
    /// A string in single quotes.
    SingleQuotedString,
    /// An integer that does not fit 64 bits.
    IntegerOutOfRange,
    /// A token the grammar does not allow here.
    UnexpectedToken,
    /// The statement ends without `;` (or without `)` and `;`).
    MissingTerminator,
    /// `;` inside an argument list where `,` was meant.
    SemicolonForComma,
}

/// A replacement of `span` by `replacement` that fixes the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxFix {
    pub span: Span,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
    pub fix: Option<SyntaxFix>,
}
