//! Go-to-definition: `Include("path")` opens the included file; `%NAME%` jumps to the
//! `SetVariable(NAME, …)` that defines it, in the document or in a file it includes.

use crate::context::{context_at, variable_refs, Context, Under};
use crate::symbols::Symbols;
use crate::text::LineIndex;
use crate::uri::uri_for_path;
use lsp_types::{Location, Position, Range, Url};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tapesync_compiler::compile::arguments::expand::expand;
use tapesync_compiler::compile::loader::resolve;
use tapesync_compiler::SourceLoader;

/// The most includes followed while looking for a variable (the compiler's own limit).
const MAX_DEPTH: usize = 32;

/// The definition of what is at byte `pos` of `text` (the document `uri`, at `path` when it is
/// a file).
pub fn definition(
    uri: &Url,
    path: Option<&Path>,
    text: &str,
    pos: usize,
    loader: &dyn SourceLoader,
) -> Option<Location> {
    let Context::Argument {
        directive,
        index,
        under: Under::Str {
            content,
            content_span,
            ..
        },
        ..
    } = context_at(text, pos)
    else {
        return None;
    };
    let symbols = Symbols::of(text);
    let var_ref = variable_refs(&content, content_span.start)
        .into_iter()
        .find(|r| r.span.start <= pos && pos <= r.span.end);
    if let Some(var_ref) = var_ref {
        if let Some(def) = symbols.variable(&var_ref.name, pos) {
            let index = LineIndex::new(text);
            return Some(Location::new(
                uri.clone(),
                index.range(def.name_span.start, def.name_span.end),
            ));
        }
        let path = path?;
        let mut seen = HashSet::new();
        return find_in_includes(&symbols, path, &var_ref.name, loader, &mut seen, 0);
    }
    if directive.eq_ignore_ascii_case("Include") && index == 0 {
        let path = path?;
        // Variables in the path expand as the compiler expands them.
        let lookup = |name: &str| {
            symbols
                .variable(name, pos)
                .and_then(|v| v.value.clone())
                .or_else(|| loader.env(name))
        };
        let (expanded, _) = expand(&content, content_span.start, &lookup);
        let target = resolve(path, &expanded.text);
        loader.load(&target).ok()?;
        let uri = uri_for_path(&target)?;
        return Some(Location::new(
            uri,
            Range::new(Position::new(0, 0), Position::new(0, 0)),
        ));
    }
    None
}

fn find_in_includes(
    symbols: &Symbols,
    path: &Path,
    name: &str,
    loader: &dyn SourceLoader,
    seen: &mut HashSet<PathBuf>,
    depth: usize,
) -> Option<Location> {
    if depth >= MAX_DEPTH {
        return None;
    }
    for include in &symbols.includes {
        let target = resolve(path, &include.path);
        if !seen.insert(target.clone()) {
            continue;
        }
        let Ok(text) = loader.load(&target) else {
            continue;
        };
        let inner = Symbols::of(&text);
        if let Some(def) = inner.variable(name, text.len()) {
            let index = LineIndex::new(&text);
            let uri = uri_for_path(&target)?;
            return Some(Location::new(
                uri,
                index.range(def.name_span.start, def.name_span.end),
            ));
        }
        if let Some(found) = find_in_includes(&inner, &target, name, loader, seen, depth + 1) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapesync_compiler::MemoryLoader;

    #[test]
    fn variables_in_the_document_and_in_includes() {
        let dir = std::env::temp_dir().join("tapesync-lsp-definition-test");
        let main = dir.join("main.ttidef");
        let uri = Url::from_file_path(&main).expect("absolute path");
        let loader = MemoryLoader::new().with_file(
            dir.join("common/base.ttidef"),
            "# base\nSetVariable(POOL, \"P1\");\n",
        );
        let text = "Include(\"common/base.ttidef\");\nSetVariable(SITE, \"LON\");\nAddExclusionOnValue(VOLUME, \"%SITE%-%POOL%\");\n";
        let at = |needle: &str| text.find(needle).expect("needle") + 1;

        let local = definition(&uri, Some(&main), text, at("SITE%-"), &loader).expect("local");
        assert_eq!(local.uri, uri);
        assert_eq!(
            local.range,
            Range::new(Position::new(1, 12), Position::new(1, 16))
        );

        let remote = definition(&uri, Some(&main), text, at("POOL%\""), &loader).expect("included");
        assert!(
            remote.uri.path().ends_with("common/base.ttidef"),
            "{}",
            remote.uri
        );
        assert_eq!(remote.range.start, Position::new(1, 12));

        let include = definition(&uri, Some(&main), text, at("common/"), &loader).expect("include");
        assert!(include.uri.path().ends_with("common/base.ttidef"));

        let missing = "Include(\"nope.ttidef\");";
        assert!(definition(&uri, Some(&main), missing, 10, &loader).is_none());
    }
}
