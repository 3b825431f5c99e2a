//! SARIF 2.1.0 output (`tapesync check --format sarif`) for CI code scanning.
//!
//! One run whose `tool.driver.rules` is the whole code registry (id, name, short description,
//! the code's page as `help` text and Markdown, default level), and one result per diagnostic
//! with its rule, level, message and region. Columns are UTF-16 code units, SARIF's default
//! `columnKind`, stated explicitly. Rules link to their page (`helpUri`) only when a published
//! docs URL is configured (`TAPESYNC_DOCS_URL`, [`docs_base`]).

use crate::diagnostics::codes::docs_base;
use crate::diagnostics::{Diagnosed, Diagnostic, FileId, Label, Severity, SourceMap, REGISTRY};
use serde_json::{json, Value};

/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";

/// The SARIF log of one compilation.
pub fn render_sarif<D: Diagnosed + ?Sized>(diagnosed: &D) -> String {
    render_sarif_many(&[diagnosed])
}

/// One SARIF log (one run) for several compilations, e.g. every file of a `check` call.
pub fn render_sarif_many<D: Diagnosed + ?Sized>(runs: &[&D]) -> String {
    let log = sarif_log(runs);
    serde_json::to_string_pretty(&log).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The SARIF log as a JSON value, linking to the docs at [`docs_base`] if one is configured.
pub fn sarif_log<D: Diagnosed + ?Sized>(runs: &[&D]) -> Value {
    sarif_log_with(runs, docs_base().as_deref())
}

/// The SARIF log, with links to the docs published at `docs_base` (an absolute URL prefix
/// ending in `/`) or none.
pub fn sarif_log_with<D: Diagnosed + ?Sized>(runs: &[&D], docs_base: Option<&str>) -> Value {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|info| {
            let mut rule = json!({
                "id": info.code.to_string(),
                "name": pascal_case(info.name),
                "shortDescription": { "text": info.title },
                "defaultConfiguration": { "level": level(info.severity) },
            });
            if let Some(page) = info.help_page() {
                rule["help"] = json!({ "text": page, "markdown": page });
            }
            if let Some(base) = docs_base {
                rule["helpUri"] = json!(format!("{base}{}", info.doc_path()));
            }
            rule
        })
        .collect();
    let results: Vec<Value> = runs
        .iter()
        .flat_map(|r| r.diagnostics().iter().map(|d| result(r.sources(), d)))
        .collect();
    let mut driver = json!({
        "name": "tapesync",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    if let Some(base) = docs_base {
        driver["informationUri"] = json!(format!("{base}README.md"));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": SARIF_VERSION,
        "runs": [{
            "tool": { "driver": driver },
            "columnKind": "utf16CodeUnits",
            "results": results,
        }]
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// `UNKNOWN_DIRECTIVE` → `UnknownDirective` (SARIF rule names are conventionally Pascal case).
fn pascal_case(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A file name as a SARIF URI reference: relative names stay relative (to the directory
/// `check` ran in), absolute ones become `file:` URIs; characters that may not appear in a
/// URI are percent-encoded.
fn artifact_uri(name: &str) -> String {
    let slashed = name.replace('\\', "/");
    let mut out = String::with_capacity(slashed.len());
    if slashed.starts_with('/') {
        out.push_str("file://");
    } else if slashed.as_bytes().get(1) == Some(&b':') {
        // A Windows drive path such as C:/defs/a.ttidef.
        out.push_str("file:///");
    }
    for b in slashed.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn region(files: &SourceMap, file: FileId, start: usize, end: usize) -> Value {
    let s = files.location(file, start);
    let e = files.location(file, end.max(start));
    json!({
        "startLine": s.line,
        "startColumn": s.column_utf16,
        "endLine": e.line,
        "endColumn": e.column_utf16,
    })
}

fn physical(files: &SourceMap, label: &Label) -> Value {
    json!({
        "artifactLocation": { "uri": artifact_uri(files.name(label.file)) },
        "region": region(files, label.file, label.span.start, label.span.end),
    })
}

fn result(files: &SourceMap, d: &Diagnostic) -> Value {
    let mut text = d.message.clone();
    for note in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let rule_index = usize::from(d.code.0).saturating_sub(1);
    let mut r = json!({
        "ruleId": d.code.to_string(),
        "ruleIndex": rule_index,
        "level": level(d.severity),
        "message": { "text": text },
        "locations": [{ "physicalLocation": physical(files, &d.primary) }],
    });
    if !d.secondary.is_empty() {
        r["relatedLocations"] = d
            .secondary
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "id": i,
                    "physicalLocation": physical(files, l),
                    "message": { "text": l.message },
                })
            })
            .collect();
    }
    if let Some(fix) = &d.fix {
        r["fixes"] = json!([{
            "description": { "text": d.help.clone().unwrap_or_else(|| format!("replace with `{}`", fix.replacement)) },
            "artifactChanges": [{
                "artifactLocation": { "uri": artifact_uri(files.name(fix.file)) },
                "replacements": [{
                    "deletedRegion": region(files, fix.file, fix.span.start, fix.span.end),
                    "insertedContent": { "text": fix.replacement },
                }],
            }],
        }]);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::loader::MemoryLoader;
    use crate::compile::{compile_source, CompileOptions};

    fn sarif_of(name: &str, text: &str) -> Value {
        let c = compile_source(name, text, &MemoryLoader::new(), &CompileOptions::default());
        let out = render_sarif(&c);
        serde_json::from_str(&out).expect("SARIF output is JSON")
    }

    #[test]
    fn driver_lists_every_code_as_a_rule() {
        let log = sarif_of("a.ttidef", "");
        assert_eq!(log["version"], "2.1.0");
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        assert_eq!(rules.len(), REGISTRY.len());
        assert_eq!(rules[8]["id"], "E0009");
        assert_eq!(rules[8]["name"], "UnknownDirective");
        assert_eq!(rules[8]["shortDescription"]["text"], "unknown directive");
    }

    /// Each rule carries its page (built in); a link only with a published docs URL, never a
    /// `file://` path of the build tree.
    #[test]
    fn rules_embed_their_help_and_link_only_to_a_configured_url() {
        let c = compile_source(
            "a.ttidef",
            "",
            &MemoryLoader::new(),
            &CompileOptions::default(),
        );
        let runs: [&crate::compile::Compilation; 1] = [&c];
        let unlinked = sarif_log_with(&runs, None);
        assert!(!unlinked.to_string().contains("file://"));
        let driver = &unlinked["runs"][0]["tool"]["driver"];
        assert!(driver.get("informationUri").is_none());
        for rule in driver["rules"].as_array().expect("rules") {
            assert!(rule.get("helpUri").is_none(), "{rule}");
            let markdown = rule["help"]["markdown"].as_str().unwrap_or_default();
            let text = rule["help"]["text"].as_str().unwrap_or_default();
            assert!(markdown.contains("## What it means"), "{rule}");
            assert!(text.contains("What it means"), "{rule}");
        }
        let e0009 = &driver["rules"][8]["help"]["markdown"];
        assert!(e0009
            .as_str()
            .is_some_and(|m| m.contains("not a directive of TapeTrack's language")));

        let linked = sarif_log_with(&runs, Some("https://docs.example.org/tapesync/"));
        let driver = &linked["runs"][0]["tool"]["driver"];
        assert_eq!(
            driver["rules"][8]["helpUri"],
            "https://docs.example.org/tapesync/docs/diagnostics/E0009.md"
        );
        assert_eq!(
            driver["informationUri"],
            "https://docs.example.org/tapesync/README.md"
        );
    }

    #[test]
    fn results_carry_rule_level_message_and_utf16_region() {
        let text = "# “é”\nSetLiteral(CUSTOMER, \"US01\");\n  Frobnicate(1);\n";
        let log = sarif_of("defs/my file.ttidef", text);
        let results = log["runs"][0]["results"].as_array().expect("results");
        let unknown = results
            .iter()
            .find(|r| r["ruleId"] == "E0009")
            .expect("an unknown-directive result");
        assert_eq!(unknown["level"], "error");
        assert_eq!(unknown["ruleIndex"], 8);
        assert!(unknown["message"]["text"]
            .as_str()
            .is_some_and(|m| m.contains("Frobnicate")));
        let loc = &unknown["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "defs/my%20file.ttidef");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 3);
        assert_eq!(loc["region"]["endLine"], 3);
        assert_eq!(loc["region"]["endColumn"], 13);
    }

    #[test]
    fn names_and_uris() {
        assert_eq!(pascal_case("SEMICOLON_FOR_COMMA"), "SemicolonForComma");
        assert_eq!(artifact_uri("/tmp/a b.ttidef"), "file:///tmp/a%20b.ttidef");
        assert_eq!(
            artifact_uri("C:\\defs\\a.ttidef"),
            "file:///C:/defs/a.ttidef"
        );
    }
}
