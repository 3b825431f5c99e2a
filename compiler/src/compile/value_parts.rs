//! Field derivation, continued (extensions): a part of a value — `SetSubstring` — and a value
//! built from other fields' values — `SetValueTemplate` (a date and a time in two words
//! joined into one WRITETIME, a field named after another).

use super::arguments::{Site, Str, Val};
use super::{Compiler, Directive};
use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{Substring, ValuePart, ValueTemplate};
use tapesync_model::Field;

/// What the value-part directives gave.
#[derive(Default)]
pub(super) struct ValueParts {
    substrings: Vec<(Substring, Site)>,
    templates: Vec<(ValueTemplate, Site)>,
}

/// The value parts as the plan has them.
pub(super) struct LoweredParts {
    pub(super) substrings: Vec<Substring>,
    pub(super) value_templates: Vec<ValueTemplate>,
}

impl ValueParts {
    /// The fields value templates give a value.
    pub(super) fn templated(&self) -> impl Iterator<Item = (Field, Site)> + '_ {
        self.templates.iter().map(|(t, site)| (t.field, *site))
    }
}

impl Compiler<'_> {
    /// `SetSubstring`.
    pub(super) fn set_substring(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let sub = Substring {
            field: v[0].field(),
            offset: v[1].int(),
            length: v[2].int() as usize,
        };
        let given = &mut self.given.parts.substrings;
        if let Some(i) = given.iter().position(|(s, _)| s.field == sub.field) {
            let (old, first) = given.remove(i);
            let message = format!(
                "`SetSubstring` of {} given twice; the last one wins",
                sub.field
            );
            self.given_twice(site, first, old == sub, message);
        }
        self.given.parts.substrings.push((sub, site));
    }

    /// `SetValueTemplate`.
    pub(super) fn set_value_template(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[1].str() else { return };
        if self.empty(site.file, s, "a value template") {
            return;
        }
        let Some(parts) = self.value_template(site, s) else {
            return;
        };
        let template = ValueTemplate {
            field: v[0].field(),
            source: s.text().to_string(),
            parts,
        };
        self.given.parts.templates.push((template, site));
    }

    /// Parses a template: `{NAME}` is a field, `{{` and `}}` are braces, the rest is text.
    fn value_template(&mut self, site: Site, s: &Str) -> Option<Vec<ValuePart>> {
        let text = s.text();
        let mut parts: Vec<ValuePart> = Vec::new();
        let mut literal = String::new();
        let mut ok = true;
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let Some(close) = text[at..].find('}').map(|i| at + i) else {
                        self.bad_template(site, s, at, text.len(), "`{` is never closed");
                        return None;
                    };
                    let name = &text[at + 1..close];
                    let span = Compiler::span_of(s, at + 1, close);
                    if name.trim().is_empty() {
                        self.bad_template(site, s, at, close + 1, "`{}` names no field");
                        ok = false;
                    } else if let Some(Val::Field(f)) = self.field(site.file, span, name) {
                        if !literal.is_empty() {
                            parts.push(ValuePart::Text(std::mem::take(&mut literal)));
                        }
                        parts.push(ValuePart::Field(f));
                    } else {
                        ok = false;
                    }
                    while chars.peek().is_some_and(|&(i, _)| i <= close) {
                        chars.next();
                    }
                }
                '}' => {
                    self.bad_template(site, s, at, at + 1, "`}` without a matching `{`");
                    ok = false;
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(ValuePart::Text(literal));
        }
        ok.then_some(parts)
    }

    fn bad_template(&mut self, site: Site, s: &Str, start: usize, end: usize, message: &str) {
        let span = Compiler::span_of(s, start, end);
        self.emit(
            Diagnostic::new(
                Code::MALFORMED_VALUE_TEMPLATE,
                site.file,
                span,
                format!("malformed value template: {message}"),
            )
            .label("here")
            .help("write `{FIELD}` for a field's value and `{{` or `}}` for a brace"),
        );
    }

    /// The value parts for the plan; a date field built by a template needs a date format.
    pub(super) fn lower_value_parts(&mut self) -> LoweredParts {
        let templates = std::mem::take(&mut self.given.parts.templates);
        for (t, site) in &templates {
            if t.field.is_temporal() && !self.given.rules.date_formats.contains_key(&t.field) {
                self.emit(
                    Diagnostic::new(
                        Code::DATE_FORMAT_MISSING,
                        site.file,
                        site.span,
                        format!("{} is built by a template but has no date format", t.field),
                    )
                    .label("built here")
                    .help("give the field a date format that reads the template's result"),
                );
            }
        }
        // Kept for the whole-definition checks (the fields the plan sets).
        self.given.parts.templates = templates.clone();
        LoweredParts {
            substrings: self
                .given
                .parts
                .substrings
                .iter()
                .map(|(s, _)| s.clone())
                .collect(),
            value_templates: templates.into_iter().map(|(t, _)| t).collect(),
        }
    }
}
