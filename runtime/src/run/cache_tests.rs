//! The scope cache must never change a result. Two stores receive the same random sequence
//! of writes: syncs through a scope cache (store A) or without one (store B), other writers
//! between them — another sync, an admin import, a second client applying batches, a second
//! machine with a cache of its own, a new repository — and every run's changes, conflicts,
//! rejections and the final inventory must be the same on both.

use super::*;
use crate::observer::Collector;
use crate::read::input::OpenInput;
use crate::scope::cache::CacheSettings;
use crate::target::embedded::EmbeddedTarget;
use crate::testutil::csv_plan;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tapesync_compiler::plan::{ExtractSource, Extraction};
use tapesync_model::{
    ApplyBatch, CustomerDump, Field, InventoryDump, MediaDump, RepositoryInfo, ScopeKey,
    VolumeChange, VolumeDump,
};
use tapesync_store::Store;

const CUSTOMERS: [&str; 2] = ["C1", "C2"];
pub(super) const MEDIA: [&str; 2] = ["LTO", "DLT"];
const REPOSITORIES: [&str; 3] = ["LIBR", "OFFS", "VLT2"];

/// Elements: volume, repository, slot, customer, media.
pub(super) fn plan() -> Plan {
    let mut plan = csv_plan("XX", "XX", &[(Field::Repository, 2), (Field::Slot, 3)]);
    plan.literals.clear();
    for (field, index) in [(Field::Customer, 4), (Field::Media, 5)] {
        plan.extractions.push(Extraction {
            field,
            source: ExtractSource::Element { index },
            length: 4,
        });
    }
    plan
}

fn inventory() -> InventoryDump {
    inventory_for(&CUSTOMERS)
}

/// Twelve volumes of each of `MEDIA` for each of `customers`, all in LIBR.
pub(super) fn inventory_for(customers: &[&str]) -> InventoryDump {
    let repositories = REPOSITORIES[..2]
        .iter()
        .map(|r| RepositoryInfo {
            id: r.to_string(),
            description: String::new(),
        })
        .collect::<Vec<_>>();
    let mut volumes = Vec::new();
    for c in customers {
        for m in MEDIA {
            for i in 0..12 {
                volumes.push(VolumeDump {
                    customer: c.to_string(),
                    media: m.into(),
                    volume: format!("{m}{i:03}"),
                    version: None,
                    fields: BTreeMap::from([(Field::Repository, "LIBR".to_string())]),
                });
            }
        }
    }
    InventoryDump {
        customers: customers
            .iter()
            .map(|c| CustomerDump {
                id: c.to_string(),
                name: String::new(),
                media: MEDIA
                    .iter()
                    .map(|m| MediaDump {
                        id: m.to_string(),
                        description: String::new(),
                    })
                    .collect(),
                repositories: repositories.clone(),
            })
            .collect(),
        volumes,
    }
}

/// A report naming a random part of the inventory (and a few volumes it lacks), shuffled.
fn report(rng: &mut StdRng) -> String {
    report_lines(rng, &CUSTOMERS).join("\n") + "\n"
}

/// A report naming exactly the inventory's volumes (as a backup product lists all its tapes),
/// with random places, shuffled.
fn full_report(rng: &mut StdRng) -> String {
    let mut lines = Vec::new();
    for c in CUSTOMERS {
        for m in MEDIA {
            for i in 0..12 {
                let repository = REPOSITORIES[rng.random_range(0..2)];
                lines.push(format!(
                    "{m}{i:03},{repository},{},{c},{m}",
                    rng.random_range(1..3)
                ));
            }
        }
    }
    lines.shuffle(rng);
    lines.join("\n") + "\n"
}

