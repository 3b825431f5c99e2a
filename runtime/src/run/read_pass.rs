//! Pass 1: the report read once — records selected by the line rules, derived, and spilled
//! grouped by scope — while the prefetcher is asked for each scope as the input first names it.

use super::line_memo::{
    self, Cursor, LineMemo, MemoSettings, MemoWriter, Records, Stored, Unusable,
};
use super::settled::LineDigest;
use super::{RunError, RunOptions};
use crate::derive::select::{Class, Selector};
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::observer::Observer;
use crate::read::group::{Grouped, Grouper};
use crate::read::input::LineReader;
use crate::read::{self, RawRecord, ReadAhead, RecordSource, RulerRole, SourceItem};
use crate::scope::cache::ScopeCache;
use crate::scope::prefetch::Prefetcher;
use crate::spill::{encode_derived, encode_text, Spill};
use crate::stats::RunStats;
use std::sync::Arc;
use tapesync_compiler::plan::Plan;
use tapesync_model::ScopeKey;

/// Progress is reported every this many records.
const PROGRESS_EVERY: u64 = 4096;

/// How pass 1 runs: on one thread (with reading on a second one), or with the deriving spread
/// over several threads (`parallel.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Sequential,
    Parallel { workers: usize },
}

/// Environment variable that forces the sequential pass 1 (`sequential`) — for comparing the
/// two paths (tests, the benchmark's A/B runs); any other value is ignored.
pub const PASS1_ENV: &str = "TAPESYNC_PASS1";

/// Deriving threads at most: pass 1 is bound by one reading thread beyond about this many.
const MAX_WORKERS: usize = 4;

impl Mode {
    /// The mode for `plan` on this machine. Records of several lines (`plan.grouping`) are
    /// assembled by the grouper, whose state crosses records, so they stay sequential; so does
    /// a machine with one core, where more threads only add hand-overs.
    pub(super) fn for_plan(plan: &Plan) -> Mode {
        let forced = std::env::var(PASS1_ENV).is_ok_and(|v| v.trim() == "sequential");
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if forced || plan.grouping.is_some() || cores < 2 {
            Mode::Sequential
        } else {
            Mode::Parallel {
                workers: cores.min(MAX_WORKERS),
            }
        }
    }
}

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
    memo: Option<MemoSettings>,
    expected: Vec<ScopeKey>,
) -> Result<(Spill, Option<Pass1Lines>), RunError> {
    // With a memo of scopes, a line the memo knows is kept as its text: scopes expected to
    // be settled count those and keep the rest (compared in part, `partial.rs`).
    let in_part = memo.as_ref().is_some_and(|m| !m.keeps_records());
    let memo = memo.map(|settings| open_memo(settings, observer));
    let mut spill = Spill::new()?;
    spill.expect_settled(expected, in_part);
    let spiller = Spiller {
        spill,
        options,
        source_name,
        observer,
        prefetcher,
        cache,
        decided: false,
        deferred,
        counts: &mut stats.statistics,
        memo,
    };
    let (spill, memo) = read_pass_in(Mode::for_plan(plan), plan, lines, spiller)?;
    Ok((
        spill,
        memo.map(|m| Pass1Lines {
            digests: m.digests,
            memo: m.old,
        }),
    ))
}

/// What pass 1 learnt of the lines: each scope's digest (in the spill's order, for settled
/// scopes) and the line memo it looked them up in.
pub(super) struct Pass1Lines {
    pub(super) digests: Vec<LineDigest>,
    pub(super) memo: Option<Arc<LineMemo>>,
}

