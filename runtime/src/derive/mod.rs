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

use crate::read::RawRecord;
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use tapesync_compiler::plan::{DateFormat, DateParseError, ExtractSource, Plan, Span};
use tapesync_model::value::{canonicalise_cow, validate_volume_id_cow};
use tapesync_model::{Field, FieldKind, ScopeKey};

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
    /// The format as fixed-width digits and separators, when it is one (`%d/%m/%Y`, …).
    digits: Option<Vec<DigitPart>>,
}

/// One part of a date format made only of zero-padded numbers and separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigitPart {
    Day,
    Month,
    Year,
    YearOfCentury,
    Hour,
    Minute,
    Second,
    Literal(u8),
}

impl DigitPart {
    fn width(self) -> usize {
        match self {
            DigitPart::Year => 4,
            DigitPart::Literal(_) => 1,
            _ => 2,
        }
    }
}

/// The fast form of a format whose items are all zero-padded day, month, year (4 digits or
/// of the century), hour, minute and second numbers and separators other than white space;
/// `None` for anything else (chrono then parses it).
fn digit_parts(items: &[Item<'_>], has_time: bool) -> Option<Vec<DigitPart>> {
    use chrono::format::{Numeric, Pad};
    let mut parts = Vec::new();
    for item in items {
        match item {
            Item::Numeric(n, Pad::Zero) => parts.push(match n {
                Numeric::Day => DigitPart::Day,
                Numeric::Month => DigitPart::Month,
                Numeric::Year => DigitPart::Year,
                Numeric::YearMod100 => DigitPart::YearOfCentury,
                Numeric::Hour => DigitPart::Hour,
                Numeric::Minute => DigitPart::Minute,
                Numeric::Second => DigitPart::Second,
                _ => return None,
            }),
            Item::Literal(_) | Item::OwnedLiteral(_) => {
                let text: &str = match item {
                    Item::Literal(t) => t,
                    Item::OwnedLiteral(t) => t,
                    _ => "",
                };
                for b in text.bytes() {
                    if b.is_ascii_whitespace() || !b.is_ascii() {
                        return None;
                    }
                    parts.push(DigitPart::Literal(b));
                }
            }
            _ => return None,
        }
    }
    let count = |p: DigitPart| parts.iter().filter(|q| **q == p).count();
    let years = count(DigitPart::Year) + count(DigitPart::YearOfCentury);
    let dated = count(DigitPart::Day) == 1 && count(DigitPart::Month) == 1 && years == 1;
    let (h, m, sec) = (
        count(DigitPart::Hour),
        count(DigitPart::Minute),
        count(DigitPart::Second),
    );
    let timed = if has_time {
        h == 1 && m == 1 && sec <= 1
    } else {
        h + m + sec == 0
    };
    (dated && timed).then_some(parts)
}

/// Reads `value` with a digit format; `None` when it does not fit exactly (or is no valid
/// date), in which case chrono decides — so the result is always chrono's.
fn parse_digits(parts: &[DigitPart], value: &str) -> Option<NaiveDateTime> {
    let bytes = value.as_bytes();
    if bytes.len() != parts.iter().map(|p| p.width()).sum::<usize>() {
        return None;
    }
    let (mut day, mut month, mut year, mut hour, mut minute, mut second) = (0, 0, 0, 0, 0, 0);
    let mut pos = 0;
    for part in parts {
        let width = part.width();
        let field = &bytes[pos..pos + width];
        pos += width;
        if let DigitPart::Literal(b) = part {
            if field[0] != *b {
                return None;
            }
            continue;
        }
        let mut n = 0u32;
        for d in field {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(d - b'0');
        }
        match part {
            DigitPart::Day => day = n,
            DigitPart::Month => month = n,
            DigitPart::Year => year = n as i32,
            // chrono's rule for a year without its century: 1970–2069.
            DigitPart::YearOfCentury => {
                year = if n < 70 {
                    2000 + n as i32
                } else {
                    1900 + n as i32
                }
            }
            DigitPart::Hour => hour = n,
            DigitPart::Minute => minute = n,
            DigitPart::Second => second = n,
            DigitPart::Literal(_) => {}
        }
    }
    NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)
}

