//! Lints on a filter's source text (not on the compiled pattern, so that they stay apart from
//! how patterns are matched).
//!
//! Parentheses around a single alternative, as in `"Scratch(Worm)"`: a report prints the value
//! that way, but in a filter `(…)` is alternation, so the filter means `ScratchWorm` and can
//! never match the printed text. tapesync warns and offers `"Scratch[(]Worm[)]"`.

use super::Str;
use crate::compile::Compiler;
use crate::diagnostics::{Code, Diagnostic, FileId};

/// A `(…)` group without `|`: byte offsets of its `(` and `)` in the filter text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleAlternative {
    pub open: usize,
    pub close: usize,
}

/// Every `(…)` group of a well-formed filter that holds one alternative (no `|` at its own
/// level); `[…]` sets are skipped, and a `(` that is never closed is no group.
pub fn single_alternatives(text: &str) -> Vec<SingleAlternative> {
    let mut found = Vec::new();
    // Open groups: where each `(` is and whether a `|` was seen at its level.
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut in_class = false;
    for (at, c) in text.char_indices() {
        match c {
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '[' => in_class = true,
            '(' => open.push((at, false)),
            '|' => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
            }
            ')' => {
                if let Some((start, bar)) = open.pop() {
                    if !bar {
                        found.push(SingleAlternative {
                            open: start,
                            close: at,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    found
}

impl Compiler<'_> {
    /// Warns about parentheses a filter probably means as text (see the module docs).
    pub(in crate::compile) fn lint_pattern(&mut self, file: FileId, s: &Str) {
        let text = s.text();
        for g in single_alternatives(text) {
            let (inner, printed) = (&text[g.open + 1..g.close], &text[g.open..=g.close]);
            let meant = format!("{}{inner}{}", &text[..g.open], &text[g.close + 1..]);
            let span = Compiler::span_of(s, g.open, g.close + 1);
            self.emit(
                Diagnostic::new(
                    Code::LITERAL_PARENTHESES,
                    file,
                    span,
                    format!(
                        "`{printed}` is a group of one alternative: the filter means `{meant}` \
                         and never matches a value with parentheses"
                    ),
                )
                .label("parentheses are alternation here")
                .note("in a filter `(A|B)` means one of the alternatives A or B")
                .help(format!(
                    "to match the parentheses as text write `[(]{inner}[)]`"
                ))
                .fix(span, format!("[(]{inner}[)]")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(text: &str) -> Vec<(usize, usize)> {
        single_alternatives(text)
            .iter()
            .map(|g| (g.open, g.close))
            .collect()
    }

    #[test]
    fn one_alternative_groups() {
        assert_eq!(groups("Scratch(Worm)"), [(7, 12)]);
        assert_eq!(groups("Private(WORM)*"), [(7, 12)]);
        assert!(groups("*(OFFS|LEGL)").is_empty());
        assert!(groups("Scratch[(]Worm[)]").is_empty());
        // TapeTrack's unbalanced `!(` is another warning (E0017), not this one.
        assert!(groups("!([0-9]*").is_empty());
        assert_eq!(groups("(A|(B))"), [(3, 5)]);
    }
}
