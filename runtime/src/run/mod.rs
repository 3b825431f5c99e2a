//! A whole sync run.
//!
//! Pass 1 reads the input once, selects and derives every record and spills the derived
//! records to one temporary file per scope. Pass 2 takes the scopes in order of first
//! appearance: one download each, diff, apply in batches. `--strict` inserts a pass between
//! them that diffs every scope before the first batch is applied.

use crate::derive::select::{Class, Selector};
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::observer::Observer;
use crate::read::input::{InputError, LineReader};
use crate::read::{self, ReadAhead, RecordSource, SourceItem};
use crate::scope::diff::{
    plan_scope, record_outcomes, with_retry, Applier, DiffRules, Planned, RetryPolicy, Sent,
};
use crate::scope::prefetch::{Prefetcher, DEFAULT_BUDGET};
use crate::spill::ScopeRecords;
use crate::spill::Spill;
use crate::stats::RunReport;
use crate::target::{Target, TargetError};
use chrono::NaiveDateTime;
use std::sync::mpsc;
use std::time::Instant;
use tapesync_compiler::plan::Plan;
use tapesync_model::{ScopeKey, SessionOutcome, SessionStart};

/// Progress is reported every this many records.
const PROGRESS_EVERY: u64 = 4096;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Create volumes (and customers, media, repositories) the inventory does not have.
    pub add_new: bool,
    /// Download and diff, print the changes, write nothing (no session either).
    pub dry_run: bool,
    /// The first rejected record aborts the run before anything is applied.
    pub strict: bool,
    /// Changes per apply batch.
    pub batch_size: usize,
    /// Read at most this many records.
    pub limit: Option<u64>,
    /// "Now" for the repository rules (injectable for tests: `TAPESYNC_NOW`).
    pub now: NaiveDateTime,
    pub retry: RetryPolicy,
    pub session: SessionStart,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("temporary spill file: {0}")]
    Spill(#[from] std::io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("--strict: {source_name}:{line}: rejected: {reason}; nothing was applied")]
    Strict {
        source_name: String,
        line: u64,
        reason: String,
    },
}

impl RunError {
    /// Whether the failure is about the input's content (exit code 1) rather than usage,
    /// I/O or the target (exit code 2).
    pub fn is_input_problem(&self) -> bool {
        matches!(self, RunError::Strict { .. })
    }
}

/// How a run ended: the statistics so far, and the error that stopped it, if one did.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: RunReport,
    pub error: Option<RunError>,
    /// The session recorded in the target (`None` for dry runs and runs that failed early).
    pub session: Option<i64>,
}