/// `text` with a few of its lines changed: a place edited, a line removed, a line added
/// (which may name a volume another line names, or one the inventory lacks).
fn edited(text: &str, rng: &mut StdRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..3) {
            0 if !lines.is_empty() => {
                let at = rng.random_range(0..lines.len());
                let mut parts: Vec<String> = lines[at].split(',').map(str::to_string).collect();
                parts[1] = REPOSITORIES[rng.random_range(0..2)].to_string();
                lines[at] = parts.join(",");
            }
            1 if !lines.is_empty() => {
                lines.remove(rng.random_range(0..lines.len()));
            }
            _ => {
                let (c, m) = (
                    CUSTOMERS[rng.random_range(0..2)],
                    MEDIA[rng.random_range(0..2)],
                );
                let repository = REPOSITORIES[rng.random_range(0..2)];
                let line = format!("{m}{:03},{repository},,{c},{m}", rng.random_range(0..13));
                lines.insert(rng.random_range(0..=lines.len()), line);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// The lines of [`report`] for `customers`, shuffled.
pub(super) fn report_lines(rng: &mut StdRng, customers: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for c in customers {
        for m in MEDIA {
            if rng.random_bool(0.2) {
                continue;
            }
            for i in 0..14 {
                if rng.random_bool(0.3) {
                    continue;
                }
                let repository = REPOSITORIES[rng.random_range(0..REPOSITORIES.len())];
                let slot = match rng.random_range(0..4) {
                    0 => String::new(),
                    n => n.to_string(),
                };
                lines.push(format!("{m}{i:03},{repository},{slot},{c},{m}"));
            }
        }
    }
    lines.shuffle(rng);
    lines
}

pub(super) fn options(add_new: bool, cache: Option<CacheSettings>) -> RunOptions {
    RunOptions {
        add_new,
        add_new_ids: false,
        dry_run: false,
        strict: false,
        batch_size: 4,
        limit: None,
        now: chrono::NaiveDate::from_ymd_opt(2026, 6, 15)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        retry: RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(1),
        },
        session: SessionStart {
            definition_hash: "0".into(),
            definition_name: "cache.ttidef".into(),
            source_name: "report.csv".into(),
        },
        cache,
    }
}

/// What a run did that the cache must not change.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    statistics: tapesync_model::SyncStatistics,
    not_in_inventory: Vec<String>,
    not_in_report: Vec<String>,
    rejections: Vec<String>,
    warnings: Vec<String>,
    error: Option<String>,
}

fn sync(path: &Path, text: &str, add_new: bool, cache: Option<CacheSettings>) -> (Seen, u64) {
    let (seen, from_cache, _) = sync_settled(path, text, add_new, cache);
    (seen, from_cache)
}

/// Scopes a run did not compare in full: settled (`run/settled.rs`), or compared in part
/// (`run/partial.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Spared {
    settled: u64,
    in_part: u64,
}

/// [`sync`], also telling the scopes not compared in full.
fn sync_settled(
    path: &Path,
    text: &str,
    add_new: bool,
    cache: Option<CacheSettings>,
) -> (Seen, u64, Spared) {
    let lines = OpenInput::from_reader(
        "report.csv".into(),
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
    )
    .lines();
    sync_lines(path, lines, add_new, cache)
}

/// [`sync_settled`] over any input.
fn sync_lines(
    path: &Path,
    lines: crate::read::input::LineReader,
    add_new: bool,
    cache: Option<CacheSettings>,
) -> (Seen, u64, Spared) {
    let mut target = EmbeddedTarget::open(path, "sync").unwrap();
    let mut observer = Collector::default();
    let out = run(
        &plan(),
        lines,
        &mut target,
        &options(add_new, cache),
        &mut observer,
    );
    let mut statistics = out.stats.statistics.clone();
    let from_cache = statistics.scopes_from_cache;
    // Where the tables came from, and the time, differ by design.
    statistics.scope_downloads = 0;
    statistics.scopes_from_cache = 0;
    statistics.elapsed_ms = 0;
    (
        Seen {
            statistics,
            not_in_inventory: out.stats.not_in_inventory.clone(),
            not_in_report: out.stats.not_in_report.clone(),
            rejections: observer.rejections,
            warnings: observer.warnings,
            error: out.error.map(|e| e.to_string()),
        },
        from_cache,
        Spared {
            settled: out.stats.scopes_settled,
            in_part: out.stats.scopes_in_part,
        },
    )
}

/// A temporary folder with a store holding [`inventory`] and the path for a cache folder:
/// (folder, store, cache folder).
fn one_store() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    Store::open(&path).unwrap().import(&inventory()).unwrap();
    let caches = dir.path().join("cache");
    (dir, path, caches)
}

