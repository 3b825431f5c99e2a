//! Compiles translation strings into [`Template`]s: `*` is the whole current value, runs of
//! `~` (keep) and `^` (drop) are positional masks, everything else is literal text.

use crate::plan::{Template, TemplatePart};

pub fn compile_template(text: &str) -> Template {
    let mut parts: Vec<TemplatePart> = Vec::new();
    for c in text.chars() {
        match c {
            '*' => parts.push(TemplatePart::Whole),
            '~' | '^' => match parts.last_mut() {
                Some(TemplatePart::Mask(m)) => m.push(c == '~'),
                _ => parts.push(TemplatePart::Mask(vec![c == '~'])),
            },
            _ => match parts.last_mut() {
                Some(TemplatePart::Text(t)) => t.push(c),
                _ => parts.push(TemplatePart::Text(c.to_string())),
            },
        }
    }
    Template {
        source: text.to_string(),
        parts,
    }
}

/// The result when the template does not depend on the current value (no `*`, no mask).
pub fn constant_result(t: &Template) -> Option<String> {
    let mut out = String::new();
    for p in &t.parts {
        match p {
            TemplatePart::Text(s) => out.push_str(s),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(compile_template("*L3").translate("000123"), "000123L3");
        assert_eq!(compile_template("~~~~~~").translate("A1234567"), "A12345");
        assert_eq!(
            compile_template("^^^~~~~~~L4").translate("A12345678"),
            "345678L4"
        );
        assert_eq!(
            compile_template("^^~~~~~~~~~~").translate("A61234567890"),
            "1234567890"
        );
        assert_eq!(
            constant_result(&compile_template("HOLD")),
            Some("HOLD".into())
        );
        assert_eq!(constant_result(&compile_template("*X")), None);
    }
}
