//! Tests of the VS Code extension's static files: the TextMate grammar compiles, its lists of
//! directives, fields and keywords match the compiler's catalogue and the field table (bless
//! with `TAPESYNC_BLESS=1 cargo test -p tapesync-lsp --test textmate` after adding one), and
//! sample lines get the expected scopes from a small TextMate tokenizer (single-line rules:
//! `match`, `begin`/`end`, `patterns`, `include`). The extension's JavaScript is syntax-checked
//! with `node --check` when node is installed.

use fancy_regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tapesync_compiler::{catalogue, ParamKind};
use tapesync_model::Field;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn grammar_path() -> PathBuf {
    root().join("editors/vscode/syntaxes/ttidef.tmLanguage.json")
}

fn load_grammar() -> Value {
    let text = std::fs::read_to_string(grammar_path()).expect("grammar file");
    serde_json::from_str(&text).expect("grammar is JSON")
}

fn alternation(words: &BTreeSet<String>) -> String {
    // Longest first, so no alternative is a prefix of a later one (clearer for readers;
    // `\b` makes the order irrelevant to the result).
    let mut words: Vec<&String> = words.iter().collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let joined: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    joined.join("|")
}

/// The generated `match` regexes: (repository key, regex).
fn expected_lists() -> Vec<(&'static str, String)> {
    let directives: BTreeSet<String> = catalogue()
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .map(str::to_string)
        .collect();
    let fields: BTreeSet<String> = Field::ALL
        .iter()
        .flat_map(|f| {
            let info = f.info();
            std::iter::once(info.name).chain(info.aliases.iter().copied())
        })
        .filter(|n| !n.contains(' '))
        .map(str::to_string)
        .collect();
    let mut keywords: BTreeSet<String> = tapesync_lsp::keywords::KEYWORDS
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    for d in catalogue() {
        for p in d.params {
            if let ParamKind::Keyword { values } = p.kind {
                keywords.extend(values.iter().map(|v| v.to_string()));
            }
        }
    }
    vec![
        (
            "directive-known",
            format!("(?i)\\b(?:{})\\b(?=\\s*\\()", alternation(&directives)),
        ),
        ("field", format!("(?i)\\b(?:{})\\b", alternation(&fields))),
        (
            "keyword",
            format!("(?i)\\b(?:{})\\b", alternation(&keywords)),
        ),
    ]
}

#[test]
fn generated_lists_match_the_catalogue() {
    let mut grammar = load_grammar();
    let bless = std::env::var_os("TAPESYNC_BLESS").is_some();
    let mut stale = Vec::new();
    for (key, expected) in expected_lists() {
        let slot = &mut grammar["repository"][key]["match"];
        if slot.as_str() != Some(expected.as_str()) {
            stale.push(key);
            *slot = Value::String(expected);
        }
    }
    if bless && !stale.is_empty() {
        let text = serde_json::to_string_pretty(&grammar).expect("serialise") + "\n";
        std::fs::write(grammar_path(), text).expect("rewrite grammar");
        return;
    }
    assert!(
        stale.is_empty(),
        "{stale:?} in {} differ from the catalogue/field table; regenerate with \
         TAPESYNC_BLESS=1 cargo test -p tapesync-lsp --test textmate",
        grammar_path().display()
    );
}

#[test]
fn every_regex_compiles() {
    let grammar = load_grammar();
    let mut count = 0;
    visit(&grammar, &mut |key, regex| {
        if let Err(e) = Regex::new(regex) {
            panic!("{key} regex {regex:?} does not compile: {e}");
        }
        count += 1;
    });
    assert!(count >= 15, "only {count} regexes found");
}

fn visit(v: &Value, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if matches!(k.as_str(), "match" | "begin" | "end") {
                    if let Some(s) = val.as_str() {
                        f(k, s);
                    }
                } else {
                    visit(val, f);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| visit(i, f)),
        _ => {}
    }
}

/// A tiny single-line TextMate tokenizer: enough for this grammar, whose only begin/end
/// rules (strings) end on their line.
struct Tokenizer<'g> {
    grammar: &'g Value,
}

