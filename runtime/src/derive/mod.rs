//! Field derivation: what one body record says about one volume.
//!
//! Order (docs/running.md "Evaluation order"): literals → extraction (cut to `length`, trimmed)
//! → RemoveSpaces/RemoveCharacters → SetSubstring → SetValueTemplate → AddTranslation (first
//! match per field, file order) →
//! AddTranslation2 (same, after all AddTranslations) → AddExclusionOnValue → dates parsed with
//! their formats → AddMoveDateAdjustment (every matching entry, cumulative, file order) →
//! AddRepositoryOnMoveDate (first match) → AddRepositoryOnWriteTime (first match, only when no
//! move-date rule fired) → canonical values checked against field limits.
//!
//! `REPOSITORY_DESC` needs the scope's repositories and is resolved later, by the diff
//! (`crate::scope::diff`).

mod dates;
mod parts;
pub mod select;
mod values;

use crate::read::{RawRecord, RulerRole};
use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_compiler::plan::dates::write_canonical;
use tapesync_compiler::plan::{DateReader, ExtractSource, Plan};
use tapesync_model::value::canonicalise_cow;
use tapesync_model::{Field, ScopeKey};
pub use values::Values;
use values::{canonical_in_place, volume_id_in_place};

/// A derived, validated record: the values one report line gives one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// Line of the input the record started on (for rejection messages).
    pub line: u64,
    pub scope: ScopeKey,
    pub volume: String,
    /// Canonical values of stored fields, plus `REPOSITORY_DESC` when the record has one.
    pub fields: BTreeMap<Field, String>,
    /// True when a repository rule chose `REPOSITORY`; `REPOSITORY_DESC` then does not
    /// override it.
    #[serde(default)]
    pub repository_by_rule: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derived {
    Record(SyncRecord),
    /// An `AddExclusionOnValue` filter matched.
    Excluded,
    Rejected(String),
}

pub struct Deriver<'p> {
    plan: &'p Plan,
    now: NaiveDateTime,
    /// A reader per date format of the plan, prepared once (reading a value with the format
    /// string alone would parse the format again for every value). A plan has a handful: a
    /// list is searched faster than a map.
    dates: Vec<(Field, DateReader<'p>)>,
    /// Bits (by [`Field::index`]) of the temporal fields, of the fields whose value is put in
    /// canonical form (stored fields and `REPOSITORY_DESC`), and of the scratch fields
    /// (`USER1`…`USER9`): worked out once instead of per value of every record.
    temporal: u64,
    canonical: u64,
    scratch: u64,
}

/// The bits of the fields that `pick` selects.
fn field_mask(pick: impl Fn(Field) -> bool) -> u64 {
    Field::ALL
        .iter()
        .filter(|f| pick(**f))
        .fold(0, |mask, f| mask | 1 << f.index())
}

/// A derived record held in reusable buffers ([`Deriver::derive_into`]): what a
/// [`SyncRecord`] says, without allocating one.
#[derive(Debug, Clone, Default)]
pub struct DerivedRecord {
    pub line: u64,
    pub repository_by_rule: bool,
    values: Values,
}

impl DerivedRecord {
    pub fn customer(&self) -> &str {
        self.values.get(Field::Customer).unwrap_or("")
    }

    pub fn media(&self) -> &str {
        self.values.get(Field::Media).unwrap_or("")
    }

    pub fn volume(&self) -> &str {
        self.values.get(Field::Volume).unwrap_or("")
    }

    /// Canonical values of stored fields, plus `REPOSITORY_DESC` when the record has one, in
    /// field order.
    pub fn fields(&self) -> impl Iterator<Item = (Field, &str)> + '_ {
        self.values
            .iter()
            .filter(|(f, _)| f.is_stored() || *f == Field::RepositoryDesc)
    }

    /// The record as an owned [`SyncRecord`].
    pub fn to_sync_record(&self) -> SyncRecord {
        SyncRecord {
            line: self.line,
            scope: ScopeKey {
                customer: self.customer().to_string(),
                media: self.media().to_string(),
            },
            volume: self.volume().to_string(),
            fields: self.fields().map(|(f, v)| (f, v.to_string())).collect(),
            repository_by_rule: self.repository_by_rule,
        }
    }
}

/// What [`Deriver::derive_into`] made of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The record is in the [`DerivedRecord`].
    Record,
    Excluded,
    Rejected(String),
}

