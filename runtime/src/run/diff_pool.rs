//! Pass 2's comparisons on several threads.
//!
//! Scopes are independent: reading a scope's records back from the spill, loading its table
//! from the scope cache and diffing the two need nothing from any other scope. On a warm run
//! that is nearly all of pass 2's work, and on one thread it left the second core idle. The
//! [`DiffPool`] hands scopes to a few diff workers, a bounded window ahead of the scope the
//! run's thread is at, and gives their results back **in scope order**; everything a user
//! sees — rejections, warnings, the statistics and their lists, progress, what is applied
//! and in which order — is still done by the run's thread exactly where the one-thread loop
//! does it (`sync_pass.rs`). A worker counts its diff's statistics into a delta of its own,
//! merged when the run's thread takes the scope.
//!
//! Tables still come from the same places: the workers load cache entries themselves; the
//! prefetcher's tables, which come in request order, are taken by the run's thread (never
//! waiting for one while a result is ready) and handed to a worker with its scope. A cache
//! entry that proves damaged or missing goes back to the run's thread, which reports it,
//! downloads the scope and diffs it itself, as the one-thread loop would.

use super::partial;
use super::sync_pass::{Got, Tables};
use super::RunError;
use crate::observer::Observer;
use crate::scope::cache::{Miss, ScopeCache};
use crate::scope::diff::{DiffRules, KnownLines, PendingChange, ScopeRejection};
use crate::spill::{ScopeRecords, Spill};
use crate::stats::RunStats;
use crate::target::TargetError;
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::thread::{Scope, ScopedJoinHandle};
use tapesync_model::ScopeKey;

/// Environment variable that forces the one-thread pass 2 (`sequential`) — for comparing the
/// two (tests, the benchmark's A/B runs); any other value is ignored.
pub const PASS2_ENV: &str = "TAPESYNC_PASS2";

/// Diff workers at most: beyond this the run's own thread and the applies bound pass 2.
const MAX_WORKERS: usize = 4;

/// Scopes handed out ahead of the one the run's thread is at, per worker: each holds its
/// table and records, so memory holds at most about two scopes per worker.
const WINDOW_PER_WORKER: usize = 2;

/// How pass 2 compares the scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass2 {
    /// On the run's thread, scope after scope.
    Sequential,
    /// On `workers` diff workers, results taken in scope order.
    Parallel { workers: usize },
}

impl Pass2 {
    /// The mode on this machine: one worker per core (at most [`MAX_WORKERS`]), unless
    /// [`PASS2_ENV`] says `sequential` or there is one core.
    pub fn for_run() -> Pass2 {
        let forced = std::env::var(PASS2_ENV).is_ok_and(|v| v.trim() == "sequential");
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if forced || cores < 2 {
            Pass2::Sequential
        } else {
            Pass2::Parallel {
                workers: cores.min(MAX_WORKERS),
            }
        }
    }
}

/// What a worker was given: a scope and where its table comes from.
struct Job {
    i: usize,
    source: Source,
}

enum Source {
    /// Taken from the prefetcher by the run's thread.
    Prefetched(Got),
    /// To be loaded from the cache by the worker.
    Cache,
}

/// What a worker gives back for one scope.
enum Done {
    Diffed {
        got: Got,
        changes: Vec<PendingChange>,
        rejected: Vec<ScopeRejection>,
        /// What the diff counted (boxed: the other answers are small).
        stats: Box<RunStats>,
    },
    /// The cache entry could not be used: the run's thread takes the scope over.
    Missed(Miss),
    /// Reading the records back failed (before any table was taken).
    ReadFailed(std::io::Error),
    /// The diff failed; `cached` says where the table came from (for the counters).
    DiffFailed { cached: bool, error: std::io::Error },
}

/// Where each scope stands.
enum Slot {
    /// Not handed out yet.
    Waiting,
    /// With a worker.
    Sent,
    /// The prefetcher's download of it failed (reported when the run reaches it).
    Failed(TargetError),
    /// Compared on the run's thread (a table the workers cannot get: no cache, no prefetcher).
    OnRunThread,
}

/// A scope compared: its table, changes and rejected records.
pub(super) type Compared = (Got, Vec<PendingChange>, Vec<ScopeRejection>);