fn cache(dir: &Path, path: &Path) -> Option<CacheSettings> {
    Some(CacheSettings {
        dir: dir.to_path_buf(),
        target: path.display().to_string(),
    })
}

/// The inventory without what differs by design (none of the export does: no times, no ids).
pub(super) fn inventory_of(path: &Path) -> String {
    serde_json::to_string_pretty(&Store::open(path).unwrap().export().unwrap()).unwrap()
}

fn random_batch(rng: &mut StdRng, n: u64) -> (ScopeKey, ApplyBatch) {
    let scope = ScopeKey {
        customer: CUSTOMERS[rng.random_range(0..2)].into(),
        media: MEDIA[rng.random_range(0..2)].into(),
    };
    let changes = (0..rng.random_range(1..4))
        .map(|_| {
            let i = rng.random_range(0..12);
            VolumeChange {
                volume: format!("{}{i:03}", scope.media),
                // The store decides: a stale version is a conflict, the same on both stores.
                expected_version: Some(rng.random_range(1..4)),
                set: BTreeMap::from([(Field::Slot, Some(format!("{}", rng.random_range(10..20))))]),
            }
        })
        .collect();
    let batch = ApplyBatch {
        idempotency_key: format!("client-{n}"),
        session: None,
        create_missing: false,
        create: None,
        changes,
    };
    (scope, batch)
}

fn random_dump(rng: &mut StdRng) -> InventoryDump {
    let mut dump = inventory();
    dump.volumes.retain(|_| rng.random_bool(0.15));
    for v in &mut dump.volumes {
        v.fields.insert(
            Field::Repository,
            REPOSITORIES[rng.random_range(0..2)].into(),
        );
    }
    dump
}

struct Pair {
    cached: PathBuf,
    plain: PathBuf,
}

#[test]
fn a_stale_cache_never_changes_a_result() {
    let mut exercised = 0;
    let mut settled = 0;
    let mut in_part = 0;
    for seed in 0..10u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let pair = Pair {
            cached: dir.path().join("a.db"),
            plain: dir.path().join("b.db"),
        };
        for path in [&pair.cached, &pair.plain] {
            Store::open(path).unwrap().import(&inventory()).unwrap();
        }
        let ours = dir.path().join("cache-1");
        let theirs = dir.path().join("cache-2");
        // Our last nightly report: sent again now and then (a night on which nothing
        // changed), so that the line memo and settled scopes are used — whatever the other
        // writers did in between.
        let mut last: Option<String> = None;
        for step in 0..14u64 {
            let what = if step < 2 { 0 } else { rng.random_range(0..7) };
            let context = format!("seed {seed}, step {step}, action {what}");
            match what {
                // Our nightly sync (twice as likely as anything else).
                0 | 1 => {
                    let text = match last.take() {
                        Some(text) if rng.random_bool(0.3) => text,
                        // A few lines changed: scopes compared in part.
                        Some(text) if rng.random_bool(0.5) => edited(&text, &mut rng),
                        _ if rng.random_bool(0.5) => full_report(&mut rng),
                        _ => report(&mut rng),
                    };
                    let add_new = rng.random_bool(0.3);
                    // From a file, as a nightly job reads its report (only a file can be
                    // read again, which scopes compared in part may need).
                    let file = dir.path().join("report.csv");
                    std::fs::write(&file, &text).unwrap();
                    let source = crate::read::input::InputSource::File(file);
                    let open = || OpenInput::open(&source).unwrap().lines();
                    let (a, from_cache, spared) =
                        sync_lines(&pair.cached, open(), add_new, cache(&ours, &pair.cached));
                    let (b, _, _) = sync_lines(&pair.plain, open(), add_new, None);
                    assert_eq!(a, b, "{context}");
                    exercised += from_cache;
                    settled += spared.settled;
                    in_part += spared.in_part;
                    last = Some(text);
                }
                // Another sync without a cache.
                2 => {
                    let text = report(&mut rng);
                    let a = sync(&pair.cached, &text, false, None).0;
                    let b = sync(&pair.plain, &text, false, None).0;
                    assert_eq!(a, b, "{context}");
                }
                // A second machine with a cache of its own.
                3 => {
                    let text = report(&mut rng);
                    let a = sync(&pair.cached, &text, true, cache(&theirs, &pair.cached)).0;
                    let b = sync(&pair.plain, &text, true, None).0;
                    assert_eq!(a, b, "{context}");
                }
                // An admin import.
                4 => {
                    let dump = random_dump(&mut rng);
                    for path in [&pair.cached, &pair.plain] {
                        Store::open(path).unwrap().import(&dump).unwrap();
                    }
                }
                // A second client applying a batch.
                5 => {
                    let (scope, batch) = random_batch(&mut rng, step);
                    let answers: Vec<_> = [&pair.cached, &pair.plain]
                        .iter()
                        .map(|path| {
                            let mut store = Store::open(path).unwrap();
                            let mut r = store.apply("client", &scope, &batch).unwrap();
                            r.scope_version = None;
                            r
                        })
                        .collect();
                    assert_eq!(answers[0], answers[1], "{context}");
                }
                // A new repository, which a report may then name.
                _ => {
                    let customer = CUSTOMERS[rng.random_range(0..2)];
                    for path in [&pair.cached, &pair.plain] {
                        let _ = Store::open(path)
                            .unwrap()
                            .add_repository(customer, "VLT2", "");
                    }
                }
            }
            assert_eq!(
                inventory_of(&pair.cached),
                inventory_of(&pair.plain),
                "{context}"
            );
        }
    }
    assert!(
        exercised > 20,
        "the cache was hardly used ({exercised} scopes)"
    );
    assert!(settled >= 5, "scopes were hardly settled ({settled})");
    assert!(
        in_part >= 5,
        "scopes were hardly compared in part ({in_part})"
    );
}

