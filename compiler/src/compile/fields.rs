//! Field derivation and translations: where each field's value comes from — `SetLiteral`,
//! `Extract` and `ExtractKey` — and what is done to it — `RemoveSpaces`, `RemoveCharacters`,
//! `AddTranslation`, `AddTranslation2` and `AddExclusionOnValue`.

use super::arguments::template::{compile_template, constant_result};
use super::arguments::Site;
use super::line_rules::LoweredLines;
use super::{Compiler, Directive};
use crate::catalogue::DirectiveId;
use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{
    ExtractSource, Extraction, Literal, RecordFormat, RecordGrouping, RemoveCharacters,
    Translation, ValueFilter,
};
use tapesync_model::{canonicalise, Field};

/// What the field directives gave.
#[derive(Default)]
pub(super) struct FieldRules {
    /// `SetLiteral` values as written, with the site of the value.
    pub(super) literals: Vec<(Field, String, Site)>,
    /// `Extract`/`ExtractKey`: field, source, length, site.
    pub(super) extractions: Vec<(Field, PendingExtract, usize, Site)>,
    remove_spaces: Vec<(Field, Site)>,
    remove_characters: Vec<RemoveCharacters>,
    translations: Vec<Translation>,
    translations2: Vec<Translation>,
    value_exclusions: Vec<ValueFilter>,
}

impl FieldRules {
    /// The fields translations give a value (besides literals and extraction).
    pub(super) fn translated(&self) -> impl Iterator<Item = Field> + '_ {
        self.translations
            .iter()
            .chain(&self.translations2)
            .map(|t| t.field)
    }
}

/// An extraction before the record format is known (it decides what an offset means).
#[derive(Debug, Clone)]
pub(super) enum PendingExtract {
    /// `offset` below 0 counts elements from the end of the line (extension).
    Offset {
        offset: i64,
        record: usize,
    },
    /// `ExtractLine`: `offset` of 1-based line `line` of a grouped record.
    Line {
        line: usize,
        offset: i64,
    },
    Key(String),
}

/// The field directives as the plan has them.
pub(super) struct LoweredFields {
    pub(super) literals: Vec<Literal>,
    pub(super) extractions: Vec<Extraction>,
    pub(super) remove_spaces: Vec<Field>,
    pub(super) remove_characters: Vec<RemoveCharacters>,
    pub(super) translations: Vec<Translation>,
    pub(super) translations2: Vec<Translation>,
    pub(super) value_exclusions: Vec<ValueFilter>,
}

