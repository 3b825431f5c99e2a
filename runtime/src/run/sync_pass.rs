//! Pass 2: scope after scope, in order of first appearance — the scope's table (from the
//! prefetcher or downloaded here), the diff against the spilled records, and the changes
//! applied; with `--strict`, every scope diffed before anything is applied.

use super::diff_pool::{DiffPool, Pass2};
use super::partial::compare;
use super::settled::{Compared, LineDigest, Settlement};
use super::{RunError, RunOptions};
use crate::apply::{record_outcomes, Applier, Sent};
use crate::observer::Observer;
use crate::scope::cache::{version_after_own, Miss, ScopeCache};
use crate::scope::cache_loader::CacheLoader;
use crate::scope::cache_writer::{CacheWriter, Write};
use crate::scope::diff::{DiffRules, KnownLines, PendingChange, ScopeRejection};
use crate::scope::new_ids::NewIds;
use crate::scope::prefetch::{Fetched, Prefetcher};
use crate::spill::{ScopeRecords, Spill};
use crate::stats::RunStats;
use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{ScopeReader, Target, TargetError};
use std::collections::VecDeque;
use std::sync::mpsc;
use tapesync_compiler::plan::Plan;
use tapesync_model::{Field, ScopeKey, ScopeTable, SyncStatistics};

/// Where pass 2 gets each scope's table: the cache (where [`Tables::from_cache`] says so and
/// the entry proves whole and current), the prefetcher (which was asked for every other
/// scope, in order), or a download on the spot.
pub(in crate::run) struct Tables<'a> {
    pub prefetcher: Option<&'a Prefetcher>,
    /// Only when the inventory told the versions.
    pub cache: Option<&'a ScopeCache>,
    pub from_cache: Vec<bool>,
    /// Loads the entries [`Tables::from_cache`] names ahead of the diff (without it they are
    /// loaded on the run's thread).
    pub loader: Option<CacheLoader>,
    /// Writes the entries (only when the inventory told the versions).
    pub writer: Option<CacheWriter>,
    /// A read handle for an entry that turned out damaged while the target is busy applying
    /// on another thread (opened when first needed).
    pub fallback: Option<Box<dyn ScopeReader>>,
    pub columns: &'a [Field],
    pub retry: RetryPolicy,
}

/// A scope's table for the diff.
pub(in crate::run) enum Got {
    Prefetched(Fetched),
    Downloaded(ScopeTable),
    Cached(ScopeTable),
}

impl Got {
    pub(in crate::run) fn table(&self) -> &ScopeTable {
        match self {
            Got::Prefetched(f) => &f.table,
            Got::Downloaded(t) | Got::Cached(t) => t,
        }
    }
}

