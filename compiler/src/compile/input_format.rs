//! Input format: where the report comes from and how it is cut into records — `SetFile`,
//! `SetCSVDelimiter` and `SetCSVQuote` (delimited text), `SetWhitespaceDelimited` (words),
//! `SetRulerColumns` (columns cut at the report's dashed ruler),
//! `SetKeyValueFormat` and `SetRecordStart` (key/value blocks); fixed columns without any.
//! Records of several lines (extensions): `SetRecordLines`, `SetRecordStart` and
//! `SetRecordIndent` with the line-per-record formats.

use super::arguments::{Site, Val};
use super::{Compiler, Directive};
use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{GroupStart, InputSpec, Pattern, RecordFormat, RecordGrouping};

/// What the input-format directives gave.
#[derive(Default)]
pub(super) struct InputFormat {
    file: Option<(String, Site)>,
    format: Option<(FormatChoice, Site)>,
    quote: Option<(Option<u8>, Site)>,
    record_start: Option<(Pattern, Site)>,
    record_lines: Option<(usize, Site)>,
    record_indent: Option<Site>,
}

/// The input format as the plan has it.
pub(super) struct LoweredInput {
    pub(super) input: InputSpec,
    pub(super) format: RecordFormat,
    pub(super) whitespace_tail: Option<usize>,
    pub(super) grouping: Option<RecordGrouping>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FormatChoice {
    Delimited(u8),
    Whitespace(Option<usize>),
    Ruler,
    KeyValue(String),
}

impl FormatChoice {
    fn describe(&self) -> String {
        match self {
            FormatChoice::Delimited(d) => {
                format!("delimited input (`{}`)", char::from(*d).escape_debug())
            }
            FormatChoice::Whitespace(_) => "whitespace-separated input".into(),
            FormatChoice::Ruler => "columns cut at the ruler".into(),
            FormatChoice::KeyValue(s) => format!("key/value input (`{s}`)"),
        }
    }
}

impl Compiler<'_> {
    /// `SetFile`.
    pub(super) fn set_file(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[0].str() else { return };
        if self.empty(site.file, s, "a file name") {
            return;
        }
        if let Some((_, first)) = &self.given.input.file {
            let first = *first;
            self.given_twice(
                site,
                first,
                true,
                "`SetFile` given twice; the last one wins",
            );
        }
        self.given.input.file = Some((s.text().to_string(), site));
    }

    /// `SetCSVDelimiter`.
    pub(super) fn set_csv_delimiter(&mut self, d: &Directive<'_>) {
        let (info, v, site) = (d.info, &d.args, d.site);
        let Some(s) = v[0].str() else { return };
        if let Some(d) = self.one_char(site.file, s, "a delimiter") {
            self.set_format(FormatChoice::Delimited(d), site, info.name);
        }
    }

    /// `SetWhitespaceDelimited`.
    pub(super) fn set_whitespace_delimited(&mut self, d: &Directive<'_>) {
        let (info, v, site) = (d.info, &d.args, d.site);
        let tail = v.first().map(|t| t.int() as usize);
        self.set_format(FormatChoice::Whitespace(tail), site, info.name);
    }

    /// `SetRulerColumns`.
    pub(super) fn set_ruler_columns(&mut self, d: &Directive<'_>) {
        self.set_format(FormatChoice::Ruler, d.site, d.info.name);
    }

    /// `SetKeyValueFormat`.
    pub(super) fn set_key_value_format(&mut self, d: &Directive<'_>) {
        let (info, v, site) = (d.info, &d.args, d.site);
        let Some(s) = v[0].str() else { return };
        if !self.empty(site.file, s, "a key/value separator") {
            self.set_format(
                FormatChoice::KeyValue(s.text().to_string()),
                site,
                info.name,
            );
        }
    }

    /// `SetCSVQuote`.
    pub(super) fn set_csv_quote(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let quote = match &v[0] {
            Val::NoneWord => None,
            Val::Str(s) => match self.one_char(site.file, s, "a quote character") {
                Some(c) => Some(c),
                None => return,
            },
            _ => return,
        };
        if let Some((old, first)) = self.given.input.quote {
            let message = "`SetCSVQuote` given twice; the last one wins";
            self.given_twice(site, first, old == quote, message);
        }
        self.given.input.quote = Some((quote, site));
    }

    /// `SetRecordStart`.
    pub(super) fn set_record_start(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[0].str() else { return };
        if let Some(p) = self.pattern(site.file, s) {
            self.record_begin_given(site, "SetRecordStart");
            self.given.input.record_start = Some((p, site));
        }
    }

    /// `SetRecordLines`.
    pub(super) fn set_record_lines(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let n = v[0].int() as usize;
        if let Some((old, first)) = self.given.input.record_lines {
            let message = "`SetRecordLines` given twice; the last one wins";
            self.given_twice(site, first, old == n, message);
        }
        self.given.input.record_lines = Some((n, site));
    }

