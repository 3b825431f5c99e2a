//! Pass 2 on diff workers against pass 2 on the run's thread: the same inputs against two
//! copies of the same inventory (each with a scope cache of its own) must give the same
//! statistics with their lists, the same messages — rejections with their lines, warnings,
//! dry-run changes, progress calls with their batch counts — in the same order, the same
//! error and the same inventory afterwards; for cold and warm caches, changed and unchanged
//! nights, volumes named twice (agreeing and not), rejected records, damaged cache entries,
//! `--dry-run` and `--strict`; and with the changes applied in groups of scopes
//! (`Target::apply_group`) or batch by batch.

use super::cache_tests::{inventory_for, inventory_of, options, plan, report_lines, MEDIA};
use super::diff_pool::Pass2;
use super::pass1_tests::Events;
use super::*;
use crate::read::input::OpenInput;
use crate::scope::cache::CacheSettings;
use crate::scope::cache::ScopeCache;
use crate::target::embedded::EmbeddedTarget;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use tapesync_model::ScopeKey;
use tapesync_store::Store;

/// Enough scopes (9 customers × 2 media) for the workers to finish out of order.
const CUSTOMERS: [&str; 9] = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"];

/// What one run did.
#[derive(Debug, PartialEq)]
struct Outcome {
    stats: RunStats,
    events: Vec<String>,
    error: Option<String>,
    inventory: String,
}

/// One inventory and its cache, synced in one mode.
struct Side {
    name: String,
    pass2: Pass2,
    /// Whether the target applies groups of batches (`Target::apply_group`); without, every
    /// batch is its own transaction, as against an older server.
    groups: bool,
    store: PathBuf,
    cache: PathBuf,
}

/// The embedded target as an inventory that cannot apply groups.
struct WithoutGroups(EmbeddedTarget);

impl Target for WithoutGroups {
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
        self.0.begin_session(start)
    }
    fn download_scope(
        &mut self,
        scope: &ScopeKey,
    ) -> Result<tapesync_model::ScopeSnapshot, TargetError> {
        self.0.download_scope(scope)
    }
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[tapesync_model::Field],
    ) -> Result<tapesync_model::ScopeTable, TargetError> {
        self.0.download_table(scope, columns)
    }
    fn scope_versions(
        &mut self,
        scopes: &[ScopeKey],
    ) -> Result<tapesync_model::ScopeVersions, TargetError> {
        self.0.scope_versions(scopes)
    }
    fn scope_reader(&self) -> Option<Box<dyn crate::target::ScopeReader>> {
        self.0.scope_reader()
    }
    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &tapesync_model::ApplyBatch,
    ) -> Result<tapesync_model::ApplyResponse, TargetError> {
        self.0.apply(scope, batch)
    }
    fn scratch_levels(
        &mut self,
        customer: &str,
    ) -> Result<Vec<tapesync_store::ScratchLevel>, TargetError> {
        self.0.scratch_levels(customer)
    }
    fn finish_session(
        &mut self,
        session: i64,
        outcome: SessionOutcome,
        stats: &tapesync_model::SyncStatistics,
    ) -> Result<(), TargetError> {
        self.0.finish_session(session, outcome, stats)
    }
}

impl Side {
    fn new(dir: &Path, name: &str, pass2: Pass2, groups: bool) -> Side {
        let store = dir.join(format!("{name}.db"));
        Store::open(&store)
            .unwrap()
            .import(&inventory_for(&CUSTOMERS))
            .unwrap();
        Side {
            name: name.to_string(),
            pass2,
            groups,
            store,
            cache: dir.join(format!("{name}-cache")),
        }
    }

    fn sync(&self, text: &str, tweak: impl Fn(&mut RunOptions)) -> Outcome {
        let embedded = EmbeddedTarget::open(&self.store, "sync").unwrap();
        let mut target: Box<dyn Target> = if self.groups {
            Box::new(embedded)
        } else {
            Box::new(WithoutGroups(embedded))
        };
        let lines = OpenInput::from_reader(
            "report.csv".into(),
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        )
        .lines();
        let mut options = options(
            false,
            Some(CacheSettings {
                dir: self.cache.clone(),
                target: self.store.display().to_string(),
            }),
        );
        tweak(&mut options);
        let mut events = Events::default();
        let out = run_in(
            self.pass2,
            &plan(),
            lines,
            &mut *target,
            &options,
            &mut events,
        );
        drop(target);
        let mut stats = out.stats;
        stats.statistics.elapsed_ms = 0;
        Outcome {
            stats,
            events: events
                .0
                .iter()
                .map(|e| self.without_entry_names(e))
                .collect(),
            error: out.error.map(|e| e.to_string()),
            inventory: inventory_of(&self.store),
        }
    }

    /// `event` with the file names of cache entries left out: they differ between the sides
    /// (an entry's name depends on the target, here each side's own store).
    fn without_entry_names(&self, event: &str) -> String {
        let dir = format!("{}/scopes/", self.cache.display());
        match event.split_once(&dir) {
            Some((before, after)) => {
                let rest = after.split_once(':').map_or("", |(_, rest)| rest);
                format!("{before}ENTRY:{rest}")
            }
            None => event.to_string(),
        }
    }

    /// The file of `scope`'s cache entry.
    fn entry(&self, scope: &ScopeKey) -> PathBuf {
        let settings = CacheSettings {
            dir: self.cache.clone(),
            target: self.store.display().to_string(),
        };
        ScopeCache::new(&settings, &Deriver::compared_fields(&plan())).entry_path(scope)
    }
}

