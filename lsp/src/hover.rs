//! Hover texts: directives (signature, doc, parameters, source page), fields (kind, limit,
//! doc), keywords and `%NAME%` variables.

use crate::context::{context_at, variable_refs, Context, Under};
use crate::keywords;
use crate::symbols::Symbols;
use std::fmt::Write as _;
use tapesync_compiler::catalogue::lookup;
use tapesync_compiler::{DirectiveInfo, ParamKind};
use tapesync_grammar::Span;
use tapesync_model::{Field, FieldKind};

/// Markdown and the span it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoverText {
    pub markdown: String,
    pub span: Span,
}

pub fn hover(text: &str, pos: usize) -> Option<HoverText> {
    match context_at(text, pos) {
        Context::DirectiveName { name, span }
        | Context::StatementStart {
            prefix: Some((name, span)),
        } => lookup(&name).map(|d| HoverText {
            markdown: directive_markdown(d),
            span,
        }),
        Context::Argument {
            directive,
            index,
            under: Under::Word { text: word, span },
            ..
        } => {
            let param = lookup(&directive).and_then(|d| d.params.get(index));
            let wants_keyword = param.is_some_and(|p| {
                matches!(p.kind, ParamKind::Keyword { .. } | ParamKind::CharOrNone)
            });
            let field = Field::lookup(&word).map(field_markdown);
            let keyword = keywords::meaning(&word)
                .map(|m| format!("**{}** (keyword)\n\n{m}", word.to_ascii_uppercase()));
            // A word may be both (`END` is no field, but a future one could be): the
            // parameter's kind decides which reading comes first.
            let markdown = if wants_keyword {
                keyword.or(field)
            } else {
                field.or(keyword)
            }?;
            Some(HoverText { markdown, span })
        }
        Context::Argument {
            under:
                Under::Str {
                    content,
                    content_span,
                    ..
                },
            ..
        } => {
            let var = variable_refs(&content, content_span.start)
                .into_iter()
                .find(|r| r.span.start <= pos && pos <= r.span.end)?;
            let symbols = Symbols::of(text);
            let markdown = match symbols.variable(&var.name, pos) {
                Some(def) => format!(
                    "**%{}%** (variable)\n\nSet by `SetVariable` to `\"{}\"`.",
                    var.name,
                    def.value.as_deref().unwrap_or("")
                ),
                None => format!(
                    "**%{}%** (variable)\n\nNot set in this file: an included file or the \
                     environment variable `{}` supplies it.",
                    var.name, var.name
                ),
            };
            Some(HoverText {
                markdown,
                span: var.span,
            })
        }
        _ => None,
    }
}

pub fn directive_markdown(d: &DirectiveInfo) -> String {
    let mut md = format!(
        "```ttidef\n{};\n```\n\n{}.",
        d.signature(),
        d.doc.trim_end_matches('.')
    );
    if !d.params.is_empty() {
        md.push_str("\n\n");
        for (i, p) in d.params.iter().enumerate() {
            let optional = if i >= d.min_args() { ", optional" } else { "" };
            let _ = writeln!(
                md,
                "- `{}` ({}{optional}): {}",
                p.name,
                p.kind.describe(),
                p.doc
            );
        }
    }
    if !d.aliases.is_empty() {
        let _ = write!(md, "\nAlso spelt: {}.", d.aliases.join(", "));
    }
    match d.source {
        Some(url) => {
            let _ = write!(md, "\n\nTapeTrack documentation: <{url}>");
        }
        None if d.extension => md.push_str(
            "\n\n*tapesync extension* — not part of TapeTrack's language (`tapesync check \
             --compat` warns on it).",
        ),
        None => {}
    }
    md
}

pub fn kind_description(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Id => "identifier (upper-case letters and digits)",
        FieldKind::VolumeId => "Volume-ID (2–10 of A–Z, 0–9 and `-`, upper case)",
        FieldKind::Text => "text",
        FieldKind::Bool => "yes/no (YES, NO, TRUE, FALSE)",
        FieldKind::Date => "date (parsed with a date format)",
        FieldKind::DateTime => "date and time (parsed with a date format)",
        FieldKind::Integer => "whole number",
    }
}

pub fn field_markdown(field: Field) -> String {
    let info = field.info();
    let mut md = format!(
        "**{}** (field)\n\n{}.\n\n",
        info.name,
        info.doc.trim_end_matches('.')
    );
    let _ = writeln!(md, "- kind: {}", kind_description(info.kind));
    let limit = if info.documented {
        "documented by TapeTrack"
    } else {
        "chosen by tapesync; TapeTrack documents none"
    };
    let _ = writeln!(
        md,
        "- maximum length: {} characters ({limit})",
        info.max_len
    );
    if field.is_key() {
        md.push_str("- key field: every record must end with it set\n");
    } else if !field.is_stored() && matches!(field, Field::User(_)) {
        md.push_str("- scratch field: never sent to the inventory\n");
    }
    if !info.aliases.is_empty() {
        let _ = writeln!(md, "- also spelt: {}", info.aliases.join(", "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(marked: &str) -> Option<HoverText> {
        let pos = marked.find('|').expect("cursor mark");
        hover(&marked.replacen('|', "", 1), pos)
    }

    #[test]
    fn directive_field_keyword_and_variable() {
        let h = at("Ext|ract(VOLUME, 0, 6, 0);").expect("directive hover");
        assert!(
            h.markdown
                .contains("Extract(field, offset, length, record)"),
            "{}",
            h.markdown
        );
        assert_eq!(h.span, Span::new(0, 7));
        let h = at("Extract(VOL|UME, 0, 6, 0);").expect("field hover");
        assert!(
            h.markdown.contains("**VOLUME**") && h.markdown.contains("10 characters"),
            "{}",
            h.markdown
        );
        let h = at("AddString(HEA|DER, 0, \"x\");").expect("keyword hover");
        assert!(h.markdown.contains("header section"), "{}", h.markdown);
        let h = at("SetVariable(SITE, \"LON\");\nAddExclusionOnValue(VOLUME, \"%SI|TE%*\");")
            .expect("variable hover");
        assert!(h.markdown.contains("\"LON\""), "{}", h.markdown);
        assert!(at("# Extract|").is_none());
        assert!(at("Frob|nicate(1);").is_none());
    }
}
