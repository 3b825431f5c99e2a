//! The record-reader fuzz harness, shared by the bounded run in CI
//! (`runtime/tests/fuzz_readers.rs`) and the cargo-fuzz target `read` (`fuzz/`).
//!
//! A case is one of the example definitions with its inventory (among them records of several
//! lines: NetBackup's `bpmedialist` and `vmquery -a`, Spectrum Protect's wrapped `query
//! volume`; and columns cut at a ruler: Spectrum Protect's `q libvol`), or one of the run cases
//! of [`READER_RUN_CASES`] (the same readers with reports cut short and lines that begin no
//! record). [`check`] runs the real
//! `run` over arbitrary report bytes against an in-memory store that holds that inventory and
//! panics when the run breaks a promise of docs/running.md: a run over readable bytes never
//! fails (bad records are rejected and counted, with their line), every rejection names a line
//! of the input, a dry run writes nothing, a `--strict` run that meets a bad record stops
//! with nothing applied, and after a run the same report finds nothing left to change.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;
use tapesync_compiler::plan::{Plan, RecordFormat};
use tapesync_compiler::{compile_path, CompileOptions};
use tapesync_model::{InventoryDump, SessionStart};
use tapesync_runtime::read::input::OpenInput;
use tapesync_runtime::{run, Collector, EmbeddedTarget, RetryPolicy, RunOptions};
use tapesync_store::Store;

/// An example definition, compiled, with an inventory to sync against: the example's
/// expected result, so that an unmutated sample finds every one of its volumes.
pub struct Case {
    pub name: String,
    pub plan: Plan,
    pub inventory: InventoryDump,
    /// The example's sample reports (the seeds of mutation).
    pub samples: Vec<Vec<u8>>,
    /// Whether the unmutated samples sync without a rejected record (the examples do; the
    /// run cases also show rejections on purpose).
    pub clean: bool,
}

/// Run cases of `tests/cases/run/` that group lines into records (`SetRecordLines`,
/// `SetRecordStart`, `SetRecordIndent`) or cut columns at the report's ruler
/// (`SetRulerColumns`), so that the fuzzers cut, double and mix their lines (and rulers) too:
/// `definition.ttidef`, `report.*`, and `expected-inventory.json` as the inventory.
pub const READER_RUN_CASES: &[&str] = &[
    "multi-line-every-3-lines",
    "multi-line-start-and-indent",
    "ruler-columns-5-4",
    "ruler-columns-8-2",
];

