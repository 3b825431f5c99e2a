//! Parts of values and values built from other fields (extensions `SetSubstring` and
//! `SetValueTemplate`), applied after `RemoveSpaces`/`RemoveCharacters` and before the
//! translations.

use super::value_of;
use super::values::Values;
use tapesync_compiler::plan::{Substring, ValuePart, ValueTemplate};

/// Every `SetSubstring`, then every `SetValueTemplate` in file order.
pub(super) fn apply(values: &mut Values, substrings: &[Substring], templates: &[ValueTemplate]) {
    for sub in substrings {
        if let Some(v) = values.get_mut(sub.field) {
            cut(v, sub.offset, sub.length);
        }
    }
    for t in templates {
        let mut out = std::mem::take(&mut values.scratch);
        out.clear();
        for part in &t.parts {
            match part {
                ValuePart::Text(text) => out.push_str(text),
                ValuePart::Field(f) => out.push_str(value_of(values, *f)),
            }
        }
        let built = out.trim();
        if built.is_empty() {
            values.unset(t.field);
        } else {
            values.set(t.field, built);
        }
        values.scratch = out;
    }
}

/// Keeps `length` characters of `value` from character `offset` (below 0: counted from the
/// end), trimmed of blanks, in place.
fn cut(value: &mut String, offset: i64, length: usize) {
    let chars = value.chars().count();
    let start = if offset >= 0 {
        usize::try_from(offset).unwrap_or(usize::MAX).min(chars)
    } else {
        chars.saturating_sub(usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX))
    };
    let end = start.saturating_add(length).min(chars);
    let byte = |n: usize| value.char_indices().nth(n).map_or(value.len(), |(i, _)| i);
    let (from, to) = (byte(start), byte(end));
    let kept = value[from..to].trim();
    let (from, to) = if kept.is_empty() {
        (0, 0)
    } else {
        let at = kept.as_ptr() as usize - value.as_ptr() as usize;
        (at, at + kept.len())
    };
    value.truncate(to);
    value.drain(..from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(value: &str, offset: i64, length: usize) -> String {
        let mut v = value.to_string();
        cut(&mut v, offset, length);
        v
    }

    #[test]
    fn parts_from_the_start_and_the_end() {
        assert_eq!(part("A00001L8", 0, 6), "A00001");
        assert_eq!(part("[IBM:03584L32_CPDP:   245]", -7, 6), "245");
        assert_eq!(part("[IBM:03584L32_CPDP:  1245]", -7, 6), "1245");
        assert_eq!(part("abc", 5, 2), "");
        assert_eq!(part("abc", -10, 2), "ab");
        assert_eq!(part("ééé-x", 2, 3), "é-x");
    }
}
