//! `tapesync check --format sarif` against `--format json` on every diagnostics case: the
//! SARIF log is valid JSON with the registry as rules, and holds the same findings (rule,
//! level, file, line, UTF-16 columns) with the same exit code.

use crate::common;

use serde_json::Value;
use std::path::Path;

fn run(dir: &Path, file: &str, format: &str) -> (i32, Value) {
    let out = common::command()
        .args(["check", "--format", format, file])
        .current_dir(dir)
        .env("TAPESYNC_TEST_MEDIA", "LTO")
        .output()
        .expect("run tapesync");
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{file}: --format {format} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

fn compare(dir: &Path, file: &str) -> Result<(), String> {
    let (json_code, json) = run(dir, file, "json");
    let (sarif_code, sarif) = run(dir, file, "sarif");
    if json_code != sarif_code {
        return Err(format!(
            "exit {sarif_code} with sarif, {json_code} with json"
        ));
    }
    if sarif["version"] != "2.1.0" {
        return Err(format!("version {}", sarif["version"]));
    }
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .ok_or("no rules")?;
    let results = run["results"].as_array().ok_or("no results")?;
    let diagnostics = json["diagnostics"].as_array().ok_or("no diagnostics")?;
    if results.len() != diagnostics.len() {
        return Err(format!(
            "{} results, {} diagnostics",
            results.len(),
            diagnostics.len()
        ));
    }
    for (r, d) in results.iter().zip(diagnostics) {
        let index = r["ruleIndex"].as_u64().ok_or("no ruleIndex")? as usize;
        let region = &r["locations"][0]["physicalLocation"]["region"];
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_default();
        let same = r["ruleId"] == d["code"]
            && rules.get(index).is_some_and(|rule| rule["id"] == d["code"])
            && r["level"] == d["severity"]
            && d["file"]
                .as_str()
                .is_some_and(|f| uri.ends_with(&f.replace(' ', "%20")))
            && region["startLine"] == d["line"]
            && region["startColumn"] == d["column_utf16"]
            && region["endLine"] == d["end_line"]
            && region["endColumn"] == d["end_column_utf16"];
        if !same {
            return Err(format!("result {r} does not match diagnostic {d}"));
        }
    }
    Ok(())
}

#[test]
fn sarif_matches_json_on_every_diagnostics_case() {
    let dir = common::root().join("tests/cases/diagnostics");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("diagnostics cases")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ttidef"))
        .collect();
    names.sort();
    for name in names {
        cases += 1;
        if let Err(e) = compare(&dir, &name) {
            failures.push(format!("{name}: {e}"));
        }
    }
    common::finish(failures, cases);
}