impl<'p> Deriver<'p> {
    pub fn new(plan: &'p Plan, now: NaiveDateTime) -> Deriver<'p> {
        let dates = plan
            .date_formats
            .iter()
            .map(|(field, format)| (*field, format.reader()))
            .collect();
        Deriver {
            plan,
            now,
            dates,
            temporal: field_mask(Field::is_temporal),
            canonical: field_mask(|f| f.is_stored() || f == Field::RepositoryDesc),
            scratch: field_mask(|f| matches!(f, Field::User(_))),
        }
    }

    /// The stored fields a run compares with the inventory: those the plan sets, plus what
    /// the repository rules and `REPOSITORY_DESC` can set, plus CURRENT_REPOSITORY, which
    /// skip rules read.
    pub fn compared_fields(plan: &Plan) -> Vec<Field> {
        let mut out: Vec<Field> = plan
            .fields_set
            .iter()
            .copied()
            .filter(|f| f.is_stored())
            .collect();
        let mut add = |f: Field| {
            if !out.contains(&f) {
                out.push(f);
            }
        };
        if plan.fields_set.contains(&Field::RepositoryDesc)
            || !plan.repository_on_move_date.is_empty()
            || !plan.repository_on_write_time.is_empty()
        {
            add(Field::Repository);
        }
        if plan
            .repository_on_write_time
            .iter()
            .any(|r| r.move_date.is_some())
        {
            add(Field::MoveDate);
        }
        // A skip rule's third filter is where the tape is: download it. (No record sets it
        // unless the plan does, so it is never written because of this.)
        if !plan.skip_on_repository_change.is_empty() {
            add(Field::CurrentRepository);
        }
        out.sort();
        out
    }

    /// Derives one record into an owned [`SyncRecord`] (allocates; the run uses
    /// [`Deriver::derive_into`]). `lines` is the record: one line, or the lines of a record
    /// of several lines (`plan.grouping`), first line first.
    pub fn derive(&self, lines: &[RawRecord], header: &[RawRecord]) -> Derived {
        let mut out = DerivedRecord::default();
        match self.derive_into(lines, header, &mut out) {
            Outcome::Record => Derived::Record(out.to_sync_record()),
            Outcome::Excluded => Derived::Excluded,
            Outcome::Rejected(reason) => Derived::Rejected(reason),
        }
    }

    /// Derives one record (its lines, first line first) into `out`, reusing its buffers.
    pub fn derive_into(
        &self,
        lines: &[RawRecord],
        header: &[RawRecord],
        out: &mut DerivedRecord,
    ) -> Outcome {
        let Some(record) = lines.first() else {
            return Outcome::Rejected("a record without lines".to_string());
        };
        out.line = record.line;
        match self.try_derive(lines, header, &mut out.values) {
            Ok(Some(by_rule)) => {
                out.repository_by_rule = by_rule;
                Outcome::Record
            }
            Ok(None) => Outcome::Excluded,
            Err(reason) => Outcome::Rejected(reason),
        }
    }

    /// Leaves the record's canonical values in `values`; `Some(repository_by_rule)` for a
    /// record, `None` when a value filter excluded it.
    fn try_derive(
        &self,
        lines: &[RawRecord],
        header: &[RawRecord],
        values: &mut Values,
    ) -> Result<Option<bool>, String> {
        let plan = self.plan;
        values.clear();
        for lit in &plan.literals {
            values.set(lit.field, &lit.value);
        }
        for ex in &plan.extractions {
            let value = extract(&ex.source, ex.field, lines, header)?;
            // A value of no more bytes than the length has no more characters either: only
            // longer ones need the character walk.
            let cut = if value.len() <= ex.length {
                value
            } else {
                match value.char_indices().nth(ex.length) {
                    Some((end, _)) => &value[..end],
                    None => value,
                }
            };
            let trimmed = trim(cut);
            if !trimmed.is_empty() || !values.contains(ex.field) {
                values.set(ex.field, trimmed);
            }
        }
        for f in &plan.remove_spaces {
            if let Some(v) = values.get_mut(*f) {
                v.retain(|c| !c.is_whitespace());
            }
        }
        for rc in &plan.remove_characters {
            if let Some(v) = values.get_mut(rc.field) {
                v.retain(|c| !rc.chars.contains(c));
            }
        }
        parts::apply(values, &plan.substrings, &plan.value_templates);
        translate(values, &plan.translations);
        translate(values, &plan.translations2);
        for ex in &plan.value_exclusions {
            if ex.filter.matches(value_of(values, ex.field)) {
                return Ok(None);
            }
        }
        values.unset_empty();

        // Dates: parse every temporal value into a timestamp.
        let mut times = std::mem::take(&mut values.times);
        for (field, value) in values.iter_of(self.temporal) {
            times.push((field, self.parse_time(field, value)?));
        }
        let repository_by_rule = self.date_rules(values, &mut times);
        if let Some(repo) = repository_by_rule {
            values.set(Field::Repository, repo);
        }
        // A date or time written here in the plain four-digit-year form is canonical by
        // construction: checking it again would only cost time.
        let mut canonical_already = 0u64;
        for (field, t) in &times {
            write_canonical(field.kind(), t, values.slot(*field));
            if (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000 {
                canonical_already |= 1 << field.index();
            }
        }
        values.times = times;

        for key in [Field::Customer, Field::Media] {
            match values.get_mut(key) {
                Some(v) => canonical_in_place(key, v)?,
                None => return Err(format!("{key} has no value")),
            }
        }
        match values.get_mut(Field::Volume) {
            Some(v) => volume_id_in_place(v)?,
            None => return Err("VOLUME has no value".to_string()),
        }
        for field in values.fields_of(self.canonical & !canonical_already) {
            if let Some(value) = values.get_mut(field) {
                canonical_in_place(field, value)?;
            }
        }
        // Scratch values are only ever compared; still refuse what no field can hold.
        for (field, value) in values.iter_of(self.scratch) {
            canonicalise_cow(field, value).map_err(|e| e.to_string())?;
        }
        Ok(Some(repository_by_rule.is_some()))
    }
}

pub(super) fn value_of(values: &Values, field: Field) -> &str {
    values.get(field).unwrap_or("")
}

fn translate(values: &mut Values, table: &[tapesync_compiler::plan::Translation]) {
    // Each field is translated at most once per table (first match wins); a bit per field.
    let mut done = 0u64;
    for t in table {
        let bit = 1u64 << t.field.index();
        if done & bit != 0 {
            continue;
        }
        if t.filter.matches(value_of(values, t.tested)) {
            let mut new = std::mem::take(&mut values.scratch);
            new.clear();
            t.template
                .translate_into(value_of(values, t.field), &mut new);
            values.set(t.field, &new);
            values.scratch = new;
            done |= bit;
        }
    }
}

/// The text an extraction reads (borrowed: the value is cut and trimmed before it is copied).
fn extract<'r>(
    source: &ExtractSource,
    field: Field,
    lines: &'r [RawRecord],
    header: &'r [RawRecord],
) -> Result<&'r str, String> {
    // `derive_into` makes sure there is a first line.
    let record = &lines[0];
    Ok(match source {
        ExtractSource::LineColumns { line, offset } => {
            from_offset(&record_line(lines, *line, field)?.raw, *offset)
        }
        ExtractSource::ElementFromEnd {
            index,
            line,
            record: 0,
        } => {
            let part = if *line > 1 {
                Part::Line(*line)
            } else {
                Part::Body
            };
            element_from_end(record_line(lines, *line, field)?, *index, field, part)?
        }
        ExtractSource::ElementFromEnd {
            index, record: n, ..
        } => match header_record(header, *n) {
            None => "",
            Some(h) => element_from_end(h, *index, field, Part::Header(*n))?,
        },
        ExtractSource::LineElement { line, index: 0 } => &record_line(lines, *line, field)?.raw,
        ExtractSource::LineElement { line, index } => element(
            record_line(lines, *line, field)?,
            *index,
            field,
            Part::Line(*line),
        )?,
        ExtractSource::Columns { offset, record: 0 } => from_offset(&record.raw, *offset),
        ExtractSource::Columns { offset, record: n } => header
            .get(n - 1)
            .map(|h| from_offset(&h.raw, *offset))
            .unwrap_or_default(),
        ExtractSource::HeaderElement { index, record: n } => match header_record(header, *n) {
            // No header section above this record yet: no value, as with fixed columns.
            None => "",
            Some(h) if *index == 0 => &h.raw,
            Some(h) => element(h, *index, field, Part::Header(*n))?,
        },
        ExtractSource::WholeRecord => &record.raw,
        ExtractSource::Element { index: 0 } => &record.raw,
        // The common case, inline: an element that is there (a call to `element` per value,
        // with its error path, cost 5 % of a run's instructions).
        ExtractSource::Element { index } => match record.elements.get(index - 1) {
            Some(v) if record.ruler != RulerRole::BeforeRuler => v,
            _ => element(record, *index, field, Part::Body)?,
        },
        ExtractSource::Key { key } => record
            .pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
            .map_or("", |(_, v)| v.as_str()),
    })
}

