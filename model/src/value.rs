//! Validation and canonical forms of field values.
//!
//! The runtime calls [`canonicalise`] on every derived value before diffing, the store and the
//! server call it again on everything they are asked to write. A value that passes comes back
//! in the one form the inventory stores, so that comparing strings is comparing values
//! (`YES` and `true` are the same scratch state).

use crate::field::{Field, FieldKind};
use thiserror::Error;

/// Why a value does not fit its field. The message is written for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("{field} is {len} characters long; at most {max} fit")]
    TooLong {
        field: Field,
        len: usize,
        max: usize,
    },
    #[error("{field} `{value}` is too short; a Volume-ID has at least 2 characters")]
    TooShort { field: Field, value: String },
    #[error("{field} `{value}` has `{ch}`; only {allowed} are allowed")]
    BadCharacter {
        field: Field,
        value: String,
        ch: char,
        allowed: &'static str,
    },
    #[error("{field} `{value}` starts with `-`; a Volume-ID must start with a letter or digit")]
    LeadingDash { field: Field, value: String },
    #[error("{field} `{value}` is not a yes/no value; use YES, NO, TRUE or FALSE")]
    NotBool { field: Field, value: String },
    #[error("{field} `{value}` is not a whole number")]
    NotInteger { field: Field, value: String },
    #[error("{field} `{value}` is not a date in canonical form YYYY-MM-DD")]
    NotDate { field: Field, value: String },
    #[error("{field} `{value}` is not a time in canonical form YYYY-MM-DDTHH:MM:SS")]
    NotDateTime { field: Field, value: String },
    #[error("{field} is empty")]
    Empty { field: Field },
    #[error("{field} is a scratch field and is never stored")]
    NotStored { field: Field },
}

/// Checks a customer, media or repository identifier and returns it upper-cased.
pub fn validate_id(field: Field, raw: &str) -> Result<String, ValueError> {
    let value = raw.to_ascii_uppercase();
    check_len(field, &value)?;
    if value.is_empty() {
        return Err(ValueError::Empty { field });
    }
    if let Some(ch) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(ValueError::BadCharacter {
            field,
            value,
            ch,
            allowed: "letters A-Z and digits 0-9",
        });
    }
    Ok(value)
}

/// Checks a Volume-ID (2–10 of `A–Z`, `0–9`, `-`, not starting with `-`) and returns it
/// upper-cased.
pub fn validate_volume_id(raw: &str) -> Result<String, ValueError> {
    let field = Field::Volume;
    let value = raw.to_ascii_uppercase();
    check_len(field, &value)?;
    if value.is_empty() {
        return Err(ValueError::Empty { field });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(ValueError::BadCharacter {
            field,
            value,
            ch,
            allowed: "letters A-Z, digits 0-9 and '-'",
        });
    }
    if value.len() < 2 {
        return Err(ValueError::TooShort { field, value });
    }
    if value.starts_with('-') {
        return Err(ValueError::LeadingDash { field, value });
    }
    Ok(value)
}

/// Parses the yes/no spellings TapeTrack accepts (and the obvious short forms).
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "YES" | "TRUE" | "Y" | "T" | "1" => Some(true),
        "NO" | "FALSE" | "N" | "F" | "0" => Some(false),
        _ => None,
    }
}

/// Validates `raw` for `field` and returns its canonical stored form.
///
/// Dates and times must already be in canonical form (the runtime parses them with the
/// definition's date formats first); everything else is normalised here.
pub fn canonicalise(field: Field, raw: &str) -> Result<String, ValueError> {
    match field.kind() {
        FieldKind::Id => validate_id(field, raw),
        FieldKind::VolumeId => validate_volume_id(raw),
        FieldKind::Text => {
            check_len(field, raw)?;
            Ok(raw.to_string())
        }
        FieldKind::Bool => match parse_bool(raw) {
            Some(b) => Ok(if b { "true" } else { "false" }.to_string()),
            None => Err(ValueError::NotBool {
                field,
                value: raw.to_string(),
            }),
        },
        FieldKind::Integer => {
            let t = raw.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > field.max_len() {
                return Err(ValueError::NotInteger {
                    field,
                    value: raw.to_string(),
                });
            }
            let trimmed = t.trim_start_matches('0');
            Ok(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
        }
        FieldKind::Date => {
            if is_canonical_date(raw) {
                Ok(raw.to_string())
            } else {
                Err(ValueError::NotDate {
                    field,
                    value: raw.to_string(),
                })
            }
        }
        FieldKind::DateTime => {
            if raw.len() == 19
                && is_canonical_date(&raw[..10])
                && raw.as_bytes()[10] == b'T'
                && is_canonical_time(&raw[11..])
            {
                Ok(raw.to_string())
            } else {
                Err(ValueError::NotDateTime {
                    field,
                    value: raw.to_string(),
                })
            }
        }
    }
}

fn check_len(field: Field, value: &str) -> Result<(), ValueError> {
    let len = value.chars().count();
    let max = field.max_len();
    if len > max {
        Err(ValueError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

fn digits(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_canonical_date(s: &str) -> bool {
    let b = s.as_bytes();
    if s.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&s[..4]), digits(&s[5..7]), digits(&s[8..])) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn is_canonical_time(s: &str) -> bool {
    let b = s.as_bytes();
    if s.len() != 8 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    matches!(
        (digits(&s[..2]), digits(&s[3..5]), digits(&s[6..])),
        (Some(h), Some(m), Some(sec)) if h < 24 && m < 60 && sec < 61
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        assert_eq!(validate_volume_id("a00200l3").unwrap(), "A00200L3");
        assert!(matches!(
            validate_volume_id("A"),
            Err(ValueError::TooShort { .. })
        ));
        assert!(matches!(
            validate_volume_id("-ABC"),
            Err(ValueError::LeadingDash { .. })
        ));
        assert!(matches!(
            validate_volume_id("ABC DEF"),
            Err(ValueError::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            validate_volume_id("ABCDEFGHIJK"),
            Err(ValueError::TooLong {
                len: 11,
                max: 10,
                ..
            })
        ));
        assert!(validate_volume_id("AB-1").is_ok());
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonicalise(Field::Scratch, "Yes").unwrap(), "true");
        assert_eq!(canonicalise(Field::Encrypted, "FALSE").unwrap(), "false");
        assert!(canonicalise(Field::Scratch, "maybe").is_err());
        assert_eq!(canonicalise(Field::UsageCount, "0042").unwrap(), "42");
        assert_eq!(
            canonicalise(Field::MoveDate, "2024-02-29").unwrap(),
            "2024-02-29"
        );
        assert!(canonicalise(Field::MoveDate, "2023-02-29").is_err());
        assert!(canonicalise(Field::WriteTime, "2023-02-28T23:59:59").is_ok());
        assert!(canonicalise(Field::WriteTime, "2023-02-28 23:59:59").is_err());
        assert_eq!(canonicalise(Field::Customer, "us01").unwrap(), "US01");
        assert!(canonicalise(Field::Customer, "US_1").is_err());
        assert!(canonicalise(Field::Slot, "12345678901").is_err());
    }
}
