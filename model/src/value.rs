//! Validation and canonical forms of field values.
//!
//! The runtime calls [`canonicalise`] on every derived value before diffing, the store and the
//! server call it again on everything they are asked to write. A value that passes comes back
//! in the one form the inventory stores, so that comparing strings is comparing values
//! (`YES` and `true` are the same scratch state).

use crate::field::{Field, FieldKind};
use std::borrow::Cow;
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
    #[error("{field} `{}` is too short; a Volume-ID has at least 2 characters", escape_controls(.value))]
    TooShort { field: Field, value: String },
    #[error("{field} `{}` has `{}`; only {allowed} are allowed", escape_controls(.value), escape_controls(&.ch.to_string()))]
    BadCharacter {
        field: Field,
        value: String,
        ch: char,
        allowed: &'static str,
    },
    #[error("{field} `{}` starts with `-`; a Volume-ID must start with a letter or digit", escape_controls(.value))]
    LeadingDash { field: Field, value: String },
    #[error("{field} `{}` is not a yes/no value; use YES, NO, TRUE or FALSE", escape_controls(.value))]
    NotBool { field: Field, value: String },
    #[error("{field} `{}` is not a whole number", escape_controls(.value))]
    NotInteger { field: Field, value: String },
    #[error("{field} `{}` is not a date in canonical form YYYY-MM-DD", escape_controls(.value))]
    NotDate { field: Field, value: String },
    #[error("{field} `{}` is not a time in canonical form YYYY-MM-DDTHH:MM:SS", escape_controls(.value))]
    NotDateTime { field: Field, value: String },
    #[error(
        "{field} `{value}` has the control character U+{code:04X}; text may not hold terminal \
         or bidirectional controls (tab and line feed are allowed): remove it at the source"
    )]
    Control {
        field: Field,
        /// The value with its controls escaped ([`escape_controls`]), safe to print.
        value: String,
        code: u32,
    },
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
    parse_bool_ascii(raw)
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
            check_text(field, raw)?;
            Ok(raw.to_string())
        }
        FieldKind::Bool => match parse_bool_ascii(raw) {
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
            if is_canonical_date_time(raw) {
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

/// [`canonicalise`] without a copy when the value is already canonical: the hot path of a
/// sync derives millions of values, almost all of them already in stored form. Returns exactly
/// what [`canonicalise`] returns (the same value, the same error), borrowed where it can be.
pub fn canonicalise_cow(field: Field, raw: &str) -> Result<Cow<'_, str>, ValueError> {
    let fast = match field.kind() {
        FieldKind::Id => is_canonical_id(raw, field.max_len()).then_some(Cow::Borrowed(raw)),
        FieldKind::VolumeId => return validate_volume_id_cow(raw),
        FieldKind::Text => {
            check_len(field, raw)?;
            check_text(field, raw)?;
            Some(Cow::Borrowed(raw))
        }
        // The canonical spellings are static; only a value that is not a yes/no at all
        // goes the slow way (for its error).
        FieldKind::Bool => {
            parse_bool_ascii(raw).map(|b| Cow::Borrowed(if b { "true" } else { "false" }))
        }
        FieldKind::Integer => {
            // ASCII white space only: what is left is then all digits only if `trim` would
            // leave the same (any other white space makes this miss, and the slow way trims it).
            let t = raw.trim_ascii();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > field.max_len() {
                None
            } else {
                let trimmed = t.trim_start_matches('0');
                Some(Cow::Borrowed(if trimmed.is_empty() {
                    "0"
                } else {
                    trimmed
                }))
            }
        }
        FieldKind::Date => is_canonical_date(raw).then_some(Cow::Borrowed(raw)),
        FieldKind::DateTime => is_canonical_date_time(raw).then_some(Cow::Borrowed(raw)),
    };
    match fast {
        Some(v) => Ok(v),
        None => canonicalise(field, raw).map(Cow::Owned),
    }
}

/// [`validate_volume_id`], borrowing `raw` when it is already a canonical Volume-ID.
pub fn validate_volume_id_cow(raw: &str) -> Result<Cow<'_, str>, ValueError> {
    let b = raw.as_bytes();
    let canonical = (2..=Field::Volume.max_len()).contains(&b.len())
        && b[0] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-');
    if canonical {
        Ok(Cow::Borrowed(raw))
    } else {
        validate_volume_id(raw).map(Cow::Owned)
    }
}

