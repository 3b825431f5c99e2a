//! Pass 1 on several threads against pass 1 on one: the same inputs through both must give
//! the same spill (scopes, order, records), statistics, messages with their line numbers,
//! progress calls and prefetch requests — for bad lines, line rules and header sections,
//! records whose quoted fields span lines, `--limit`, `--strict` and a read failure.

use super::line_memo::{LineMemo, MemoSettings};
use super::read_pass::{read_pass_in, MemoRun, Mode, Spiller};
use super::*;
use crate::derive::SyncRecord;
use crate::observer::Observer;
use crate::read::input::{lines_of, OpenInput};
use crate::spill::Spill;
use crate::target::ScopeReader;
use crate::testutil::{csv_plan, glob, Failing};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tapesync_compiler::plan::{ExtractSource, Extraction, LineRule, LineRuleKind, ValueFilter};
use tapesync_model::{Field, ScopeKey, ScopeTable, VolumeChange};

/// Everything the run's caller hears, in order (pass 2's tests share it).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Events(pub Vec<String>);

impl Observer for Events {
    fn rejected(&mut self, source: &str, line: u64, reason: &str) {
        self.0.push(format!("{source}:{line}: rejected: {reason}"));
    }
    fn would_change(
        &mut self,
        scope: &ScopeKey,
        change: &VolumeChange,
        before: Option<&BTreeMap<Field, String>>,
    ) {
        let lines = crate::observer::describe_change(scope, change, before);
        self.0
            .extend(lines.into_iter().map(|l| format!("would: {l}")));
    }
    fn progress(&mut self, records_read: u64) {
        self.0.push(format!("progress {records_read}"));
    }
    fn sync_progress(&mut self, compared: u64, scopes: u64, batches: u64) {
        self.0
            .push(format!("sync {compared}/{scopes}, {batches} batches"));
    }
    fn warning(&mut self, message: &str) {
        self.0.push(format!("warning: {message}"));
    }
    fn conflict(&mut self, source: &str, line: u64, scope: &ScopeKey, volume: &str) {
        self.0
            .push(format!("{source}:{line}: conflict: {scope} {volume}"));
    }
}

/// A scope reader that notes which scopes the prefetcher asked for, in order.
struct Requests(Arc<Mutex<Vec<ScopeKey>>>);

impl ScopeReader for Requests {
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        self.0.lock().unwrap().push(scope.clone());
        Ok(ScopeTable::new(columns))
    }
}

/// The scopes in order, whether the input was unsorted, and each scope's records.
type Spilled = (Vec<ScopeKey>, bool, Vec<Vec<SyncRecord>>);

#[derive(Debug, PartialEq)]
struct Pass1 {
    spill: Result<Spilled, String>,
    stats: tapesync_model::SyncStatistics,
    events: Vec<String>,
    /// Scopes requested from the prefetcher (checked when pass 1 succeeded: after a failure
    /// the prefetcher is stopped with requests still queued).
    requested: Vec<ScopeKey>,
}

fn options(limit: Option<u64>, strict: bool) -> RunOptions {
    RunOptions {
        add_new: false,
        add_new_ids: false,
        dry_run: true,
        strict,
        batch_size: 1000,
        limit,
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
            definition_name: "test.ttidef".into(),
            source_name: "test".into(),
        },
        cache: None,
    }
}

fn pass1(mode: Mode, plan: &Plan, input: LineReader, options: &RunOptions) -> Pass1 {
    pass1_with(mode, plan, input, options, None).0
}