impl Tables<'_> {
    /// The table of scope `i`. `target` is `None` while another thread applies through it.
    pub(in crate::run) fn get(
        &mut self,
        i: usize,
        scope: &ScopeKey,
        target: Option<&mut dyn Target>,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<Got, RunError> {
        if self.from_cache.get(i).copied().unwrap_or(false) {
            let mut miss = Miss::Absent;
            if let Some(cache) = self.cache {
                let loaded = self.loader.as_ref().and_then(CacheLoader::next);
                match loaded.unwrap_or_else(|| cache.load(scope)) {
                    Ok(table) => {
                        stats.statistics.scopes_from_cache += 1;
                        return Ok(Got::Cached(table));
                    }
                    Err(m) => miss = m,
                }
            }
            return self.after_miss(scope, miss, target, stats, observer);
        }
        stats.statistics.scope_downloads += 1;
        match (self.prefetcher, target) {
            (Some(p), _) => Ok(Got::Prefetched(p.next()?)),
            (None, Some(t)) => {
                let columns = self.columns;
                Ok(Got::Downloaded(with_retry(&self.retry, || {
                    t.download_table(scope, columns)
                })?))
            }
            (None, None) => {
                Err(TargetError::Internal("no handle to download a scope".into()).into())
            }
        }
    }

    /// The table of a scope planned to come from the cache whose entry could not be used:
    /// a damaged entry is reported and dropped, and the scope is downloaded here (it was not
    /// requested from the prefetcher).
    pub(in crate::run) fn after_miss(
        &mut self,
        scope: &ScopeKey,
        miss: Miss,
        target: Option<&mut dyn Target>,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<Got, RunError> {
        if let (Miss::Damaged(why), Some(cache)) = (miss, self.cache) {
            observer.warning(&format!(
                "scope cache: {why}; the entry is replaced by a fresh download of {scope}"
            ));
            cache.forget(scope);
        }
        stats.statistics.scope_downloads += 1;
        let columns = self.columns;
        let table = match target {
            Some(t) => with_retry(&self.retry, || t.download_table(scope, columns))?,
            None => {
                let reader = self.fallback.as_mut().ok_or_else(|| {
                    TargetError::Internal(
                        "no second handle on the inventory to download a scope".into(),
                    )
                })?;
                with_retry(&self.retry, || reader.download_table(scope, columns))?
            }
        };
        Ok(Got::Downloaded(table))
    }

    /// After the diff: keeps a downloaded table that the run leaves as it is (no changes,
    /// or a dry run), and returns the table to patch after the applies when there are
    /// changes; gives a prefetched table back.
    fn done(
        &mut self,
        scope: &ScopeKey,
        got: Got,
        changes: &[PendingChange],
        dry_run: bool,
    ) -> Option<ScopeTable> {
        let mut base = None;
        if let Some(writer) = self.writer.as_mut() {
            let unchanged = changes.is_empty() || dry_run;
            match got {
                Got::Cached(_) if unchanged => {}
                // The run owns a table it read from the cache: patched without a copy.
                Got::Cached(table) => return Some(table),
                Got::Downloaded(table) if unchanged => {
                    writer.write(Write::Keep {
                        scope: scope.clone(),
                        table,
                    });
                    return None;
                }
                _ if unchanged => writer.write(Write::Keep {
                    scope: scope.clone(),
                    table: got.table().clone(),
                }),
                _ => base = Some(got.table().clone()),
            }
        }
        if let (Got::Prefetched(f), Some(p)) = (got, self.prefetcher) {
            p.release(f);
        }
        base
    }

    /// After the applies of a scope with changes: the cache entry brought up to date from the
    /// batches' answers, or dropped when anything is in doubt (on the writer's thread).
    fn applied(
        &mut self,
        scope: &ScopeKey,
        base: Option<ScopeTable>,
        changes: &[PendingChange],
        batch_size: usize,
        sent: &Sent,
    ) {
        let (Some(writer), Some(cache), Some(base)) = (self.writer.as_mut(), self.cache, base)
        else {
            return;
        };
        if sent.error.is_some() {
            cache.forget(scope);
            return;
        }
        writer.write(Write::Patch {
            scope: scope.clone(),
            base,
            changes: changes.to_vec(),
            batch_size,
            responses: sent.responses.clone(),
        });
    }

    /// Waits for the entries being written and reports what could not be.
    fn finish_writes(&mut self, observer: &mut dyn Observer) {
        if let Some(writer) = self.writer.take() {
            for warning in writer.finish() {
                observer.warning(&warning);
            }
        }
    }
}

/// A scope whose comparison left it clean (`settled.rs`): nothing rejected or skipped, and
/// no volume of the report missing from the inventory. Once its changes are applied as sent,
/// every record of the scope equals its volume.
#[derive(Debug, Clone)]
struct Clean {
    /// The version of the table it was compared with.
    version: u64,
    /// Volumes its records name.
    volumes: u64,
    /// Its volumes missing from the report, in the statistics' list.
    unreported: std::ops::Range<usize>,
}

/// The counters and list lengths before a scope's comparison.
struct Before {
    statistics: SyncStatistics,
    unreported: usize,
}

impl Before {
    fn of(stats: &RunStats) -> Before {
        Before {
            statistics: stats.statistics.clone(),
            unreported: stats.not_in_report.len(),
        }
    }

    /// Where the comparison since listed its volumes missing from the report; whether it
    /// left the scope clean.
    fn compared(
        &self,
        scope: &ScopeKey,
        stats: &RunStats,
        rejected: &[ScopeRejection],
        changes: &[PendingChange],
        table: &ScopeTable,
        listed: &mut Vec<(ScopeKey, std::ops::Range<usize>)>,
    ) -> Option<Clean> {
        let (b, a) = (&self.statistics, &stats.statistics);
        let unreported = self.unreported..stats.not_in_report.len();
        listed.push((scope.clone(), unreported.clone()));
        // Every volume missing from the report is in the list (the list has a cap).
        let all_listed =
            a.volumes_not_in_report - b.volumes_not_in_report == unreported.len() as u64;
        let clean = rejected.is_empty()
            && all_listed
            && a.volumes_skipped == b.volumes_skipped
            && a.volumes_not_in_inventory == b.volumes_not_in_inventory;
        clean.then(|| Clean {
            version: table.scope_version,
            volumes: a.volumes_unchanged - b.volumes_unchanged + changes.len() as u64,
            unreported,
        })
    }
}

impl Clean {
    /// The scope's settlement once its changes (none, or sent with `sent`'s answers) are in.
    fn settle(
        self,
        scope: &ScopeKey,
        changes: &[PendingChange],
        batch_size: usize,
        sent: Option<&Sent>,
        compared: &[Field],
        stats: &RunStats,
    ) -> Option<Settlement> {
        let version = match sent {
            None if changes.is_empty() => self.version,
            None => return None,
            Some(sent) if sent.error.is_some() => return None,
            Some(sent) => {
                version_after_own(self.version, changes, batch_size, &sent.responses, compared)?
            }
        };
        Some(Settlement {
            scope: scope.clone(),
            version,
            digest: LineDigest::default(),
            volumes: self.volumes,
            unreported: stats.not_in_report[self.unreported].to_vec(),
        })
    }
}

/// Whether pass 2 applies on a second thread while it compares (and, in
/// [`Pass2::Parallel`], compares on diff workers): with a prefetcher, and neither `--strict`
/// nor `--dry-run` (those stay on the run's thread, scope after scope).
pub(super) fn pipelined(prefetcher: bool, options: &RunOptions) -> bool {
    prefetcher && !options.strict && !options.dry_run
}

/// Pass 2 (and, for `--strict`, the check before it).
#[allow(clippy::too_many_arguments)]
pub(super) fn sync_pass(
    pass2: Pass2,
    plan: &Plan,
    compared: &[tapesync_model::Field],
    spill: &Spill,
    known: &[Option<KnownLines>],
    mut tables: Tables<'_>,
    target: &mut dyn Target,
    session: Option<i64>,
    options: &RunOptions,
    source_name: &str,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
    notes: &mut Compared,
) -> Result<(), RunError> {
    let new_ids = NewIds::new(plan, options.add_new, options.add_new_ids);
    let rules = DiffRules {
        compared,
        skips: &plan.skip_on_repository_change,
        add_new: options.add_new,
        new_ids: &new_ids,
    };
    let mut applier = Applier {
        target,
        session,
        run_key: run_key(session),
        sequence: 0,
        batch_size: options.batch_size,
        add_new: options.add_new,
        new_ids: new_ids.clone(),
        retry: options.retry,
        dry_run: options.dry_run,
        source_name: source_name.to_string(),
        no_groups: false,
    };
    if pipelined(tables.prefetcher.is_some(), options) {
        if tables.from_cache.iter().any(|c| *c) {
            // An entry that proves damaged is downloaded on a handle of its own: the target
            // is busy applying on the other thread.
            tables.fallback = applier.target.scope_reader();
        }
        return sync_pipelined(
            pass2, tables, spill, known, &rules, applier, stats, observer, notes,
        );
    }
    // In strict mode every scope is diffed before anything is applied; the pending changes
    // wait in a spill file of their own so memory stays bounded by the largest scope.
    let mut held: Option<ChangeSpill> = if options.strict {
        Some(ChangeSpill::new()?)
    } else {
        None
    };
    let mut records = ScopeRecords::default();
    let scopes = spill.scopes();
    for (i, scope) in scopes.iter().enumerate() {
        spill.read_into(i, &mut records)?;
        let got = tables.get(i, scope, Some(&mut *applier.target), stats, observer)?;
        let before = Before::of(stats);
        let (changes, rejected) = compare(known[i].as_ref(), got.table(), &records, &rules, stats)?;
        let clean = before.compared(
            scope,
            stats,
            &rejected,
            &changes,
            got.table(),
            &mut notes.unreported,
        );
        // Held changes are applied without their table at hand: the entry is not patched
        // (its version will not match next time, so the scope is downloaded then).
        let base = tables.done(scope, got, &changes, options.dry_run);
        for r in rejected {
            if options.strict {
                return Err(RunError::Strict {
                    source_name: source_name.to_string(),
                    line: r.line,
                    reason: r.reason,
                });
            }
            stats.statistics.records_rejected += 1;
            observer.rejected(source_name, r.line, &r.reason);
        }
        // Changes held (`--strict`) or only shown (`--dry-run`) leave the scope as it was:
        // settled only when there are none.
        let settle = |sent: Option<&Sent>, stats: &RunStats| {
            clean.and_then(|c| c.settle(scope, &changes, options.batch_size, sent, compared, stats))
        };
        match held.as_mut() {
            Some(h) => {
                notes.clean.extend(settle(None, stats));
                h.hold(scope, &changes)?;
            }
            None if options.dry_run => {
                notes.clean.extend(settle(None, stats));
                applier.apply(scope, &changes, stats, observer)?;
            }
            None => {
                let sent = applier.send(scope, &changes);
                notes.clean.extend(settle(Some(&sent), stats));
                tables.applied(scope, base, &changes, options.batch_size, &sent);
                record_outcomes(
                    source_name,
                    options.batch_size,
                    scope,
                    &changes,
                    sent,
                    stats,
                    observer,
                )?;
            }
        }
        observer.sync_progress(
            i as u64 + 1,
            scopes.len() as u64,
            stats.statistics.apply_batches,
        );
    }
    if let Some(h) = held {
        h.replay(|scope, changes| {
            applier
                .apply(scope, changes, stats, observer)
                .map_err(RunError::from)
        })?;
    }
    tables.finish_writes(observer);
    Ok(())
}

/// Pass 2 with two threads: changes are applied on a second thread while the next scopes are
/// compared (applying waits on the inventory — its commit, or the server — far more than it
/// computes). The applying thread takes every scope that has queued up while it was busy and
/// sends them as one group ([`Applier::send_group`]): one durable commit for several scopes,
/// so that the commits keep up with the comparisons. What users see stays in the order of
/// the one-thread loop: a scope's rejections from the comparison, then the outcomes of its
/// batches, then its progress, scope after scope ([`InFlight`]). With [`Pass2::Parallel`]
/// the comparisons themselves run on diff workers (`diff_pool.rs`), taken back in scope
/// order.
#[allow(clippy::too_many_arguments)]
fn sync_pipelined(
    pass2: Pass2,
    mut tables: Tables<'_>,
    spill: &Spill,
    known: &[Option<KnownLines>],
    rules: &DiffRules<'_>,
    mut applier: Applier<'_>,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
    notes: &mut Compared,
) -> Result<(), RunError> {
    let source_name = applier.source_name.clone();
    let batch_size = applier.batch_size;
    let scopes = spill.scopes();
    std::thread::scope(|threads| {
        let (work, to_apply) = mpsc::channel::<(usize, Vec<PendingChange>)>();
        let (applied, done) = mpsc::channel::<(usize, Vec<PendingChange>, Sent)>();
        let scopes_ref = &scopes;
        let worker = threads.spawn(move || {
            while let Some(group) = next_group(&to_apply) {
                let items: Vec<(&ScopeKey, &[PendingChange])> = group
                    .iter()
                    .map(|(i, changes)| (&scopes_ref[*i], changes.as_slice()))
                    .collect();
                let sents = applier.send_group(&items);
                let complete = sents.len() == group.len();
                let failed = sents.iter().any(|s| s.error.is_some());
                for ((i, changes), sent) in group.into_iter().zip(sents) {
                    if applied.send((i, changes, sent)).is_err() {
                        return;
                    }
                }
                // After a failure nothing more is sent; the scopes after the failed one were
                // not applied and get no answer.
                if failed || !complete {
                    return;
                }
            }
        });
        let mut in_flight = InFlight {
            queue: VecDeque::new(),
            done,
            source_name: &source_name,
            batch_size,
            scopes: scopes_ref,
            failed: false,
            compared: rules.compared,
            settled: &mut notes.clean,
        };
        let mut records = ScopeRecords::default();
        let mut pool = match pass2 {
            Pass2::Parallel { workers } => DiffPool::start(
                threads,
                workers,
                spill,
                known,
                rules,
                tables.cache,
                scopes_ref,
            ),
            Pass2::Sequential => None,
        };
        let mut compare_all =
            |tables: &mut Tables<'_>, in_flight: &mut InFlight<'_>| -> Result<(), RunError> {
                for (i, scope) in scopes.iter().enumerate() {
                    let before = Before::of(stats);
                    let (got, changes, rejected) = match pool.as_mut() {
                        Some(pool) => pool.take(i, tables, spill, rules, stats, observer)?,
                        None => {
                            spill.read_into(i, &mut records)?;
                            let got = tables.get(i, scope, None, stats, observer)?;
                            let (changes, rejected) =
                                compare(known[i].as_ref(), got.table(), &records, rules, stats)?;
                            (got, changes, rejected)
                        }
                    };
                    let clean = before.compared(
                        scope,
                        stats,
                        &rejected,
                        &changes,
                        got.table(),
                        &mut notes.unreported,
                    );
                    let base = tables.done(scope, got, &changes, false);
                    let sent = !changes.is_empty();
                    // The applying thread stops at a failed apply: the loop ends here, and the
                    // failure is reported when the scopes before this one are.
                    let stopped = sent && work.send((i, changes)).is_err();
                    in_flight.push(Waiting {
                        i,
                        base,
                        rejected,
                        sent,
                        announced: false,
                        clean,
                    });
                    if stopped {
                        break;
                    }
                    // Outcomes already in are reported now; the queue is kept short so that the
                    // tables waiting to be patched stay few.
                    in_flight.report(tables, Some(MAX_IN_FLIGHT), stats, observer)?;
                }
                Ok(())
            };
        let mut result = compare_all(&mut tables, &mut in_flight);
        if let Some(pool) = pool {
            let stopped = pool.finish();
            if result.is_ok() {
                result = stopped;
            }
        }
        // No more work: the applying thread ends once the queued scopes are applied.
        drop(work);
        // Whatever stopped the loop, the batches already sent are counted.
        let last = in_flight.report(&mut tables, Some(0), stats, observer);
        if result.is_ok() {
            result = last;
        }
        if worker.join().is_err() && result.is_ok() {
            result = Err(TargetError::Internal("the thread applying changes failed".into()).into());
        }
        tables.finish_writes(observer);
        result
    })
}

/// Scopes compared and not yet reported at most (each may hold its table until its answers
/// are in). Four let a group take several scopes; 16 measured no faster on a warm night of
/// 50 scopes and held about 30 MB more (docs/benchmarks.md, "Round 7d").
const MAX_IN_FLIGHT: usize = 4;

/// The next scopes for the applying thread to send together: the next scope (waiting for
/// it), then every scope already queued behind it (at most [`MAX_IN_FLIGHT`];
/// [`Applier::send_group`] cuts them into groups within the limits). `None` when there is no
/// more work.
fn next_group(
    queue: &mpsc::Receiver<(usize, Vec<PendingChange>)>,
) -> Option<Vec<(usize, Vec<PendingChange>)>> {
    let mut group = vec![queue.recv().ok()?];
    group.extend(queue.try_iter());
    Some(group)
}

/// A scope compared, in scope order, until everything about it is reported.
struct Waiting {
    i: usize,
    /// Its cache table, to patch once its answers are in.
    base: Option<ScopeTable>,
    rejected: Vec<ScopeRejection>,
    /// Whether it has changes with the applying thread.
    sent: bool,
    /// Whether its rejections are reported.
    announced: bool,
    /// Whether its comparison left it clean.
    clean: Option<Clean>,
}

/// The scopes compared and not yet reported, and the applying thread's answers. Reports
/// each scope, in scope order, as the one-thread loop does: its rejections as soon as every
/// scope before it is reported, then the outcomes of its batches, then the progress.
struct InFlight<'a> {
    queue: VecDeque<Waiting>,
    done: mpsc::Receiver<(usize, Vec<PendingChange>, Sent)>,
    source_name: &'a str,
    batch_size: usize,
    scopes: &'a [ScopeKey],
    /// An apply failed: nothing after it is reported.
    failed: bool,
    compared: &'a [Field],
    /// The scopes the run leaves settled.
    settled: &'a mut Vec<Settlement>,
}