impl CompiledDate<'_> {
    /// Exactly `DateFormat::parse`, with the format's items parsed ahead of time.
    fn parse(&self, value: &str) -> Result<NaiveDateTime, DateParseError> {
        if let Some(parts) = &self.digits {
            if let Some(t) = parse_digits(parts, value.trim()) {
                return Ok(t);
            }
        }
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

/// The values of one record while it is derived: one reusable buffer per field (indexed by
/// [`Field::index`]) and a bit per field saying whether it has a value. A million records
/// then cost no map and no string allocation per value — the map this replaced was a fifth of
/// a large sync's time.
#[derive(Debug, Clone)]
pub struct Values {
    slots: Vec<String>,
    present: u64,
    /// Parsed dates and times of the record, in field order (scratch for `derive_into`).
    times: Vec<(Field, NaiveDateTime)>,
    /// Where a translation writes its result before it replaces the value.
    scratch: String,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            slots: vec![String::new(); Field::COUNT],
            present: 0,
            times: Vec::new(),
            scratch: String::new(),
        }
    }
}

impl Values {
    fn clear(&mut self) {
        self.present = 0;
        self.times.clear();
    }

    #[inline]
    pub fn get(&self, field: Field) -> Option<&str> {
        let i = field.index();
        (self.present & (1 << i) != 0).then(|| self.slots[i].as_str())
    }

    #[inline]
    fn contains(&self, field: Field) -> bool {
        self.present & (1 << field.index()) != 0
    }

    #[inline]
    fn get_mut(&mut self, field: Field) -> Option<&mut String> {
        let i = field.index();
        (self.present & (1 << i) != 0).then(|| &mut self.slots[i])
    }

    #[inline]
    fn set(&mut self, field: Field, value: &str) {
        let i = field.index();
        let slot = &mut self.slots[i];
        slot.clear();
        slot.push_str(value);
        self.present |= 1 << i;
    }

    /// The slot of `field`, emptied and marked present, to write a value into.
    #[inline]
    fn slot(&mut self, field: Field) -> &mut String {
        let i = field.index();
        self.present |= 1 << i;
        let slot = &mut self.slots[i];
        slot.clear();
        slot
    }

    #[inline]
    fn unset(&mut self, field: Field) {
        self.present &= !(1 << field.index());
    }

    /// The fields that have a value now, in field order (a copy: the values may change while
    /// it is walked).
    fn fields(&self) -> impl Iterator<Item = Field> {
        let mut bits = self.present;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(Field::ALL[i])
        })
    }

    /// Fields with a value, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> + '_ {
        let mut bits = self.present;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some((Field::ALL[i], self.slots[i].as_str()))
        })
    }
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

/// Replaces `slot` by its canonical form for `field`, without allocating when the value is
/// canonical already (nearly always) or its canonical form is short.
fn canonical_in_place(field: Field, slot: &mut String) -> Result<(), String> {
    let change = match canonicalise_cow(field, slot).map_err(|e| e.to_string())? {
        Cow::Owned(v) => Replacement::Owned(v),
        Cow::Borrowed(b) => Replacement::of(slot, b),
    };
    change.apply(slot);
    Ok(())
}

/// How to make a slot hold its canonical value, worked out while the value still borrows
/// the slot and applied after.
enum Replacement {
    Owned(String),
    /// The value is this part of the slot (e.g. a number without its leading zeros).
    Part {
        start: usize,
        len: usize,
    },
    /// Another short text (e.g. `true` for `YES`), copied out.
    Short {
        bytes: [u8; 32],
        len: usize,
    },
}

impl Replacement {
    fn of(slot: &str, value: &str) -> Replacement {
        let base = slot.as_ptr() as usize;
        let at = value.as_ptr() as usize;
        if at >= base && at + value.len() <= base + slot.len() {
            return Replacement::Part {
                start: at - base,
                len: value.len(),
            };
        }
        let mut bytes = [0u8; 32];
        match bytes.get_mut(..value.len()) {
            Some(dst) => {
                dst.copy_from_slice(value.as_bytes());
                Replacement::Short {
                    bytes,
                    len: value.len(),
                }
            }
            None => Replacement::Owned(value.to_string()),
        }
    }

    fn apply(self, slot: &mut String) {
        match self {
            Replacement::Owned(v) => *slot = v,
            Replacement::Part { start, len } => {
                if start != 0 || len != slot.len() {
                    slot.truncate(start + len);
                    slot.drain(..start);
                }
            }
            Replacement::Short { bytes, len } => {
                slot.clear();
                // The bytes were copied from a `str`.
                slot.push_str(std::str::from_utf8(&bytes[..len]).unwrap_or_default());
            }
        }
    }
}

