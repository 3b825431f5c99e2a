//! Duration strings of `AddRepositoryOnWriteTime`/`AddRepositoryOnMoveDate`.
//!
//! TapeTrack's page contradicts itself about the order of the colon-separated parts (see
//! docs/language.md). tapesync reads `days:months:years` — so `"7"` is 7 days and `"0:0:1"` is
//! one year — and, as an extension, unit-suffixed terms such as `12h`, `7d`, `6m`, `1y`
//! (combinable: `1y6m`).

use super::Str;
use crate::compile::Compiler;
use crate::diagnostics::{Code, Diagnostic, FileId};
use crate::plan::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    pub message: String,
    /// Byte range of the offending part within the text.
    pub start: usize,
    pub end: usize,
}

/// Whether the text uses the unit-suffix extension.
pub fn uses_units(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_alphabetic())
}

pub fn parse_duration(text: &str) -> Result<Span, DurationError> {
    let t = text.trim();
    let lead = text.len() - text.trim_start().len();
    if t.is_empty() {
        return Err(DurationError {
            message: "empty duration".into(),
            start: 0,
            end: text.len(),
        });
    }
    if uses_units(t) {
        return parse_units(t, lead);
    }
    let mut span = Span::default();
    let mut offset = lead;
    let parts: Vec<&str> = t.split(':').collect();
    if parts.len() > 3 {
        return Err(DurationError {
            message: format!("`{t}` has {} parts; write days:months:years", parts.len()),
            start: lead,
            end: lead + t.len(),
        });
    }
    for (i, part) in parts.iter().enumerate() {
        let value: i32 = part.trim().parse().map_err(|_| DurationError {
            message: format!("`{part}` is not a whole number"),
            start: offset,
            end: offset + part.len().max(1),
        })?;
        match i {
            0 => span.days = value,
            1 => span.months = value,
            _ => span.years = value,
        }
        offset += part.len() + 1;
    }
    Ok(span)
}

fn parse_units(t: &str, lead: usize) -> Result<Span, DurationError> {
    let mut span = Span::default();
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        if bytes[i] == b'-' || bytes[i] == b'+' {
            i += 1;
        }
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let number = &t[start..i];
        let unit = bytes.get(i).copied();
        let value: i32 = number.parse().map_err(|_| DurationError {
            message: format!("expected a number before the unit in `{t}`"),
            start: lead + start,
            end: lead + (i + 1).min(t.len()),
        })?;
        let slot = match unit.map(|u| u.to_ascii_lowercase()) {
            Some(b'h') => &mut span.hours,
            Some(b'd') => &mut span.days,
            Some(b'm') => &mut span.months,
            Some(b'y') => &mut span.years,
            _ => {
                return Err(DurationError {
                    message: "units are h (hours), d (days), m (months) and y (years)".into(),
                    start: lead + i.min(t.len().saturating_sub(1)),
                    end: lead + (i + 1).min(t.len()),
                })
            }
        };
        *slot = slot.saturating_add(value);
        i += 1;
    }
    Ok(span)
}

impl Compiler<'_> {
    /// A duration argument of the repository rules.
    pub(in crate::compile) fn duration(&mut self, file: FileId, s: &Str) -> Option<Span> {
        if self.empty(file, s, "a duration") {
            return None;
        }
        match parse_duration(s.text()) {
            Ok(span) => {
                if self.options.compat && uses_units(s.text()) {
                    self.emit(
                        Diagnostic::new(
                            Code::EXTENSION_USED,
                            file,
                            s.arg,
                            "unit suffixes in durations are a tapesync extension",
                        )
                        .help("TapeTrack reads colon-separated days:months:years"),
                    );
                }
                Some(span)
            }
            Err(e) => {
                self.emit(
                    Diagnostic::new(
                        Code::BAD_DURATION,
                        file,
                        Compiler::span_of(s, e.start, e.end),
                        format!("invalid duration: {}", e.message),
                    )
                    .label("here")
                    .help("write days:months:years (\"7\", \"0:0:1\") or units (\"12h\", \"7d\", \"6m\", \"1y\")"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(years: i32, months: i32, days: i32, hours: i32) -> Span {
        Span {
            years,
            months,
            days,
            hours,
        }
    }

    #[test]
    fn colon_form_is_days_months_years() {
        assert_eq!(parse_duration("7").unwrap(), s(0, 0, 7, 0));
        assert_eq!(parse_duration("0:0:1").unwrap(), s(1, 0, 0, 0));
        assert_eq!(parse_duration("0:1").unwrap(), s(0, 1, 0, 0));
        assert_eq!(parse_duration("0").unwrap(), Span::default());
        assert!(parse_duration("1:2:3:4").is_err());
        assert!(parse_duration("a:b").is_err());
    }

    #[test]
    fn unit_form() {
        assert_eq!(parse_duration("12h").unwrap(), s(0, 0, 0, 12));
        assert_eq!(parse_duration("1y6m").unwrap(), s(1, 6, 0, 0));
        assert_eq!(parse_duration("-7d").unwrap(), s(0, 0, -7, 0));
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