impl InFlight<'_> {
    fn push(&mut self, waiting: Waiting) {
        self.queue.push_back(waiting);
    }

    /// Reports the scopes at the front whose answers are in; with `keep`, first waits for
    /// answers until at most `keep` scopes are left.
    fn report(
        &mut self,
        tables: &mut Tables<'_>,
        keep: Option<usize>,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        while !self.failed {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            if !front.announced {
                front.announced = true;
                for r in front.rejected.drain(..) {
                    stats.statistics.records_rejected += 1;
                    observer.rejected(self.source_name, r.line, &r.reason);
                }
            }
            let i = front.i;
            if front.sent {
                let answer = match keep {
                    Some(keep) if self.queue.len() > keep => self.done.recv().ok(),
                    _ => match self.done.try_recv() {
                        Ok(answer) => Some(answer),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => None,
                    },
                };
                let Some((answered, changes, sent)) = answer else {
                    return Err(TargetError::Internal(
                        "the thread applying changes ended unexpectedly".into(),
                    )
                    .into());
                };
                let waiting = self.queue.pop_front().expect("the front is there");
                debug_assert_eq!(answered, i, "answers come in scope order");
                let scope = &self.scopes[i];
                self.settled.extend(waiting.clean.and_then(|c| {
                    c.settle(
                        scope,
                        &changes,
                        self.batch_size,
                        Some(&sent),
                        self.compared,
                        stats,
                    )
                }));
                tables.applied(scope, waiting.base, &changes, self.batch_size, &sent);
                if let Err(e) = record_outcomes(
                    self.source_name,
                    self.batch_size,
                    scope,
                    &changes,
                    sent,
                    stats,
                    observer,
                ) {
                    self.failed = true;
                    return Err(e.into());
                }
            } else {
                let waiting = self.queue.pop_front().expect("the front is there");
                let scope = &self.scopes[i];
                self.settled.extend(waiting.clean.and_then(|c| {
                    c.settle(scope, &[], self.batch_size, None, self.compared, stats)
                }));
            }
            observer.sync_progress(
                i as u64 + 1,
                self.scopes.len() as u64,
                stats.statistics.apply_batches,
            );
        }
        Ok(())
    }
}