impl<'p> Deriver<'p> {
    pub fn new(plan: &'p Plan, now: NaiveDateTime) -> Deriver<'p> {
        let dates = plan
            .date_formats
            .iter()
            .map(|(field, format)| {
                let items = StrftimeItems::new(&format.strftime).parse_to_owned().ok();
                let digits = items
                    .as_deref()
                    .and_then(|items| digit_parts(items, format.has_time));
                (
                    *field,
                    CompiledDate {
                        format,
                        items,
                        digits,
                    },
                )
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

    /// Derives one record into an owned [`SyncRecord`] (allocates; the run uses
    /// [`Deriver::derive_into`]).
    pub fn derive(&self, record: &RawRecord, header: &[String]) -> Derived {
        let mut out = DerivedRecord::default();
        match self.derive_into(record, header, &mut out) {
            Outcome::Record => Derived::Record(out.to_sync_record()),
            Outcome::Excluded => Derived::Excluded,
            Outcome::Rejected(reason) => Derived::Rejected(reason),
        }
    }

    /// Derives one record into `out`, reusing its buffers.
    pub fn derive_into(
        &self,
        record: &RawRecord,
        header: &[String],
        out: &mut DerivedRecord,
    ) -> Outcome {
        out.line = record.line;
        match self.try_derive(record, header, &mut out.values) {
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
        record: &RawRecord,
        header: &[String],
        values: &mut Values,
    ) -> Result<Option<bool>, String> {
        let plan = self.plan;
        values.clear();
        for lit in &plan.literals {
            values.set(lit.field, &lit.value);
        }
        for ex in &plan.extractions {
            let value = extract(&ex.source, ex.field, record, header)?;
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
            let trimmed = cut.trim();
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
        translate(values, &plan.translations);
        translate(values, &plan.translations2);
        for ex in &plan.value_exclusions {
            if ex.filter.matches(value_of(values, ex.field)) {
                return Ok(None);
            }
        }
        for f in values.fields() {
            if values.get(f).is_some_and(str::is_empty) {
                values.unset(f);
            }
        }

        // Dates: parse every temporal value into a timestamp.
        let mut times = std::mem::take(&mut values.times);
        for (field, value) in values.iter() {
            if field.is_temporal() {
                times.push((field, self.parse_time(field, value)?));
            }
        }
        let repository_by_rule = self.apply_rules(values, &mut times);
        if let Some(repo) = repository_by_rule {
            values.set(Field::Repository, repo);
        }
        for (field, t) in &times {
            write_canonical_time(field.kind(), t, values.slot(*field));
        }
        values.times = times;

        for key in [Field::Customer, Field::Media] {
            match values.get_mut(key) {
                Some(v) => canonical_in_place(key, v)?,
                None => return Err(format!("{key} has no value")),
            }
        }
        match values.get_mut(Field::Volume) {
            Some(v) => {
                let change = match validate_volume_id_cow(v).map_err(|e| e.to_string())? {
                    Cow::Owned(id) => Replacement::Owned(id),
                    Cow::Borrowed(id) => Replacement::of(v, id),
                };
                change.apply(v);
            }
            None => return Err("VOLUME has no value".to_string()),
        }
        for field in values.fields() {
            let Some(value) = values.get_mut(field) else {
                continue;
            };
            if field.is_stored() || field == Field::RepositoryDesc {
                canonical_in_place(field, value)?;
            } else if let Field::User(_) = field {
                // Scratch values are only ever compared; still refuse what no field can hold.
                canonicalise_cow(field, value).map_err(|e| e.to_string())?;
            }
        }
        Ok(Some(repository_by_rule.is_some()))
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
    fn apply_rules(&self, values: &Values, times: &mut Times) -> Option<&'p str> {
        let plan = self.plan;
        if let Some(mut md) = time_of(times, Field::MoveDate) {
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
            set_time(times, Field::MoveDate, md);
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
                    return Some(&rule.repository);
                }
            }
        }
        let wt = time_of(times, Field::WriteTime)?;
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
                        set_time(times, Field::MoveDate, midnight(md.date()));
                    }
                }
                return Some(&rule.repository);
            }
        }
        None
    }
}

/// A record's parsed dates and times, in field order.
type Times = Vec<(Field, NaiveDateTime)>;

fn time_of(times: &Times, field: Field) -> Option<NaiveDateTime> {
    times.iter().find(|(f, _)| *f == field).map(|(_, t)| *t)
}

fn set_time(times: &mut Times, field: Field, t: NaiveDateTime) {
    match times.iter_mut().find(|(f, _)| *f == field) {
        Some(entry) => entry.1 = t,
        None => {
            let at = times.partition_point(|(f, _)| *f < field);
            times.insert(at, (field, t));
        }
    }
}

fn value_of(values: &Values, field: Field) -> &str {
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
            t.template.apply_into(value_of(values, t.field), &mut new);
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
    if offset == 0 {
        return text;
    }
    match text.char_indices().nth(offset) {
        Some((i, _)) => &text[i..],
        None => "",
    }
}