/// Line `line` (1-based) of a record of several lines.
fn record_line(lines: &[RawRecord], line: usize, field: Field) -> Result<&RawRecord, String> {
    line.checked_sub(1)
        .and_then(|i| lines.get(i))
        .ok_or_else(|| {
            let (first, last) = (lines[0].line, lines[lines.len() - 1].line);
            let (n, span) = match lines.len() {
                1 => ("1 line".to_string(), format!("line {first}")),
                n => (format!("{n} lines"), format!("lines {first}–{last}")),
            };
            format!("{field} needs line {line} of the record, but the record ({span}) has {n}")
        })
}

/// Header record `n` (1-based) of the current section, if there is one.
fn header_record(header: &[RawRecord], n: usize) -> Option<&RawRecord> {
    n.checked_sub(1).and_then(|i| header.get(i))
}

/// Which record an element is taken from (for messages).
#[derive(Clone, Copy)]
enum Part {
    Body,
    Header(usize),
    Line(usize),
}

impl Part {
    fn describe(self, record: &RawRecord) -> String {
        match self {
            Part::Header(h) => format!("header record {h} (line {})", record.line),
            Part::Line(l) => format!("line {l} of the record (line {})", record.line),
            Part::Body => "the record".to_string(),
        }
    }
}

/// With `SetRulerColumns`, a line above the report's first ruler has no columns: taking one
/// rejects the record rather than guessing where its columns are.
fn columns_known(record: &RawRecord, field: Field, part: Part) -> Result<(), String> {
    match record.ruler {
        RulerRole::BeforeRuler => Err(format!(
            "{field} needs a column of {}, but no dashed ruler line comes before it, so its columns are unknown (exclude heading lines with AddString, or check that the report was printed with its headings)",
            part.describe(record)
        )),
        RulerRole::Cut | RulerRole::Ruler => Ok(()),
    }
}