#[test]
fn a_damaged_cache_is_reported_and_replaced() {
    // `_dir` keeps the folder until the test ends.
    let (_dir, path, caches) = one_store();
    let text = "LTO001,OFFS,1,C1,LTO\nDLT002,LIBR,,C2,DLT\nLTO003,OFFS,,C2,LTO\n";
    let (first, _) = sync(&path, text, false, cache(&caches, &path));
    assert!(first.error.is_none(), "{first:?}");
    let (again, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 3, "every scope from the cache: {again:?}");
    assert_eq!(again.statistics.volumes_unchanged, 3);

    let entries: Vec<PathBuf> = std::fs::read_dir(caches.join("scopes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 3);
    let mut flipped = std::fs::read(&entries[0]).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    std::fs::write(&entries[0], flipped).unwrap();
    let truncated = std::fs::read(&entries[1]).unwrap();
    std::fs::write(&entries[1], &truncated[..truncated.len() - 3]).unwrap();
    std::fs::write(&entries[2], "not a cache file").unwrap();

    // The scopes are settled (`settled.rs`): a run would not even read their entries. Without
    // the file of settled scopes it does.
    for f in std::fs::read_dir(caches.join("lines")).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "tss") {
            std::fs::remove_file(f).unwrap();
        }
    }
    let (damaged, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 0);
    assert_eq!(damaged.statistics, again.statistics);
    assert_eq!(damaged.warnings.len(), 3, "{:?}", damaged.warnings);
    assert!(damaged.warnings.iter().all(|w| w.contains("scope cache")));
    // Replaced: the next run reads every scope from the cache again.
    let (_, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 3);
}

#[cfg(unix)]
#[test]
fn an_entry_read_and_left_unchanged_is_not_rewritten_and_still_verifies() {
    use std::os::unix::fs::MetadataExt;
    // `_dir` keeps the folder until the test ends.
    let (_dir, path, caches) = one_store();
    let text = "LTO001,OFFS,1,C1,LTO\nDLT002,LIBR,,C2,DLT\nLTO003,OFFS,,C2,LTO\n";
    let (first, _) = sync(&path, text, false, cache(&caches, &path));
    assert!(first.error.is_none(), "{first:?}");
    let entries = || -> Vec<(PathBuf, u64, Vec<u8>)> {
        let mut all: Vec<_> = std::fs::read_dir(caches.join("scopes"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let ino = std::fs::metadata(&p).unwrap().ino();
                let bytes = std::fs::read(&p).unwrap();
                (p, ino, bytes)
            })
            .collect();
        all.sort();
        all
    };
    let (_, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 3);
    let before = entries();
    let (again, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 3, "{again:?}");
    assert_eq!(again.statistics.volumes_unchanged, 3);
    // The same files (no write, no rename), and a later run still trusts every one of them.
    assert_eq!(entries(), before);
    let (_, from_cache) = sync(&path, text, false, cache(&caches, &path));
    assert_eq!(from_cache, 3);
}

