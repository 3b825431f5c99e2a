//! Field derivation: what one body record says about one volume.
//!
//! Order (docs/running.md "Evaluation order"): literals → extraction (cut to `length`, trimmed)
//! → RemoveSpaces/RemoveCharacters → AddTranslation (first match per field, file order) →
//! AddTranslation2 (same, after all AddTranslations) → AddExclusionOnValue → dates parsed with
//! their formats → AddMoveDateAdjustment (every matching entry, cumulative, file order) →
//! AddRepositoryOnMoveDate (first match) → AddRepositoryOnWriteTime (first match, only when no
//! move-date rule fired) → canonical values checked against field limits.
//!
//! `REPOSITORY_DESC` needs the scope's repositories and is resolved later, by the scope cache.

use crate::source::RawRecord;
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_compiler::plan::{DateFormat, DateParseError, ExtractSource, Plan, Span};
use tapesync_model::{canonicalise, validate_volume_id, Field, FieldKind, ScopeKey};

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
    /// The plan's date formats with their strftime items parsed once: chrono's
    /// `parse_from_str` parses the format string again for every value.
    dates: BTreeMap<Field, CompiledDate<'p>>,
}

struct CompiledDate<'p> {
    format: &'p DateFormat,
    /// `None` when chrono cannot pre-parse the format; `DateFormat::parse` then decides.
    items: Option<Vec<Item<'static>>>,
}

impl CompiledDate<'_> {
    /// Exactly `DateFormat::parse`, with the format's items parsed ahead of time.
    fn parse(&self, value: &str) -> Result<NaiveDateTime, DateParseError> {
        let Some(items) = &self.items else {
            return self.format.parse(value);
        };
        let mut parsed = Parsed::new();
        let result = chrono::format::parse(&mut parsed, value.trim(), items.iter())
            .ok()
            .and_then(|()| {
                if self.format.has_time {
                    parsed.to_naive_datetime_with_offset(0).ok()
                } else {
                    parsed.to_naive_date().ok().map(midnight)
                }
            });
        result.ok_or_else(|| DateParseError {
            value: value.to_string(),
            format: self.format.written.clone(),
        })
    }
}

type Values = BTreeMap<Field, String>;

impl<'p> Deriver<'p> {
    pub fn new(plan: &'p Plan, now: NaiveDateTime) -> Deriver<'p> {
        let dates = plan
            .date_formats
            .iter()
            .map(|(field, format)| {
                let items = StrftimeItems::new(&format.strftime).parse_to_owned().ok();
                (*field, CompiledDate { format, items })
            })
            .collect();
        Deriver { plan, now, dates }
    }

    /// The stored fields a run compares with the inventory: those the plan sets, plus what
    /// the repository rules and `REPOSITORY_DESC` can set.
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
        out.sort();
        out
    }

    pub fn derive(&self, record: &RawRecord, header: &[String]) -> Derived {
        match self.try_derive(record, header) {
            Ok(Some(r)) => Derived::Record(r),
            Ok(None) => Derived::Excluded,
            Err(reason) => Derived::Rejected(reason),
        }
    }

    fn try_derive(
        &self,
        record: &RawRecord,
        header: &[String],
    ) -> Result<Option<SyncRecord>, String> {
        let plan = self.plan;
        let mut values: Values = BTreeMap::new();
        for lit in &plan.literals {
            values.insert(lit.field, lit.value.clone());
        }
        for ex in &plan.extractions {
            let value = extract(&ex.source, ex.field, record, header)?;
            let cut = match value.char_indices().nth(ex.length) {
                Some((end, _)) => &value[..end],
                None => value,
            };
            let trimmed = cut.trim();
            if !trimmed.is_empty() || !values.contains_key(&ex.field) {
                values.insert(ex.field, trimmed.to_string());
            }
        }
        for f in &plan.remove_spaces {
            if let Some(v) = values.get_mut(f) {
                v.retain(|c| !c.is_whitespace());
            }
        }
        for rc in &plan.remove_characters {
            if let Some(v) = values.get_mut(&rc.field) {
                v.retain(|c| !rc.chars.contains(c));
            }
        }
        translate(&mut values, &plan.translations);
        translate(&mut values, &plan.translations2);
        for ex in &plan.value_exclusions {
            if ex.filter.matches(value_of(&values, ex.field)) {
                return Ok(None);
            }
        }
        values.retain(|_, v| !v.is_empty());

        // Dates: parse every temporal value into a timestamp.
        let mut times: BTreeMap<Field, NaiveDateTime> = BTreeMap::new();
        for (field, value) in &values {
            if field.is_temporal() {
                times.insert(*field, self.parse_time(*field, value)?);
            }
        }
        let repository_by_rule = self.apply_rules(&values, &mut times);
        if let Some(repo) = repository_by_rule.clone() {
            values.insert(Field::Repository, repo);
        }
        for (field, t) in &times {
            let text = canonical_time(field.kind(), t);
            values.insert(*field, text);
        }

        let key = |f: Field| -> Result<String, String> {
            match values.get(&f) {
                Some(v) => canonicalise(f, v).map_err(|e| e.to_string()),
                None => Err(format!("{f} has no value")),
            }
        };
        let customer = key(Field::Customer)?;
        let media = key(Field::Media)?;
        let volume = match values.get(&Field::Volume) {
            Some(v) => validate_volume_id(v).map_err(|e| e.to_string())?,
            None => return Err("VOLUME has no value".to_string()),
        };
        let mut fields = BTreeMap::new();
        for (field, value) in values {
            if field.is_stored() || field == Field::RepositoryDesc {
                let canonical = canonicalise(field, &value).map_err(|e| e.to_string())?;
                fields.insert(field, canonical);
            } else if let Field::User(_) = field {
                // Scratch values are only ever compared; still refuse what no field can hold.
                canonicalise(field, &value).map_err(|e| e.to_string())?;
            }
        }
        Ok(Some(SyncRecord {
            line: record.line,
            scope: ScopeKey { customer, media },
            volume,
            fields,
            repository_by_rule: repository_by_rule.is_some(),
        }))
    }