    /// `SetRecordIndent`.
    pub(super) fn set_record_indent(&mut self, d: &Directive<'_>) {
        let site = d.site;
        if let Some(first) = self.given.input.record_indent {
            self.given_twice(site, first, true, "`SetRecordIndent` given twice");
        }
        self.record_begin_given(site, "SetRecordIndent");
        self.given.input.record_indent = Some(site);
    }

    /// `SetRecordStart` and `SetRecordIndent` both say where a record begins: the later one
    /// replaces the other (a warning).
    fn record_begin_given(&mut self, site: Site, name: &str) {
        let input = &mut self.given.input;
        let other = match name {
            "SetRecordIndent" => input
                .record_start
                .take()
                .map(|(_, s)| ("SetRecordStart", s)),
            _ => input.record_indent.take().map(|s| ("SetRecordIndent", s)),
        };
        if let Some((other, first)) = other {
            let message = format!(
                "`{name}` replaces `{other}`: both say where a record begins; the last one wins"
            );
            self.repeated(
                Code::CONFLICTING_DEFINITIONS,
                site,
                first,
                message,
                "first given here",
            );
        }
    }

    /// How lines group into records, for a line-per-record `format`: at most one way to
    /// begin a record (the last of `SetRecordStart`/`SetRecordIndent` wins, with a warning).
    fn lower_grouping(&mut self, format: &RecordFormat) -> Option<RecordGrouping> {
        let input = &self.given.input;
        let (start, indent, lines) = (
            input.record_start.clone(),
            input.record_indent,
            input.record_lines,
        );
        if matches!(format, RecordFormat::KeyValue { .. }) {
            // SetRecordStart belongs to key/value input; the others do not.
            let others = [
                lines.map(|(_, s)| ("SetRecordLines", s)),
                indent.map(|s| ("SetRecordIndent", s)),
            ];
            for (name, site) in others.into_iter().flatten() {
                self.emit(
                    Diagnostic::new(
                        Code::WRONG_RECORD_FORMAT,
                        site.file,
                        site.span,
                        format!("`{name}` does not apply to key/value input"),
                    )
                    .help("key/value blocks begin at `SetRecordStart` lines or blank lines; remove this line"),
                );
            }
            return None;
        }
        // At most one of them is left (see `record_begin_given`).
        let start = match (start, indent) {
            (Some((filter, _)), _) => Some(GroupStart::Matching { filter }),
            (None, Some(_)) => Some(GroupStart::NotIndented),
            (None, None) => None,
        };
        let lines = lines.map(|(n, _)| n);
        (start.is_some() || lines.is_some()).then_some(RecordGrouping { lines, start })
    }

    /// Chooses the record format (a later choice replaces an earlier one, with a warning).
    fn set_format(&mut self, choice: FormatChoice, site: Site, name: &str) {
        if let Some((old, old_site)) = self.given.input.format.clone() {
            let (code, msg) = if old == choice {
                (
                    Code::DUPLICATE_DEFINITION,
                    format!("`{name}` repeats the record format"),
                )
            } else {
                (
                    Code::CONFLICTING_DEFINITIONS,
                    format!(
                        "`{name}` replaces the record format chosen earlier ({}); the last one wins",
                        old.describe()
                    ),
                )
            };
            self.repeated(code, site, old_site, msg, "record format first chosen here");
        }
        self.given.input.format = Some((choice, site));
    }

    /// The record format (fixed columns unless a directive chose another), and the settings
    /// that do not fit it.
    pub(super) fn lower_input_format(&mut self) -> LoweredInput {
        let format = match self.given.input.format.as_ref().map(|(f, _)| f.clone()) {
            None => RecordFormat::FixedColumns,
            Some(FormatChoice::Delimited(d)) => RecordFormat::Delimited {
                delimiter: d,
                quote: self.given.input.quote.map_or(Some(b'"'), |(q, _)| q),
            },
            Some(FormatChoice::Whitespace(_)) => RecordFormat::Whitespace,
            Some(FormatChoice::Ruler) => RecordFormat::RulerColumns,
            Some(FormatChoice::KeyValue(sep)) => RecordFormat::KeyValue {
                separator: sep,
                record_start: self
                    .given
                    .input
                    .record_start
                    .as_ref()
                    .map(|(p, _)| p.clone()),
            },
        };
        let whitespace_tail = match &self.given.input.format {
            Some((FormatChoice::Whitespace(t), _)) => *t,
            _ => None,
        };
        if let Some((_, site)) = self.given.input.quote {
            if !matches!(format, RecordFormat::Delimited { .. }) {
                self.emit(
                    Diagnostic::new(
                        Code::WRONG_RECORD_FORMAT,
                        site.file,
                        site.span,
                        "`SetCSVQuote` applies to delimited input only",
                    )
                    .help("add `SetCSVDelimiter(\",\");` or remove this line"),
                );
            }
        }
        let grouping = self.lower_grouping(&format);
        LoweredInput {
            input: InputSpec {
                file: self.given.input.file.as_ref().map(|(f, _)| f.clone()),
            },
            format,
            whitespace_tail,
            grouping,
        }
    }
}