/// `t` as a canonical date (`YYYY-MM-DD`) or time (`YYYY-MM-DDTHH:MM:SS`) — what chrono's
/// `%Y-%m-%d` / `%Y-%m-%dT%H:%M:%S` print, without parsing those formats for every value.
/// Years outside 0..=9999 (printed with a sign) and leap seconds go through chrono.
fn write_canonical_time(kind: FieldKind, t: &NaiveDateTime, out: &mut String) {
    use std::fmt::Write;
    let (y, mo, d) = (t.year(), t.month(), t.day());
    // Writing to a String cannot fail.
    let _ = if !(0..=9999).contains(&y) || t.nanosecond() >= 1_000_000_000 {
        match kind {
            FieldKind::Date => write!(out, "{}", t.format("%Y-%m-%d")),
            _ => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S")),
        }
    } else {
        // Digits written directly: the formatting machinery cost more than the parse.
        push_digits(out, y as u32, 4);
        out.push('-');
        push_digits(out, mo, 2);
        out.push('-');
        push_digits(out, d, 2);
        if kind != FieldKind::Date {
            out.push('T');
            push_digits(out, t.hour(), 2);
            out.push(':');
            push_digits(out, t.minute(), 2);
            out.push(':');
            push_digits(out, t.second(), 2);
        }
        Ok(())
    };
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (n / 10u32.pow(i)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
fn canonical_time(kind: FieldKind, t: &NaiveDateTime) -> String {
    let mut out = String::new();
    write_canonical_time(kind, t, &mut out);
    out
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

pub mod select;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_path_tests {
    //! The shortcuts above must agree with the chrono calls they replace.
    use super::*;

    #[test]
    fn canonical_in_place_matches_canonicalise() {
        let cases = [
            (Field::UsageCount, "007"),
            (Field::UsageCount, " 0 "),
            (Field::Scratch, "YES"),
            (Field::Scratch, "no"),
            (Field::Customer, "us01"),
            (Field::Customer, "US01"),
            (Field::Description, "Daily Full"),
            (Field::ExpiryDate, "2027-03-05"),
            (Field::Description, &"é".repeat(40)),
        ];
        for (field, raw) in cases {
            let mut slot = raw.to_string();
            canonical_in_place(field, &mut slot).unwrap();
            assert_eq!(
                slot,
                tapesync_model::canonicalise(field, raw).unwrap(),
                "{field} {raw:?}"
            );
        }
        let mut bad = "x".repeat(300);
        assert!(canonical_in_place(Field::Description, &mut bad).is_err());
    }

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
        // (written, strftime, has_time, takes the digit fast path)
        let formats = [
            ("%%d/%%m/%%Y", "%d/%m/%Y", false, true),
            ("%%m/%%d/%%y", "%m/%d/%y", false, true),
            ("%%Y%%m%%d", "%Y%m%d", false, true),
            ("%%Y-%%m-%%dT%%H:%%M:%%S", "%Y-%m-%dT%H:%M:%S", true, true),
            ("%%d.%%m.%%Y.%%H%%M", "%d.%m.%Y.%H%M", true, true),
            ("%%Y-%%m-%%d %%H:%%M", "%Y-%m-%d %H:%M", true, false),
            ("%%b %%d %%Y", "%b %d %Y", false, false),
        ];
        let mut values: Vec<String> = [
            "30/11/2012",
            " 01/02/27 ",
            "31/02/2012",
            "29/02/2024",
            "29/02/2023",
            "00/01/2020",
            "1/2/2020",
            "01/13/2020",
            "2012-11-30 15:30",
            "2012-11-30T24:00:00",
            "2012-11-30T23:59:60",
            "2012-11-30T23:60:00",
            "20121130",
            "2012113",
            "30.11.2012.2359",
            "Nov 30 2012",
            "",
            "garbage",
            "３0/11/2012",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        for y in 0..100 {
            values.push(format!("01/02/{y:02}"));
            values.push(format!("02/01/{y:02}"));
        }
        for (written, strftime, has_time, fast) in formats {
            let format = DateFormat {
                written: written.into(),
                strftime: strftime.into(),
                has_time,
            };
            let items = StrftimeItems::new(strftime).parse_to_owned().ok();
            let digits = items.as_deref().and_then(|i| digit_parts(i, has_time));
            assert_eq!(digits.is_some(), fast, "{strftime}");
            let compiled = CompiledDate {
                format: &format,
                items,
                digits,
            };
            assert!(compiled.items.is_some());
            for v in &values {
                assert_eq!(compiled.parse(v), format.parse(v), "{strftime} {v:?}");
            }
        }
    }
}
