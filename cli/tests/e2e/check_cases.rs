//! Data-driven cases of `tapesync check` and `tapesync explain`.
//!
//! Every `tests/cases/{check,diagnostics,syntax}/<name>.ttidef` is checked by the real binary
//! (working directory = the case's folder) in each output format and compared with the
//! expected outputs beside it (docs/testing.md, "Expected outputs"): `<name>.expected-human`,
//! `<name>.expected-short`, `<name>.expected-diagnostics.json` (`--format json`) and
//! `<name>.expected-exit`; a case that compiles also has `<name>.expected-plan.json` from
//! `tapesync explain`. A first line `# args: --compat …` adds command-line arguments. Bless
//! with `TAPESYNC_BLESS=1 cargo test -p tapesync --test e2e check_cases`.

use crate::common;

use std::path::Path;

const AREAS: [&str; 3] = ["check", "diagnostics", "syntax"];

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::command()
        .args(args)
        .current_dir(dir)
        .env("TAPESYNC_TEST_MEDIA", "LTO")
        .env_remove("TAPESYNC_TEST_NO_SUCH_VARIABLE")
        .output()
        .expect("run tapesync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn extra_args(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# args:"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn check_case(dir: &Path, name: &str, failures: &mut Vec<String>) -> Vec<String> {
    let file = format!("{name}.ttidef");
    let text = std::fs::read_to_string(dir.join(&file)).expect("read case");
    let extra = extra_args(&text);
    let mut args: Vec<&str> = vec!["check"];
    args.extend(extra.iter().map(String::as_str));
    args.push(&file);
    let mut record = |r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(format!("{}/{name}: {e}", dir.display()));
        }
    };

    let mut human = args.clone();
    human.extend(["--format", "human"]);
    let (code, _, stderr) = run(dir, &human);
    record(common::check_golden(
        &dir.join(format!("{name}.expected-human")),
        &stderr,
    ));
    record(common::check_golden(
        &dir.join(format!("{name}.expected-exit")),
        &format!("{code}\n"),
    ));

    let mut short = args.clone();
    short.extend(["--format", "short"]);
    let (short_code, _, short_out) = run(dir, &short);
    record(common::check_golden(
        &dir.join(format!("{name}.expected-short")),
        &short_out,
    ));
    if short_code != code {
        record(Err(format!(
            "short format exits {short_code}, human {code}"
        )));
    }

    let mut json = args.clone();
    json.extend(["--format", "json"]);
    let (json_code, json_out, _) = run(dir, &json);
    record(common::check_golden(
        &dir.join(format!("{name}.expected-diagnostics.json")),
        &json_out,
    ));
    if json_code != code {
        record(Err(format!("json format exits {json_code}, human {code}")));
    }
    let mut codes = Vec::new();
    match serde_json::from_str::<serde_json::Value>(&json_out) {
        Ok(v) => {
            if v["version"] != 1 {
                record(Err("json output lacks version 1".into()));
            }
            if let Some(ds) = v["diagnostics"].as_array() {
                codes.extend(
                    ds.iter()
                        .filter_map(|d| d["code"].as_str().map(str::to_string)),
                );
            }
        }
        Err(e) => record(Err(format!("json output does not parse: {e}"))),
    }

    if code == 0 {
        let mut explain = vec!["explain"];
        explain.extend(extra.iter().map(String::as_str));
        explain.push(&file);
        let (ecode, plan, estderr) = run(dir, &explain);
        if ecode != 0 {
            record(Err(format!("explain exits {ecode}: {estderr}")));
        }
        record(common::check_golden(
            &dir.join(format!("{name}.expected-plan.json")),
            &plan,
        ));
    }
    codes
}

#[test]
fn check_cases() {
    let root = common::root().join("tests/cases");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut covered = std::collections::BTreeSet::new();
    for area in AREAS {
        let dir = root.join(area);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".ttidef").map(str::to_string)
            })
            .collect();
        names.sort();
        for name in names {
            cases += 1;
            let codes = check_case(&dir, &name, &mut failures);
            if area == "diagnostics" {
                let want = &name[..5];
                if !codes.iter().any(|c| c == want) {
                    failures.push(format!(
                        "diagnostics/{name}: does not produce {want} (got {codes:?})"
                    ));
                }
            }
            covered.extend(codes);
        }
    }
    for info in tapesync_compiler::REGISTRY {
        let code = info.code.to_string();
        if !covered.contains(&code) {
            failures.push(format!("no case produces {code} ({})", info.title));
        }
        let page = common::root().join(info.doc_path());
        if !page.exists() {
            failures.push(format!("{code} has no page {}", page.display()));
        }
    }
    common::finish(failures, cases);
}

#[test]
fn unreadable_file_is_exit_2_in_every_format() {
    let dir = common::root().join("tests/cases/check");
    for format in ["human", "short", "json"] {
        let (code, stdout, stderr) = run(
            &dir,
            &["check", "--format", format, "no-such-definition.ttidef"],
        );
        assert_eq!(code, 2, "{format}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid json");
            assert_eq!(v["failures"][0]["file"], "no-such-definition.ttidef");
        } else {
            assert!(stderr.contains("no-such-definition.ttidef"), "{stderr}");
        }
    }
    let (code, _, stderr) = run(&dir, &["explain", "no-such-definition.ttidef"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no-such-definition.ttidef"));
}

#[test]
fn deny_warnings_turns_warnings_into_exit_1() {
    let dir = common::root().join("tests/cases/check");
    let (code, _, _) = run(&dir, &["check", "typographic-2018.ttidef"]);
    assert_eq!(code, 0);
    let (code, _, _) = run(
        &dir,
        &["check", "--deny-warnings", "typographic-2018.ttidef"],
    );
    assert_eq!(code, 1);
    let (code, _, _) = run(
        &dir,
        &[
            "check",
            "--deny-warnings",
            "--format",
            "json",
            "typographic-2018.ttidef",
        ],
    );
    assert_eq!(code, 1);
}

#[test]
fn default_definition_is_default_ttidef_in_the_working_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(tmp.path(), &["check"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("default.ttidef"), "{stderr}");
    std::fs::write(
        tmp.path().join("default.ttidef"),
        "SetLiteral(CUSTOMER, \"US01\");\nSetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 0, 6, 0);\n",
    )
    .expect("write");
    let (code, _, stderr) = run(tmp.path(), &["check"]);
    assert_eq!(code, 0, "{stderr}");
}
