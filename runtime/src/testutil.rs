//! Helpers for the crate's unit tests: hand-built plan pieces.

use tapesync_compiler::plan::{Pattern, PatternBody, PatternToken, Template, TemplatePart};

/// A pattern from a simple glob (`*`, `?`, literal text; a leading `!` negates).
pub fn glob(source: &str) -> Pattern {
    let (negated, body) = match source.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, source),
    };
    let mut tokens = Vec::new();
    let mut text = String::new();
    for c in body.chars() {
        match c {
            '*' | '?' => {
                if !text.is_empty() {
                    tokens.push(PatternToken::Text(std::mem::take(&mut text)));
                }
                tokens.push(if c == '*' {
                    PatternToken::AnyRun
                } else {
                    PatternToken::AnyOne
                });
            }
            _ => text.push(c),
        }
    }
    if !text.is_empty() {
        tokens.push(PatternToken::Text(text));
    }
    Pattern {
        source: source.to_string(),
        negated,
        body: PatternBody::Glob {
            tokens: tokens.into(),
        },
    }
}

/// A template from `*` (whole value), `~`/`^` masks and literal text.
pub fn template(source: &str) -> Template {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut mask: Vec<bool> = Vec::new();
    for c in source.chars() {
        match c {
            '~' | '^' => {
                if !text.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                }
                mask.push(c == '~');
            }
            _ => {
                if !mask.is_empty() {
                    parts.push(TemplatePart::Mask(std::mem::take(&mut mask)));
                }
                if c == '*' {
                    if !text.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(TemplatePart::Whole);
                } else {
                    text.push(c);
                }
            }
        }
    }
    if !mask.is_empty() {
        parts.push(TemplatePart::Mask(mask));
    }
    if !text.is_empty() {
        parts.push(TemplatePart::Text(text));
    }
    Template {
        source: source.to_string(),
        parts,
    }
}

use std::collections::BTreeMap;
use tapesync_compiler::plan::{
    DateFormat, ExtractSource, Extraction, InputSpec, Literal, Plan, RecordFormat,
    PLAN_FORMAT_VERSION,
};
use tapesync_model::Field;

/// A CSV plan: CUSTOMER and MEDIA literal, VOLUME from element 1, plus `extra` extractions
/// (field, element).
pub fn csv_plan(customer: &str, media: &str, extra: &[(Field, usize)]) -> Plan {
    let mut extractions = vec![Extraction {
        field: Field::Volume,
        source: ExtractSource::Element { index: 1 },
        length: 64,
    }];
    for (field, index) in extra {
        extractions.push(Extraction {
            field: *field,
            source: ExtractSource::Element { index: *index },
            length: 300,
        });
    }
    let mut fields_set = vec![Field::Customer, Field::Media, Field::Volume];
    fields_set.extend(extra.iter().map(|(f, _)| *f));
    fields_set.sort();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        definition: "test.ttidef".into(),
        input: InputSpec::default(),
        format: RecordFormat::Delimited {
            delimiter: b',',
            quote: Some(b'"'),
        },
        header_count: 0,
        line_rules: Vec::new(),
        grouping: None,
        substrings: Vec::new(),
        value_templates: Vec::new(),
        literals: vec![
            Literal {
                field: Field::Customer,
                value: customer.into(),
            },
            Literal {
                field: Field::Media,
                value: media.into(),
            },
        ],
        extractions,
        remove_spaces: Vec::new(),
        remove_characters: Vec::new(),
        whitespace_tail: None,
        translations: Vec::new(),
        translations2: Vec::new(),
        value_exclusions: Vec::new(),
        date_formats: BTreeMap::new(),
        move_date_adjustments: Vec::new(),
        repository_on_move_date: Vec::new(),
        repository_on_write_time: Vec::new(),
        skip_on_repository_change: Vec::new(),
        fields_set,
    }
}

/// A date format from its strftime form (as the compiler would produce).
pub fn date_format(strftime: &str) -> DateFormat {
    DateFormat {
        written: strftime.replace('%', "%%"),
        strftime: strftime.to_string(),
        has_time: strftime.contains("%H"),
    }
}

/// A reader that yields its bytes and then fails ("disk on fire") instead of ending.
pub struct Failing(std::io::Cursor<Vec<u8>>);

impl Failing {
    pub fn new(bytes: Vec<u8>) -> Failing {
        Failing(std::io::Cursor::new(bytes))
    }
}

impl std::io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        if n == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        Ok(n)
    }
}
