//! The typed execution plan: what a definition file means, decided entirely at compile time.
//!
//! The plan is plain data (serde) so `tapesync explain` can print it and the runtime can execute
//! it without seeing definition text. Patterns, translation templates and date formats arrive
//! here compiled; the small evaluation methods below are all the runtime needs to apply them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_model::Field;

/// Bumped whenever the serialised shape of [`Plan`] changes incompatibly.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// The definition file the plan was compiled from (as given on the command line).
    pub definition: String,
    /// Where records come from unless the command line overrides it.
    pub input: InputSpec,
    pub format: RecordFormat,
    /// Records in a header section, counting the record that matched the `HEADER` rule
    /// (`SetHeaderCount`; 0 when the definition has no header rule).
    pub header_count: usize,
    /// `AddString` rules in file order.
    pub line_rules: Vec<LineRule>,
    /// `SetLiteral` values, already validated (and canonicalised where the field has a
    /// canonical form) against field limits.
    pub literals: Vec<Literal>,
    /// `Extract` (and `ExtractKey`) in file order.
    pub extractions: Vec<Extraction>,
    /// Fields to strip of blanks (`RemoveSpaces`), applied after extraction.
    pub remove_spaces: Vec<Field>,
    /// Extension `RemoveCharacters(field, chars)`: every listed character is removed from the
    /// field, applied together with `remove_spaces` (after extraction, before translations).
    #[serde(default)]
    pub remove_characters: Vec<RemoveCharacters>,
    /// Extension `SetWhitespaceDelimited(n)`: with [`RecordFormat::Whitespace`], word `n`
    /// (1-based) extends to the end of the line, so trailing free text stays one element.
    /// `None` for `SetWhitespaceDelimited()` and for every other format.
    #[serde(default)]
    pub whitespace_tail: Option<usize>,
    /// `AddTranslation` entries in file order (first match per field wins).
    pub translations: Vec<Translation>,
    /// `AddTranslation2` entries in file order, applied after all `AddTranslation`s.
    pub translations2: Vec<Translation>,
    /// `AddExclusionOnValue` filters.
    pub value_exclusions: Vec<ValueFilter>,
    /// Date formats by field (`SetMoveDateFormat` → MOVEDATE, `SetWriteTimeFormat` →
    /// WRITETIME, `SetDateFormat(field, …)` for the others).
    pub date_formats: BTreeMap<Field, DateFormat>,
    pub move_date_adjustments: Vec<MoveDateAdjustment>,
    pub repository_on_move_date: Vec<RepositoryOnMoveDate>,
    pub repository_on_write_time: Vec<RepositoryOnWriteTime>,
    pub skip_on_repository_change: Vec<SkipOnRepositoryChange>,
    /// Every field the plan can set, in catalogue order. Only these are compared with the
    /// inventory: a field the definition never mentions is never touched.
    pub fields_set: Vec<Field>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// `SetFile(path)`: relative paths are relative to the working directory.
    pub file: Option<String>,
}

