//! Pass 1: the report read once — records selected by the line rules, derived, and spilled
//! grouped by scope — while the prefetcher is asked for each scope as the input first names it.

use super::{RunError, RunOptions};
use crate::derive::select::{Class, Selector};
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::observer::Observer;
use crate::read::input::LineReader;
use crate::read::{self, ReadAhead, RecordSource, SourceItem};
use crate::scope::cache::ScopeCache;
use crate::scope::prefetch::Prefetcher;
use crate::spill::Spill;
use crate::stats::RunStats;
use tapesync_compiler::plan::Plan;

/// Progress is reported every this many records.
const PROGRESS_EVERY: u64 = 4096;

/// Pass 1: select, derive and spill every record; ask the prefetcher for each new scope.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_pass(
    plan: &Plan,
    lines: LineReader,
    options: &RunOptions,
    source_name: &str,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
    prefetcher: Option<&Prefetcher>,
    cache: Option<&ScopeCache>,
    deferred: &mut bool,
) -> Result<Spill, RunError> {
    // Whether the scopes are requested from the prefetcher as the input names them (as
    // without a cache) or only after pass 1, once the versions tell which ones the cache
    // holds: decided by the first scope — a run whose first scope has a cache entry is
    // taken for a warm one (docs/running.md, "The scope cache").
    let mut decided = false;
    let mut spill = Spill::new()?;
    let mut records = read_ahead(read::for_plan(plan, lines));
    let mut selector = Selector::new(&plan.line_rules, plan.header_count);
    let deriver = Deriver::new(plan, options.now);
    let mut derived = DerivedRecord::default();
    let counts = &mut stats.statistics;
    let mut next_progress = PROGRESS_EVERY;
    loop {
        if options.limit.is_some_and(|n| counts.records_read >= n) {
            break;
        }
        let Some(item) = records.next_item()? else {
            break;
        };
        counts.records_read += 1;
        match item {
            SourceItem::Bad { line, reason } => {
                reject(options, source_name, counts, observer, line, reason)?
            }
            SourceItem::Record(record) => match selector.classify(&record.raw) {
                Class::Terminate => break,
                Class::Header | Class::Outside => {}
                Class::Excluded => counts.records_excluded += 1,
                Class::Body => match deriver.derive_into(record, selector.header(), &mut derived) {
                    Outcome::Record => {
                        if let (Some(scope), Some(p)) = (spill.push(&derived)?, prefetcher) {
                            if !decided {
                                decided = true;
                                *deferred = cache.is_some_and(|c| c.has_entry(scope));
                            }
                            if !*deferred {
                                p.request(scope);
                            }
                        }
                    }
                    Outcome::Excluded => counts.records_excluded += 1,
                    Outcome::Rejected(reason) => {
                        reject(options, source_name, counts, observer, record.line, reason)?
                    }
                },
            },
        }
        if counts.records_read >= next_progress {
            observer.progress(counts.records_read);
            next_progress += PROGRESS_EVERY;
        }
    }
    observer.progress(counts.records_read);
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
    counts: &mut tapesync_model::SyncStatistics,
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
    counts.records_rejected += 1;
    observer.rejected(source_name, line, &reason);
    Ok(())
}
