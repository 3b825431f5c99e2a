//! The typed execution plan: what a definition file means, decided entirely at compile time.
//!
//! The plan is plain data (serde) so `tapesync explain` can print it and the runtime can execute
//! it without seeing definition text. Patterns, translation templates and date formats arrive
//! here compiled; their evaluation lives beside them (`pattern.rs`, `template.rs`, [`dates`]) and
//! is all the runtime needs to use them. The date engine in [`dates`] is the only one: the
//! compiler checks formats and reads literal dates with it, the runtime reads report values.

pub mod dates;
mod pattern;
mod template;

pub use dates::{DateFormat, DateParseError, DateReader, Span};
pub use pattern::{Glob, Pattern, PatternBody, PatternToken};
pub use template::{Template, TemplatePart};

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
    /// Extension: how body lines group into one record (`SetRecordLines`, `SetRecordStart`
    /// and `SetRecordIndent` with line-per-record formats). `None`: a line is a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping: Option<RecordGrouping>,
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
    /// Extension `SetSubstring(field, offset, length)`: a part of a value, taken after
    /// `RemoveSpaces`/`RemoveCharacters` (one per field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substrings: Vec<Substring>,
    /// Extension `SetValueTemplate(field, template)`: values built from other fields' values,
    /// in file order, after the substrings and before the translations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_templates: Vec<ValueTemplate>,
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
    /// Extension `SetRulerColumns()`: fixed columns whose spans come from the report's own
    /// dashed ruler line (each run of `-` begins a column), so one definition reads reports
    /// printed with different column widths. Elements are the columns, 1-based.
    RulerColumns,
    /// Extension `SetKeyValueFormat(sep)`: a record is a block of `key SEP value` lines,
    /// started by a line matching `record_start` or, without it, separated by blank lines.
    KeyValue {
        separator: String,
        record_start: Option<Pattern>,
    },
}

/// How the body lines of a line-per-record format group into records (extension). The line
/// rules (`AddString`) still see every line; only body lines are grouped, and a header
/// section ends the record being collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordGrouping {
    /// `SetRecordLines(n)`: every record has exactly `n` lines (n ≥ 2); a record with fewer
    /// is rejected with its line numbers. Without `start`, every `n` lines are a record.
    pub lines: Option<usize>,
    /// What begins a record; `None` with `lines` set (every `n` lines).
    pub start: Option<GroupStart>,
}

/// The line that begins a record of a [`RecordGrouping`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupStart {
    /// `SetRecordStart(filter)`: a line matching the filter (its leading and trailing blanks
    /// trimmed, as with key/value input); the lines after it continue the record.
    Matching { filter: Pattern },
    /// `SetRecordIndent()`: a line that does not begin with a blank; indented lines continue
    /// the record above.
    NotIndented,
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
    /// Delimited or whitespace input: 1-based element `index` of header record `record`
    /// (1-based within the header section; `index` 0 is the whole header record).
    HeaderElement { index: usize, record: usize },
    /// The whole raw record (`Extract(field, 0, len, 0)` on delimited input).
    WholeRecord,
    /// Delimited or whitespace input (extension: a negative offset): element `index` counted
    /// from the end of the line (1 is the last) of line `line` (1-based; 1 for one-line
    /// records) of the record, or of header record `record` when it is not 0.
    ElementFromEnd {
        index: usize,
        line: usize,
        record: usize,
    },
    /// Fixed columns of a grouped record (extension `ExtractLine`): `length` characters at
    /// 0-based character `offset` of line `line` (1-based) of the record.
    LineColumns { line: usize, offset: usize },
    /// Delimited or whitespace input of a grouped record (extension `ExtractLine`): 1-based
    /// element `index` of line `line` of the record (`index` 0 is the whole line).
    LineElement { line: usize, index: usize },
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

/// `SetSubstring(field, offset, length)` (extension): the value becomes `length` characters
/// from 0-based character `offset` (below 0: counted from the end of the value, -1 being the
/// last character), trimmed of blanks. A value shorter than the offset becomes empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substring {
    pub field: Field,
    pub offset: i64,
    pub length: usize,
}

/// `SetValueTemplate(field, template)` (extension): `field` becomes the template with every
/// `{FIELD}` replaced by that field's current value (empty when it has none), trimmed; an
/// empty result leaves the field without a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueTemplate {
    pub field: Field,
    /// The template as written.
    pub source: String,
    pub parts: Vec<ValuePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum ValuePart {
    Text(String),
    /// `{FIELD}`: the current value of another field (or of this one).
    Field(Field),
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

/// `AddSkipOnRepositoryChange(proposed, target, current)`: skip the update of a volume that
/// would change its target repository when the proposed repository, the volume's target
/// repository now (REPOSITORY) and the repository it is in (CURRENT_REPOSITORY; its target
/// when it has none) match all three filters (docs/language.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipOnRepositoryChange {
    pub proposed: Pattern,
    pub target: Pattern,
    pub current: Pattern,
}