#[test]
fn a_report_sent_again_settles_every_scope_it_left_clean() {
    // `_dir` keeps the folder until the test ends.
    let (_dir, path, caches) = one_store();
    let mut rng = StdRng::seed_from_u64(1);
    let text = full_report(&mut rng);
    let (first, _, spared) = sync_settled(&path, &text, false, cache(&caches, &path));
    assert!(first.error.is_none(), "{first:?}");
    assert_eq!(spared.settled, 0);
    let (again, from_cache, spared) = sync_settled(&path, &text, false, cache(&caches, &path));
    assert_eq!((from_cache, spared.settled), (4, 4), "{again:?}");
    assert_eq!(again.statistics.volumes_unchanged, 48);
    assert_eq!(again.statistics.volumes_updated, 0);
}

/// Twelve hundred volumes more in each scope of [`inventory`], and the report naming all of
/// them in scope order (each scope's lines together), one line per volume.
fn large_inventory_and_report() -> (InventoryDump, Vec<String>) {
    let mut dump = inventory();
    let mut lines = Vec::new();
    for c in CUSTOMERS {
        for m in MEDIA {
            for i in 0..12 {
                lines.push(format!("{m}{i:03},LIBR,,{c},{m}"));
            }
            for i in 0..2400 {
                let volume = format!("{m}X{i:05}");
                dump.volumes.push(VolumeDump {
                    customer: c.to_string(),
                    media: m.into(),
                    volume: volume.clone(),
                    version: None,
                    fields: BTreeMap::from([(Field::Repository, "LIBR".to_string())]),
                });
                lines.push(format!("{volume},LIBR,,{c},{m}"));
            }
        }
    }
    (dump, lines)
}

/// A run over a file and the same run without a cache on a twin store: the same result.
fn file_sync(dir: &Path, pair: &Pair, lines: &[String], night: usize) -> (Seen, Spared) {
    // The same file every night (memos and settlements are kept per input).
    let report = dir.join("report.csv");
    std::fs::write(&report, lines.join("\n") + "\n").unwrap();
    let caches = dir.join("cache");
    let mut seen = Vec::new();
    let mut spared = Spared::default();
    for (store, cache) in [
        (&pair.cached, cache(&caches, &pair.cached)),
        (&pair.plain, None),
    ] {
        let source = crate::read::input::InputSource::File(report.clone());
        let lines = OpenInput::open(&source).unwrap().lines();
        let (one, _, one_spared) = sync_lines(store, lines, false, cache);
        spared.settled += one_spared.settled;
        spared.in_part += one_spared.in_part;
        seen.push(one);
    }
    let plain = seen.pop().unwrap();
    let cached = seen.pop().unwrap();
    assert_eq!(cached, plain, "night {night}");
    assert!(cached.error.is_none(), "night {night}: {cached:?}");
    assert_eq!(
        inventory_of(&pair.cached),
        inventory_of(&pair.plain),
        "night {night}"
    );
    (cached, spared)
}

/// The number of second readings so far (`read_pass::read_again`).
fn readings_again() -> u64 {
    super::read_pass::READ_AGAIN.with(std::cell::Cell::get)
}

