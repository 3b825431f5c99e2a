//! Translation templates, compiled (`compile::arguments::template` builds them) and applied to
//! a field's value.

use serde::{Deserialize, Serialize};

/// A compiled translation: literal text, `*` (the whole current value) and `~`/`^` masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub source: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum TemplatePart {
    Text(String),
    /// `*`: the whole current value.
    Whole,
    /// A run of `~` (true: keep the character) and `^` (false: drop it). Masks consume the
    /// current value position by position from a cursor that starts at 0 and carries over
    /// from one mask run to the next; characters past the last mask are dropped.
    Mask(Vec<bool>),
}

impl Template {
    /// The translation of `current` (the field's value before the translation).
    pub fn translate(&self, current: &str) -> String {
        let mut out = String::with_capacity(current.len() + 8);
        self.translate_into(current, &mut out);
        out
    }

    /// [`Template::translate`] appending to `out` (so a caller can reuse one buffer per record).
    pub fn translate_into(&self, current: &str, out: &mut String) {
        // The mask cursor: one character of `current` per mask position, carried over
        // between mask runs; past the end every position reads nothing.
        let mut cursor = current.chars();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Whole => out.push_str(current),
                TemplatePart::Mask(mask) => {
                    for keep in mask {
                        match cursor.next() {
                            Some(c) if *keep => out.push(c),
                            Some(_) => {}
                            None => break,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = |parts| Template {
            source: String::new(),
            parts,
        };
        assert_eq!(
            t(vec![TemplatePart::Whole, TemplatePart::Text("L3".into())]).translate("000123"),
            "000123L3"
        );
        let mut mask = vec![false; 3];
        mask.extend([true; 6]);
        assert_eq!(
            t(vec![
                TemplatePart::Mask(mask),
                TemplatePart::Text("L4".into())
            ])
            .translate("A12345678"),
            "345678L4"
        );
        assert_eq!(
            t(vec![TemplatePart::Mask(vec![true; 6])]).translate("ABCDEFGH"),
            "ABCDEF"
        );
    }
}