/// The diff workers of one pass 2, and the results not yet taken.
pub(super) struct DiffPool<'scope> {
    jobs: Option<Sender<Job>>,
    results: Receiver<(usize, Done)>,
    handles: Vec<ScopedJoinHandle<'scope, ()>>,
    scopes: &'scope [ScopeKey],
    /// What is known of the scopes compared in part (`partial.rs`).
    known: &'scope [Option<KnownLines>],
    slots: Vec<Slot>,
    arrived: BTreeMap<usize, Done>,
    /// The next scope to hand out.
    next: usize,
    window: usize,
    /// For scopes compared on the run's thread.
    records: ScopeRecords,
}

impl<'scope> DiffPool<'scope> {
    /// Starts `workers` diff workers in `threads`; `None` when not one could be started (the
    /// run then compares on its own thread).
    pub fn start(
        threads: &'scope Scope<'scope, '_>,
        workers: usize,
        spill: &'scope Spill,
        known: &'scope [Option<KnownLines>],
        rules: &'scope DiffRules<'scope>,
        cache: Option<&'scope ScopeCache>,
        scopes: &'scope [ScopeKey],
    ) -> Option<DiffPool<'scope>> {
        let window = workers * WINDOW_PER_WORKER;
        let (jobs, incoming) = crossbeam_channel::bounded::<Job>(window);
        let (outgoing, results) = crossbeam_channel::unbounded();
        let handles: Vec<_> = (0..workers)
            .filter_map(|n| {
                let incoming = incoming.clone();
                let outgoing = outgoing.clone();
                std::thread::Builder::new()
                    .name(format!("tapesync-diff-{n}"))
                    .spawn_scoped(threads, move || {
                        let mut records = ScopeRecords::default();
                        for job in incoming {
                            let i = job.i;
                            let done =
                                compare(job, spill, known, rules, cache, scopes, &mut records);
                            if outgoing.send((i, done)).is_err() {
                                return;
                            }
                        }
                    })
                    .ok()
            })
            .collect();
        if handles.is_empty() {
            return None;
        }
        Some(DiffPool {
            jobs: Some(jobs),
            results,
            handles,
            scopes,
            known,
            slots: scopes.iter().map(|_| Slot::Waiting).collect(),
            arrived: BTreeMap::new(),
            next: 0,
            window,
            records: ScopeRecords::default(),
        })
    }

    /// Scope `i` compared, with the counters and warnings of taking its table and the
    /// statistics of its diff added to `stats` as the one-thread loop adds them. Scopes must
    /// be taken in order.
    pub fn take(
        &mut self,
        i: usize,
        tables: &mut Tables<'_>,
        spill: &Spill,
        rules: &DiffRules<'_>,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<Compared, RunError> {
        let scope = self.scopes[i].clone();
        loop {
            self.hand_out(i, tables)?;
            match std::mem::replace(&mut self.slots[i], Slot::Sent) {
                Slot::Failed(e) => {
                    stats.statistics.scope_downloads += 1;
                    return Err(e.into());
                }
                Slot::OnRunThread => {
                    return self.here(i, spill, rules, stats, |stats| {
                        tables.get(i, &scope, None, stats, observer)
                    });
                }
                Slot::Waiting => {
                    // Its table is still being downloaded, and nothing else is ready.
                    self.slots[i] = Slot::Waiting;
                    self.hand_out_next(tables, true)?;
                    continue;
                }
                Slot::Sent => {}
            }
            if let Some(done) = self.arrived.remove(&i) {
                return self.taken(i, &scope, done, tables, spill, rules, stats, observer);
            }
            let (j, done) = self.results.recv().map_err(|_| {
                TargetError::Internal("the threads comparing scopes ended unexpectedly".into())
            })?;
            self.arrived.insert(j, done);
        }
    }

    /// Scope `i` compared on the run's thread, with the table `get` gives, as the one-thread
    /// loop compares it.
    fn here(
        &mut self,
        i: usize,
        spill: &Spill,
        rules: &DiffRules<'_>,
        stats: &mut RunStats,
        get: impl FnOnce(&mut RunStats) -> Result<Got, RunError>,
    ) -> Result<Compared, RunError> {
        spill.read_into(i, &mut self.records)?;
        let got = get(stats)?;
        let known = self.known.get(i).and_then(Option::as_ref);
        let (changes, rejected) =
            partial::compare(known, got.table(), &self.records, rules, stats)?;
        Ok((got, changes, rejected))
    }

    /// A worker's result for scope `i`, counted as the one-thread loop counts it.
    #[allow(clippy::too_many_arguments)]
    fn taken(
        &mut self,
        i: usize,
        scope: &ScopeKey,
        done: Done,
        tables: &mut Tables<'_>,
        spill: &Spill,
        rules: &DiffRules<'_>,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<Compared, RunError> {
        let count = |stats: &mut RunStats, cached: bool| {
            if cached {
                stats.statistics.scopes_from_cache += 1;
            } else {
                stats.statistics.scope_downloads += 1;
            }
        };
        match done {
            Done::Diffed {
                got,
                changes,
                rejected,
                stats: delta,
            } => {
                count(stats, matches!(got, Got::Cached(_)));
                stats.merge(*delta);
                Ok((got, changes, rejected))
            }
            Done::Missed(miss) => self.here(i, spill, rules, stats, |stats| {
                tables.after_miss(scope, miss, None, stats, observer)
            }),
            Done::ReadFailed(e) => Err(e.into()),
            Done::DiffFailed { cached, error } => {
                count(stats, cached);
                Err(error.into())
            }
        }
    }

    /// Hands out scopes up to the window ahead of `i`, as long as their tables are at hand
    /// (never waiting for a download).
    fn hand_out(&mut self, i: usize, tables: &mut Tables<'_>) -> Result<(), RunError> {
        while self.next < self.slots.len() && self.next < i + self.window {
            if !self.hand_out_next(tables, false)? {
                break;
            }
        }
        Ok(())
    }

    /// Hands out the next scope; with `wait`, waits for its download. Returns whether it was
    /// handed out.
    fn hand_out_next(&mut self, tables: &mut Tables<'_>, wait: bool) -> Result<bool, RunError> {
        let j = self.next;
        let source = if tables.from_cache.get(j).copied().unwrap_or(false) {
            if tables.cache.is_some() {
                Some(Source::Cache)
            } else {
                None
            }
        } else {
            match tables.prefetcher {
                Some(p) => {
                    let fetched = if wait { Some(p.next()) } else { p.try_next() };
                    match fetched {
                        None => return Ok(false),
                        Some(Ok(f)) => Some(Source::Prefetched(Got::Prefetched(f))),
                        Some(Err(e)) => {
                            self.slots[j] = Slot::Failed(e);
                            self.next += 1;
                            return Ok(true);
                        }
                    }
                }
                None => None,
            }
        };
        self.next += 1;
        match source {
            None => self.slots[j] = Slot::OnRunThread,
            Some(source) => {
                let sent = self
                    .jobs
                    .as_ref()
                    .is_some_and(|jobs| jobs.send(Job { i: j, source }).is_ok());
                if !sent {
                    return Err(TargetError::Internal(
                        "the threads comparing scopes ended unexpectedly".into(),
                    )
                    .into());
                }
                self.slots[j] = Slot::Sent;
            }
        }
        Ok(true)
    }

    /// Stops the workers (after the job each is on) and waits for them; a worker that
    /// panicked is an error.
    pub fn finish(mut self) -> Result<(), RunError> {
        self.jobs = None;
        // Unblocks a worker waiting to hand over a result nobody will take.
        drop(self.results);
        let mut failed = false;
        for handle in self.handles {
            failed |= handle.join().is_err();
        }
        if failed {
            return Err(TargetError::Internal("a thread comparing scopes failed".into()).into());
        }
        Ok(())
    }
}

/// A worker's part for one scope: its records, its table (unless it came with the job) and
/// the diff, counted into a delta of its own.
fn compare(
    job: Job,
    spill: &Spill,
    known: &[Option<KnownLines>],
    rules: &DiffRules<'_>,
    cache: Option<&ScopeCache>,
    scopes: &[ScopeKey],
    records: &mut ScopeRecords,
) -> Done {
    if let Err(e) = spill.read_into(job.i, records) {
        return Done::ReadFailed(e);
    }
    let got = match job.source {
        Source::Prefetched(got) => got,
        Source::Cache => match cache.map(|c| c.load(&scopes[job.i])) {
            Some(Ok(table)) => Got::Cached(table),
            Some(Err(miss)) => return Done::Missed(miss),
            None => return Done::Missed(Miss::Absent),
        },
    };
    let mut stats = Box::<RunStats>::default();
    let known = known.get(job.i).and_then(Option::as_ref);
    match partial::compare(known, got.table(), records, rules, &mut stats) {
        Ok((changes, rejected)) => Done::Diffed {
            got,
            changes,
            rejected,
            stats,
        },
        Err(error) => Done::DiffFailed {
            cached: matches!(got, Got::Cached(_)),
            error,
        },
    }
}