/// Scopes expected to be settled keep only the lines last night's memo does not know (pass 1,
/// `Spill::expect_settled`). One whose lines changed is compared in part — lines removed
/// near the end of the report, a line of another scope moved among its lines, a line edited,
/// a line repeated — or, when that cannot be exact (a volume named twice the night before, a
/// new line naming the volume of a known one), filled from a second reading of the file.
/// Every night's result is that of a run without a cache.
#[test]
fn scopes_with_a_few_changed_lines_are_compared_in_part_or_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (dump, mut lines) = large_inventory_and_report();
    let pair = Pair {
        cached: dir.path().join("cached.db"),
        plain: dir.path().join("plain.db"),
    };
    for store in [&pair.cached, &pair.plain] {
        Store::open(store).unwrap().import(&dump).unwrap();
    }
    let (first, spared) = file_sync(dir.path(), &pair, &lines, 0);
    assert_eq!(spared, Spared::default());
    assert_eq!(first.statistics.volumes_unchanged, 4 * 2412);
    let (_, spared) = file_sync(dir.path(), &pair, &lines, 1);
    assert_eq!(spared.settled, 4);
    // The first scope's last lines go, and so does a line of the third scope; the line of
    // the last scope moves up into the first scope's lines.
    let last = lines.len() - 1;
    lines.remove(2410);
    lines.remove(2409);
    let moved = lines.remove(last - 2);
    lines.insert(2000, moved);
    lines.remove(2 * 2412 + 700);
    let again = readings_again();
    let (night, spared) = file_sync(dir.path(), &pair, &lines, 2);
    // The moved line is still the last scope's: it and the second scope are settled.
    let expected = Spared {
        settled: 2,
        in_part: 2,
    };
    assert_eq!(spared, expected, "{night:?}");
    assert_eq!(night.statistics.volumes_not_in_report, 3);
    assert_eq!(night.statistics.volumes_unchanged, 4 * 2412 - 3);
    assert_eq!(readings_again(), again, "nothing was read twice");
    // Then one line edited in the second scope (compared in part), and one repeated in the
    // fourth: the copy, not found where the memo has its line, is derived and names the
    // volume of a known line — the scope is compared in full.
    lines[2412 + 1800] = lines[2412 + 1800].replace(",LIBR,", ",OFFS,");
    lines.push(lines[last - 100].clone());
    let (night, spared) = file_sync(dir.path(), &pair, &lines, 3);
    assert_eq!(night.statistics.volumes_updated, 1, "{night:?}");
    let expected = Spared {
        settled: 2,
        in_part: 1,
    };
    assert_eq!(spared, expected, "{night:?}");
    assert_eq!(readings_again(), again + 1);
    // The same report once more: everything settled.
    let (_, spared) = file_sync(dir.path(), &pair, &lines, 4);
    assert_eq!(spared.settled, 4);
    // The fourth scope named a volume twice: a line edited there is compared in full.
    lines[last - 400] = lines[last - 400].replace(",LIBR,", ",OFFS,");
    let (night, spared) = file_sync(dir.path(), &pair, &lines, 5);
    assert_eq!(night.statistics.volumes_updated, 1, "{night:?}");
    assert_eq!(spared.in_part, 0, "{night:?}");
    assert_eq!(readings_again(), again + 2);
    // A new line naming a volume of the second scope that a known line names too: the two
    // disagree and neither is applied, as in a run without a cache.
    lines.push(lines[2412 + 500].replace(",LIBR,", ",OFFS,"));
    let (night, spared) = file_sync(dir.path(), &pair, &lines, 6);
    assert_eq!(night.rejections.len(), 2, "{night:?}");
    assert_eq!(spared.in_part, 0, "{night:?}");
    assert_eq!(readings_again(), again + 3);
}

/// A file that no longer gives what pass 1 read (its scopes or their lines) stops the run at
/// the second reading, before anything is applied.
#[test]
fn an_input_changed_before_it_is_read_again_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, lines) = large_inventory_and_report();
    let report = dir.path().join("report.csv");
    std::fs::write(&report, lines.join("\n") + "\n").unwrap();
    let options = options(false, None);
    let read = |scopes: &[ScopeKey], digests: Vec<settled::LineDigest>| {
        let mut spill = crate::spill::Spill::new().unwrap();
        let lines = read_pass::Pass1Lines {
            digests,
            memo: None,
        };
        read_pass::read_again(
            &plan(),
            &report,
            &options,
            "report.csv",
            &mut spill,
            scopes,
            &lines,
        )
    };
    let err = read(&[], Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("changed while the run read it"),
        "{err}"
    );
    let scopes: Vec<ScopeKey> = ["C1", "C2"]
        .iter()
        .flat_map(|c| {
            MEDIA.map(|m| ScopeKey {
                customer: c.to_string(),
                media: m.to_string(),
            })
        })
        .collect();
    let err = read(&scopes, vec![settled::LineDigest::default(); 4]).unwrap_err();
    assert!(err.to_string().contains("nothing was applied"), "{err}");
}
