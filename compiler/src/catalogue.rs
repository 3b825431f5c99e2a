//! The directive catalogue: every directive of TapeTrack's definition language that its public
//! documentation describes, plus tapesync's extensions — names, aliases, signatures, one-line
//! docs and source pages. `--help`, the language server and docs/language.md use it too.
//!
//! This is the one list of directives. What a directive means is compiled by the module of its
//! family under `compile/` (input format, line rules, fields, repository and date rules,
//! definition files); `Compiler::directive` in `compile/mod.rs` routes every [`DirectiveId`]
//! to its handler.

use serde::Serialize;

/// What an argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamKind {
    /// A field name (bare word, or a string for names with spaces).
    Field,
    /// One of a fixed set of bare words.
    Keyword { values: &'static [&'static str] },
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A string (after variable expansion).
    Text,
    /// A literal field value: a string or an integer.
    Value,
    /// A filter pattern.
    Filter,
    /// A translation template.
    Template,
    /// A strftime-style date format with `%` doubled.
    DateFormat,
    /// A duration (`days:months:years`, or `12h`/`7d`/`6m`/`1y`).
    Duration,
    /// A file path.
    Path,
    /// A single character in a string.
    Char,
    /// A single character, or the bare word `NONE`.
    CharOrNone,
    /// A variable name (bare word).
    Name,
}

impl ParamKind {
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::Field => "a field name",
            ParamKind::Keyword { .. } => "a keyword",
            ParamKind::Int { .. } => "an integer",
            ParamKind::Text => "a string",
            ParamKind::Value => "a string or an integer",
            ParamKind::Filter => "a filter string",
            ParamKind::Template => "a translation string",
            ParamKind::DateFormat => "a date-format string",
            ParamKind::Duration => "a duration string",
            ParamKind::Path => "a path string",
            ParamKind::Char => "a one-character string",
            ParamKind::CharOrNone => "a one-character string or NONE",
            ParamKind::Name => "a variable name",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub doc: &'static str,
}

/// Which handler compiles a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DirectiveId {
    SetFile,
    SetCsvDelimiter,
    SetLiteral,
    Extract,
    RemoveSpaces,
    AddString,
    SetHeaderCount,
    AddExclusionOnValue,
    AddTranslation,
    AddTranslation2,
    SetMoveDateFormat,
    SetWriteTimeFormat,
    AddMoveDateAdjustment,
    AddRepositoryOnWriteTime,
    AddRepositoryOnMoveDate,
    AddSkipOnRepositoryChange,
    SetWhitespaceDelimited,
    SetRulerColumns,
    SetKeyValueFormat,
    SetRecordStart,
    SetRecordLines,
    SetRecordIndent,
    ExtractLine,
    ExtractKey,
    SetSubstring,
    SetValueTemplate,
    SetDateFormat,
    RemoveCharacters,
    SetCsvQuote,
    Include,
    SetVariable,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct DirectiveInfo {
    pub id: DirectiveId,
    /// Canonical spelling.
    pub name: &'static str,
    /// Other accepted names (all names compare case-insensitively).
    pub aliases: &'static [&'static str],
    pub params: &'static [Param],
    /// Arguments that may be left out at the end (`SetWhitespaceDelimited()`).
    pub optional: usize,
    pub doc: &'static str,
    /// TapeTrack page the directive is documented on (None for extensions).
    pub source: Option<&'static str>,
    /// A tapesync extension, not part of TapeTrack's language.
    pub extension: bool,
}

impl DirectiveInfo {
    pub fn min_args(&self) -> usize {
        self.params.len() - self.optional
    }

    /// `Name(a, b, c)` for messages and hovers.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i >= self.min_args() {
                    format!("[{}]", p.name)
                } else {
                    p.name.to_string()
                }
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

const FIELD: Param = Param {
    name: "field",
    kind: ParamKind::Field,
    doc: "the field",
};
const FILTER: Param = Param {
    name: "filter",
    kind: ParamKind::Filter,
    doc: "filter the field's value must match",
};

const INT_ANY: ParamKind = ParamKind::Int {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};
const INT_NONNEG: ParamKind = ParamKind::Int {
    min: 0,
    max: i32::MAX as i64,
};
const INT_POS: ParamKind = ParamKind::Int {
    min: 1,
    max: i32::MAX as i64,
};

const TT: &str = "https://rtfm.tapetrack.com/";

macro_rules! url {
    ($path:literal) => {
        Some(concat!("https://rtfm.tapetrack.com/", $path))
    };
}

