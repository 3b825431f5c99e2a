//! Date formats: `%%` is already `%` here (variable expansion undoes the doubling); the
//! format is checked with chrono's strftime parser and by a round trip through a sample date.

use super::Str;
use crate::compile::Compiler;
use crate::diagnostics::{Code, Diagnostic, FileId};
use crate::plan::DateFormat;
use chrono::format::{Fixed, Item, Numeric, StrftimeItems};

/// Why a date format is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormatError {
    pub message: String,
    pub help: Option<String>,
}

/// Validates `strftime` (the expanded format) and builds the plan's [`DateFormat`].
pub fn compile_date_format(written: &str, strftime: &str) -> Result<DateFormat, DateFormatError> {
    let mut has_time = false;
    let mut has_date = false;
    let mut has_any_spec = false;
    for item in StrftimeItems::new(strftime) {
        match item {
            Item::Error => {
                return Err(DateFormatError {
                    message: format!("`{written}` is not a valid date format"),
                    help: Some(
                        "use strftime specifiers such as %%d, %%m, %%Y, %%H, %%M, %%S (with `%` doubled)"
                            .into(),
                    ),
                })
            }
            Item::Numeric(n, _) => {
                has_any_spec = true;
                match n {
                    Numeric::Hour | Numeric::Hour12 | Numeric::Minute | Numeric::Second => {
                        has_time = true
                    }
                    Numeric::Timestamp => {
                        has_time = true;
                        has_date = true;
                    }
                    Numeric::Year
                    | Numeric::YearMod100
                    | Numeric::Month
                    | Numeric::Day
                    | Numeric::Ordinal
                    | Numeric::IsoYear
                    | Numeric::IsoYearMod100 => has_date = true,
                    _ => {}
                }
            }
            Item::Fixed(f) => {
                has_any_spec = true;
                match f {
                    Fixed::ShortMonthName | Fixed::LongMonthName => has_date = true,
                    Fixed::RFC2822 | Fixed::RFC3339 => {
                        has_date = true;
                        has_time = true;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !has_any_spec {
        return Err(DateFormatError {
            message: format!("`{written}` contains no date specifiers"),
            help: Some("a TapeTrack date format doubles `%`: \"%%d/%%m/%%Y\"".into()),
        });
    }
    if !has_date {
        return Err(DateFormatError {
            message: format!("`{written}` has no date part (day, month, year)"),
            help: Some("add the date specifiers, e.g. \"%%H:%%M:%%S %%d/%%m/%%Y\"".into()),
        });
    }
    let format = DateFormat {
        written: written.to_string(),
        strftime: strftime.to_string(),
        has_time,
    };
    // A format that cannot read back what it writes (e.g. year without month) is useless.
    let sample = chrono::NaiveDate::from_ymd_opt(2024, 3, 15)
        .and_then(|d| d.and_hms_opt(13, 45, 30))
        .ok_or_else(|| DateFormatError {
            message: "internal: sample date".into(),
            help: None,
        })?;
    let mut rendered = String::new();
    use std::fmt::Write;
    if write!(
        rendered,
        "{}",
        sample.format_with_items(StrftimeItems::new(strftime))
    )
    .is_err()
        || format.parse(&rendered).is_err()
    {
        return Err(DateFormatError {
            message: format!("`{written}` cannot identify a complete date"),
            help: Some("a date format needs a day, a month and a year".into()),
        });
    }
    Ok(format)
}

impl Compiler<'_> {
    /// A date-format argument; `raw_written` is the format as written (with `%%`).
    pub(in crate::compile) fn date_format(
        &mut self,
        file: FileId,
        s: &Str,
        raw_written: &str,
    ) -> Option<DateFormat> {
        if self.empty(file, s, "a date format") {
            return None;
        }
        match compile_date_format(raw_written, s.text()) {
            Ok(f) => Some(f),
            Err(e) => {
                let mut d = Diagnostic::new(Code::BAD_DATE_FORMAT, file, s.arg, e.message)
                    .label("date format");
                d.help = e.help;
                self.emit(d);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let f = compile_date_format("%%d/%%m/%%Y", "%d/%m/%Y").unwrap();
        assert!(!f.has_time);
        let f = compile_date_format("x", "%H:%M:%S %d/%m/%Y").unwrap();
        assert!(f.has_time);
        assert!(compile_date_format("x", "%Q").is_err());
        assert!(compile_date_format("x", "dd/mm/yyyy").is_err());
        assert!(compile_date_format("x", "%H:%M").is_err());
        assert!(compile_date_format("x", "%Y").is_err());
        assert!(compile_date_format("x", "%Y-%m-%d").is_ok());
    }
}