/// Whether `raw` is a valid identifier already in upper case (what [`validate_id`] returns).
fn is_canonical_id(raw: &str, max: usize) -> bool {
    !raw.is_empty()
        && raw.len() <= max
        && raw
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The yes/no spellings, compared without upper-casing into a new string.
pub fn parse_bool_ascii(raw: &str) -> Option<bool> {
    let t = raw.trim().as_bytes();
    // Every spelling has at most five bytes: upper-cased (ASCII letters only, as
    // `eq_ignore_ascii_case` compares) into a small buffer and matched once, instead of up to
    // ten comparisons — a yes/no column is read on every record.
    let mut upper = [0u8; 5];
    upper
        .get_mut(..t.len())?
        .iter_mut()
        .zip(t)
        .for_each(|(u, b)| *u = b.to_ascii_uppercase());
    match &upper[..t.len()] {
        b"YES" | b"TRUE" | b"Y" | b"T" | b"1" => Some(true),
        b"NO" | b"FALSE" | b"N" | b"F" | b"0" => Some(false),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS`. Checks the char boundary first: a 19-byte value with a multi-byte
/// character across byte 10 must be rejected, not sliced.
fn is_canonical_date_time(raw: &str) -> bool {
    raw.len() == 19
        && raw.is_char_boundary(10)
        && is_canonical_date(&raw[..10])
        && raw.as_bytes()[10] == b'T'
        && is_canonical_time(&raw[11..])
}

/// Whether `c` may not be stored in text: the C0 controls but tab and line feed (NUL, BEL,
/// BS, CR, ESC, …), DEL, the C1 controls (U+0080–U+009F, among them CSI), and the
/// bidirectional controls that reorder what a terminal shows (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069). Tab and line feed are plain whitespace (a quoted CSV field
/// may span lines); [`escape_controls`] still escapes them in one-line output.
pub fn is_control(c: char) -> bool {
    matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Refuses text with a control character ([`is_control`]): every stored text (volume text
/// fields through [`canonicalise`], and the store's names and descriptions) passes here, from a
/// report as from the API.
pub fn check_text(field: Field, text: &str) -> Result<(), ValueError> {
    // Printable ASCII, tabs and line feeds, the common case, cannot hold one: skip the char
    // decoding.
    if all_printable_ascii(text.as_bytes())
        || text
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) || b == b'\t' || b == b'\n')
    {
        return Ok(());
    }
    match text.chars().find(|c| is_control(*c)) {
        Some(c) => Err(ValueError::Control {
            field,
            value: escape_controls(text).into_owned(),
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

/// Whether every byte is printable ASCII (0x20–0x7e), eight bytes at a time: the text of
/// nearly every value, checked on every record. In a word with no byte of 0x80 or more,
/// subtracting 0x20 from each byte sets the top bit of (at least) every byte below 0x20, and
/// adding 1 sets it in a byte of 0x7f; a borrow can only set more top bits after a byte that
/// is below 0x20 already, so the answer is exact.
fn all_printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        // Always eight bytes; the zero word is not printable, so a slip could not pass.
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        if (w | w.wrapping_sub(0x20 * ONES) | w.wrapping_add(ONES)) & HIGH != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|b| (0x20..0x7f).contains(b))
}

/// `text` on one line for a terminal, with every control character ([`is_control`]), tab and
/// line feed written as `\u{…}`: what tapesync prints of stored text can neither move the
/// cursor, clear the screen, ring the bell, reorder the line nor break a table's rows.
/// Borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let escaped = |c: char| is_control(c) || c == '\t' || c == '\n';
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[inline]
fn check_len(field: Field, value: &str) -> Result<(), ValueError> {
    let max = field.max_len();
    // No more bytes than the limit means no more characters either: skip the count.
    if value.len() <= max {
        return Ok(());
    }
    let len = value.chars().count();
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
    /// The word-at-a-time check agrees with a byte-by-byte one, wherever the odd byte is and
    /// whatever the length.
    #[test]
    fn all_printable_ascii_agrees_with_each_byte() {
        let printable = |b: &[u8]| b.iter().all(|c| (0x20..0x7f).contains(c));
        for len in 0..=24 {
            let base: Vec<u8> = (0..len).map(|i| b' ' + (i as u8 * 7) % 95).collect();
            assert!(all_printable_ascii(&base));
            for at in 0..len {
                for odd in 0..=255u8 {
                    let mut b = base.clone();
                    b[at] = odd;
                    assert_eq!(all_printable_ascii(&b), printable(&b), "{b:?}");
                    // With a byte below 0x20 before it (a borrow into the odd byte).
                    if at > 0 {
                        b[at - 1] = 0x1f;
                        assert_eq!(all_printable_ascii(&b), printable(&b), "{b:?}");
                    }
                }
            }
        }
    }

    /// Integers keep their canonical form whatever white space surrounds them.
    #[test]
    fn integers_with_white_space_around() {
        let cases = [
            ("12", Some("12")),
            (" 12 ", Some("12")),
            ("\t007\n", Some("7")),
            ("\u{a0}12", Some("12")),
            ("12\u{2003}", Some("12")),
            ("\u{85}1", Some("1")),
            ("\u{b}5", Some("5")),
            ("\u{3000}0", Some("0")),
            (" ", None),
            ("1 2", None),
        ];
        for (raw, want) in cases {
            let fast = canonicalise_cow(Field::UsageCount, raw).map(|c| c.into_owned());
            assert_eq!(fast, canonicalise(Field::UsageCount, raw), "{raw:?}");
            assert_eq!(fast.ok().as_deref(), want, "{raw:?}");
        }
    }

    /// The matched spellings agree with case-insensitive comparisons against the word lists
    /// (the form `parse_bool_ascii` had before it was made one match).
    #[test]
    fn parse_bool_ascii_agrees_with_the_word_lists() {
        let reference = |raw: &str| {
            let t = raw.trim();
            let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
            if is(&["YES", "TRUE", "Y", "T", "1"]) {
                Some(true)
            } else if is(&["NO", "FALSE", "N", "F", "0"]) {
                Some(false)
            } else {
                None
            }
        };
        let words = ["yes", "true", "y", "t", "1", "no", "false", "n", "f", "0"];
        let mut cases: Vec<String> = ["", " ", "ye", "yess", "truee", "tru", "falsee", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for w in words {
            // Every mix of upper and lower case, with and without white space around.
            for mask in 0..1u32 << w.len() {
                let mixed: String = w
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask & (1 << i) != 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                cases.push(format!(" {mixed}\t"));
                cases.push(mixed);
            }
        }
        // Look-alikes that are not ASCII (Kelvin sign, long s, dotless i, full-width Y).
        cases.extend(
            [
                "\u{212a}",
                "fal\u{17f}e",
                "tru\u{131}",
                "\u{ff39}es",
                "y\u{0}",
            ]
            .map(String::from),
        );
        for c in &cases {
            assert_eq!(parse_bool_ascii(c), reference(c), "{c:?}");
        }
    }

    use super::*;

    /// Terminal controls (NUL, BEL, ESC, CR, VT, DEL, C1) and bidirectional controls (U+202E…)
    /// are refused in stored text, by the one check both the runtime and the store run; a
    /// tab, a line feed and ordinary non-ASCII text pass, on the fast path as on the slow one.
    #[test]
    fn control_characters_are_refused_in_text() {
        for bad in [
            "a\0b",
            "a\x07b",
            "a\x1b[31mred",
            "a\rb",
            "a\x0bb",
            "a\x7fb",
            "a\u{85}b",
            "a\u{9b}b",
            "abc\u{202e}fdp.exe",
            "x\u{2066}y",
            "x\u{200f}y",
            "x\u{61c}y",
        ] {
            for result in [
                canonicalise(Field::Description, bad).map(Cow::Owned),
                canonicalise_cow(Field::Description, bad),
            ] {
                match result {
                    Err(e @ ValueError::Control { .. }) => {
                        let text = e.to_string();
                        assert!(text.contains("U+"), "{text}");
                        assert!(!text.chars().any(is_control), "raw control in {text:?}");
                    }
                    other => panic!("{bad:?} gave {other:?}"),
                }
            }
        }
        for good in ["plain", "tab\there", "two\nlines", "Müller – Ω 東京"] {
            assert_eq!(canonicalise(Field::Description, good).unwrap(), good);
            assert_eq!(canonicalise_cow(Field::Description, good).unwrap(), good);
        }
        assert_eq!(
            escape_controls("a\x1b[2Jb\u{202e}c\\"),
            "a\\u{1b}[2Jb\\u{202e}c\\"
        );
        assert!(matches!(escape_controls("fine – ok"), Cow::Borrowed(_)));
    }

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

    /// A small deterministic generator (no dependency): values built from characters that
    /// exercise every branch (case, digits, dashes, blanks, separators, non-ASCII).
    fn samples() -> Vec<String> {
        const ALPHABET: [&str; 20] = [
            "a", "Z", "0", "9", "1", "-", " ", "_", "é", "T", ":", "y", "E", "s", "n", "O", "2",
            "\t", "f", "ü",
        ];
        let mut out: Vec<String> = [
            "",
            "0",
            "00",
            "000",
            "0042",
            " 7 ",
            "true",
            "false",
            "TRUE",
            "Yes",
            " no ",
            "y",
            "1",
            "maybe",
            "A",
            "AB",
            "-AB",
            "AB-1",
            "a00200l3",
            "A00200L3",
            "ABCDEFGHIJ",
            "ABCDEFGHIJK",
            "US01",
            "us01",
            "US_1",
            "2024-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2023-02-28T23:59:59",
            "2023-02-28 23:59:59",
            "2023-02-28T24:00:00",
            "2023-02-2éT23:59:5",
            "2023-02-28T23:59:6é",
            "12345678901",
            "ÄBC",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 22) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            out.push(s);
        }
        // Dates and times with one random character swapped in.
        for _ in 0..5_000 {
            let mut s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                1999 + next() % 30,
                next() % 14,
                next() % 33,
                next() % 26,
                next() % 62,
                next() % 62
            );
            if next() % 3 == 0 {
                let at = (next() % 19) as usize;
                let c = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
                s.replace_range(at..at + 1, c);
            }
            if let Some(date) = s.get(..10) {
                out.push(date.to_string());
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn cow_forms_agree_with_the_owned_ones() {
        let samples = samples();
        for field in Field::ALL {
            for raw in &samples {
                let owned = canonicalise(field, raw);
                let cow = canonicalise_cow(field, raw).map(|c| c.into_owned());
                assert_eq!(cow, owned, "{field} {raw:?}");
            }
        }
        for raw in &samples {
            let cow = validate_volume_id_cow(raw).map(|c| c.into_owned());
            assert_eq!(cow, validate_volume_id(raw), "{raw:?}");
        }
    }

    #[test]
    fn cow_forms_borrow_canonical_values() {
        let borrowed = |r: Result<Cow<'_, str>, ValueError>| matches!(r, Ok(Cow::Borrowed(_)));
        assert!(borrowed(canonicalise_cow(Field::Customer, "US01")));
        assert!(!borrowed(canonicalise_cow(Field::Customer, "us01")));
        assert!(borrowed(canonicalise_cow(Field::Scratch, "YES")));
        assert!(borrowed(canonicalise_cow(Field::UsageCount, "0042")));
        assert!(borrowed(canonicalise_cow(Field::MoveDate, "2024-02-29")));
        assert!(borrowed(validate_volume_id_cow("A00200L3")));
        assert!(!borrowed(validate_volume_id_cow("a00200l3")));
    }
}
