//! Definition files: reading the definition and what it includes (through the
//! [`SourceLoader`](super::loader::SourceLoader) only), the grammar's syntax errors as
//! diagnostics, and the two directives about files and names, `Include` and `SetVariable`.

use super::arguments::{Str, Val};
use super::loader::resolve;
use super::{Compiler, Directive};
use crate::diagnostics::{Code, Diagnostic, FileId};
use tapesync_grammar::{Span as ByteSpan, SyntaxErrorKind};

impl Compiler<'_> {
    pub(super) fn process_file(&mut self, file: FileId) {
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

    /// `Include`.
    pub(super) fn include(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[0].str() else { return };
        if !self.empty(site.file, s, "an include path") {
            self.include_file(site.file, s);
        }
    }

    /// Reads the file an `Include` names and compiles its statements in place.
    fn include_file(&mut self, file: FileId, s: &Str) {
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

    /// `SetVariable`.
    pub(super) fn set_variable(&mut self, d: &Directive<'_>) {
        let (stmt, v, site) = (d.statement, &d.args, d.site);
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
                    site.file,
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