/// Reads the input file `path` again, every record kept (looked up in `memo`, as pass 1 did),
/// and fills the scopes of `spill` whose records pass 1 only counted. Nothing is reported or
/// counted a second time. The input must give what it gave pass 1 — the same scopes with the
/// same lines (`lines`) — or the run stops before anything is applied.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_again(
    plan: &Plan,
    path: &std::path::Path,
    options: &RunOptions,
    source_name: &str,
    spill: &mut Spill,
    scopes: &[ScopeKey],
    lines: &Pass1Lines,
) -> Result<(), RunError> {
    let input = crate::read::input::OpenInput::open(&crate::read::input::InputSource::File(
        path.to_path_buf(),
    ))?;
    let mut counts = tapesync_model::SyncStatistics::default();
    let mut quiet = Quiet;
    let mut deferred = false;
    let again = Spiller {
        spill: Spill::new()?,
        options,
        source_name,
        observer: &mut quiet,
        prefetcher: None,
        cache: None,
        decided: false,
        deferred: &mut deferred,
        counts: &mut counts,
        memo: Some(MemoRun {
            old: lines.memo.clone(),
            writer: None,
            hits: 0,
            digests: Vec::new(),
        }),
    };
    let (again, memo) = read_pass_in(Mode::for_plan(plan), plan, input.lines(), again)?;
    let same = again.scopes() == scopes && memo.is_some_and(|m| m.digests == lines.digests);
    if !same {
        return Err(RunError::Spill(std::io::Error::other(format!(
            "{source_name} changed while the run read it; nothing was applied"
        ))));
    }
    spill.fill_counted(&again)?;
    #[cfg(test)]
    READ_AGAIN.with(|n| n.set(n.get() + 1));
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Inputs read again on this thread (tests check that the second reading happens; a
    /// run reads again on its own thread, and tests run side by side).
    pub(super) static READ_AGAIN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// An observer that is told nothing it keeps (the second reading of [`read_again`]).
struct Quiet;

impl Observer for Quiet {
    fn rejected(&mut self, _: &str, _: u64, _: &str) {}
    fn would_change(
        &mut self,
        _: &ScopeKey,
        _: &tapesync_model::VolumeChange,
        _: Option<&std::collections::BTreeMap<tapesync_model::Field, String>>,
    ) {
    }
    fn progress(&mut self, _: u64) {}
    fn warning(&mut self, _: &str) {}
}

/// The line memo of this run (`line_memo.rs`, `settings` from [`MemoSettings::for_run`]):
/// last night's, when there is one. A damaged memo is reported and replaced.
fn open_memo(settings: MemoSettings, observer: &mut dyn Observer) -> MemoRun {
    let old = match LineMemo::load(&settings) {
        Ok(memo) => Some(Arc::new(memo)),
        Err(Unusable::Absent) => None,
        Err(Unusable::Damaged(why)) => {
            observer.warning(&format!(
                "line memo: {why}; every line is derived and the memo is written again"
            ));
            None
        }
    };
    MemoRun::new(settings, old)
}

/// The line memo as pass 1 uses it: last night's, to look lines up in, and tonight's, being
/// written.
pub(super) struct MemoRun {
    pub(super) old: Option<Arc<LineMemo>>,
    writer: Option<MemoWriter>,
    /// Body records copied from last night's memo instead of derived.
    pub(super) hits: u64,
    /// The lines of each scope (in the spill's order), for settled scopes (`settled.rs`).
    pub(super) digests: Vec<LineDigest>,
}

impl MemoRun {
    pub(super) fn new(settings: MemoSettings, old: Option<Arc<LineMemo>>) -> MemoRun {
        MemoRun {
            writer: Some(MemoWriter::new(settings, old.clone())),
            old,
            hits: 0,
            digests: Vec::new(),
        }
    }
}

/// [`read_pass`] in a given mode (the tests run both); also returns the line memo as pass 1
/// left it.
pub(super) fn read_pass_in(
    mode: Mode,
    plan: &Plan,
    lines: LineReader,
    spiller: Spiller<'_>,
) -> Result<(Spill, Option<MemoRun>), RunError> {
    let mut spill: Spiller<'_> = match mode {
        Mode::Parallel { workers } => super::parallel::read_pass(plan, lines, workers, spiller)?,
        Mode::Sequential => {
            let mut records = read_ahead(read::for_plan(plan, lines));
            let mut body = Body {
                deriver: Deriver::new(plan, spiller.options.now),
                derived: DerivedRecord::default(),
                memo: spiller.memo.as_ref().and_then(|m| m.old.clone()),
                cursor: Cursor::default(),
                records: Records::default(),
                ordinal: 0,
                encoded: Vec::new(),
                out: spiller,
            };
            select_records(plan, records.as_mut(), body.out.options.limit, &mut body)?;
            // A failed input command may have cut its report short: apply nothing from it.
            records.finish()?;
            body.out
        }
    };
    spill.spill.finish_writing()?;
    spill.finish_memo();
    Ok((spill.spill, spill.memo))
}

/// Where the selection loop ([`select_records`]) sends what it finds. On one thread, body
/// records are derived and spilled at once ([`Body`]); on several, they are queued for the
/// deriving threads with everything else in input order (`parallel.rs`).
pub(super) trait Sink {
    /// One more record read.
    fn count_read(&mut self);
    fn records_read(&self) -> u64;
    /// A record an `EXCLUSION` rule skipped (counted as read already).
    fn excluded(&mut self) -> Result<(), RunError>;
    /// A body record (its lines), to derive with the selector's current header section.
    fn body(&mut self, lines: &[RawRecord], selector: &Selector<'_>) -> Result<(), RunError>;
    /// A record that cannot be read (counted as read already).
    fn reject(&mut self, line: u64, reason: String) -> Result<(), RunError>;
    /// Progress: [`Sink::records_read`] so far.
    fn progress(&mut self) -> Result<(), RunError>;
}

/// The selection loop of pass 1: reads the records of `records`, applies the line rules
/// (headers, windows, exclusions, the end of the report), assembles records of several lines
/// and `--limit`, and tells `sink` about each record in input order.
pub(super) fn select_records(
    plan: &Plan,
    records: &mut dyn RecordSource,
    limit: Option<u64>,
    sink: &mut dyn Sink,
) -> Result<(), RunError> {
    let mut selector = Selector::new(&plan.line_rules, plan.header_count);
    let mut grouper = plan.grouping.as_ref().map(Grouper::new);
    let mut next_progress = PROGRESS_EVERY;
    loop {
        if limit.is_some_and(|n| sink.records_read() >= n) {
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
                            grouped(sink, out, &selector)?;
                        }
                    }
                    None => {
                        sink.count_read();
                        sink.reject(line, reason)?;
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
                    grouped(sink, out, &selector)?;
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
                sink.count_read();
                break;
            }
            Class::Header | Class::Outside => sink.count_read(),
            Class::Excluded => {
                sink.count_read();
                sink.excluded()?;
            }
            Class::Body => match grouper.as_mut() {
                // A record of several lines is counted once, when it is complete.
                Some(g) => {
                    if let Some(out) = g.push(record) {
                        grouped(sink, out, &selector)?;
                    }
                }
                None => {
                    sink.count_read();
                    sink.body(std::slice::from_ref(record), &selector)?;
                }
            },
        }
        if sink.records_read() >= next_progress {
            sink.progress()?;
            next_progress += PROGRESS_EVERY;
        }
    }
    if let Some(out) = grouper.as_mut().and_then(Grouper::finish) {
        grouped(sink, out, &selector)?;
    }
    sink.progress()
}