/// [`pass1`] with a line memo; also returns the records copied from it.
fn pass1_with(
    mode: Mode,
    plan: &Plan,
    input: LineReader,
    options: &RunOptions,
    memo: Option<MemoRun>,
) -> (Pass1, u64) {
    let mut stats = RunStats::default();
    let mut events = Events::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let prefetcher = Prefetcher::start(
        Box::new(Requests(Arc::clone(&log))),
        Vec::new(),
        options.retry,
        DEFAULT_BUDGET,
    );
    let mut deferred = false;
    let spiller = Spiller {
        spill: Spill::new().unwrap(),
        options,
        source_name: "test",
        observer: &mut events,
        prefetcher: Some(&prefetcher),
        cache: None,
        decided: false,
        deferred: &mut deferred,
        counts: &mut stats.statistics,
        memo,
    };
    let mut hits = 0;
    let spill = read_pass_in(mode, plan, input, spiller)
        .map(|(mut spill, memo)| {
            // Records kept as text (a memo of scopes) are derived as a run derives them.
            super::kept_texts::derive_kept_texts(plan, options.now, &mut spill);
            (spill, memo)
        })
        .map(|(spill, memo)| {
            hits = memo.map_or(0, |m| m.hits);
            let scopes = spill.scopes();
            let records = (0..scopes.len())
                .map(|i| spill.read(i).unwrap().to_sync_records().unwrap())
                .collect();
            (scopes, spill.unsorted(), records)
        })
        .map_err(|e| e.to_string());
    let mut requested = Vec::new();
    if let Ok((scopes, ..)) = &spill {
        // Every request has been downloaded once its result is in.
        for _ in scopes {
            prefetcher.next().unwrap();
        }
        requested = log.lock().unwrap().clone();
    }
    drop(prefetcher);
    let pass1 = Pass1 {
        spill,
        stats: stats.statistics,
        events: events.0,
        requested,
    };
    (pass1, hits)
}

/// Runs `text` through pass 1 on one thread and on several, and checks they agree; returns
/// the sequential result for further checks.
fn same_both_ways(plan: &Plan, text: &[u8], options: &RunOptions) -> Pass1 {
    let sequential = pass1(Mode::Sequential, plan, lines_of(text), options);
    for workers in [1, 3] {
        let parallel = pass1(Mode::Parallel { workers }, plan, lines_of(text), options);
        assert_eq!(parallel, sequential, "{workers} deriving threads");
    }
    sequential
}

/// A CSV plan whose customer is column 2 (many scopes) and description column 3.
fn plan() -> Plan {
    csv_plan(
        "C0",
        "LTO",
        &[(Field::Customer, 2), (Field::Description, 3)],
    )
}

/// Several chunks' worth of shuffled records over seven scopes, with bad lines of every kind
/// the reader and the deriver know, blank lines, and quoted fields holding line breaks.
fn report(lines: u32) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..lines {
        let customer = (i * 7919) % 7;
        let row = match i % 211 {
            5 => b"bad \xFF byte,C1,x\n".to_vec(),
            17 => format!("V{i:06},C{customer}\n").into_bytes(),
            29 => format!("V {i},C{customer},spaced volume\n").into_bytes(),
            43 => b"\n   \n".to_vec(),
            61 => format!("V{i:06},C{customer},\"two\nlines, one record\"\n").into_bytes(),
            97 => format!("V{i:06},c {customer},bad customer\n").into_bytes(),
            101 => format!("#V{i:06},C{customer},comment\n").into_bytes(),
            _ => format!("V{i:06},C{customer},pool {}\n", i % 13).into_bytes(),
        };
        text.extend_from_slice(&row);
    }
    text
}

#[test]
fn plain_csv_with_bad_lines() {
    let text = report(12_000);
    let out = same_both_ways(&plan(), &text, &options(None, false));
    let (scopes, unsorted, _) = out.spill.as_ref().unwrap();
    assert_eq!(scopes.len(), 7);
    assert!(*unsorted);
    assert_eq!(out.requested, *scopes, "first-appearance order");
    assert!(out.stats.records_rejected > 200, "{:?}", out.stats);
    assert!(out.events.iter().any(|e| e.starts_with("progress 8192")));
}