impl Compiler<'_> {
    /// `SetLiteral`.
    pub(super) fn set_literal(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let field = v[0].field();
        let Some(s) = v[1].str() else { return };
        if self.empty(site.file, s, "a literal value") {
            return;
        }
        if !field.is_temporal() {
            if let Err(e) = canonicalise(field, s.text()) {
                self.emit(
                    Diagnostic::new(Code::VALUE_INVALID, site.file, s.arg, e.to_string())
                        .label(format!("does not fit {field}"))
                        .note(format!("{field}: {}", field.info().doc)),
                );
                return;
            }
        }
        let literals = &self.given.fields.literals;
        if let Some(&(_, _, old)) = literals.iter().find(|(f, _, _)| *f == field) {
            let message = format!("{field} is set by SetLiteral twice; the last one wins");
            self.repeated(
                Code::DUPLICATE_DEFINITION,
                site,
                old,
                message,
                "first set here",
            );
        }
        self.given.fields.literals.push((
            field,
            s.text().to_string(),
            Site {
                file: site.file,
                span: s.arg,
            },
        ));
    }

    /// `Extract`.
    pub(super) fn extract(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let pending = PendingExtract::Offset {
            offset: v[1].int(),
            record: v[3].int() as usize,
        };
        self.given
            .fields
            .extractions
            .push((v[0].field(), pending, v[2].int() as usize, site));
    }

    /// `ExtractLine`.
    pub(super) fn extract_line(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let pending = PendingExtract::Line {
            line: v[1].int() as usize,
            offset: v[2].int(),
        };
        self.given
            .fields
            .extractions
            .push((v[0].field(), pending, v[3].int() as usize, site));
    }

    /// `ExtractKey`.
    pub(super) fn extract_key(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[1].str() else { return };
        if self.empty(site.file, s, "a key") {
            return;
        }
        let key = s.text().trim().to_string();
        self.given.fields.extractions.push((
            v[0].field(),
            PendingExtract::Key(key),
            v[2].int() as usize,
            site,
        ));
    }

    /// `RemoveSpaces`.
    pub(super) fn remove_spaces(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let field = v[0].field();
        let given = &self.given.fields.remove_spaces;
        if let Some(&(_, old)) = given.iter().find(|(f, _)| *f == field) {
            let message = format!("RemoveSpaces({field}) is given twice");
            self.repeated(
                Code::DUPLICATE_DEFINITION,
                site,
                old,
                message,
                "first given here",
            );
            return;
        }
        self.given.fields.remove_spaces.push((field, site));
    }

    /// `RemoveCharacters`.
    pub(super) fn remove_characters(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[1].str() else { return };
        if !self.empty(site.file, s, "the characters to remove") {
            self.given.fields.remove_characters.push(RemoveCharacters {
                field: v[0].field(),
                chars: s.text().to_string(),
            });
        }
    }

    /// `AddTranslation` and `AddTranslation2`.
    pub(super) fn add_translation(&mut self, d: &Directive<'_>) {
        let (info, v, site) = (d.info, &d.args, d.site);
        let two = info.id == DirectiveId::AddTranslation2;
        let field = v[0].field();
        let tested = if two { v[1].field() } else { field };
        let (fs, ts) = if two { (&v[2], &v[3]) } else { (&v[1], &v[2]) };
        let (Some(fs), Some(ts)) = (fs.str(), ts.str()) else {
            return;
        };
        let filter = self.pattern(site.file, fs);
        let template = compile_template(ts.text());
        if ts.text().is_empty() && self.options.compat {
            self.emit(
                Diagnostic::new(
                    Code::EXTENSION_USED,
                    site.file,
                    ts.arg,
                    "an empty translation (\"no value\") is a tapesync extension",
                )
                .note("TapeTrack requires a translation of at least one character"),
            );
        }
        if let Some(constant) = constant_result(&template) {
            if !constant.is_empty() && !field.is_temporal() {
                if let Err(e) = canonicalise(field, &constant) {
                    self.emit(
                        Diagnostic::new(Code::VALUE_INVALID, site.file, ts.arg, e.to_string())
                            .label(format!("does not fit {field}")),
                    );
                    return;
                }
            }
        }
        let Some(filter) = filter else { return };
        let t = Translation {
            field,
            tested,
            filter,
            template,
        };
        if two {
            self.given.fields.translations2.push(t);
        } else {
            self.given.fields.translations.push(t);
        }
    }

    /// `AddExclusionOnValue`.
    pub(super) fn add_exclusion_on_value(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[1].str() else { return };
        if let Some(filter) = self.pattern(site.file, s) {
            self.given.fields.value_exclusions.push(ValueFilter {
                field: v[0].field(),
                filter,
            });
        }
    }

    /// An offset below 0 (extension): the element counted from the end of the line, 1 being
    /// the last — `Some(1)` for `-1`. `None` for other offsets; `Err` (reported) where the
    /// record format has no elements to count.
    fn counted_from_end(
        &mut self,
        offset: i64,
        format: &RecordFormat,
        site: Site,
        name: &str,
    ) -> Result<Option<usize>, ()> {
        if offset >= 0 {
            return Ok(None);
        }
        if matches!(format, RecordFormat::FixedColumns) {
            self.emit(
                Diagnostic::new(
                    Code::ARGUMENT_OUT_OF_RANGE,
                    site.file,
                    site.span,
                    format!("`{name}` with offset {offset}: fixed columns have no words to count from the end of the line"),
                )
                .help("a character offset is 0 or more; a negative offset counts words, elements or ruler columns (SetWhitespaceDelimited, SetCSVDelimiter, SetRulerColumns)"),
            );
            return Err(());
        }
        if self.options.compat {
            self.emit(
                Diagnostic::new(
                    Code::EXTENSION_USED,
                    site.file,
                    site.span,
                    format!("`{name}` with a negative offset (counting from the end of the line) is a tapesync extension"),
                )
                .note("TapeTrack's offsets are 0 or more"),
            );
        }
        Ok(Some(offset.unsigned_abs() as usize))
    }

    /// Extractions resolved for the record format and the header size; literals checked
    /// and in canonical form (literal dates read with their field's date format).
    pub(super) fn lower_fields(
        &mut self,
        format: &RecordFormat,
        lines: &LoweredLines,
        grouping: Option<&RecordGrouping>,
    ) -> LoweredFields {
        // Extractions, resolved for the record format.
        let (header_count, has_header_rule) = (lines.header_count, lines.has_header_rule);
        let mut extractions = Vec::new();
        let pending = self.given.fields.extractions.clone();
        for (field, p, length, site) in &pending {
            let source = match (p, format) {
                (PendingExtract::Key(key), RecordFormat::KeyValue { .. }) => {
                    ExtractSource::Key { key: key.clone() }
                }
                (PendingExtract::Key(_), _) => {
                    self.emit(
                        Diagnostic::new(
                            Code::WRONG_RECORD_FORMAT,
                            site.file,
                            site.span,
                            "`ExtractKey` needs key/value input",
                        )
                        .help("add `SetKeyValueFormat(\":\");` (or use Extract for this format)"),
                    );
                    continue;
                }
                (
                    PendingExtract::Offset { .. } | PendingExtract::Line { .. },
                    RecordFormat::KeyValue { .. },
                ) => {
                    let name = match p {
                        PendingExtract::Line { .. } => "ExtractLine",
                        _ => "Extract",
                    };
                    self.emit(
                        Diagnostic::new(
                            Code::WRONG_RECORD_FORMAT,
                            site.file,
                            site.span,
                            format!("`{name}` cannot address key/value input"),
                        )
                        .help("use `ExtractKey(field, \"key\", length);`"),
                    );
                    continue;
                }
                (PendingExtract::Line { line, offset }, format) => {
                    let line = *line;
                    let Ok(from_end) = self.counted_from_end(*offset, format, *site, "ExtractLine")
                    else {
                        continue;
                    };
                    let problem = match grouping {
                        None => Some(format!(
                            "takes line {line} of a record, but every record is one line"
                        )),
                        Some(RecordGrouping { lines: Some(n), .. }) if line > *n => Some(
                            format!("takes line {line} of a record, but a record has {n} lines (`SetRecordLines({n})`)"),
                        ),
                        Some(_) => None,
                    };
                    if let Some(problem) = problem {
                        self.emit(
                            Diagnostic::new(
                                Code::RECORD_LINE_INVALID,
                                site.file,
                                site.span,
                                format!("`ExtractLine` {problem}"),
                            )
                            .help(match grouping {
                                None => "say how lines group into a record: `SetRecordLines(n);`, `SetRecordStart(\"filter\");` or `SetRecordIndent();`",
                                Some(_) => "the 2nd argument is a line from 1 to SetRecordLines",
                            }),
                        );
                        continue;
                    }
                    let offset = offset.unsigned_abs() as usize;
                    match (format, from_end) {
                        (_, Some(index)) => ExtractSource::ElementFromEnd {
                            index,
                            line,
                            record: 0,
                        },
                        (RecordFormat::FixedColumns, _) => {
                            ExtractSource::LineColumns { line, offset }
                        }
                        _ => ExtractSource::LineElement {
                            line,
                            index: offset,
                        },
                    }
                }
                (PendingExtract::Offset { offset, record }, format) => {
                    let Ok(from_end) = self.counted_from_end(*offset, format, *site, "Extract")
                    else {
                        continue;
                    };
                    if *record > 0 {
                        let problem = if !has_header_rule {
                            Some("takes a header record, but no `AddString(HEADER, …)` rule defines headers".to_string())
                        } else if *record > header_count {
                            Some(format!("takes header record {record}, but a header has {header_count} record(s)"))
                        } else {
                            None
                        };
                        if let Some(problem) = problem {
                            self.emit(
                                Diagnostic::new(
                                    Code::HEADER_RECORD_INVALID,
                                    site.file,
                                    site.span,
                                    format!("`Extract` {problem}"),
                                )
                                .help(
                                    "the 4th argument is 0 for body records or 1..=SetHeaderCount",
                                ),
                            );
                            continue;
                        }
                    }
                    let (offset, record) = (offset.unsigned_abs() as usize, *record);
                    match (format, from_end) {
                        (_, Some(index)) => ExtractSource::ElementFromEnd {
                            index,
                            line: 1,
                            record,
                        },
                        (RecordFormat::FixedColumns, _) => {
                            ExtractSource::Columns { offset, record }
                        }
                        // Every other offset format counts elements, in header records too.
                        _ if record > 0 => ExtractSource::HeaderElement {
                            index: offset,
                            record,
                        },
                        _ if offset == 0 => ExtractSource::WholeRecord,
                        _ => ExtractSource::Element { index: offset },
                    }
                }
            };
            if field.is_temporal() && !self.given.rules.date_formats.contains_key(field) {
                let fix = match field {
                    Field::MoveDate => "SetMoveDateFormat(\"%%d/%%m/%%Y\");".to_string(),
                    Field::WriteTime => {
                        "SetWriteTimeFormat(\"%%d/%%m/%%Y %%H:%%M:%%S\");".to_string()
                    }
                    f => format!("SetDateFormat({f}, \"%%d/%%m/%%Y\");"),
                };
                self.emit(
                    Diagnostic::new(
                        Code::DATE_FORMAT_MISSING,
                        site.file,
                        site.span,
                        format!("{field} is extracted but has no date format"),
                    )
                    .label("extracted here")
                    .help(format!("add a format, e.g. `{fix}`")),
                );
                continue;
            }
            extractions.push(Extraction {
                field: *field,
                source,
                length: *length,
            });
        }

        // Literals of date fields are read with the field's format (or must be canonical).
        let mut literals = Vec::new();
        let lits = self.given.fields.literals.clone();
        for (field, value, site) in &lits {
            let canonical = if field.is_temporal() {
                let parsed = self
                    .given
                    .rules
                    .date_formats
                    .get(field)
                    .and_then(|(f, _)| f.parse(value).ok());
                match parsed {
                    Some(t) => Some(crate::plan::dates::canonical(field.kind(), &t)),
                    None => canonicalise(*field, value).ok(),
                }
            } else {
                canonicalise(*field, value).ok()
            };
            match canonical {
                Some(v) => literals.push(Literal {
                    field: *field,
                    value: v,
                }),
                None => {
                    let (code, msg, help) = match self.given.rules.date_formats.get(field) {
                        Some((f, _)) => (
                            Code::VALUE_INVALID,
                            format!(
                                "`{value}` does not match the date format `{}` of {field}",
                                f.written
                            ),
                            "write the date in the field's format".to_string(),
                        ),
                        None => (
                            Code::DATE_FORMAT_MISSING,
                            format!(
                                "{field} `{value}` needs a date format (or the form YYYY-MM-DD)"
                            ),
                            "give the field a date format or write the date as YYYY-MM-DD"
                                .to_string(),
                        ),
                    };
                    self.emit(Diagnostic::new(code, site.file, site.span, msg).help(help));
                }
            }
        }
        let given = &mut self.given.fields;
        LoweredFields {
            literals,
            extractions,
            remove_spaces: given.remove_spaces.iter().map(|(f, _)| *f).collect(),
            remove_characters: std::mem::take(&mut given.remove_characters),
            // Cloned, not taken: the whole-definition checks still count what they set.
            translations: given.translations.clone(),
            translations2: given.translations2.clone(),
            value_exclusions: std::mem::take(&mut given.value_exclusions),
        }
    }
}
