//! Pass 1: the report read once — records selected by the line rules, derived, and spilled
//! grouped by scope — while the prefetcher is asked for each scope as the input first names it.

use super::{RunError, RunOptions};
use crate::derive::select::{Class, Selector};
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::observer::Observer;
use crate::read::group::{Grouped, Grouper};
use crate::read::input::LineReader;
use crate::read::{self, RawRecord, ReadAhead, RecordSource, RulerRole, SourceItem};
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
    let mut records = read_ahead(read::for_plan(plan, lines));
    let mut selector = Selector::new(&plan.line_rules, plan.header_count);
    let mut grouper = plan.grouping.as_ref().map(Grouper::new);
    let mut body = Body {
        spill: Spill::new()?,
        deriver: Deriver::new(plan, options.now),
        derived: DerivedRecord::default(),
        options,
        source_name,
        observer,
        prefetcher,
        cache,
        decided: false,
        deferred,
        counts: &mut stats.statistics,
    };
    let mut next_progress = PROGRESS_EVERY;
    loop {
        if options.limit.is_some_and(|n| body.counts.records_read >= n) {
            // A record of several lines begun before the limit is not read.
            grouper = None;
            break;
        }
        let Some(item) = records.next_item()? else {
            break;
        };
        let record = match item {
            SourceItem::Bad { line, reason } => {
                match grouper.as_mut() {
                    Some(g) => {
                        if let Some(out) = g.push_bad(line, reason) {
                            body.grouped(out, selector.header())?;
                        }
                    }
                    None => {
                        body.counts.records_read += 1;
                        body.reject(line, reason)?;
                    }
                }
                continue;
            }
            SourceItem::Record(record) => record,
        };
        // A ruler line (`SetRulerColumns`) is layout, like a blank line.
        let blank = read::is_blank_line(&record.raw) || record.ruler == RulerRole::Ruler;
        if let Some(g) = grouper.as_mut().filter(|g| g.is_open()) {
            // A record of several lines never spans a header section: it ends here, and is
            // derived with the header above it.
            if selector.begins_header(&record.raw) {
                let why = format!("a header section begins on line {}", record.line);
                if let Some(out) = g.interrupt(&why) {
                    body.grouped(out, selector.header())?;
                }
            }
        }
        let class = selector.classify(record);
        if blank {
            // A blank line (or a ruler) is a record for the line rules (it can end the report
            // or be part of a header section), never a volume; it is not counted.
            if class == Class::Terminate {
                break;
            }
            continue;
        }
        match class {
            Class::Terminate => {
                body.counts.records_read += 1;
                break;
            }
            Class::Header | Class::Outside => body.counts.records_read += 1,
            Class::Excluded => {
                body.counts.records_read += 1;
                body.counts.records_excluded += 1;
            }
            Class::Body => match grouper.as_mut() {
                // A record of several lines is counted once, when it is complete.
                Some(g) => {
                    if let Some(out) = g.push(record) {
                        body.grouped(out, selector.header())?;
                    }
                }
                None => {
                    body.counts.records_read += 1;
                    body.derive(std::slice::from_ref(record), selector.header())?;
                }
            },
        }
        if body.counts.records_read >= next_progress {
            body.observer.progress(body.counts.records_read);
            next_progress += PROGRESS_EVERY;
        }
    }
    if let Some(out) = grouper.as_mut().and_then(Grouper::finish) {
        body.grouped(out, selector.header())?;
    }
    body.observer.progress(body.counts.records_read);
    // A failed input command may have cut its report short: apply nothing from it.
    records.finish()?;
    let mut spill = body.spill;
    spill.finish_writing()?;
    Ok(spill)
}

/// What pass 1 does with a body record: derive it and spill it, or reject it.
struct Body<'a, 'p> {
    spill: Spill,
    deriver: Deriver<'p>,
    derived: DerivedRecord,
    options: &'a RunOptions,
    source_name: &'a str,
    observer: &'a mut dyn Observer,
    prefetcher: Option<&'a Prefetcher>,
    cache: Option<&'a ScopeCache>,
    // Whether the scopes are requested from the prefetcher as the input names them (as
    // without a cache) or only after pass 1, once the versions tell which ones the cache
    // holds: decided by the first scope — a run whose first scope has a cache entry is
    // taken for a warm one (docs/running.md, "The scope cache").
    decided: bool,
    deferred: &'a mut bool,
    counts: &'a mut tapesync_model::SyncStatistics,
}

impl Body<'_, '_> {
    /// A body record: one line, or the lines of a record of several lines.
    fn derive(&mut self, lines: &[RawRecord], header: &[RawRecord]) -> Result<(), RunError> {
        match self.deriver.derive_into(lines, header, &mut self.derived) {
            Outcome::Record => {
                if let (Some(scope), Some(p)) = (self.spill.push(&self.derived)?, self.prefetcher) {
                    if !self.decided {
                        self.decided = true;
                        *self.deferred = self.cache.is_some_and(|c| c.has_entry(scope));
                    }
                    if !*self.deferred {
                        p.request(scope);
                    }
                }
                Ok(())
            }
            Outcome::Excluded => {
                self.counts.records_excluded += 1;
                Ok(())
            }
            Outcome::Rejected(reason) => self.reject(self.derived.line, reason),
        }
    }

    /// What the grouper gave back: a record of several lines, or lines that make none.
    fn grouped(&mut self, out: Grouped<'_>, header: &[RawRecord]) -> Result<(), RunError> {
        self.counts.records_read += 1;
        match out {
            Grouped::Record(lines) => self.derive(lines, header),
            Grouped::Bad { line, reason } => self.reject(line, reason),
        }
    }

    /// Counts and reports a rejected record; in strict mode it ends the run instead.
    fn reject(&mut self, line: u64, reason: String) -> Result<(), RunError> {
        if self.options.strict {
            return Err(RunError::Strict {
                source_name: self.source_name.to_string(),
                line,
                reason,
            });
        }
        self.counts.records_rejected += 1;
        self.observer.rejected(self.source_name, line, &reason);
        Ok(())
    }
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
