//! A whole sync run.
//!
//! Pass 1 reads the input once, selects and derives every record and spills the derived
//! records to one temporary file per scope. Pass 2 takes the scopes in order of first
//! appearance: one download each, diff, apply in batches. `--strict` inserts a pass between
//! them that diffs every scope before the first batch is applied.

mod read_pass;
mod sync_pass;

use crate::derive::Deriver;
use crate::observer::Observer;
use crate::read::input::{InputError, LineReader};
use crate::scope::prefetch::{Prefetcher, DEFAULT_BUDGET};
use crate::stats::RunStats;
use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{Target, TargetError};
use chrono::NaiveDateTime;
use read_pass::read_pass;
use std::time::Instant;
use sync_pass::sync_pass;
use tapesync_compiler::plan::Plan;
use tapesync_model::{SessionOutcome, SessionStart};

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
    pub stats: RunStats,
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
    let mut stats = RunStats {
        dry_run: options.dry_run,
        ..RunStats::default()
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
        let spill = read_pass(
            plan,
            lines,
            options,
            &source_name,
            &mut stats,
            observer,
            prefetcher.as_ref(),
        )?;
        stats.statistics.scopes = spill.scopes().len() as u64;
        stats.statistics.grouped_by_scope = spill.unsorted();
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
        sync_pass(
            plan,
            &compared,
            &spill,
            prefetcher.as_ref(),
            target,
            session,
            options,
            &source_name,
            &mut stats,
            observer,
        )?;
        if !options.dry_run {
            check_scratch_levels(
                target,
                &spill.scopes(),
                &options.retry,
                &mut stats,
                observer,
            );
        }
        Ok(())
    })();
    // Stop downloading scopes the run will not use (after an error).
    drop(prefetcher);
    stats.statistics.elapsed_ms = started.elapsed().as_millis() as u64;
    let mut error = result.err();
    if let Some(id) = session {
        let outcome = if error.is_some() {
            SessionOutcome::Failed
        } else {
            SessionOutcome::Completed
        };
        let finished = with_retry(&options.retry, || {
            target.finish_session(id, outcome, &stats.statistics)
        });
        if let (Err(e), None) = (finished, &error) {
            error = Some(e.into());
        }
    }
    RunOutcome {
        stats,
        error,
        session,
    }
}

/// Reads the scratch levels of every synced customer and keeps, in `stats`, those of the synced
/// media that the sync left under their minimum. A target that cannot say (an older server)
/// only earns a warning: the sync itself has succeeded.
fn check_scratch_levels(
    target: &mut dyn Target,
    scopes: &[tapesync_model::ScopeKey],
    retry: &RetryPolicy,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) {
    let mut customers: Vec<&str> = scopes.iter().map(|s| s.customer.as_str()).collect();
    customers.sort_unstable();
    customers.dedup();
    for customer in customers {
        match with_retry(retry, || target.scratch_levels(customer)) {
            Ok(levels) => stats.scratch_short.extend(levels.into_iter().filter(|l| {
                l.is_short()
                    && scopes
                        .iter()
                        .any(|s| s.customer == l.customer && s.media == l.media)
            })),
            Err(e) => observer.warning(&format!(
                "could not read the scratch levels of customer {customer}: {e}"
            )),
        }
    }
}

/// Parses a "now" override (`YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD`) — the value of
/// `TAPESYNC_NOW` — or returns the local time.
pub fn now_or_override(value: Option<&str>) -> Result<chrono::NaiveDateTime, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(chrono::Local::now().naive_local()),
        Some(v) => chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
            })
            .map_err(|_| format!("`{v}` is not a time (use YYYY-MM-DDTHH:MM:SS)")),
    }
}

/// SHA-256 of a definition file's text, hex (for the session record).
pub fn definition_hash(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

#[cfg(test)]
mod tests;