/// Runs `plan` over the records of `lines` against `target`.
pub fn run(
    plan: &Plan,
    lines: LineReader,
    target: &mut dyn Target,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunOutcome {
    let started = Instant::now();
    let mut report = RunReport {
        dry_run: options.dry_run,
        ..RunReport::default()
    };
    let source_name = lines.name().to_string();
    let mut session = None;
    let compared = Deriver::compared_fields(plan);
    // Scopes are downloaded on a second thread as soon as the input names them, when the
    // target can open a second handle (docs/running.md, "How a run works").
    let prefetcher = target
        .scope_reader()
        .map(|reader| Prefetcher::start(reader, compared.clone(), options.retry, DEFAULT_BUDGET))
        .filter(Prefetcher::is_running);
    let result = (|| -> Result<(), RunError> {
        let spill = read_input(
            plan,
            lines,
            options,
            &source_name,
            &mut report,
            observer,
            prefetcher.as_ref(),
        )?;
        report.statistics.scopes = spill.scopes().len() as u64;
        report.statistics.grouped_by_scope = spill.unsorted();
        if spill.unsorted() {
            observer.warning(&format!(
                "{source_name}: the records are not sorted by scope (customer, media); they were grouped by scope so that each scope is downloaded once"
            ));
        }
        if !options.dry_run {
            session = Some(with_retry(&options.retry, || {
                target.begin_session(&options.session)
            })?);
        }
        sync_scopes(
            plan,
            &compared,
            &spill,
            prefetcher.as_ref(),
            target,
            session,
            options,
            &source_name,
            &mut report,
            observer,
        )
    })();
    // Stop downloading scopes the run will not use (after an error).
    drop(prefetcher);
    report.statistics.elapsed_ms = started.elapsed().as_millis() as u64;
    let mut error = result.err();
    if let Some(id) = session {
        let outcome = if error.is_some() {
            SessionOutcome::Failed
        } else {
            SessionOutcome::Completed
        };
        let finished = with_retry(&options.retry, || {
            target.finish_session(id, outcome, &report.statistics)
        });
        if let (Err(e), None) = (finished, &error) {
            error = Some(e.into());
        }
    }
    RunOutcome {
        report,
        error,
        session,
    }
}

/// Pass 1: select, derive and spill every record; ask the prefetcher for each new scope.
fn read_input(
    plan: &Plan,
    lines: LineReader,
    options: &RunOptions,
    source_name: &str,
    report: &mut RunReport,
    observer: &mut dyn Observer,
    prefetcher: Option<&Prefetcher>,
) -> Result<Spill, RunError> {
    let mut spill = Spill::new()?;
    let mut records = read_ahead(read::for_plan(plan, lines));
    let mut selector = Selector::new(&plan.line_rules, plan.header_count);
    let deriver = Deriver::new(plan, options.now);
    let mut derived = DerivedRecord::default();
    let stats = &mut report.statistics;
    let mut next_progress = PROGRESS_EVERY;
    loop {
        if options.limit.is_some_and(|n| stats.records_read >= n) {
            break;
        }
        let Some(item) = records.next_item()? else {
            break;
        };
        stats.records_read += 1;
        match item {
            SourceItem::Bad { line, reason } => {
                reject(options, source_name, stats, observer, line, reason)?
            }
            SourceItem::Record(record) => match selector.classify(&record.raw) {
                Class::Terminate => break,
                Class::Header | Class::Outside => {}
                Class::Excluded => stats.records_excluded += 1,
                Class::Body => match deriver.derive_into(record, selector.header(), &mut derived) {
                    Outcome::Record => {
                        if let (Some(scope), Some(p)) = (spill.push(&derived)?, prefetcher) {
                            p.request(scope);
                        }
                    }
                    Outcome::Excluded => stats.records_excluded += 1,
                    Outcome::Rejected(reason) => {
                        reject(options, source_name, stats, observer, record.line, reason)?
                    }
                },
            },
        }
        if stats.records_read >= next_progress {
            observer.progress(stats.records_read);
            next_progress += PROGRESS_EVERY;
        }
    }
    observer.progress(stats.records_read);
    // A failed input command may have cut its report short: apply nothing from it.
    records.finish()?;
    spill.finish_writing()?;
    Ok(spill)
}

/// The record source of pass 1: read on a thread of its own when the machine has a second
/// core, so that reading overlaps deriving and spilling (docs/running.md, "How a run works").
fn read_ahead(records: Box<dyn RecordSource>) -> Box<dyn RecordSource> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return records;
    }
    match ReadAhead::start(records) {
        Ok(ahead) => Box::new(ahead),
        Err(records) => records,
    }
}

/// Counts and reports a rejected record; in strict mode it ends the run instead.
fn reject(
    options: &RunOptions,
    source_name: &str,
    stats: &mut tapesync_model::SyncStatistics,
    observer: &mut dyn Observer,
    line: u64,
    reason: String,
) -> Result<(), RunError> {
    if options.strict {
        return Err(RunError::Strict {
            source_name: source_name.to_string(),
            line,
            reason,
        });
    }
    stats.records_rejected += 1;
    observer.rejected(source_name, line, &reason);
    Ok(())
}