    fn parse_time(&self, field: Field, value: &str) -> Result<NaiveDateTime, String> {
        // Literals arrive in canonical form already (the compiler canonicalised them); values
        // read from the report must match the definition's format.
        let literal = self
            .plan
            .literals
            .iter()
            .any(|l| l.field == field && l.value == value);
        if literal {
            if let Some(t) = parse_canonical(value) {
                return Ok(t);
            }
        }
        match self.dates.get(&field) {
            Some(format) => format.parse(value).map_err(|e| format!("{field} {e}")),
            None => Err(format!(
                "{field} `{value}` cannot be read: the definition gives {field} no date format"
            )),
        }
    }

    /// Move-date adjustments and repository rules; returns the repository a rule chose.
    fn apply_rules(
        &self,
        values: &Values,
        times: &mut BTreeMap<Field, NaiveDateTime>,
    ) -> Option<String> {
        let plan = self.plan;
        if let Some(mut md) = times.get(&Field::MoveDate).copied() {
            for adj in &plan.move_date_adjustments {
                if adj.filter.matches(value_of(values, adj.field)) {
                    let span = Span {
                        years: adj.years,
                        months: adj.months,
                        days: adj.days,
                        hours: 0,
                    };
                    if let Some(t) = add_span(md, &span) {
                        md = t;
                    }
                }
            }
            times.insert(Field::MoveDate, md);
            let today = self.now.date();
            for rule in &plan.repository_on_move_date {
                if !rule.filter.matches(value_of(values, rule.field)) {
                    continue;
                }
                let Some(end) = add_span(self.now, &rule.within).map(|t| t.date()) else {
                    continue;
                };
                let (lo, hi) = if end >= today {
                    (today, end)
                } else {
                    (end, today)
                };
                if (lo..=hi).contains(&md.date()) {
                    return Some(rule.repository.clone());
                }
            }
        }
        let wt = times.get(&Field::WriteTime).copied()?;
        for rule in &plan.repository_on_write_time {
            if !rule.filter.matches(value_of(values, rule.field)) {
                continue;
            }
            let Some(oldest) = sub_span(self.now, &rule.age) else {
                continue;
            };
            if wt >= oldest {
                if let Some(span) = &rule.move_date {
                    if let Some(md) = add_span(wt, span) {
                        times.insert(Field::MoveDate, midnight(md.date()));
                    }
                }
                return Some(rule.repository.clone());
            }
        }
        None
    }
}

fn value_of(values: &Values, field: Field) -> &str {
    values.get(&field).map(String::as_str).unwrap_or("")
}

fn translate(values: &mut Values, table: &[tapesync_compiler::plan::Translation]) {
    let mut done: Vec<Field> = Vec::new();
    for t in table {
        if done.contains(&t.field) {
            continue;
        }
        if t.filter.matches(value_of(values, t.tested)) {
            let new = t.template.apply(value_of(values, t.field));
            values.insert(t.field, new);
            done.push(t.field);
        }
    }
}