/// What the grouper gave back: a record of several lines, or lines that make none.
fn grouped(sink: &mut dyn Sink, out: Grouped<'_>, selector: &Selector<'_>) -> Result<(), RunError> {
    sink.count_read();
    match out {
        Grouped::Record(lines) => sink.body(lines, selector),
        Grouped::Bad { line, reason } => sink.reject(line, reason),
    }
}

/// The receiving end of pass 1, on the run's thread: the spill, the statistics, the observer
/// and the prefetcher, all given every record in input order.
pub(super) struct Spiller<'a> {
    pub(super) spill: Spill,
    pub(super) options: &'a RunOptions,
    pub(super) source_name: &'a str,
    pub(super) observer: &'a mut dyn Observer,
    pub(super) prefetcher: Option<&'a Prefetcher>,
    pub(super) cache: Option<&'a ScopeCache>,
    // Whether the scopes are requested from the prefetcher as the input names them (as
    // without a cache) or only after pass 1, once the versions tell which ones the cache
    // holds: decided by the first scope — a run whose first scope has a cache entry is
    // taken for a warm one (docs/running.md, "The scope cache").
    pub(super) decided: bool,
    pub(super) deferred: &'a mut bool,
    pub(super) counts: &'a mut tapesync_model::SyncStatistics,
    /// The line memo, when the run keeps one.
    pub(super) memo: Option<MemoRun>,
}