/// Pass 2 (and, for `--strict`, the check before it).
#[allow(clippy::too_many_arguments)]
fn sync_scopes(
    plan: &Plan,
    compared: &[tapesync_model::Field],
    spill: &Spill,
    prefetcher: Option<&Prefetcher>,
    target: &mut dyn Target,
    session: Option<i64>,
    options: &RunOptions,
    source_name: &str,
    report: &mut RunReport,
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
        return sync_pipelined(p, spill, &rules, applier, report, observer);
    }
    // In strict mode every scope is diffed before anything is applied; the planned changes
    // wait in a spill file of their own so memory stays bounded by the largest scope.
    let mut held: Option<ChangeSpill> = if options.strict {
        Some(ChangeSpill::new()?)
    } else {
        None
    };
    let mut records = ScopeRecords::default();
    for (i, scope) in spill.scopes().iter().enumerate() {
        spill.read_into(i, &mut records)?;
        let (planned, rejected) = match prefetcher {
            Some(p) => {
                let fetched = p.next()?;
                report.statistics.scope_downloads += 1;
                let diff = plan_scope(&fetched.table, &records, &rules, report)?;
                p.release(fetched);
                diff
            }
            None => {
                let table = {
                    let target = &mut *applier.target;
                    with_retry(&options.retry, || target.download_table(scope, compared))?
                };
                report.statistics.scope_downloads += 1;
                plan_scope(&table, &records, &rules, report)?
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
            report.statistics.records_rejected += 1;
            observer.rejected(source_name, r.line, &r.reason);
        }
        match held.as_mut() {
            Some(h) => h.hold(scope, &planned)?,
            None => applier.apply(scope, &planned, report, observer)?,
        }
    }
    if let Some(h) = held {
        h.replay(|scope, planned| {
            applier
                .apply(scope, planned, report, observer)
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
    report: &mut RunReport,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let source_name = applier.source_name.clone();
    let batch_size = applier.batch_size;
    let scopes = spill.scopes();
    std::thread::scope(|threads| {
        let (work, to_apply) = mpsc::channel::<(usize, Vec<Planned>)>();
        let (applied, done) = mpsc::channel::<(usize, Vec<Planned>, Sent)>();
        let scopes_ref = &scopes;
        let worker = threads.spawn(move || {
            for (i, planned) in to_apply {
                let sent = applier.send(&scopes_ref[i], &planned);
                let failed = sent.error.is_some();
                if applied.send((i, planned, sent)).is_err() || failed {
                    return;
                }
            }
        });
        // Waits for the scope being applied and reports its outcomes.
        let finish = |report: &mut RunReport, observer: &mut dyn Observer| {
            let (i, planned, sent) = done.recv().map_err(|_| {
                TargetError::Internal("the thread applying changes ended unexpectedly".into())
            })?;
            record_outcomes(
                &source_name,
                batch_size,
                &scopes[i],
                &planned,
                sent,
                report,
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
                report.statistics.scope_downloads += 1;
                let (planned, rejected) = plan_scope(&fetched.table, &records, rules, report)?;
                prefetcher.release(fetched);
                if in_flight {
                    in_flight = false;
                    finish(report, observer)?;
                }
                for r in rejected {
                    report.statistics.records_rejected += 1;
                    observer.rejected(&source_name, r.line, &r.reason);
                }
                if !planned.is_empty() {
                    work.send((i, planned)).map_err(|_| {
                        TargetError::Internal(
                            "the thread applying changes ended unexpectedly".into(),
                        )
                    })?;
                    in_flight = true;
                }
            }
            Ok(())
        };
        let mut result = compare_all();
        // Whatever stopped the loop, the batches already sent are counted.
        if in_flight {
            let last = finish(report, observer);
            if result.is_ok() {
                result = last;
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

/// Planned changes held back until every scope has been checked (`--strict`).
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

    fn hold(&mut self, scope: &ScopeKey, planned: &[Planned]) -> std::io::Result<()> {
        use std::io::Write;
        serde_json::to_writer(&mut self.writer, &(scope, planned))
            .map_err(std::io::Error::other)?;
        self.writer.write_all(b"\n")
    }

    fn replay(
        mut self,
        mut apply: impl FnMut(&ScopeKey, &[Planned]) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        use std::io::{BufRead, Write};
        self.writer.flush()?;
        let reader = std::io::BufReader::new(self.file.reopen()?);
        for line in reader.lines() {
            let (scope, planned): (ScopeKey, Vec<Planned>) =
                serde_json::from_str(&line?).map_err(std::io::Error::other)?;
            apply(&scope, &planned)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