static CATALOGUE: &[DirectiveInfo] = &[
    DirectiveInfo {
        id: DirectiveId::SetFile,
        name: "SetFile",
        aliases: &[],
        params: &[Param { name: "path", kind: ParamKind::Path, doc: "input file; relative to the working directory" }],
        optional: 0,
        doc: "Names the input file (the command line may override it; without it, standard input)",
        source: url!("concepts/definition_file"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetCsvDelimiter,
        name: "SetCSVDelimiter",
        aliases: &[],
        params: &[Param { name: "delimiter", kind: ParamKind::Char, doc: "the delimiter character" }],
        optional: 0,
        doc: "Input is delimited text; Extract offsets become 1-based element numbers",
        source: url!("sync/definition"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetLiteral,
        name: "SetLiteral",
        aliases: &[],
        params: &[FIELD, Param { name: "value", kind: ParamKind::Value, doc: "the constant value" }],
        optional: 0,
        doc: "Sets a field to a constant value for every record",
        source: url!("sync/fields"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::Extract,
        name: "Extract",
        aliases: &[],
        params: &[
            FIELD,
            Param { name: "offset", kind: INT_ANY, doc: "0-based character offset (text) or 1-based element (delimited, whitespace, ruler columns; 0 = whole line; -1 = last, -2 = the one before, … (extension))" },
            Param { name: "length", kind: INT_POS, doc: "characters taken (text) or kept at most (delimited, whitespace, ruler columns)" },
            Param { name: "record", kind: INT_NONNEG, doc: "0 = body record, n = n-th record of the header section" },
        ],
        optional: 0,
        doc: "Takes a field's value from a column range, an element or a header record",
        source: url!("engine/import/extract?rev=1582504059"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::RemoveSpaces,
        name: "RemoveSpaces",
        aliases: &[],
        params: &[FIELD],
        optional: 0,
        doc: "Removes every blank (space, tab) from the field's value",
        source: url!("concepts/definition_file"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddString,
        name: "AddString",
        aliases: &[],
        params: &[
            Param { name: "type", kind: ParamKind::Keyword { values: &["HEADER", "EXCLUSION", "START", "END", "TERMINATE"] }, doc: "HEADER, EXCLUSION, START, END or TERMINATE" },
            Param { name: "offset", kind: INT_NONNEG, doc: "0-based offset in the raw record where the filter applies" },
            Param { name: "filter", kind: ParamKind::Filter, doc: "filter for the raw record from `offset` on" },
        ],
        optional: 0,
        doc: "Classifies raw records: header start, exclusion, start/end of processing, termination",
        source: url!("engine/import/addstring"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetHeaderCount,
        name: "SetHeaderCount",
        aliases: &[],
        params: &[Param { name: "count", kind: INT_POS, doc: "records in a header section, including the HEADER record" }],
        optional: 0,
        doc: "Number of records in a header section",
        source: url!("engine/import/setheadercount"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddExclusionOnValue,
        name: "AddExclusionOnValue",
        aliases: &[],
        params: &[FIELD, FILTER],
        optional: 0,
        doc: "Skips a record whose derived field value matches the filter",
        source: url!("sync/definition"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddTranslation,
        name: "AddTranslation",
        aliases: &[],
        params: &[
            FIELD,
            FILTER,
            Param { name: "translation", kind: ParamKind::Template, doc: "new value: literal text, `*` = current value, `~`/`^` = keep/drop a character" },
        ],
        optional: 0,
        doc: "Rewrites a field when its value matches; first match per field wins",
        source: url!("engine/import/addtranslation"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddTranslation2,
        name: "AddTranslation2",
        aliases: &[],
        params: &[
            FIELD,
            Param { name: "field2", kind: ParamKind::Field, doc: "the field tested by the filter" },
            Param { name: "filter", kind: ParamKind::Filter, doc: "filter field2's value must match" },
            Param { name: "translation", kind: ParamKind::Template, doc: "new value of `field` (`*` = its current value)" },
        ],
        optional: 0,
        doc: "Rewrites a field when another field matches; runs after all AddTranslations",
        source: url!("engine/import/addtranslation2"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetMoveDateFormat,
        name: "SetMoveDateFormat",
        aliases: &[],
        params: &[Param { name: "format", kind: ParamKind::DateFormat, doc: "strftime format with `%` doubled" }],
        optional: 0,
        doc: "Date format of MOVEDATE",
        source: url!("sync/fields"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetWriteTimeFormat,
        name: "SetWriteTimeFormat",
        aliases: &["SetWriteDateFormat"],
        params: &[Param { name: "format", kind: ParamKind::DateFormat, doc: "strftime format with `%` doubled" }],
        optional: 0,
        doc: "Date format of WRITETIME (alias WRITEDATE)",
        source: url!("engine/sync/addrepositoryonwritetime"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddMoveDateAdjustment,
        name: "AddMoveDateAdjustment",
        aliases: &[],
        params: &[
            FIELD,
            FILTER,
            Param { name: "years", kind: INT_ANY, doc: "years to add (may be negative)" },
            Param { name: "months", kind: INT_ANY, doc: "months to add" },
            Param { name: "days", kind: INT_ANY, doc: "days to add" },
        ],
        optional: 0,
        doc: "Shifts the move date when a field matches",
        source: url!("engine/sync/addmovedateadjustment"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddRepositoryOnWriteTime,
        name: "AddRepositoryOnWriteTime",
        aliases: &[],
        params: &[
            FIELD,
            FILTER,
            Param { name: "time", kind: ParamKind::Duration, doc: "maximum age of the last write (days:months:years)" },
            Param { name: "target", kind: ParamKind::Text, doc: "the target Repository-ID" },
            Param { name: "movedate", kind: ParamKind::Duration, doc: "move date = write time + this (\"0\" = no move date)" },
        ],
        optional: 0,
        doc: "Chooses the repository (and move date) from the age of the last write",
        source: url!("engine/sync/addrepositoryonwritetime"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddRepositoryOnMoveDate,
        name: "AddRepositoryOnMoveDate",
        aliases: &[],
        params: &[
            FIELD,
            FILTER,
            Param { name: "within", kind: ParamKind::Duration, doc: "fires when the move date is within this span of now (negative: in the past)" },
            Param { name: "target", kind: ParamKind::Text, doc: "the target Repository-ID" },
        ],
        optional: 0,
        doc: "Chooses the repository from the move date; takes precedence over AddRepositoryOnWriteTime (parameters designed by tapesync)",
        source: url!("engine/sync/addrepositoryonwritetime"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::AddSkipOnRepositoryChange,
        name: "AddSkipOnRepositoryChange",
        aliases: &[],
        params: &[
            Param { name: "proposed", kind: ParamKind::Filter, doc: "filter for the proposed target repository" },
            Param { name: "target", kind: ParamKind::Filter, doc: "filter for the current target repository" },
            Param { name: "current", kind: ParamKind::Filter, doc: "filter for the current repository" },
        ],
        optional: 0,
        doc: "Skips a volume's update when all three repository filters match",
        source: url!("engine/sync/addskiponrepositorychange"),
        extension: false,
    },
    DirectiveInfo {
        id: DirectiveId::SetWhitespaceDelimited,
        name: "SetWhitespaceDelimited",
        aliases: &[],
        params: &[Param { name: "tail", kind: INT_POS, doc: "this word extends to the end of the line" }],
        optional: 1,
        doc: "Input elements are runs of non-blank characters; Extract takes 1-based words",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetRulerColumns,
        name: "SetRulerColumns",
        aliases: &[],
        params: &[],
        optional: 0,
        doc: "Columns are cut where the report's dashed ruler line (`-----   ------`) says, so one definition reads every column width; Extract takes 1-based columns (-1 = last)",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetKeyValueFormat,
        name: "SetKeyValueFormat",
        aliases: &[],
        params: &[Param { name: "separator", kind: ParamKind::Text, doc: "separator between key and value, e.g. \":\"" }],
        optional: 0,
        doc: "A record is a block of `key SEP value` lines (blocks end at blank lines unless SetRecordStart is given)",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetRecordStart,
        name: "SetRecordStart",
        aliases: &[],
        params: &[Param { name: "filter", kind: ParamKind::Filter, doc: "filter for the line that begins a record (blanks around the line trimmed)" }],
        optional: 0,
        doc: "A line matching the filter begins a new record: a key/value block, or a record of several lines that the lines after it continue",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetRecordLines,
        name: "SetRecordLines",
        aliases: &[],
        params: &[Param { name: "count", kind: ParamKind::Int { min: 2, max: 1000 }, doc: "lines in every record" }],
        optional: 0,
        doc: "Every record has this many lines (without SetRecordStart or SetRecordIndent: every `count` body lines are one record); a record cut short is rejected with its line numbers",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetRecordIndent,
        name: "SetRecordIndent",
        aliases: &[],
        params: &[],
        optional: 0,
        doc: "A line that begins with a blank continues the record above it (a wrapped value); other lines begin a record",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::ExtractLine,
        name: "ExtractLine",
        aliases: &[],
        params: &[
            FIELD,
            Param { name: "line", kind: INT_POS, doc: "1-based line of the record (with SetRecordLines, SetRecordStart or SetRecordIndent)" },
            Param { name: "offset", kind: INT_ANY, doc: "0-based character offset (text) or 1-based element, word or ruler column (delimited, whitespace, ruler columns; 0 = whole line; -1 = last, …)" },
            Param { name: "length", kind: INT_POS, doc: "characters taken (text) or kept at most (delimited, whitespace)" },
        ],
        optional: 0,
        doc: "Takes a field's value from a line of a record that spans several lines",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::ExtractKey,
        name: "ExtractKey",
        aliases: &[],
        params: &[
            FIELD,
            Param { name: "key", kind: ParamKind::Text, doc: "the key (compared case-insensitively, trimmed)" },
            Param { name: "length", kind: INT_POS, doc: "characters kept at most" },
        ],
        optional: 0,
        doc: "With SetKeyValueFormat: takes a field from the value of a key",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetSubstring,
        name: "SetSubstring",
        aliases: &[],
        params: &[
            FIELD,
            Param { name: "offset", kind: INT_ANY, doc: "0-based character offset in the value; below 0 counted from its end (-1 = last character)" },
            Param { name: "length", kind: INT_POS, doc: "characters kept" },
        ],
        optional: 0,
        doc: "Keeps a part of a field's value (a barcode prefix, a slot number at the end of an element), before translations",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetValueTemplate,
        name: "SetValueTemplate",
        aliases: &[],
        params: &[FIELD, Param { name: "template", kind: ParamKind::Text, doc: "text with `{FIELD}` for another field's value (`{{`/`}}` for braces)" }],
        optional: 0,
        doc: "Builds a field's value from other fields' values, e.g. a date and a time into WRITETIME: \"{USER1} {USER2}\"",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetDateFormat,
        name: "SetDateFormat",
        aliases: &[],
        params: &[FIELD, Param { name: "format", kind: ParamKind::DateFormat, doc: "strftime format with `%` doubled" }],
        optional: 0,
        doc: "Date format of any date or time field",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::RemoveCharacters,
        name: "RemoveCharacters",
        aliases: &[],
        params: &[FIELD, Param { name: "chars", kind: ParamKind::Text, doc: "every character to remove" }],
        optional: 0,
        doc: "Removes every listed character from the field (with RemoveSpaces, before translations)",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetCsvQuote,
        name: "SetCSVQuote",
        aliases: &[],
        params: &[Param { name: "quote", kind: ParamKind::CharOrNone, doc: "quote character, or NONE" }],
        optional: 0,
        doc: "Quote character of delimited input (default `\"`; NONE switches quoting off)",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::Include,
        name: "Include",
        aliases: &[],
        params: &[Param { name: "path", kind: ParamKind::Path, doc: "definition file, relative to the including file" }],
        optional: 0,
        doc: "Includes another definition file at this point",
        source: None,
        extension: true,
    },
    DirectiveInfo {
        id: DirectiveId::SetVariable,
        name: "SetVariable",
        aliases: &[],
        params: &[
            Param { name: "name", kind: ParamKind::Name, doc: "variable name" },
            Param { name: "value", kind: ParamKind::Text, doc: "its value, used as %NAME% in later strings" },
        ],
        optional: 0,
        doc: "Defines a variable for %NAME% references in the strings that follow",
        source: None,
        extension: true,
    },
];

/// Every directive, TapeTrack's first, then the extensions.
pub fn catalogue() -> &'static [DirectiveInfo] {
    CATALOGUE
}

/// Finds a directive by name or alias, case-insensitively.
pub fn lookup(name: &str) -> Option<&'static DirectiveInfo> {
    CATALOGUE.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The base URL of TapeTrack's documentation (for docs generation).
pub fn tapetrack_docs() -> &'static str {
    TT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_with_aliases() {
        assert_eq!(
            lookup("setcsvdelimiter").map(|d| d.id),
            Some(DirectiveId::SetCsvDelimiter)
        );
        assert_eq!(
            lookup("SetWriteDateFormat").map(|d| d.id),
            Some(DirectiveId::SetWriteTimeFormat)
        );
        assert!(lookup("SetNothing").is_none());
    }

    #[test]
    fn tapetrack_directives_name_their_source_and_extensions_do_not() {
        for d in catalogue() {
            assert_eq!(d.source.is_none(), d.extension, "{}", d.name);
            assert!(d.optional <= d.params.len());
        }
        assert_eq!(
            lookup("SetWhitespaceDelimited")
                .map(|d| d.signature())
                .as_deref(),
            Some("SetWhitespaceDelimited([tail])")
        );
    }
}
