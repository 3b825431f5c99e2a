//! Names a document defines and files it includes, read from its syntax tree.

use tapesync_grammar::{parse, ArgKind, Span};

/// `SetVariable(NAME, "value");`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDef {
    pub name: String,
    /// The name argument.
    pub name_span: Span,
    /// The value as written (before expansion), if it is a string.
    pub value: Option<String>,
}

/// `Include("path");`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeRef {
    /// The path as written (before expansion).
    pub path: String,
    /// The whole string argument, quotes included.
    pub span: Span,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbols {
    pub variables: Vec<VariableDef>,
    pub includes: Vec<IncludeRef>,
}

impl Symbols {
    pub fn of(text: &str) -> Symbols {
        let (tree, _) = parse(text);
        let mut symbols = Symbols::default();
        for s in &tree.statements {
            let name = s.name.text.as_str();
            if name.eq_ignore_ascii_case("SetVariable") {
                if let Some(ArgKind::Word { text }) = s.args.first().map(|a| &a.kind) {
                    let value = s.args.get(1).and_then(|a| match &a.kind {
                        ArgKind::Str { value, .. } => Some(value.clone()),
                        _ => None,
                    });
                    symbols.variables.push(VariableDef {
                        name: text.clone(),
                        name_span: s.args[0].span,
                        value,
                    });
                }
            } else if name.eq_ignore_ascii_case("Include") {
                if let Some(arg) = s.args.first() {
                    if let ArgKind::Str { value, .. } = &arg.kind {
                        symbols.includes.push(IncludeRef {
                            path: value.clone(),
                            span: arg.span,
                        });
                    }
                }
            }
        }
        symbols
    }

    /// The definition of `name` (case-insensitive) that applies at byte `pos`: the last one
    /// before it, else the first one after it (a use before the definition is an error the
    /// compiler reports, but the jump still helps).
    pub fn variable(&self, name: &str, pos: usize) -> Option<&VariableDef> {
        let matching = || {
            self.variables
                .iter()
                .filter(move |v| v.name.eq_ignore_ascii_case(name))
        };
        matching()
            .rfind(|v| v.name_span.start < pos)
            .or_else(|| matching().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_variables_and_includes() {
        let text = "SetVariable(SITE, \"LON\");\nInclude(\"common.ttidef\");\nSetVariable(site, \"PAR\");\nAddExclusionOnValue(VOLUME, \"%SITE%*\");";
        let s = Symbols::of(text);
        assert_eq!(s.includes.len(), 1);
        assert_eq!(s.includes[0].path, "common.ttidef");
        assert_eq!(
            s.variable("SITE", text.len())
                .and_then(|v| v.value.as_deref()),
            Some("PAR")
        );
        assert_eq!(
            s.variable("site", 0).and_then(|v| v.value.as_deref()),
            Some("LON")
        );
        assert!(s.variable("OTHER", 0).is_none());
    }
}