#[test]
fn an_unterminated_quote_at_the_end() {
    let mut text = report(5_000);
    text.extend_from_slice(b"V999999,C1,\"never closed\nV999998,C1,x\n");
    same_both_ways(&plan(), &text, &options(None, false));
}

#[test]
fn limits() {
    let text = report(9_000);
    for limit in [0, 1, 3, 2047, 2048, 2049, 4096, 5_000, 20_000] {
        same_both_ways(&plan(), &text, &options(Some(limit), false));
    }
}

#[test]
fn strict_stops_at_the_first_rejection_in_input_order() {
    // The first bad record comes well after the first chunks.
    let mut text: Vec<u8> = (0..7_000)
        .flat_map(|i| format!("V{i:06},C{},x\n", i % 5).into_bytes())
        .collect();
    text.extend_from_slice(b"V 1,C1,a space in the volume\n");
    text.extend_from_slice(&report(3_000));
    let out = same_both_ways(&plan(), &text, &options(None, true));
    let error = out.spill.unwrap_err();
    assert!(error.contains(":7001: rejected"), "{error}");
    same_both_ways(&plan(), &report(3_000), &options(None, true));
}

#[test]
fn line_rules_and_header_sections() {
    let mut plan = plan();
    plan.header_count = 2;
    let rule = |kind, filter| LineRule {
        kind,
        offset: 0,
        filter: glob(filter),
    };
    plan.line_rules = vec![
        rule(LineRuleKind::Header, "Page*"),
        rule(LineRuleKind::Exclusion, "#*"),
        rule(LineRuleKind::Start, "--- start*"),
        rule(LineRuleKind::End, "--- end*"),
        rule(LineRuleKind::Terminate, "END OF REPORT*"),
    ];
    // The slot comes from the second header record: each page's records carry their own.
    plan.extractions.push(Extraction {
        field: Field::Slot,
        source: ExtractSource::HeaderElement {
            index: 2,
            record: 2,
        },
        length: 20,
    });
    plan.fields_set.push(Field::Slot);
    plan.fields_set.sort();
    // Records whose description is "pool 3" are excluded by value.
    plan.value_exclusions.push(ValueFilter {
        field: Field::Description,
        filter: glob("pool 3"),
    });
    let mut text = Vec::new();
    text.extend_from_slice(b"V000001,C1,before the window\n--- start\n");
    for page in 0..40 {
        text.extend_from_slice(format!("Page {page}\nslot,S{page}\n").as_bytes());
        let body = report(250);
        text.extend_from_slice(&body);
        if page % 9 == 4 {
            text.extend_from_slice(b"--- end\nV000002,C1,outside\n--- start\n");
        }
    }
    text.extend_from_slice(b"END OF REPORT\nV000003,C1,after the end\n");
    let out = same_both_ways(&plan, &text, &options(None, false));
    assert!(out.stats.records_excluded > 100, "{:?}", out.stats);
    let (_, _, records) = out.spill.as_ref().unwrap();
    assert!(records
        .iter()
        .flatten()
        .any(|r| r.fields.get(&Field::Slot).is_some_and(|s| s == "S39")));
    for limit in [100, 4_321] {
        same_both_ways(&plan, &text, &options(Some(limit), false));
    }
}

/// A reader that fails part-way: the error comes after everything read before it.
#[test]
fn a_read_failure_part_way() {
    let failing = || {
        OpenInput::from_reader(
            "failing".into(),
            Box::new(std::io::BufReader::new(Failing::new(report(6_000)))),
        )
        .lines()
    };
    let options = options(None, false);
    let sequential = pass1(Mode::Sequential, &plan(), failing(), &options);
    assert!(sequential
        .spill
        .as_ref()
        .unwrap_err()
        .contains("disk on fire"));
    for workers in [1, 3] {
        let parallel = pass1(Mode::Parallel { workers }, &plan(), failing(), &options);
        assert_eq!(parallel, sequential);
    }
}

