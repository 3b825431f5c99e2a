//! The date engine — the only one: date formats, reading values with them, canonical dates and
//! times, and calendar spans. The compiler checks formats and reads literal dates here; the
//! runtime reads every date of a report here (`DateReader`, built once per format).
//!
//! A [`DateFormat`] is plain plan data. Reading goes through chrono; a [`DateReader`] parses
//! the format's strftime items once instead of once per value, and reads formats made only
//! of zero-padded numbers and separators (`%d/%m/%Y`, `%Y%m%d`, …) without chrono at all —
//! a reader's answer is always chrono's (tests below check it value by value).

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};
use tapesync_model::FieldKind;

/// A validated strftime-style format (`%` already un-doubled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateFormat {
    /// The format as written in the definition (with `%%`).
    pub written: String,
    /// The chrono/strftime format.
    pub strftime: String,
    /// Whether the format carries a time of day (else midnight is assumed).
    pub has_time: bool,
}

/// Why a value could not be read with a date format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` does not match the date format `{format}`")]
pub struct DateParseError {
    pub value: String,
    pub format: String,
}

/// A calendar span: years, months, days and hours, each possibly negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub years: i32,
    pub months: i32,
    pub days: i32,
    pub hours: i32,
}

impl DateFormat {
    /// A reader of values in this format (for many values, keep one).
    pub fn reader(&self) -> DateReader<'_> {
        let items = StrftimeItems::new(&self.strftime).parse_to_owned().ok();
        let digits = items
            .as_deref()
            .and_then(|items| digit_parts(items, self.has_time));
        DateReader {
            format: self,
            items,
            digits,
        }
    }

    /// Reads one value (see [`DateReader::parse`]).
    pub fn parse(&self, value: &str) -> Result<NaiveDateTime, DateParseError> {
        self.reader().parse(value)
    }
}

/// A [`DateFormat`] prepared for reading many values.
#[derive(Debug, Clone)]
pub struct DateReader<'f> {
    format: &'f DateFormat,
    /// `None` when chrono cannot pre-parse the format; chrono then parses it per value.
    items: Option<Vec<Item<'static>>>,
    /// The format as fixed-width digits and separators, when it is one (`%d/%m/%Y`, …).
    digits: Option<Vec<DigitPart>>,
}

impl DateReader<'_> {
    /// Reads `value` (trimmed) and returns it as a date-time, midnight when the format has no
    /// time of day. Fixed-width digit formats are read directly; everything else by chrono,
    /// with the items parsed once — the result is chrono's either way.
    pub fn parse(&self, value: &str) -> Result<NaiveDateTime, DateParseError> {
        if let Some(parts) = &self.digits {
            if let Some(t) = parse_digits(parts, value.trim()) {
                return Ok(t);
            }
        }
        let Some(items) = &self.items else {
            return parse_with_chrono(self.format, value);
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

/// `value` read by chrono's `parse_from_str` with the format string: what a [`DateReader`]
/// does when the format's items cannot be prepared, and what it must always agree with.
fn parse_with_chrono(format: &DateFormat, value: &str) -> Result<NaiveDateTime, DateParseError> {
    let err = || DateParseError {
        value: value.to_string(),
        format: format.written.clone(),
    };
    let v = value.trim();
    if format.has_time {
        NaiveDateTime::parse_from_str(v, &format.strftime).map_err(|_| err())
    } else {
        NaiveDate::parse_from_str(v, &format.strftime)
            .map(midnight)
            .map_err(|_| err())
    }
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

/// `t` as a canonical date (`YYYY-MM-DD`) or time (`YYYY-MM-DDTHH:MM:SS`) — what chrono's
/// `%Y-%m-%d` / `%Y-%m-%dT%H:%M:%S` print, without parsing those formats for every value.
/// Years outside 0..=9999 (printed with a sign) and leap seconds go through chrono.
pub fn write_canonical(kind: FieldKind, t: &NaiveDateTime, out: &mut String) {
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

/// `t` in canonical form for a field of `kind` (see [`write_canonical`]).
pub fn canonical(kind: FieldKind, t: &NaiveDateTime) -> String {
    let mut out = String::new();
    write_canonical(kind, t, &mut out);
    out
}

/// Midnight at the start of `d`.
pub fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// Reads a canonical date (`YYYY-MM-DD`, at midnight) or time (`YYYY-MM-DDTHH:MM:SS`).
pub fn parse_canonical(value: &str) -> Option<NaiveDateTime> {
    let v = value.trim();
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().map(midnight))
}

impl Span {
    /// `t` moved by this span (calendar months, then days and hours); `None` if out of range.
    pub fn add_to(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let months = i64::from(self.years) * 12 + i64::from(self.months);
        let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
        let t = if months >= 0 {
            t.checked_add_months(m)?
        } else {
            t.checked_sub_months(m)?
        };
        let delta = TimeDelta::try_days(i64::from(self.days))?
            .checked_add(&TimeDelta::try_hours(i64::from(self.hours))?)?;
        t.checked_add_signed(delta)
    }

    /// `t` moved back by this span; `None` if out of range.
    pub fn subtract_from(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        Span {
            years: -self.years,
            months: -self.months,
            days: -self.days,
            hours: -self.hours,
        }
        .add_to(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let f = DateFormat {
            written: "%%d/%%m/%%Y".into(),
            strftime: "%d/%m/%Y".into(),
            has_time: false,
        };
        assert_eq!(
            f.parse("30/11/2012").unwrap().to_string(),
            "2012-11-30 00:00:00"
        );
        assert!(f.parse("31/02/2012").is_err());
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
                canonical(FieldKind::Date, &t),
                t.format("%Y-%m-%d").to_string()
            );
            assert_eq!(
                canonical(FieldKind::DateTime, &t),
                t.format("%Y-%m-%dT%H:%M:%S").to_string()
            );
        }
        let far = NaiveDate::from_ymd_opt(12345, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        assert_eq!(
            canonical(FieldKind::Date, &far),
            far.format("%Y-%m-%d").to_string()
        );
    }

    #[test]
    fn readers_match_chrono() {
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
            let reader = format.reader();
            assert_eq!(reader.digits.is_some(), fast, "{strftime}");
            assert!(reader.items.is_some());
            for v in &values {
                assert_eq!(
                    reader.parse(v),
                    parse_with_chrono(&format, v),
                    "{strftime} {v:?}"
                );
            }
        }
    }
}