/// Element `index` counted from the end of `record` (1 is the last), as [`element`] does.
fn element_from_end(
    record: &RawRecord,
    index: usize,
    field: Field,
    part: Part,
) -> Result<&str, String> {
    columns_known(record, field, part)?;
    let n = record.elements.len();
    // `index` is at least 1 (the compiler makes it from a negative offset).
    match n.checked_sub(index).and_then(|i| record.elements.get(i)) {
        Some(v) => Ok(v),
        None if record.strict_elements => Err(format!(
            "{field} needs element {index} from the end, but {} has only {n} element{}",
            part.describe(record),
            if n == 1 { "" } else { "s" }
        )),
        None => Ok(""),
    }
}

/// Element `index` (1-based) of `record`, a body record, a header record or a line of a
/// record of several lines. A missing element of delimited input is a ragged row (an
/// error); a missing word is empty.
fn element(record: &RawRecord, index: usize, field: Field, part: Part) -> Result<&str, String> {
    columns_known(record, field, part)?;
    match record.elements.get(index - 1) {
        Some(v) => Ok(v),
        None if record.strict_elements => {
            let n = record.elements.len();
            Err(format!(
                "{field} needs element {index}, but {} has only {n} element{}",
                part.describe(record),
                if n == 1 { "" } else { "s" }
            ))
        }
        None => Ok(""),
    }
}

/// `text` without leading and trailing white space, as `str::trim` has it, with a shortcut
/// for the common value that starts and ends with a visible ASCII character.
#[inline]
fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// The characters of `text` from 0-based character `offset` on (empty when it is shorter).
fn from_offset(text: &str, offset: usize) -> &str {
    if offset == 0 {
        return text;
    }
    match text.char_indices().nth(offset) {
        Some((i, _)) => &text[i..],
        None => "",
    }
}

#[cfg(test)]
mod tests;