/// Every `(definition, sample, inventory)` of `examples/` (the folder of the repository whose
/// root is `root`), paired as `cli/tests/e2e/examples.rs` pairs them: the folder's main
/// definition reads `sample.*` and `sample-rich.*` with `expected-inventory.json`; a report
/// `sample-<x>.*` is read with `<name>-<y>.ttidef` for the longest `<y>` that is `<x>` or a
/// `-`-separated start of it, with `expected-inventory-<x>.json` (one case per report).
pub fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("examples/ entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let product = folder.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let stem_of = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let reports: Vec<&std::path::PathBuf> = files
            .iter()
            .filter(|p| {
                let stem = stem_of(p);
                p.extension().is_some_and(|e| e == "txt" || e == "csv")
                    && (stem == "sample" || stem.starts_with("sample-"))
            })
            .collect();
        for def in files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "ttidef"))
        {
            let stem = stem_of(def);
            // `spectrum-protect-drm` → variant `drm`; the folder's own definition → none.
            let variant = stem
                .strip_prefix(&product)
                .unwrap_or("")
                .trim_start_matches('-');
            let compilation = compile_path(def, &CompileOptions { compat: false });
            let plan = compilation
                .plan
                .unwrap_or_else(|| panic!("{} does not compile", def.display()));
            // (case name, inventory file, reports)
            let groups: Vec<(String, String, Vec<&std::path::PathBuf>)> = if variant.is_empty() {
                // The folder's own definition also reads the richer sample (`sample-rich.*`).
                let mine = reports
                    .iter()
                    .filter(|p| matches!(stem_of(p).as_str(), "sample" | "sample-rich"))
                    .copied()
                    .collect();
                vec![(stem.clone(), "expected-inventory.json".to_string(), mine)]
            } else {
                reports
                    .iter()
                    .filter_map(|p| {
                        let name = stem_of(p).strip_prefix("sample-")?.to_string();
                        (reader_of(&files, &product, &name).as_deref() == Some(variant))
                            .then(|| (format!("{product}-{name}"), name, vec![*p]))
                    })
                    .map(|(case, name, reports)| {
                        (case, format!("expected-inventory-{name}.json"), reports)
                    })
                    .collect()
            };
            assert!(
                groups.iter().any(|(_, _, reports)| !reports.is_empty()),
                "{}: no sample report",
                def.display()
            );
            for (name, inventory_name, reports) in groups {
                let inventory = std::fs::read_to_string(folder.join(&inventory_name))
                    .unwrap_or_else(|e| panic!("{}: {inventory_name}: {e}", def.display()));
                out.push(Case {
                    name,
                    plan: plan.clone(),
                    inventory: serde_json::from_str(&inventory).expect("inventory JSON"),
                    samples: reports.iter().map(|p| std::fs::read(p).unwrap()).collect(),
                    clean: true,
                });
            }
        }
    }
    for name in READER_RUN_CASES {
        let folder = root.join("tests/cases/run").join(name);
        let def = folder.join("definition.ttidef");
        let plan = compile_path(&def, &CompileOptions { compat: false })
            .plan
            .unwrap_or_else(|| panic!("{} does not compile", def.display()));
        assert!(
            plan.grouping.is_some() || plan.format == RecordFormat::RulerColumns,
            "{name} neither groups lines nor cuts columns at a ruler"
        );
        let samples: Vec<Vec<u8>> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_stem().is_some_and(|s| s == "report"))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(samples.len(), 1, "{name}: one report.*");
        let inventory = std::fs::read_to_string(folder.join("expected-inventory.json"))
            .unwrap_or_else(|e| panic!("{name}: expected-inventory.json: {e}"));
        out.push(Case {
            name: name.to_string(),
            plan,
            inventory: serde_json::from_str(&inventory).expect("inventory JSON"),
            samples,
            clean: false,
        });
    }
    out
}

/// The variant of the definition that reads the report `sample-<name>.*` of an example folder
/// holding `files`: the longest `<variant>` that is `name` or a `-`-separated start of it with
/// a `<product>-<variant>.ttidef` (`ruler-8-2` → `ruler` when only that file exists).
fn reader_of(files: &[std::path::PathBuf], product: &str, name: &str) -> Option<String> {
    let mut ends: Vec<usize> = name.match_indices('-').map(|(i, _)| i).collect();
    ends.push(name.len());
    ends.into_iter()
        .rev()
        .map(|end| &name[..end])
        .find_map(|variant| {
            let file = format!("{product}-{variant}.ttidef");
            files
                .iter()
                .any(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == file))
                .then(|| variant.to_string())
        })
}

/// What [`check`] saw, for callers that want to know the harness reached the diff.
#[derive(Debug, Default)]
pub struct Seen {
    pub volumes_compared: u64,
    pub rejected: u64,
}

/// How a checked run is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub dry_run: bool,
    pub add_new: bool,
    pub strict: bool,
}

