//! The syntax tree: statements of the form `Name(arg, arg, …);`, every node with its byte span.
//!
//! The tree knows nothing about what a directive means; that is the compiler's business.

use serde::Serialize;
use std::ops::Range;

/// A half-open byte range into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// A whole definition file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceFile {
    pub statements: Vec<Statement>,
}

/// One `Name(args);` statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// From the first character of the name to the end of the `;`.
    pub span: Span,
    pub name: Ident,
    pub args: Vec<Arg>,
    /// From `(` to `)` inclusive.
    pub args_span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    pub kind: ArgKind,
    /// The whole argument (for strings including the quotes).
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArgKind {
    /// A bare word: a field name or a keyword.
    Word { text: String },
    /// A decimal integer, possibly negative.
    Int { value: i64 },
    /// A quoted string, exactly as written between the quotes (no escapes exist).
    Str {
        value: String,
        /// The span of the characters between the quotes.
        content: Span,
        /// Written with typographic quotes `“…”` (accepted; the compiler warns).
        typographic: bool,
    },
}

impl Arg {
    /// A short description of the kind, for messages ("a string", "a name", "an integer").
    pub fn describe(&self) -> &'static str {
        match self.kind {
            ArgKind::Word { .. } => "a name",
            ArgKind::Int { .. } => "an integer",
            ArgKind::Str { .. } => "a string",
        }
    }
}