/// The text an extraction reads (borrowed: the value is cut and trimmed before it is copied).
fn extract<'r>(
    source: &ExtractSource,
    field: Field,
    record: &'r RawRecord,
    header: &'r [String],
) -> Result<&'r str, String> {
    Ok(match source {
        ExtractSource::Columns { offset, record: 0 } => from_offset(&record.raw, *offset),
        ExtractSource::Columns { offset, record: n } => header
            .get(n - 1)
            .map(|h| from_offset(h, *offset))
            .unwrap_or_default(),
        ExtractSource::WholeRecord => &record.raw,
        ExtractSource::Element { index: 0 } => &record.raw,
        ExtractSource::Element { index } => match record.elements.get(index - 1) {
            Some(v) => v,
            None if record.strict_elements => {
                let n = record.elements.len();
                return Err(format!(
                    "{field} needs element {index}, but the record has only {n} element{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            None => "",
        },
        ExtractSource::Key { key } => record
            .pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
            .map_or("", |(_, v)| v.as_str()),
    })
}

/// The characters of `text` from 0-based character `offset` on (empty when it is shorter).
fn from_offset(text: &str, offset: usize) -> &str {
    match text.char_indices().nth(offset) {
        Some((i, _)) => &text[i..],
        None => "",
    }
}

/// `t` as a canonical date (`YYYY-MM-DD`) or time (`YYYY-MM-DDTHH:MM:SS`) — what chrono's
/// `%Y-%m-%d` / `%Y-%m-%dT%H:%M:%S` print, without parsing those formats for every value.
/// Years outside 0..=9999 (printed with a sign) and leap seconds go through chrono.
fn canonical_time(kind: FieldKind, t: &NaiveDateTime) -> String {
    let (y, mo, d) = (t.year(), t.month(), t.day());
    if !(0..=9999).contains(&y) || t.nanosecond() >= 1_000_000_000 {
        return match kind {
            FieldKind::Date => t.format("%Y-%m-%d").to_string(),
            _ => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        };
    }
    match kind {
        FieldKind::Date => format!("{y:04}-{mo:02}-{d:02}"),
        _ => format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            t.hour(),
            t.minute(),
            t.second()
        ),
    }
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).unwrap_or_default()
}

fn parse_canonical(value: &str) -> Option<NaiveDateTime> {
    let v = value.trim();
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().map(midnight))
}

/// `t` moved by `span` (calendar months, then days and hours); `None` if out of range.
pub fn add_span(t: NaiveDateTime, span: &Span) -> Option<NaiveDateTime> {
    let months = i64::from(span.years) * 12 + i64::from(span.months);
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    let t = if months >= 0 {
        t.checked_add_months(m)?
    } else {
        t.checked_sub_months(m)?
    };
    let delta = TimeDelta::try_days(i64::from(span.days))?
        .checked_add(&TimeDelta::try_hours(i64::from(span.hours))?)?;
    t.checked_add_signed(delta)
}

fn sub_span(t: NaiveDateTime, span: &Span) -> Option<NaiveDateTime> {
    add_span(
        t,
        &Span {
            years: -span.years,
            months: -span.months,
            days: -span.days,
            hours: -span.hours,
        },
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_path_tests {
    //! The shortcuts above must agree with the chrono calls they replace.
    use super::*;

    #[test]
    fn canonical_time_matches_chrono() {
        let times = [
            "2027-03-05T00:00:00",
            "0999-12-31T23:59:59",
            "9999-01-01T01:02:03",
            "2024-02-29T12:00:09",
        ];
        for text in times {
            let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap();
            assert_eq!(
                canonical_time(FieldKind::Date, &t),
                t.format("%Y-%m-%d").to_string()
            );
            assert_eq!(
                canonical_time(FieldKind::DateTime, &t),
                t.format("%Y-%m-%dT%H:%M:%S").to_string()
            );
        }
        let far = NaiveDate::from_ymd_opt(12345, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        assert_eq!(
            canonical_time(FieldKind::Date, &far),
            far.format("%Y-%m-%d").to_string()
        );
    }

    #[test]
    fn compiled_dates_match_date_format_parse() {
        let formats = [
            ("%%d/%%m/%%Y", "%d/%m/%Y", false),
            ("%%m/%%d/%%y", "%m/%d/%y", false),
            ("%%Y-%%m-%%d %%H:%%M", "%Y-%m-%d %H:%M", true),
        ];
        let values = [
            "30/11/2012",
            " 01/02/27 ",
            "31/02/2012",
            "2012-11-30 15:30",
            "2012-11-30",
            "",
            "garbage",
        ];
        for (written, strftime, has_time) in formats {
            let format = DateFormat {
                written: written.into(),
                strftime: strftime.into(),
                has_time,
            };
            let compiled = CompiledDate {
                format: &format,
                items: StrftimeItems::new(strftime).parse_to_owned().ok(),
            };
            assert!(compiled.items.is_some());
            for v in values {
                assert_eq!(compiled.parse(v), format.parse(v), "{strftime} {v:?}");
            }
        }
    }
}
