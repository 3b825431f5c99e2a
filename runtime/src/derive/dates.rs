//! The dates of a record: its report values read with the plan's date formats (through the
//! compiler's date engine, `tapesync_compiler::plan::dates`), then the rules that work with
//! dates — move-date adjustments and the repository rules on move date and write time, all
//! measured from "now".

use super::values::Values;
use super::{value_of, Deriver};
use chrono::NaiveDateTime;
use tapesync_compiler::plan::dates::{midnight, parse_canonical};
use tapesync_compiler::plan::Span;
use tapesync_model::Field;

impl<'p> Deriver<'p> {
    pub(super) fn parse_time(&self, field: Field, value: &str) -> Result<NaiveDateTime, String> {
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
        match self.dates.iter().find(|(f, _)| *f == field).map(|(_, r)| r) {
            Some(reader) => reader.parse(value).map_err(|e| format!("{field} {e}")),
            None => Err(format!(
                "{field} `{value}` cannot be read: the definition gives {field} no date format"
            )),
        }
    }

    /// Move-date adjustments and repository rules; returns the repository a rule chose.
    pub(super) fn date_rules(&self, values: &Values, times: &mut Times) -> Option<&'p str> {
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
                    if let Some(t) = span.add_to(md) {
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
                let Some(end) = rule.within.add_to(self.now).map(|t| t.date()) else {
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
            let Some(oldest) = rule.age.subtract_from(self.now) else {
                continue;
            };
            if wt >= oldest {
                if let Some(span) = &rule.move_date {
                    if let Some(md) = span.add_to(wt) {
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
pub(super) type Times = Vec<(Field, NaiveDateTime)>;

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