/// How raw input is cut into records and elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordFormat {
    /// Text report read by character offsets (no `SetCSVDelimiter`).
    FixedColumns,
    /// `SetCSVDelimiter(d)`: delimited text read through the csv crate.
    Delimited {
        delimiter: u8,
        /// Quote character (`"` by default; `None` when quoting is switched off).
        quote: Option<u8>,
    },
    /// Extension `SetWhitespaceDelimited()`: elements are runs of non-blank characters.
    Whitespace,
    /// Extension `SetKeyValueFormat(sep)`: a record is a block of `key SEP value` lines,
    /// started by a line matching `record_start` or, without it, separated by blank lines.
    KeyValue {
        separator: String,
        record_start: Option<Pattern>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineRuleKind {
    Header,
    Exclusion,
    Start,
    End,
    Terminate,
}

/// `AddString(kind, offset, filter)`: `filter` is matched against the raw record from the
/// 0-based character `offset` to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRule {
    pub kind: LineRuleKind,
    pub offset: usize,
    pub filter: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Literal {
    pub field: Field,
    pub value: String,
}

/// Where an extracted value comes from, resolved for the record format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExtractSource {
    /// Fixed columns: `length` characters at 0-based character `offset` of the body record
    /// (`record` = 0) or of header record `record` (1-based within the header section).
    Columns { offset: usize, record: usize },
    /// Delimited or whitespace input: 1-based element `index`.
    Element { index: usize },
    /// The whole raw record (`Extract(field, 0, len, 0)` on delimited input).
    WholeRecord,
    /// Key/value input: the value of `key` (compared case-insensitively, trimmed).
    Key { key: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extraction {
    pub field: Field,
    pub source: ExtractSource,
    /// Characters kept at most (longer values are cut to this length).
    pub length: usize,
}

/// `AddTranslation(field, filter, template)` and `AddTranslation2(field, field2, filter,
/// template)`: when `tested` matches `filter`, `field` becomes `template` applied to `field`'s
/// current value. For `AddTranslation`, `tested == field`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    pub field: Field,
    pub tested: Field,
    pub filter: Pattern,
    pub template: Template,
}

/// `RemoveCharacters(field, chars)` (extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveCharacters {
    pub field: Field,
    /// Every character to remove (compared exactly).
    pub chars: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueFilter {
    pub field: Field,
    pub filter: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveDateAdjustment {
    pub field: Field,
    pub filter: Pattern,
    pub years: i32,
    pub months: i32,
    pub days: i32,
}

/// `AddRepositoryOnWriteTime(field, filter, age, repository, movedate)`: when `field` matches
/// and the last write is within `age` of now, the target repository becomes `repository`
/// and, unless `move_date` is `None`, the move date becomes write time + `move_date`.
/// Entries are tried in file order; the first that fires wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryOnWriteTime {
    pub field: Field,
    pub filter: Pattern,
    pub age: Span,
    pub repository: String,
    pub move_date: Option<Span>,
}

/// `AddRepositoryOnMoveDate(field, filter, within, repository)` (parameters designed by
/// tapesync, see docs/language.md): when `field` matches and the move date is within
/// `within` of now (negative spans look into the past), the target repository becomes
/// `repository`. Takes precedence over [`RepositoryOnWriteTime`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryOnMoveDate {
    pub field: Field,
    pub filter: Pattern,
    pub within: Span,
    pub repository: String,
}

/// `AddSkipOnRepositoryChange(proposed, target, current)`: skip the update of a volume when
/// the proposed repository, the volume's current target repository and its current
/// repository match all three filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipOnRepositoryChange {
    pub proposed: Pattern,
    pub target: Pattern,
    pub current: Pattern,
}

/// A calendar span: years, months, days and hours, each possibly negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub years: i32,
    pub months: i32,
    pub days: i32,
    pub hours: i32,
}

// ---------------------------------------------------------------------------------------------
// Patterns

