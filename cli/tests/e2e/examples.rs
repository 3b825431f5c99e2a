//! The product examples under `examples/` must work as documented: every definition passes
//! `tapesync check --deny-warnings`, every sample report syncs into an empty store with
//! `--add-new` to exactly the checked-in inventory and statistics, and syncing the same report
//! again changes nothing.
//!
//! Layout (see examples/README.md): in `examples/<product>/`, a report `sample.<ext>` is synced
//! with `<product>.ttidef` and compared with `expected-inventory.json` and
//! `expected-stats.json`; a report `sample-<name>.<ext>` with `<product>-<name>.ttidef` when
//! that exists (another report format of the product), else with `<product>-<prefix>.ttidef`
//! for the longest `<prefix>-…` of `<name>` that exists (two reports of one format, such as
//! `sample-ruler-5-4.txt` and `sample-ruler-8-2.txt` for `<product>-ruler.ttidef`), else with
//! `<product>.ttidef`, and compared with `expected-inventory-<name>.json` and
//! `expected-stats-<name>.json`.
//! Bless with `TAPESYNC_BLESS=1 cargo test -p tapesync --test e2e examples`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

/// Report file extensions the examples use.
const SAMPLE_EXTENSIONS: [&str; 2] = ["txt", "csv"];

fn examples_dir() -> PathBuf {
    common::root().join("examples")
}

/// The product folders (those holding at least one definition), sorted.
fn products() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !definitions(p).is_empty())
        .collect();
    dirs.sort();
    dirs
}

fn files_with(dir: &Path, keep: impl Fn(&str, &str) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable example folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let ext = p.extension().and_then(|s| s.to_str()).unwrap_or("");
            p.is_file() && keep(stem, ext)
        })
        .collect();
    files.sort();
    files
}

fn definitions(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, |_, ext| ext == "ttidef")
}

fn samples(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, |stem, ext| {
        SAMPLE_EXTENSIONS.contains(&ext) && (stem == "sample" || stem.starts_with("sample-"))
    })
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    common::command()
        .args(args)
        .output()
        .expect("the tapesync binary runs")
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The statistics of a run, as JSON, with the only non-deterministic figure zeroed.
fn stats_of(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stats: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match stats.get_mut("elapsed_ms") {
        Some(v) => *v = serde_json::Value::from(0),
        None => return Err(format!("{}: no elapsed_ms in {text}", path.display())),
    }
    Ok(stats)
}

fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats.get(name).and_then(|v| v.as_u64()).unwrap_or(u64::MAX)
}

#[test]
fn definitions_pass_check_deny_warnings() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for dir in products() {
        for def in definitions(&dir) {
            cases += 1;
            let out = run(&[
                "check".as_ref(),
                "--deny-warnings".as_ref(),
                def.as_os_str(),
            ]);
            if !out.status.success() {
                failures.push(describe(&format!("check {}", def.display()), &out));
            }
        }
    }
    common::finish(failures, cases);
}

#[test]
fn every_product_has_the_documented_files() {
    let mut failures = Vec::new();
    let products = products();
    for dir in &products {
        let product = name_of(dir);
        for needed in [
            format!("{product}.ttidef"),
            "README.md".to_string(),
            "SOURCE.md".to_string(),
            "sync.sh".to_string(),
            "sync.ps1".to_string(),
        ] {
            if !dir.join(&needed).is_file() {
                failures.push(format!("examples/{product}/{needed} is missing"));
            }
        }
        if samples(dir).is_empty() {
            failures.push(format!("examples/{product} has no sample report"));
        }
    }
    common::finish(failures, products.len());
}

#[test]
fn samples_sync_to_the_expected_inventory() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for dir in products() {
        let product = name_of(&dir);
        for sample in samples(&dir) {
            cases += 1;
            let label = format!("examples/{product}/{}", name_of(&sample));
            if let Err(e) = sync_case(&dir, &product, &sample) {
                failures.push(format!("{label}: {e}"));
            }
        }
    }
    common::finish(failures, cases);
}

/// The definition that reads the sample `sample<suffix>.*`: `<product><prefix>.ttidef` for
/// the longest prefix of `suffix` that ends before a `-` (or is all of it) and names an
/// existing file — `sample-ruler-5-4.txt` is read with `<product>-ruler.ttidef` when there is
/// no `<product>-ruler-5-4.ttidef` or `<product>-ruler-5.ttidef` — else `<product>.ttidef`.
fn definition_for(dir: &Path, product: &str, suffix: &str) -> PathBuf {
    let mut ends: Vec<usize> = suffix.match_indices('-').map(|(i, _)| i).collect();
    ends.push(suffix.len());
    ends.into_iter()
        .rev()
        .filter(|&end| end > 0)
        .map(|end| dir.join(format!("{product}{}.ttidef", &suffix[..end])))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join(format!("{product}.ttidef")))
}

fn sync_case(dir: &Path, product: &str, sample: &Path) -> Result<(), String> {
    let stem = sample
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("sample name is not UTF-8")?;
    // "sample" -> "", "sample-rich" -> "-rich", "sample-ruler-8-2" -> "-ruler-8-2"
    let suffix = stem.strip_prefix("sample").unwrap_or("");
    let definition = definition_for(dir, product, suffix);

    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = tmp.path().join("inventory.db");
    let sync = |stats: &Path| {
        run(&[
            "run".as_ref(),
            "--definition".as_ref(),
            definition.as_os_str(),
            "--input".as_ref(),
            sample.as_os_str(),
            "--store".as_ref(),
            db.as_os_str(),
            "--add-new".as_ref(),
            "--stats-json".as_ref(),
            stats.as_os_str(),
        ])
    };

    // First sync into an empty store.
    let first_stats = tmp.path().join("first.json");
    let out = sync(&first_stats);
    if !out.status.success() {
        return Err(describe("first run", &out));
    }
    let export = run(&[
        "admin".as_ref(),
        "--store".as_ref(),
        db.as_os_str(),
        "export".as_ref(),
    ]);
    if !export.status.success() {
        return Err(describe("admin export", &export));
    }
    let mut mismatches = Vec::new();
    let inventory = String::from_utf8_lossy(&export.stdout);
    if let Err(e) = common::check_golden(
        &dir.join(format!("expected-inventory{suffix}.json")),
        &inventory,
    ) {
        mismatches.push(e);
    }
    let stats = stats_of(&first_stats)?;
    let pretty = serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())? + "\n";
    if let Err(e) = common::check_golden(&dir.join(format!("expected-stats{suffix}.json")), &pretty)
    {
        mismatches.push(e);
    }

    // The same report again: the inventory already says everything it says.
    let second_stats = tmp.path().join("second.json");
    let out = sync(&second_stats);
    if !out.status.success() {
        mismatches.push(describe("second run", &out));
    } else {
        let again = stats_of(&second_stats)?;
        let (updated, added) = (
            counter(&again, "volumes_updated"),
            counter(&again, "volumes_added"),
        );
        if updated != 0 || added != 0 {
            mismatches.push(format!(
                "second run of the same report changed the inventory: {updated} updated, \
                 {added} added\n{again}"
            ));
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches.join("\n"))
    }
}
