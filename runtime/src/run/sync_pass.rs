//! Pass 2: scope after scope, in order of first appearance — the scope's table (from the
//! prefetcher or downloaded here), the diff against the spilled records, and the changes
//! applied; with `--strict`, every scope diffed before anything is applied.

use super::{RunError, RunOptions};
use crate::apply::{record_outcomes, Applier, Sent};
use crate::observer::Observer;
use crate::scope::diff::{diff_scope, DiffRules, PendingChange};
use crate::scope::prefetch::Prefetcher;
use crate::spill::{ScopeRecords, Spill};
use crate::stats::RunStats;
use crate::target::retry::with_retry;
use crate::target::{Target, TargetError};
use std::sync::mpsc;
use tapesync_compiler::plan::Plan;
use tapesync_model::ScopeKey;

/// Pass 2 (and, for `--strict`, the check before it).
#[allow(clippy::too_many_arguments)]
pub(super) fn sync_pass(
    plan: &Plan,
    compared: &[tapesync_model::Field],
    spill: &Spill,
    prefetcher: Option<&Prefetcher>,
    target: &mut dyn Target,
    session: Option<i64>,
    options: &RunOptions,
    source_name: &str,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let rules = DiffRules {
        compared,
        skips: &plan.skip_on_repository_change,
        add_new: options.add_new,
    };
    let mut applier = Applier {
        target,
        session,
        run_key: run_key(session),
        sequence: 0,
        batch_size: options.batch_size,
        add_new: options.add_new,
        retry: options.retry,
        dry_run: options.dry_run,
        source_name: source_name.to_string(),
    };
    if let (Some(p), false, false) = (prefetcher, options.strict, options.dry_run) {
        return sync_pipelined(p, spill, &rules, applier, stats, observer);
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
        let (changes, rejected) = match prefetcher {
            Some(p) => {
                let fetched = p.next()?;
                stats.statistics.scope_downloads += 1;
                let diff = diff_scope(&fetched.table, &records, &rules, stats)?;
                p.release(fetched);
                diff
            }
            None => {
                let table = {
                    let target = &mut *applier.target;
                    with_retry(&options.retry, || target.download_table(scope, compared))?
                };
                stats.statistics.scope_downloads += 1;
                diff_scope(&table, &records, &rules, stats)?
            }
        };
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
        match held.as_mut() {
            Some(h) => h.hold(scope, &changes)?,
            None => applier.apply(scope, &changes, stats, observer)?,
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
    Ok(())
}

/// Pass 2 with two threads: each scope's changes are applied on a second thread while the
/// next scope is compared (applying waits on the inventory — its commit, or the server — far
/// more than it computes). What users see stays in the order of the one-thread loop: a
/// scope's rejections from the comparison, then the outcomes of its batches, scope after
/// scope; at most one scope is being applied at any time.
fn sync_pipelined(
    prefetcher: &Prefetcher,
    spill: &Spill,
    rules: &DiffRules<'_>,
    mut applier: Applier<'_>,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let source_name = applier.source_name.clone();
    let batch_size = applier.batch_size;
    let scopes = spill.scopes();
    std::thread::scope(|threads| {
        let (work, to_apply) = mpsc::channel::<(usize, Vec<PendingChange>)>();
        let (applied, done) = mpsc::channel::<(usize, Vec<PendingChange>, Sent)>();
        let scopes_ref = &scopes;
        let worker = threads.spawn(move || {
            for (i, changes) in to_apply {
                let sent = applier.send(&scopes_ref[i], &changes);
                let failed = sent.error.is_some();
                if applied.send((i, changes, sent)).is_err() || failed {
                    return;
                }
            }
        });
        // Waits for the scope being applied and reports its outcomes.
        let finish = |stats: &mut RunStats, observer: &mut dyn Observer| {
            let (i, changes, sent) = done.recv().map_err(|_| {
                TargetError::Internal("the thread applying changes ended unexpectedly".into())
            })?;
            record_outcomes(
                &source_name,
                batch_size,
                &scopes[i],
                &changes,
                sent,
                stats,
                observer,
            )
            .map_err(RunError::from)
        };
        let mut in_flight = false;
        let mut records = ScopeRecords::default();
        let mut compare_all = || -> Result<(), RunError> {
            for i in 0..scopes.len() {
                spill.read_into(i, &mut records)?;
                let fetched = prefetcher.next()?;
                stats.statistics.scope_downloads += 1;
                let (changes, rejected) = diff_scope(&fetched.table, &records, rules, stats)?;
                prefetcher.release(fetched);
                if in_flight {
                    in_flight = false;
                    finish(stats, observer)?;
                }
                for r in rejected {
                    stats.statistics.records_rejected += 1;
                    observer.rejected(&source_name, r.line, &r.reason);
                }
                if !changes.is_empty() {
                    work.send((i, changes)).map_err(|_| {
                        TargetError::Internal(
                            "the thread applying changes ended unexpectedly".into(),
                        )
                    })?;
                    in_flight = true;
                }
                observer.sync_progress(
                    i as u64 + 1,
                    scopes.len() as u64,
                    stats.statistics.apply_batches,
                );
            }
            Ok(())
        };
        let mut result = compare_all();
        // Whatever stopped the loop, the batches already sent are counted.
        if in_flight {
            let last = finish(stats, observer);
            if result.is_ok() {
                result = last;
                let n = scopes.len() as u64;
                observer.sync_progress(n, n, stats.statistics.apply_batches);
            }
        }
        drop(work);
        if worker.join().is_err() && result.is_ok() {
            result = Err(TargetError::Internal("the thread applying changes failed".into()).into());
        }
        result
    })
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