/// A compiled filter string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// The filter as written (after variable expansion), for messages and `explain`.
    pub source: String,
    /// A leading `!` negates the whole filter.
    pub negated: bool,
    pub body: PatternBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PatternBody {
    /// A sequence of pattern tokens matched against the whole value.
    Glob { tokens: Vec<PatternToken> },
    /// `*LIST:file`: the value matches when any pattern of the file matches.
    List {
        path: String,
        patterns: Vec<Pattern>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum PatternToken {
    /// Literal text (compared ASCII case-insensitively).
    Text(String),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `(A|B|C)`: one of several alternatives, each a token sequence.
    Group(Vec<Vec<PatternToken>>),
}

impl Pattern {
    /// Whether `value` matches, ASCII case-insensitively and anchored at both ends.
    ///
    /// Runs per record and per rule, so it works on the text in place: no allocation, and
    /// the common shapes (`TEXT`, `TEXT*`, `*TEXT`, `*`) cost one comparison each.
    pub fn matches(&self, value: &str) -> bool {
        let hit = match &self.body {
            PatternBody::Glob { tokens } => match_seq(tokens, value, None),
            PatternBody::List { patterns, .. } => patterns.iter().any(|p| p.matches(value)),
        };
        hit != self.negated
    }

    /// A pattern that matches exactly `text` (case-insensitively).
    pub fn exact(text: &str) -> Pattern {
        Pattern {
            source: text.to_string(),
            negated: false,
            body: PatternBody::Glob {
                tokens: vec![PatternToken::Text(text.to_string())],
            },
        }
    }
}

/// What is still to be matched after a group: the tokens following it, then the enclosing
/// continuation (a linked list on the stack, so nested groups allocate nothing).
struct Continuation<'a> {
    tokens: &'a [PatternToken],
    next: Option<&'a Continuation<'a>>,
}

/// `s` without the prefix `text` (compared ASCII case-insensitively), if it starts with it.
///
/// Comparing bytes is comparing characters here: ASCII bytes only ever equal ASCII bytes
/// (case folding stays within ASCII) and the bytes of other characters must be identical, so a
/// byte-wise match covers whole characters of both strings.
fn strip_prefix_ci<'s>(s: &'s str, text: &str) -> Option<&'s str> {
    let head = s.as_bytes().get(..text.len())?;
    if head.eq_ignore_ascii_case(text.as_bytes()) {
        s.get(text.len()..)
    } else {
        None
    }
}

/// Whether `s` ends with `text`, ASCII case-insensitively (see [`strip_prefix_ci`]).
fn ends_with_ci(s: &str, text: &str) -> bool {
    s.len() >= text.len()
        && s.as_bytes()[s.len() - text.len()..].eq_ignore_ascii_case(text.as_bytes())
}