/// A key unique to this run: the session id where there is one, plus time and process id
/// (sessions of different inventories may share ids).
fn run_key(session: Option<i64>) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let s = session.map_or_else(|| "dry".to_string(), |s| s.to_string());
    format!("tapesync-{s}-{nanos:x}-{:x}", std::process::id())
}

/// Pending changes held back until every scope has been checked (`--strict`).
struct ChangeSpill {
    file: tempfile::NamedTempFile,
    writer: std::io::BufWriter<std::fs::File>,
}

impl ChangeSpill {
    fn new() -> std::io::Result<ChangeSpill> {
        let file = tempfile::Builder::new()
            .prefix("tapesync-changes")
            .tempfile()?;
        let writer = std::io::BufWriter::new(file.reopen()?);
        Ok(ChangeSpill { file, writer })
    }

    fn hold(&mut self, scope: &ScopeKey, changes: &[PendingChange]) -> std::io::Result<()> {
        use std::io::Write;
        serde_json::to_writer(&mut self.writer, &(scope, changes))
            .map_err(std::io::Error::other)?;
        self.writer.write_all(b"\n")
    }

    fn replay(
        mut self,
        mut apply: impl FnMut(&ScopeKey, &[PendingChange]) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        use std::io::{BufRead, Write};
        self.writer.flush()?;
        let reader = std::io::BufReader::new(self.file.reopen()?);
        for line in reader.lines() {
            let (scope, changes): (ScopeKey, Vec<PendingChange>) =
                serde_json::from_str(&line?).map_err(std::io::Error::other)?;
            apply(&scope, &changes)?;
        }
        Ok(())
    }
}
