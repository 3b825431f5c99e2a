//! Syntax of .ttidef definition files: a logos lexer, a LALRPOP statement grammar and a
//! recovering [`parse`] facade that returns the syntax tree together with every syntax error.
//!
//! The grammar knows the shape `Name(arg, …);` only; directive meanings live in the compiler.

pub mod ast;
pub mod error;
pub mod lexer;
mod parser;

pub use ast::{Arg, ArgKind, Ident, SourceFile, Span, Statement};
pub use error::{SyntaxError, SyntaxErrorKind, SyntaxFix};
pub use parser::parse;