/// Matches `tokens` followed by the continuation `rest` against all of `s`.
fn match_seq(tokens: &[PatternToken], s: &str, rest: Option<&Continuation<'_>>) -> bool {
    let Some((first, tail)) = tokens.split_first() else {
        return match rest {
            Some(next) => match_seq(next.tokens, s, next.next),
            None => s.is_empty(),
        };
    };
    match first {
        PatternToken::Text(text) => {
            strip_prefix_ci(s, text).is_some_and(|after| match_seq(tail, after, rest))
        }
        PatternToken::AnyOne => {
            let mut chars = s.chars();
            chars.next().is_some() && match_seq(tail, chars.as_str(), rest)
        }
        PatternToken::AnyRun => match (tail, rest) {
            // `**` is `*`: trying every split point twice over would be quadratic.
            ([PatternToken::AnyRun, ..], _) => match_seq(tail, s, rest),
            ([], None) => true,
            ([PatternToken::Text(text)], None) => ends_with_ci(s, text),
            _ => {
                let mut at = s;
                loop {
                    if match_seq(tail, at, rest) {
                        return true;
                    }
                    let mut chars = at.chars();
                    if chars.next().is_none() {
                        return false;
                    }
                    at = chars.as_str();
                }
            }
        },
        PatternToken::Class { negated, ranges } => {
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => {
                    let up = c.to_ascii_uppercase();
                    let low = c.to_ascii_lowercase();
                    let inside = ranges
                        .iter()
                        .any(|(a, b)| (*a..=*b).contains(&up) || (*a..=*b).contains(&low));
                    inside != *negated && match_seq(tail, chars.as_str(), rest)
                }
                None => false,
            }
        }
        PatternToken::Group(alternatives) => {
            let after = Continuation {
                tokens: tail,
                next: rest,
            };
            alternatives
                .iter()
                .any(|alt| match_seq(alt, s, Some(&after)))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Translation templates

/// A compiled translation: literal text, `*` (the whole current value) and `~`/`^` masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub source: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum TemplatePart {
    Text(String),
    /// `*`: the whole current value.
    Whole,
    /// A run of `~` (true: keep the character) and `^` (false: drop it). Masks consume the
    /// current value position by position from a cursor that starts at 0 and carries over
    /// from one mask run to the next; characters past the last mask are dropped.
    Mask(Vec<bool>),
}

impl Template {
    pub fn apply(&self, current: &str) -> String {
        let mut out = String::with_capacity(current.len() + 8);
        self.apply_into(current, &mut out);
        out
    }

    /// [`Template::apply`] appending to `out` (so a caller can reuse one buffer per record).
    pub fn apply_into(&self, current: &str, out: &mut String) {
        // The mask cursor: one character of `current` per mask position, carried over
        // between mask runs; past the end every position reads nothing.
        let mut cursor = current.chars();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Whole => out.push_str(current),
                TemplatePart::Mask(mask) => {
                    for keep in mask {
                        match cursor.next() {
                            Some(c) if *keep => out.push(c),
                            Some(_) => {}
                            None => break,
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dates

/// A validated strftime-style format (`%` already un-doubled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateFormat {
    /// The format as written in the definition (with `%%`).
    pub written: String,
    /// The chrono/strftime format.
    pub strftime: String,
    /// Whether the format carries a time of day (else midnight is assumed).
    pub has_time: bool,
}

/// Why a value could not be read with a date format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` does not match the date format `{format}`")]
pub struct DateParseError {
    pub value: String,
    pub format: String,
}

impl DateFormat {
    /// Parses `value` and returns it as a chrono date-time (midnight when the format has no
    /// time of day).
    pub fn parse(&self, value: &str) -> Result<chrono::NaiveDateTime, DateParseError> {
        let err = || DateParseError {
            value: value.to_string(),
            format: self.written.clone(),
        };
        let v = value.trim();
        if self.has_time {
            chrono::NaiveDateTime::parse_from_str(v, &self.strftime).map_err(|_| err())
        } else {
            chrono::NaiveDate::parse_from_str(v, &self.strftime)
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
                .map_err(|_| err())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PatternToken::*;

    fn glob(tokens: Vec<PatternToken>) -> Pattern {
        Pattern {
            source: String::new(),
            negated: false,
            body: PatternBody::Glob { tokens },
        }
    }

    #[test]
    fn glob_matching() {
        let p = glob(vec![Text("CLN".into()), AnyRun]);
        assert!(p.matches("CLN001"));
        assert!(p.matches("cln"));
        assert!(!p.matches("XCLN"));
        let p = glob(vec![
            AnyRun,
            Group(vec![vec![Text("OFFS".into())], vec![Text("LEGL".into())]]),
        ]);
        assert!(p.matches("xxOFFS"));
        assert!(p.matches("LEGL"));
        assert!(!p.matches("LEGLX"));
        let p = glob(vec![
            AnyOne,
            AnyOne,
            Class {
                negated: false,
                ranges: vec![('4', '7')],
            },
        ]);
        assert!(p.matches("AB5"));
        assert!(!p.matches("AB8"));
        let mut n = glob(vec![
            Class {
                negated: false,
                ranges: vec![('0', '9')],
            },
            AnyRun,
        ]);
        n.negated = true;
        assert!(n.matches("Volume"));
        assert!(!n.matches("1 abc"));
    }

    /// The straightforward matcher (characters collected, a stack of continuations) that
    /// [`match_seq`] must agree with.
    fn reference(tokens: &[PatternToken], s: &[char], rest: &[&[PatternToken]]) -> bool {
        let Some((first, tail)) = tokens.split_first() else {
            return match rest.split_first() {
                Some((next, more)) => reference(next, s, more),
                None => s.is_empty(),
            };
        };
        match first {
            Text(text) => {
                let mut i = 0;
                for t in text.chars() {
                    match s.get(i) {
                        Some(c) if c.eq_ignore_ascii_case(&t) => i += 1,
                        _ => return false,
                    }
                }
                reference(tail, &s[i..], rest)
            }
            AnyOne => !s.is_empty() && reference(tail, &s[1..], rest),
            AnyRun => (0..=s.len()).any(|k| reference(tail, &s[k..], rest)),
            Class { negated, ranges } => match s.first() {
                Some(c) => {
                    let (up, low) = (c.to_ascii_uppercase(), c.to_ascii_lowercase());
                    let inside = ranges
                        .iter()
                        .any(|(a, b)| (*a..=*b).contains(&up) || (*a..=*b).contains(&low));
                    inside != *negated && reference(tail, &s[1..], rest)
                }
                None => false,
            },
            Group(alternatives) => {
                let mut stack: Vec<&[PatternToken]> = vec![tail];
                stack.extend_from_slice(rest);
                alternatives.iter().any(|alt| reference(alt, s, &stack))
            }
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const PIECES: [&str; 8] = ["a", "B", "ab", "é", "É", "1", "-", "bA"];

    fn random_tokens(rng: &mut Rng, depth: usize) -> Vec<PatternToken> {
        (0..rng.next(5))
            .map(|_| match rng.next(if depth > 1 { 5 } else { 6 }) {
                0 | 1 => Text(PIECES[rng.next(PIECES.len())].to_string()),
                2 => AnyRun,
                3 => AnyOne,
                4 => Class {
                    negated: rng.next(2) == 0,
                    ranges: vec![('A', 'B'), ('0', '9')],
                },
                _ => Group(
                    (0..1 + rng.next(3))
                        .map(|_| random_tokens(rng, depth + 1))
                        .collect(),
                ),
            })
            .collect()
    }

    #[test]
    fn matcher_agrees_with_the_reference() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..3_000 {
            let tokens = random_tokens(&mut rng, 0);
            let p = glob(tokens.clone());
            for _ in 0..20 {
                let value: String = (0..rng.next(6))
                    .map(|_| PIECES[rng.next(PIECES.len())])
                    .collect();
                let chars: Vec<char> = value.chars().collect();
                assert_eq!(
                    p.matches(&value),
                    reference(&tokens, &chars, &[]),
                    "{tokens:?} on {value:?}"
                );
            }
        }
    }

    #[test]
    fn common_shapes() {
        let p = glob(vec![AnyRun, Text("fs".into())]);
        assert!(p.matches("OFFS"));
        assert!(p.matches("fs"));
        assert!(!p.matches("s"));
        assert!(!p.matches("OFFSx"));
        assert!(!p.matches("éfs\u{301}"));
        let p = glob(vec![AnyRun, AnyRun, Text("é".into()), AnyRun]);
        assert!(p.matches("xxéyy"));
        assert!(!p.matches("xxÉyy"));
        assert!(glob(vec![AnyRun]).matches(""));
        assert!(glob(vec![Text("Vault".into())]).matches("VAULT"));
    }

    #[test]
    fn templates() {
        let t = |parts| Template {
            source: String::new(),
            parts,
        };
        assert_eq!(
            t(vec![TemplatePart::Whole, TemplatePart::Text("L3".into())]).apply("000123"),
            "000123L3"
        );
        let mut mask = vec![false; 3];
        mask.extend([true; 6]);
        assert_eq!(
            t(vec![
                TemplatePart::Mask(mask),
                TemplatePart::Text("L4".into())
            ])
            .apply("A12345678"),
            "345678L4"
        );
        assert_eq!(
            t(vec![TemplatePart::Mask(vec![true; 6])]).apply("ABCDEFGH"),
            "ABCDEF"
        );
    }

    #[test]
    fn dates() {
        let f = DateFormat {
            written: "%%d/%%m/%%Y".into(),
            strftime: "%d/%m/%Y".into(),
            has_time: false,
        };
        assert_eq!(
            f.parse("30/11/2012").unwrap().to_string(),
            "2012-11-30 00:00:00"
        );
        assert!(f.parse("31/02/2012").is_err());
    }
}