impl Spiller<'_> {
    /// Spills a derived record.
    fn push(&mut self, record: &DerivedRecord) -> Result<(), RunError> {
        let scope = self.spill.push(record)?.cloned();
        self.announce(scope);
        Ok(())
    }

    /// Spills a record encoded by a deriving thread.
    pub(super) fn push_encoded(
        &mut self,
        customer: &str,
        media: &str,
        encoded: &[u8],
    ) -> Result<(), RunError> {
        let scope = self.spill.push_encoded(customer, media, encoded)?.cloned();
        self.announce(scope);
        Ok(())
    }

    /// Spills a body record encoded already (derived, or copied from the line memo) and
    /// enters it in tonight's memo.
    pub(super) fn push_body(
        &mut self,
        fp: line_memo::Fingerprint,
        customer: &str,
        media: &str,
        encoded: &[u8],
        stored: Option<Stored>,
    ) -> Result<(), RunError> {
        self.push_encoded(customer, media, encoded)?;
        let scope = self
            .spill
            .current_scope()
            .expect("a record was just spilled");
        if let Some(m) = self.memo.as_mut() {
            if m.digests.len() <= scope {
                m.digests.resize(scope + 1, LineDigest::default());
            }
            m.digests[scope].add(fp);
        }
        self.memo_entry(|w| w.record(fp, scope, encoded, stored));
        Ok(())
    }

    /// A body record that gave no record, for tonight's memo.
    pub(super) fn memo_no_record(&mut self, fp: line_memo::Fingerprint) {
        self.memo_entry(|w| w.no_record(fp));
    }

    /// Counts records copied from the memo.
    pub(super) fn memo_hits(&mut self, hits: u64) {
        if let Some(m) = self.memo.as_mut() {
            m.hits += hits;
        }
    }

    /// Whether the run keeps a line memo: pass 1 then fingerprints every body line (for the
    /// memo, and for the digests of settled scopes, which must see every line even when the
    /// memo could not be written).
    pub(super) fn memo_active(&self) -> bool {
        self.memo.is_some()
    }

    fn memo_entry(&mut self, enter: impl FnOnce(&mut MemoWriter) -> std::io::Result<()>) {
        let Some(writer) = self.memo.as_mut().and_then(|m| m.writer.as_mut()) else {
            return;
        };
        if let Err(e) = enter(writer) {
            // The memo only saves work: the run goes on without it (the temporary file goes).
            if let Some(m) = self.memo.as_mut() {
                m.writer = None;
            }
            self.observer
                .warning(&format!("line memo: {e}; it is not written in this run"));
        }
    }

    /// Writes tonight's memo, once pass 1 has read the whole input.
    fn finish_memo(&mut self) {
        let Some(writer) = self.memo.as_mut().and_then(|m| m.writer.take()) else {
            return;
        };
        if let Err(e) = writer.finish(&self.spill.scopes()) {
            self.observer
                .warning(&format!("line memo: {e}; it is not written in this run"));
        }
    }

    /// Asks the prefetcher for a scope the input names for the first time.
    fn announce(&mut self, scope: Option<ScopeKey>) {
        if let (Some(scope), Some(p)) = (scope, self.prefetcher) {
            if !self.decided {
                self.decided = true;
                *self.deferred = self.cache.is_some_and(|c| c.has_entry(&scope));
            }
            if !*self.deferred {
                p.request(&scope);
            }
        }
    }

    /// Counts and reports a rejected record; in strict mode it ends the run instead.
    pub(super) fn reject(&mut self, line: u64, reason: String) -> Result<(), RunError> {
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

/// Pass 1 on one thread: each body record is derived (or found in the line memo) and
/// spilled as it comes.
struct Body<'a, 'p> {
    deriver: Deriver<'p>,
    derived: DerivedRecord,
    /// Last night's line memo, and where to look in it.
    memo: Option<Arc<LineMemo>>,
    cursor: Cursor,
    records: Records,
    /// Body records so far.
    ordinal: u64,
    encoded: Vec<u8>,
    out: Spiller<'a>,
}

impl Sink for Body<'_, '_> {
    fn count_read(&mut self) {
        self.out.counts.records_read += 1;
    }

    fn records_read(&self) -> u64 {
        self.out.counts.records_read
    }

    fn excluded(&mut self) -> Result<(), RunError> {
        self.out.counts.records_excluded += 1;
        Ok(())
    }

    fn body(&mut self, lines: &[RawRecord], selector: &Selector<'_>) -> Result<(), RunError> {
        let ordinal = self.ordinal;
        self.ordinal += 1;
        if !self.out.memo_active() {
            return match self
                .deriver
                .derive_into(lines, selector.header(), &mut self.derived)
            {
                Outcome::Record => self.out.push(&self.derived),
                Outcome::Excluded => {
                    self.out.counts.records_excluded += 1;
                    Ok(())
                }
                Outcome::Rejected(reason) => self.out.reject(self.derived.line, reason),
            };
        }
        // Plans with a memo have records of one line.
        let fp = line_memo::fingerprint_record(lines);
        let line = lines.first().map_or(0, |r| r.line);
        self.encoded.clear();
        if let Some(memo) = &self.memo {
            if let Some(hit) = memo.find(ordinal, fp, &mut self.cursor) {
                // A memo of scopes keeps the line's text (see `parallel.rs`).
                let kept = if memo.keeps_records() {
                    self.records.put(memo, &hit, line, &mut self.encoded)
                } else {
                    lines
                        .first()
                        .is_some_and(|r| encode_text(&mut self.encoded, line, &r.raw).is_ok())
                };
                if kept {
                    memo.mark(&hit);
                    self.out.memo_hits(1);
                    return self.out.push_body(
                        fp,
                        &hit.scope.customer,
                        &hit.scope.media,
                        &self.encoded,
                        Some(hit.stored),
                    );
                }
            }
        }
        match self
            .deriver
            .derive_into(lines, selector.header(), &mut self.derived)
        {
            Outcome::Record => {
                encode_derived(&mut self.encoded, &self.derived)?;
                let d = &self.derived;
                self.out
                    .push_body(fp, d.customer(), d.media(), &self.encoded, None)
            }
            Outcome::Excluded => {
                self.out.memo_no_record(fp);
                self.out.counts.records_excluded += 1;
                Ok(())
            }
            Outcome::Rejected(reason) => {
                self.out.memo_no_record(fp);
                self.out.reject(self.derived.line, reason)
            }
        }
    }

    fn reject(&mut self, line: u64, reason: String) -> Result<(), RunError> {
        self.out.reject(line, reason)
    }

    fn progress(&mut self) -> Result<(), RunError> {
        self.out.observer.progress(self.out.counts.records_read);
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