/// A shuffled report over every customer with volumes named twice: some by agreeing records,
/// some by records that disagree (rejected), plus volumes the inventory lacks and a
/// repository no customer has (rejected).
fn report(rng: &mut StdRng) -> String {
    let mut lines = report_lines(rng, &CUSTOMERS);
    let mut extra = Vec::new();
    for line in lines.iter().take(lines.len() / 6) {
        if rng.random_bool(0.5) {
            extra.push(line.clone());
        } else {
            let parts: Vec<&str> = line.split(',').collect();
            extra.push(format!(
                "{},{},9,{},{}",
                parts[0], parts[1], parts[3], parts[4]
            ));
        }
    }
    lines.extend(extra);
    lines.shuffle(rng);
    lines.join("\n") + "\n"
}

/// Runs `text` through both sides and checks they agree; returns one side's outcome.
fn same_both_ways(
    sides: &[Side],
    text: &str,
    tweak: impl Fn(&mut RunOptions) + Copy,
    context: &str,
) -> Outcome {
    let mut outcomes = sides.iter().map(|s| (&s.name, s.sync(text, tweak)));
    let (_, first) = outcomes.next().unwrap();
    for (name, other) in outcomes {
        // The first differing message, readably, before the whole outcome.
        if let Some((a, b)) = first.events.iter().zip(&other.events).find(|(a, b)| a != b) {
            panic!("{context}: {name}: `{b}` where the sequential pass 2 gives `{a}`");
        }
        assert_eq!(other.events, first.events, "{context}: {name}");
        assert_eq!(other.stats, first.stats, "{context}: {name}");
        assert_eq!(other, first, "{context}: {name}");
    }
    first
}

fn sides(dir: &Path) -> Vec<Side> {
    let mut all = vec![Side::new(dir, "sequential", Pass2::Sequential, true)];
    for workers in [1, 2, 3] {
        let name = format!("parallel-{workers}");
        all.push(Side::new(dir, &name, Pass2::Parallel { workers }, true));
    }
    // Every batch in a transaction of its own gives what groups give.
    all.push(Side::new(
        dir,
        "parallel-2, no groups",
        Pass2::Parallel { workers: 2 },
        false,
    ));
    all
}

#[test]
fn parallel_pass2_gives_what_the_sequential_one_gives() {
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let sides = sides(dir.path());
        let text = report(&mut rng);
        let add_new = |o: &mut RunOptions| o.add_new = seed == 1;
        let context = |what: &str| format!("seed {seed}, {what}");

        let cold = same_both_ways(&sides, &text, add_new, &context("cold"));
        assert!(cold.stats.statistics.records_rejected > 0, "{cold:?}");
        assert!(cold.stats.statistics.volumes_updated > 0, "{cold:?}");
        assert!(cold.stats.statistics.scope_downloads > 0, "{cold:?}");

        let warm = same_both_ways(&sides, &text, add_new, &context("warm, unchanged"));
        assert_eq!(warm.stats.statistics.volumes_updated, 0);
        assert!(warm.stats.statistics.scopes_from_cache > 0, "{warm:?}");

        let changed = report(&mut rng);
        let dry = same_both_ways(
            &sides,
            &changed,
            |o| {
                add_new(o);
                o.dry_run = true;
            },
            &context("dry run"),
        );
        assert!(
            dry.events.iter().any(|e| e.starts_with("would: ")),
            "{dry:?}"
        );
        let strict = same_both_ways(
            &sides,
            &changed,
            |o| {
                add_new(o);
                o.strict = true;
            },
            &context("strict"),
        );
        assert!(strict.error.is_some(), "{strict:?}");
        let warm = same_both_ways(&sides, &changed, add_new, &context("warm, changed"));
        assert!(warm.stats.statistics.scopes_from_cache > 0, "{warm:?}");
        assert!(warm.stats.statistics.volumes_updated > 0, "{warm:?}");

        // Damage a few entries the same way on every side: damaged ones reported, all three
        // downloaded.
        let scope = |customer: &str, media: &str| ScopeKey {
            customer: customer.into(),
            media: media.into(),
        };
        for side in &sides {
            std::fs::write(side.entry(&scope("C2", "LTO")), "not a cache file").unwrap();
            let truncated = side.entry(&scope("C5", "DLT"));
            let bytes = std::fs::read(&truncated).unwrap();
            std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
            std::fs::remove_file(side.entry(&scope("C7", "LTO"))).unwrap();
        }
        let damaged = same_both_ways(&sides, &changed, add_new, &context("damaged cache"));
        let warnings = damaged
            .events
            .iter()
            .filter(|e| e.starts_with("warning: scope cache"))
            .count();
        // (A report may leave a scope out.)
        assert!(warnings >= 1, "{damaged:?}");
        assert!(damaged.stats.statistics.scope_downloads >= 1, "{damaged:?}");
    }
}

/// Without a prefetcher's second handle (an in-memory store), without a cache, and with every
/// scope's table from the cache, both modes still agree.
#[test]
fn both_modes_agree_without_cache_and_with_one_scope_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    let sides = sides(dir.path());
    let mut rng = StdRng::seed_from_u64(7);
    let text = report(&mut rng);
    let no_cache = |o: &mut RunOptions| o.cache = None;
    same_both_ways(&sides, &text, no_cache, "no cache");
    let one = format!("{}001,OFFS,1,C1,{}\n", MEDIA[0], MEDIA[0]);
    same_both_ways(&sides, &one, |_| {}, "one scope, cold");
    same_both_ways(&sides, &one, |_| {}, "one scope, warm");
    same_both_ways(&sides, "", |_| {}, "no records");
}
