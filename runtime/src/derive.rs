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
use chrono::{Months, NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_compiler::plan::{ExtractSource, Plan, Span};
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
}

type Values = BTreeMap<Field, String>;

impl<'p> Deriver<'p> {
    pub fn new(plan: &'p Plan, now: NaiveDateTime) -> Deriver<'p> {
        Deriver { plan, now }
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
            let cut: String = value.chars().take(ex.length).collect();
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
            let text = match field.kind() {
                FieldKind::Date => t.format("%Y-%m-%d").to_string(),
                _ => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            };
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
        match self.plan.date_formats.get(&field) {
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

fn extract(
    source: &ExtractSource,
    field: Field,
    record: &RawRecord,
    header: &[String],
) -> Result<String, String> {
    Ok(match source {
        ExtractSource::Columns { offset, record: 0 } => from_offset(&record.raw, *offset),
        ExtractSource::Columns { offset, record: n } => header
            .get(n - 1)
            .map(|h| from_offset(h, *offset))
            .unwrap_or_default(),
        ExtractSource::WholeRecord => record.raw.clone(),
        ExtractSource::Element { index: 0 } => record.raw.clone(),
        ExtractSource::Element { index } => match record.elements.get(index - 1) {
            Some(v) => v.clone(),
            None if record.strict_elements => {
                let n = record.elements.len();
                return Err(format!(
                    "{field} needs element {index}, but the record has only {n} element{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            None => String::new(),
        },
        ExtractSource::Key { key } => record
            .pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    })
}

/// The characters of `text` from 0-based character `offset` on (empty when it is shorter).
fn from_offset(text: &str, offset: usize) -> String {
    match text.char_indices().nth(offset) {
        Some((i, _)) => text[i..].to_string(),
        None => String::new(),
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