#[derive(Debug)]
enum Rule<'g> {
    Match {
        regex: Regex,
        name: &'g str,
    },
    Block {
        begin: Regex,
        end: Regex,
        name: &'g str,
        inner: Vec<Rule<'g>>,
    },
}

impl<'g> Tokenizer<'g> {
    fn rules(&self, patterns: &'g Value) -> Vec<Rule<'g>> {
        let mut out = Vec::new();
        for p in patterns.as_array().into_iter().flatten() {
            self.rule(p, &mut out);
        }
        out
    }

    fn rule(&self, p: &'g Value, out: &mut Vec<Rule<'g>>) {
        if let Some(include) = p["include"].as_str() {
            let key = include.trim_start_matches('#');
            self.rule(&self.grammar["repository"][key], out);
            return;
        }
        let name = p["name"].as_str().unwrap_or("");
        if let Some(m) = p["match"].as_str() {
            out.push(Rule::Match {
                regex: Regex::new(m).expect("regex"),
                name,
            });
        } else if let (Some(b), Some(e)) = (p["begin"].as_str(), p["end"].as_str()) {
            out.push(Rule::Block {
                begin: Regex::new(b).expect("regex"),
                end: Regex::new(e).expect("regex"),
                name,
                inner: self.rules(&p["patterns"]),
            });
        } else {
            out.extend(self.rules(&p["patterns"]));
        }
    }

    fn compile(self) -> Compiled<'g> {
        Compiled {
            rules: self.rules(&self.grammar["patterns"]),
        }
    }
}

/// The grammar's top-level rules, compiled once.
struct Compiled<'g> {
    rules: Vec<Rule<'g>>,
}

impl Compiled<'_> {
    /// `(text, scopes)` for every matched token of `line`.
    fn tokenize(&self, line: &str) -> Vec<(String, Vec<String>)> {
        let mut tokens = Vec::new();
        scan(line, 0, line.len(), &self.rules, None, &[], &mut tokens);
        tokens
    }
}

/// Scans `line[from..]`; with `end`, stops after the end match and returns its end.
fn scan(
    line: &str,
    mut pos: usize,
    limit: usize,
    rules: &[Rule<'_>],
    end: Option<&Regex>,
    outer: &[String],
    tokens: &mut Vec<(String, Vec<String>)>,
) -> usize {
    while pos < limit {
        let end_match = end.and_then(|e| e.find_from_pos(line, pos).ok().flatten());
        let mut best: Option<(usize, usize, &Rule<'_>)> = None;
        for rule in rules {
            let regex = match rule {
                Rule::Match { regex, .. } => regex,
                Rule::Block { begin, .. } => begin,
            };
            if let Ok(Some(m)) = regex.find_from_pos(line, pos) {
                if m.end() > m.start() && best.is_none_or(|(s, _, _)| m.start() < s) {
                    best = Some((m.start(), m.end(), rule));
                }
            }
        }
        if let Some(e) = end_match {
            if best.is_none_or(|(s, _, _)| e.start() <= s) {
                if e.end() > e.start() {
                    tokens.push((e.as_str().to_string(), outer.to_vec()));
                }
                return e.end();
            }
        }
        let Some((start, stop, rule)) = best else {
            return limit;
        };
        match rule {
            Rule::Match { name, .. } => {
                let mut scopes = outer.to_vec();
                scopes.push(name.to_string());
                tokens.push((line[start..stop].to_string(), scopes));
                pos = stop;
            }
            Rule::Block {
                end, name, inner, ..
            } => {
                let mut scopes = outer.to_vec();
                scopes.push(name.to_string());
                tokens.push((line[start..stop].to_string(), scopes.clone()));
                pos = scan(line, stop, limit, inner, Some(end), &scopes, tokens);
            }
        }
    }
    limit
}

fn scopes_of<'t>(tokens: &'t [(String, Vec<String>)], text: &str) -> &'t [String] {
    tokens
        .iter()
        .find(|(t, _)| t == text)
        .map(|(_, s)| s.as_slice())
        .unwrap_or_else(|| panic!("no token {text:?} in {tokens:#?}"))
}

