//! Completion: directive names (with a snippet of their required arguments) where a statement
//! starts, field names and keywords where the directive's parameter wants them, and `%NAME%`
//! variables inside strings.

use crate::context::{context_at, Context, Under};
use crate::hover::{directive_markdown, field_markdown, kind_description};
use crate::keywords;
use crate::symbols::Symbols;
use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, InsertTextFormat, MarkupContent, MarkupKind,
};
use tapesync_compiler::catalogue::lookup;
use tapesync_compiler::{catalogue, DirectiveInfo, ParamKind};
use tapesync_model::Field;

pub fn completion(text: &str, pos: usize) -> Vec<CompletionItem> {
    match context_at(text, pos) {
        Context::StatementStart { prefix } => {
            let end = prefix.as_ref().map_or(pos, |(_, span)| span.end);
            let paren_follows = text
                .get(end..)
                .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with('('));
            catalogue()
                .iter()
                .map(|d| directive_item(d, !paren_follows))
                .collect()
        }
        Context::DirectiveName { .. } => catalogue()
            .iter()
            .map(|d| directive_item(d, false))
            .collect(),
        Context::Argument {
            under:
                Under::Str {
                    content,
                    content_span,
                    ..
                },
            ..
        } => {
            let typed = content
                .get(..pos.saturating_sub(content_span.start))
                .unwrap_or(&content);
            if !open_variable(typed) {
                return Vec::new();
            }
            let closed = text.get(pos..).is_some_and(|rest| {
                rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    .starts_with('%')
            });
            variable_items(text, closed)
        }
        Context::Argument {
            directive, index, ..
        } => {
            let Some(param) = lookup(&directive).and_then(|d| d.params.get(index)) else {
                return Vec::new();
            };
            match param.kind {
                ParamKind::Field => Field::ALL.into_iter().map(field_item).collect(),
                ParamKind::Keyword { values } => values.iter().map(|k| keyword_item(k)).collect(),
                ParamKind::CharOrNone => vec![keyword_item("NONE")],
                _ => Vec::new(),
            }
        }
        Context::Nowhere => Vec::new(),
    }
}

/// Whether `typed` (string content up to the cursor) ends inside an unclosed `%NAME`.
fn open_variable(typed: &str) -> bool {
    let bytes = typed.as_bytes();
    let mut i = 0;
    let mut open = false;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if open {
                open = false;
            } else if bytes.get(i + 1) == Some(&b'%') {
                i += 1;
            } else {
                open = true;
            }
        } else if open && !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            open = false;
        }
        i += 1;
    }
    open
}

fn markdown(value: String) -> Option<Documentation> {
    Some(Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    }))
}

fn directive_item(d: &DirectiveInfo, with_snippet: bool) -> CompletionItem {
    let (insert_text, insert_text_format) = if with_snippet {
        let args: Vec<String> = d.params[..d.min_args()]
            .iter()
            .enumerate()
            .map(|(i, p)| format!("${{{}:{}}}", i + 1, p.name))
            .collect();
        let body = if args.is_empty() && d.optional > 0 {
            "$1".to_string()
        } else {
            args.join(", ")
        };
        (
            Some(format!("{}({body});$0", d.name)),
            Some(InsertTextFormat::SNIPPET),
        )
    } else {
        (None, None)
    };
    CompletionItem {
        label: d.name.to_string(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(d.signature()),
        documentation: markdown(directive_markdown(d)),
        insert_text,
        insert_text_format,
        ..CompletionItem::default()
    }
}

fn field_item(field: Field) -> CompletionItem {
    let info = field.info();
    CompletionItem {
        label: info.name.to_string(),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(format!(
            "{}, at most {} characters",
            kind_description(info.kind),
            info.max_len
        )),
        documentation: markdown(field_markdown(field)),
        ..CompletionItem::default()
    }
}

fn keyword_item(keyword: &str) -> CompletionItem {
    CompletionItem {
        label: keyword.to_string(),
        kind: Some(CompletionItemKind::KEYWORD),
        documentation: keywords::meaning(keyword).and_then(|m| markdown(m.to_string())),
        ..CompletionItem::default()
    }
}

fn variable_items(text: &str, closed: bool) -> Vec<CompletionItem> {
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    for v in Symbols::of(text).variables {
        if !names.iter().any(|(n, _)| n.eq_ignore_ascii_case(&v.name)) {
            names.push((v.name, v.value));
        }
    }
    names
        .into_iter()
        .map(|(name, value)| CompletionItem {
            insert_text: Some(if closed {
                name.clone()
            } else {
                format!("{name}%")
            }),
            label: name,
            kind: Some(CompletionItemKind::VARIABLE),
            detail: value.map(|v| format!("\"{v}\"")),
            ..CompletionItem::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(marked: &str) -> Vec<String> {
        let pos = marked.find('|').expect("cursor mark");
        completion(&marked.replacen('|', "", 1), pos)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn positions() {
        let start = labels("SetFile(\"a\");\nExt|");
        assert!(start.contains(&"Extract".to_string()) && start.contains(&"AddString".to_string()));
        let fields = labels("Extract(|");
        assert!(fields.contains(&"VOLUME".to_string()) && !fields.contains(&"HEADER".to_string()));
        assert_eq!(
            labels("AddString(|"),
            ["HEADER", "EXCLUSION", "START", "END", "TERMINATE"]
        );
        assert!(labels("Extract(VOLUME, |").is_empty());
        assert_eq!(labels("SetCSVQuote(|"), ["NONE"]);
        assert!(labels("# |").is_empty());
        assert_eq!(
            labels("SetVariable(SITE, \"LON\");\nSetFile(\"%S|"),
            ["SITE"]
        );
        assert!(labels("SetVariable(SITE, \"LON\");\nSetFile(\"%%S|").is_empty());
    }

    #[test]
    fn snippets_only_without_a_paren() {
        let items = completion("Extr", 4);
        let extract = items
            .iter()
            .find(|i| i.label == "Extract")
            .expect("Extract offered");
        assert_eq!(
            extract.insert_text.as_deref(),
            Some("Extract(${1:field}, ${2:offset}, ${3:length}, ${4:record});$0")
        );
        let items = completion("Extr(VOLUME);", 4);
        let extract = items
            .iter()
            .find(|i| i.label == "Extract")
            .expect("Extract offered");
        assert!(extract.insert_text.is_none());
    }
}
