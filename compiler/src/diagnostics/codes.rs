//! The registry of diagnostic codes — the one place codes are defined.
//!
//! Every code has a number (`E0001` …), a short title, a default severity and a page in
//! `docs/diagnostics/`. Warnings use the same `E` numbering as errors (there is no separate
//! `W` series): a code's severity is stated here. Codes are never reused; a retired code keeps
//! its number and its page says so.

use super::severity::Severity;
use serde::{Serialize, Serializer};
use std::fmt;

/// A diagnostic code, displayed as `E0001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub u16);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:04}", self.0)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Static facts about one code.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    pub code: Code,
    /// The constant's name in [`Code`], e.g. `UNKNOWN_DIRECTIVE`.
    pub name: &'static str,
    pub title: &'static str,
    pub severity: Severity,
}

impl CodeInfo {
    /// The page explaining the code, relative to the repository root.
    pub fn doc_path(&self) -> String {
        format!("docs/diagnostics/{}.md", self.code)
    }
}

/// The environment variable that names a published copy of the docs (docs/diagnostics/README
/// and docs/editors.md): an absolute URL prefix to which a page's repository-relative path
/// (`docs/diagnostics/E0009.md`) is appended, e.g. a repository's web view
/// (`https://git.example.org/tapesync/blob/main/`).
pub const DOCS_URL_ENV: &str = "TAPESYNC_DOCS_URL";

/// Where the diagnostic pages are published, from [`DOCS_URL_ENV`], ending in `/`; `None` when
/// it is not set. Then output links nowhere: a `file://` path of the tree tapesync was built in
/// is dead on every other machine and in code-scanning services, and each page's text is built
/// in ([`CodeInfo::help_page`]).
pub fn docs_base() -> Option<String> {
    let url = std::env::var(DOCS_URL_ENV).ok()?;
    normalise_docs_base(&url)
}

/// A docs URL prefix as given (setting, editor option), trimmed and ending in `/`; `None` if
/// empty.
pub fn normalise_docs_base(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        None
    } else if url.ends_with('/') {
        Some(url.to_string())
    } else {
        Some(format!("{url}/"))
    }
}

mod pages {
    include!(concat!(env!("OUT_DIR"), "/help_pages.rs"));
}

impl CodeInfo {
    /// The code's page (Markdown), built in from `docs/diagnostics/` when the compiler was
    /// built.
    pub fn help_page(&self) -> Option<&'static str> {
        pages::HELP_PAGES
            .binary_search_by_key(&self.code.0, |(number, _)| *number)
            .ok()
            .map(|i| pages::HELP_PAGES[i].1)
    }
}

macro_rules! registry {
    ($( $name:ident = $num:literal, $sev:ident, $title:literal; )*) => {
        impl Code {
            $( pub const $name: Code = Code($num); )*
        }
        /// Every code, in numeric order.
        pub static REGISTRY: &[CodeInfo] = &[
            $( CodeInfo { code: Code($num), name: stringify!($name), title: $title, severity: Severity::$sev }, )*
        ];
    };
}