fn has(tokens: &[(String, Vec<String>)], text: &str, scope_prefix: &str) {
    let scopes = scopes_of(tokens, text);
    assert!(
        scopes.iter().any(|s| s.starts_with(scope_prefix)),
        "{text:?} has scopes {scopes:?}, expected {scope_prefix}…"
    );
}

#[test]
fn sample_lines_get_the_expected_scopes() {
    let grammar = load_grammar();
    let t = Tokenizer { grammar: &grammar }.compile();

    let line = t.tokenize("AddTranslation2(VOLUME, USER1, \"HCART2\", \"*L5\"); # LTO-5");
    has(&line, "AddTranslation2", "support.function.directive");
    has(&line, "VOLUME", "variable.other.field");
    has(&line, "USER1", "variable.other.field");
    has(&line, "*", "keyword.operator.wildcard");
    has(&line, "# LTO-5", "comment.line");
    has(&line, ";", "punctuation.terminator");

    let line =
        t.tokenize("setcsvdelimiter(\",\"); Frobnicate(1); AddString(HEADER, -2, \"!([0-9]*\");");
    has(&line, "setcsvdelimiter", "support.function.directive");
    has(&line, "Frobnicate", "invalid.illegal.unknown-directive");
    has(&line, "HEADER", "keyword.other");
    has(&line, "-2", "constant.numeric");
    has(&line, "!", "keyword.operator.wildcard");
    has(&line, "[0-9]", "constant.other.character-class");

    let line =
        t.tokenize("SetMoveDateFormat(\"%%d/%%m/%%Y\"); AddExclusionOnValue(VOLUME, \"%SITE%*\");");
    has(&line, "%%", "constant.character.escape");
    has(&line, "%SITE%", "variable.other");
    let line = t.tokenize("AddExclusionOnValue(VOLUME, “CLN*”); SetCSVQuote(NONE); X('a')");
    has(&line, "“", "string.quoted.double.typographic");
    has(&line, "NONE", "keyword.other");
    has(&line, "'a'", "invalid.illegal.single-quoted");
    // A field name inside a string is string text, not a field.
    let line = t.tokenize("SetLiteral(DESCRIPTION, \"VOLUME 5\");");
    assert!(scopes_of(&line, "\"")
        .iter()
        .any(|s| s.starts_with("string.quoted")));
    assert!(!line.iter().any(|(text, _)| text == "VOLUME"), "{line:#?}");
}

/// Every statement line of the shipped examples starts with a known directive.
#[test]
fn example_definitions_highlight_known_directives_only() {
    let grammar = load_grammar();
    let t = Tokenizer { grammar: &grammar }.compile();
    let mut checked = 0;
    let examples = root().join("examples");
    for product in std::fs::read_dir(&examples).expect("examples").flatten() {
        for file in std::fs::read_dir(product.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("ttidef") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("example text");
            for (n, line) in text.lines().enumerate() {
                let tokens = t.tokenize(line);
                if let Some((word, scopes)) = tokens.first() {
                    assert!(
                        !scopes.iter().any(|s| s.starts_with("invalid")),
                        "{}:{}: {word:?} highlighted as {scopes:?}",
                        path.display(),
                        n + 1
                    );
                }
                checked += usize::from(!tokens.is_empty());
            }
        }
    }
    eprintln!("textmate: {checked} example lines tokenized");
}

#[test]
fn extension_manifest_points_at_existing_files() {
    let dir = root().join("editors/vscode");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).expect("package.json"),
    )
    .expect("package.json is JSON");
    let main = manifest["main"].as_str().expect("main");
    assert!(dir.join(main).is_file(), "{main}");
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["extensions"][0], ".ttidef");
    let config = language["configuration"]
        .as_str()
        .expect("language configuration");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(config)).expect("language config"))
            .expect("language configuration is JSON");
    assert_eq!(config["comments"]["lineComment"], "#");
    let grammar = manifest["contributes"]["grammars"][0]["path"]
        .as_str()
        .expect("grammar path");
    assert_eq!(
        dir.join(grammar).canonicalize().ok(),
        grammar_path().canonicalize().ok()
    );

    match std::process::Command::new("node")
        .arg("--check")
        .arg(dir.join(main))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "node --check {main}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("SKIPPED: node --check of the extension (node not runnable: {e})"),
    }
}