/// Runs `case` over `input` and panics when the run fails or breaks a promise (see the
/// module comment).
pub fn check(case: &Case, input: &[u8], mode: Mode) -> Seen {
    let mut store = Store::open_in_memory().expect("in-memory store");
    store
        .import(&case.inventory)
        .expect("import the example inventory");
    let before = serde_json::to_string(&store.export().expect("export")).unwrap();
    let mut target = EmbeddedTarget::new(store, "fuzz");
    let lines =
        OpenInput::from_reader("fuzz.txt".into(), Box::new(Cursor::new(input.to_vec()))).lines();
    let options = RunOptions {
        add_new: mode.add_new,
        add_new_ids: false,
        dry_run: mode.dry_run,
        strict: mode.strict,
        batch_size: 7,
        limit: None,
        now: chrono::NaiveDate::from_ymd_opt(2026, 6, 15)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        retry: RetryPolicy {
            attempts: 1,
            first_delay: Duration::from_millis(1),
        },
        session: SessionStart {
            definition_hash: "0".into(),
            definition_name: format!("{}.ttidef", case.name),
            source_name: "fuzz.txt".into(),
        },
        cache: None,
    };
    let mut observer = Collector::default();
    let outcome = run(&case.plan, lines, &mut target, &options, &mut observer);
    let context = || {
        format!(
            "{} ({mode:?}): input {:?}",
            case.name,
            String::from_utf8_lossy(input)
        )
    };
    let unchanged = |what: &str| {
        let after = serde_json::to_string(&target.store().export().expect("export")).unwrap();
        assert!(before == after, "{what} changed the store\n{}", context());
    };
    match &outcome.error {
        None => {}
        Some(e) if mode.strict && e.is_input_problem() => {
            // `--strict` stops at the first bad record, before anything is applied.
            unchanged("a --strict run that stopped");
            return Seen::default();
        }
        Some(e) => panic!("the run failed: {e}\n{}", context()),
    }
    let stats = &outcome.stats.statistics;
    assert_eq!(
        stats.records_rejected,
        observer.rejections.len() as u64,
        "{}",
        context()
    );
    assert!(!mode.strict || stats.records_rejected == 0, "{}", context());
    // Every rejection names a line of the input ("fuzz.txt:N: rejected: …").
    let lines_in_input = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for r in &observer.rejections {
        let line: u64 = r
            .strip_prefix("fuzz.txt:")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a rejection without its line: {r}\n{}", context()));
        assert!(
            (1..=lines_in_input).contains(&line),
            "line {line} of {lines_in_input}: {r}\n{}",
            context()
        );
    }
    let compared = stats.volumes_unchanged
        + stats.volumes_updated
        + stats.volumes_added
        + stats.volumes_not_in_inventory
        + stats.volumes_skipped
        + stats.conflicts;
    assert!(compared <= stats.records_read, "{stats:?}\n{}", context());
    if mode.dry_run {
        unchanged("a dry run");
    } else {
        // Sending only what changed: the same report again (as a dry run, which diffs as a
        // real run does) finds nothing left to add or update.
        let lines =
            OpenInput::from_reader("fuzz.txt".into(), Box::new(Cursor::new(input.to_vec())))
                .lines();
        let again = RunOptions {
            dry_run: true,
            ..options
        };
        let second = run(
            &case.plan,
            lines,
            &mut target,
            &again,
            &mut Collector::default(),
        );
        let s = &second.stats.statistics;
        assert!(
            second.error.is_none() && s.volumes_added == 0 && s.volumes_updated == 0,
            "the same report a second time: {:?} {s:?}\n{}",
            second.error,
            context()
        );
    }
    Seen {
        volumes_compared: compared,
        rejected: stats.records_rejected,
    }
}

/// The fuzz target's input: one byte that picks the case (bits 0–3 and 7, so 32 cases) and
/// the run's mode (bit 4: dry run; bit 5: without `--add-new`; bit 6: `--strict`), then the
/// report.
pub fn decode<'c, 'd>(cases: &'c [Case], data: &'d [u8]) -> Option<(&'c Case, &'d [u8], Mode)> {
    let (&pick, report) = data.split_first()?;
    let index = usize::from(pick & 0x0f) | usize::from(pick & 0x80) >> 3;
    let case = cases.get(index % cases.len().max(1))?;
    let mode = Mode {
        dry_run: pick & 0x10 != 0,
        add_new: pick & 0x20 == 0,
        strict: pick & 0x40 != 0,
    };
    Some((case, report, mode))
}

/// Seeds for the fuzz target: every case's samples in [`decode`]'s form (a real run that
/// adds new volumes).
pub fn seeds(cases: &[Case]) -> Vec<(String, Vec<u8>)> {
    assert!(cases.len() <= 32, "the first byte has room for 32 cases");
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        // Case numbers 16–31 are in bit 7 (see `decode`).
        let pick = (i & 0x0f) as u8 | ((i & 0x10) << 3) as u8;
        for (j, sample) in case.samples.iter().enumerate() {
            let mut data = vec![pick];
            data.extend_from_slice(sample);
            out.push((format!("{}-{j}", case.name), data));
        }
    }
    out
}