registry! {
    INVALID_CHARACTER = 1, Error, "unexpected character";
    UNTERMINATED_STRING = 2, Error, "unterminated string";
    SYNTAX_ERROR = 3, Error, "syntax error";
    MISSING_TERMINATOR = 4, Error, "statement not terminated";
    SEMICOLON_FOR_COMMA = 5, Error, "`;` where `,` was meant";
    TYPOGRAPHIC_QUOTES = 6, Warning, "typographic quotes";
    INTEGER_OUT_OF_RANGE = 7, Error, "integer out of range";
    SINGLE_QUOTED_STRING = 8, Error, "string in single quotes";
    UNKNOWN_DIRECTIVE = 9, Error, "unknown directive";
    ARGUMENT_COUNT = 10, Error, "wrong number of arguments";
    ARGUMENT_TYPE = 11, Error, "wrong argument type";
    UNKNOWN_FIELD = 12, Error, "unknown field";
    UNKNOWN_KEYWORD = 13, Error, "unknown keyword";
    FIELD_NOT_ALLOWED = 14, Error, "field not allowed here";
    VALUE_INVALID = 15, Error, "value does not fit the field";
    MALFORMED_PATTERN = 16, Error, "malformed filter pattern";
    UNBALANCED_NEGATION = 17, Warning, "unbalanced `!(` in a filter";
    REGISTRY_LIST_UNSUPPORTED = 18, Error, "`*REG:` lists are unsupported on this system";
    LIST_FILE_UNREADABLE = 19, Error, "`*LIST:` file cannot be read";
    BAD_DATE_FORMAT = 20, Error, "invalid date format";
    DATE_FORMAT_MISSING = 21, Error, "date field without a date format";
    MISSING_KEY_FIELD = 22, Error, "CUSTOMER, MEDIA or VOLUME never set";
    DUPLICATE_DEFINITION = 23, Warning, "duplicate definition";
    CONFLICTING_DEFINITIONS = 24, Warning, "conflicting definitions";
    INCLUDE_NOT_FOUND = 25, Error, "included file cannot be read";
    INCLUDE_CYCLE = 26, Error, "include cycle";
    UNDEFINED_VARIABLE = 27, Error, "undefined variable";
    LONE_PERCENT = 28, Warning, "single `%` in a string";
    EXTENSION_USED = 29, Warning, "tapesync extension used in compatibility mode";
    BAD_DURATION = 30, Error, "invalid duration";
    ARGUMENT_OUT_OF_RANGE = 31, Error, "argument out of range";
    EMPTY_STRING = 32, Error, "empty string argument";
    WRONG_RECORD_FORMAT = 33, Error, "directive does not fit the record format";
    INCOMPLETE_HEADER = 34, Warning, "incomplete header definition";
    HEADER_RECORD_INVALID = 35, Error, "header record out of range";
    BAD_DELIMITER = 36, Error, "invalid delimiter or quote character";
    LITERAL_PARENTHESES = 37, Warning, "parentheses around one alternative in a filter";
    RECORD_LINE_INVALID = 38, Error, "record line out of range";
    MALFORMED_VALUE_TEMPLATE = 39, Error, "malformed value template";
}

impl Code {
    pub fn info(self) -> &'static CodeInfo {
        // The registry is sorted and dense from 1, so the number is the index + 1.
        REGISTRY
            .get(usize::from(self.0).wrapping_sub(1))
            .filter(|i| i.code == self)
            .unwrap_or(&REGISTRY[0])
    }

    pub fn title(self) -> &'static str {
        self.info().title
    }

    pub fn severity(self) -> Severity {
        self.info().severity
    }

    /// Looks a code up by its display form (`E0009`, case-insensitive).
    pub fn parse(text: &str) -> Option<Code> {
        let digits = text.strip_prefix(['E', 'e'])?;
        let n: u16 = digits.parse().ok()?;
        REGISTRY.iter().find(|i| i.code.0 == n).map(|i| i.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_page_built_in() {
        for info in REGISTRY {
            let page = info
                .help_page()
                .unwrap_or_else(|| panic!("{}: no page", info.code));
            assert!(
                page.starts_with(&format!("# {}: ", info.code)),
                "{}: {}",
                info.code,
                page.lines().next().unwrap_or_default()
            );
        }
    }

    #[test]
    fn a_docs_url_is_a_prefix_ending_in_a_slash() {
        assert_eq!(normalise_docs_base("  "), None);
        assert_eq!(
            normalise_docs_base(" https://d.example/x "),
            Some("https://d.example/x/".into())
        );
        assert_eq!(
            normalise_docs_base("https://d.example/"),
            Some("https://d.example/".into())
        );
    }

    #[test]
    fn registry_is_dense_and_unique() {
        for (i, info) in REGISTRY.iter().enumerate() {
            assert_eq!(usize::from(info.code.0), i + 1, "{}", info.name);
            assert_eq!(info.code.info().name, info.name);
        }
        assert_eq!(Code::parse("E0009"), Some(Code::UNKNOWN_DIRECTIVE));
        assert_eq!(Code::UNKNOWN_DIRECTIVE.to_string(), "E0009");
        assert_eq!(Code::parse("E9999"), None);
    }
}