#[test]
fn empty_input() {
    for text in [&b""[..], b"\n", b"V000001,C1,x"] {
        same_both_ways(&plan(), text, &options(None, false));
    }
}

/// The line memo changes nothing but the work: night after night a report is edited in place,
/// has lines inserted, removed, repeated and moved, and pass 1 with last night's memo (on one
/// thread and on several) must give what pass 1 without one gives — while copying most
/// records from the memo, and writing no memo on a night when nothing changed.
#[test]
fn the_line_memo_changes_nothing_but_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let settings = MemoSettings::at(dir.path().join("lines").join("test.tsm"), "test");
    nights_with_a_memo(&dir, settings);
}

/// [`the_line_memo_changes_nothing_but_the_work`] with a memo of scopes only (the default):
/// known lines are spilled as text and derived after pass 1.
#[test]
fn a_memo_of_scopes_changes_nothing_but_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let settings = MemoSettings::at(dir.path().join("lines").join("test.tsm"), "test");
    nights_with_a_memo(&dir, settings.scopes_only());
}

fn nights_with_a_memo(dir: &tempfile::TempDir, settings: MemoSettings) {
    use std::os::unix::fs::MetadataExt;
    let plan = plan();
    let options = options(None, false);
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut lines: Vec<Vec<u8>> = report(6_000)
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let mut last_inode = None;
    for night in 0..8 {
        let text = lines.concat();
        let old = match LineMemo::load(&settings) {
            Ok(memo) => Some(Arc::new(memo)),
            Err(_) => None,
        };
        assert_eq!(old.is_some(), night > 0, "night {night}");
        let mode = match night % 3 {
            0 => Mode::Sequential,
            1 => Mode::Parallel { workers: 1 },
            _ => Mode::Parallel { workers: 3 },
        };
        let memo = MemoRun::new(settings.clone(), old);
        let (with, hits) = pass1_with(mode, &plan, lines_of(&text), &options, Some(memo));
        let without = pass1(Mode::Sequential, &plan, lines_of(&text), &options);
        assert_eq!(with, without, "night {night}");
        let records = with
            .spill
            .as_ref()
            .unwrap()
            .2
            .iter()
            .map(Vec::len)
            .sum::<usize>() as u64;
        let inode = std::fs::metadata(settings_path(dir)).unwrap().ino();
        match night {
            0 => assert_eq!(hits, 0),
            // Nothing changed since the night before: every record from the memo, and the
            // memo is not written again.
            4 => {
                assert_eq!(hits, records, "night {night}");
                assert_eq!(Some(inode), last_inode, "night {night}: memo rewritten");
            }
            _ => assert!(
                hits * 10 >= records * 8,
                "night {night}: {hits} of {records}"
            ),
        }
        last_inode = Some(inode);
        // Tomorrow's report.
        match night {
            // Nothing changes for night 4.
            3 => {}
            // Forty lines at the top, and the halves swapped.
            5 => {
                let half = lines.len() / 2;
                lines.rotate_left(half);
                for i in 0..40 {
                    lines.insert(0, format!("N{i:05},C{},new on top\n", i % 7).into_bytes());
                }
            }
            _ => {
                for _ in 0..60 {
                    let at = rng.usize(..lines.len());
                    match rng.u8(..5) {
                        // Edited in place: another description, or another customer.
                        0 => lines[at] = format!("V{at:06},C{},edited\n", rng.u8(..7)).into_bytes(),
                        1 => lines.insert(
                            at,
                            format!("W{at:06},C{},inserted\n", rng.u8(..7)).into_bytes(),
                        ),
                        2 => {
                            lines.remove(at);
                        }
                        // A line repeated (one volume twice) or a bad line added.
                        3 => lines.insert(at, lines[at].clone()),
                        _ => lines.insert(at, b"bad,\"quote\n".to_vec()),
                    }
                }
            }
        }
    }
}

fn settings_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("lines").join("test.tsm")
}
