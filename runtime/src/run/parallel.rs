//! Pass 1 on several threads: the report is read and its records selected on one thread,
//! derived and encoded on several, and spilled on the run's thread — in input order, so that
//! the spill, the statistics, every message and the prefetcher's requests are exactly those
//! of the sequential pass (docs/running.md, "How a run works").
//!
//! ```text
//!  reading thread            deriving threads (N)          run's thread
//!  source → select_records → chunk: derive + encode   →   chunks merged by number:
//!  (line rules, --limit)     each record, its messages     spill, counts, observer,
//!  chunks of whole records                                 prefetcher; chunk sent back
//! ```
//!
//! **Where the input is cut.** Chunks are cut between the records the plan's record source
//! returns, never in the bytes of the input: a CSV record whose quoted field holds line
//! breaks, or a key/value block, is read whole by the one reading thread before any chunk
//! boundary is drawn, so no record can be split. What must stay on one thread is everything
//! whose state crosses records: the record source (quotes, the report's ruler), the line rules
//! (header sections, windows, `TERMINATE`), `--limit` and the record counts they give — all on
//! the reading thread, with the header section each record is derived with copied into its
//! chunk — and the spill, the observer and the prefetcher — on the run's thread. Deriving a
//! record depends on nothing but the record, its header section and the plan, so it may run
//! anywhere. Records of several lines (`SetRecordLines`, `SetRecordIndent`) are assembled by
//! the grouper, whose state crosses records; such plans keep the sequential pass
//! ([`super::read_pass::Mode::for_plan`]).
//!
//! Memory stays bounded: a fixed pool of chunks circulates (reading thread → deriving thread
//! → run's thread → back), and the reading thread waits for a free one. The strings of a
//! chunk's records keep their capacity from round to round, as in [`crate::read::ReadAhead`].

use super::line_memo::{self, Cursor, LineMemo, Records, Stored};
use super::read_pass::{select_records, Sink, Spiller};
use super::RunError;
use crate::derive::select::Selector;
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::read::input::{InputError, LineReader};
use crate::read::{self, refill, RawRecord, RecordSource};
use crate::spill::{encode_derived, encode_text};
use chrono::NaiveDateTime;
use crossbeam_channel::{Receiver, Sender};
use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;
use tapesync_compiler::plan::Plan;

/// Body records per chunk: enough that handing a chunk over (two channel sends, a wake-up)
/// is a small part of deriving it, few enough that the threads overlap from the start.
const CHUNK_RECORDS: usize = 2048;

/// A chunk is also handed on after this many messages and counted records without a body
/// record (a report of bad or excluded lines), so that memory stays bounded.
const CHUNK_OPS: usize = 2 * CHUNK_RECORDS;

/// What happened at one point of the input, in input order. `read` is the number of records
/// read once it happened (the statistics' `records_read` at that point).
#[derive(Debug)]
enum Op {
    /// The chunk's next body record; its outcome is the chunk's next [`Done`].
    Body {
        read: u64,
    },
    /// A record an `EXCLUSION` rule skipped.
    Excluded {
        read: u64,
    },
    /// A record that could not be read.
    Reject {
        read: u64,
        line: u64,
        reason: String,
    },
    Progress {
        read: u64,
    },
}

/// What deriving a body record gave.
#[derive(Debug)]
enum Done {
    /// Ranges of the chunk's `keys` (customer, media) and `encoded` (the spilled record);
    /// where the record is in the line memo when it was copied from there.
    Record {
        customer: Range<usize>,
        media: Range<usize>,
        encoded: Range<usize>,
        stored: Option<Stored>,
    },
    Excluded,
    Rejected {
        line: u64,
        reason: String,
    },
    /// The record cannot be spilled (a value of more than 64 KiB): the run fails there.
    Unspillable(io::Error),
}

/// How the input ended, sent with the last chunk.
#[derive(Debug)]
enum End {
    /// Reading failed part-way (the sequential pass's `next_item()?`).
    Failed(InputError),
    /// The selection loop ended (end of input, `TERMINATE`, `--limit`), and the source was
    /// finished with this result.
    Finished(Result<(), InputError>),
}

#[derive(Default)]
struct Chunk {
    /// Position in the input: chunks are merged in this order.
    seq: u64,
    /// Body records before the chunk's first (its position in the line memo).
    first_ordinal: u64,
    /// With a line memo: the fingerprint of each body record's line (by a deriving thread).
    fingerprints: Vec<line_memo::Fingerprint>,
    /// Body records copied from the line memo.
    hits: u64,
    ops: Vec<Op>,
    /// Body records: `records[..len]` (the rest are kept for their strings).
    records: Vec<RawRecord>,
    len: usize,
    /// Per body record, its header section in `headers`.
    header_of: Vec<usize>,
    headers: Vec<Vec<RawRecord>>,
    /// The selector's header generation `headers.last()` was copied at.
    header_generation: Option<u64>,
    /// Records read at the end of the chunk.
    read_end: u64,
    end: Option<End>,
    /// Filled by a deriving thread: one per body record.
    done: Vec<Done>,
    keys: String,
    encoded: Vec<u8>,
    /// A deriving thread panicked on this chunk (a bug): the run's thread re-raises it.
    panic: Option<Box<dyn Any + Send>>,
}

impl Chunk {
    fn reset(&mut self) {
        self.ops.clear();
        self.len = 0;
        self.header_of.clear();
        self.headers.clear();
        self.header_generation = None;
        self.end = None;
        self.done.clear();
        self.fingerprints.clear();
        self.hits = 0;
        self.keys.clear();
        self.encoded.clear();
    }

    /// Derives and encodes every body record (on a deriving thread); with a line memo, a
    /// record whose line the memo has is copied from it instead.
    fn derive(
        &mut self,
        deriver: &Deriver<'_>,
        derived: &mut DerivedRecord,
        memo: &Memo,
        records: &mut Records,
    ) {
        let mut cursor = Cursor::default();
        for i in 0..self.len {
            if memo.active {
                let raw = &self.records[i];
                let fp = line_memo::fingerprint(&raw.raw);
                self.fingerprints.push(fp);
                let ordinal = self.first_ordinal + i as u64;
                if let Some(old) = &memo.old {
                    let e = self.encoded.len();
                    // A memo of scopes keeps the line's text, derived only if its scope is
                    // not settled; a memo of records gives the record.
                    let hit = old.find(ordinal, fp, &mut cursor).filter(|hit| {
                        if old.keeps_records() {
                            records.put(old, hit, raw.line, &mut self.encoded)
                        } else {
                            encode_text(&mut self.encoded, raw.line, &raw.raw).is_ok()
                        }
                    });
                    if let Some(hit) = hit {
                        old.mark(&hit);
                        let c = self.keys.len();
                        self.keys.push_str(&hit.scope.customer);
                        let m = self.keys.len();
                        self.keys.push_str(&hit.scope.media);
                        self.hits += 1;
                        self.done.push(Done::Record {
                            customer: c..m,
                            media: m..self.keys.len(),
                            encoded: e..self.encoded.len(),
                            stored: Some(hit.stored),
                        });
                        continue;
                    }
                }
            }
            read::cut_deferred(&mut self.records[i]);
            let header = &self.headers[self.header_of[i]];
            let record = std::slice::from_ref(&self.records[i]);
            let done = match deriver.derive_into(record, header, derived) {
                Outcome::Record => {
                    let c = self.keys.len();
                    self.keys.push_str(derived.customer());
                    let m = self.keys.len();
                    self.keys.push_str(derived.media());
                    let e = self.encoded.len();
                    match encode_derived(&mut self.encoded, derived) {
                        Ok(()) => Done::Record {
                            customer: c..m,
                            media: m..self.keys.len(),
                            encoded: e..self.encoded.len(),
                            stored: None,
                        },
                        Err(err) => Done::Unspillable(err),
                    }
                }
                Outcome::Excluded => Done::Excluded,
                Outcome::Rejected(reason) => Done::Rejected {
                    line: derived.line,
                    reason,
                },
            };
            self.done.push(done);
        }
    }
}

/// The reading thread's [`Sink`]: fills chunks and hands them to the deriving threads.
struct ChunkWriter {
    chunk: Chunk,
    read: u64,
    /// Body records so far.
    bodies: u64,
    next_seq: u64,
    free: Receiver<Chunk>,
    work: Sender<Chunk>,
}

/// The run's thread has gone (it failed or stopped early): the reading thread ends.
fn stopped() -> RunError {
    RunError::Spill(io::Error::other("pass 1 stopped"))
}

impl ChunkWriter {
    /// Sends the chunk on, numbered, and takes a free one.
    fn ship(&mut self) -> Result<(), RunError> {
        let fresh = self.free.recv().map_err(|_| stopped())?;
        let full = std::mem::replace(&mut self.chunk, fresh);
        self.chunk.reset();
        self.send(full)
    }

    fn send(&mut self, mut chunk: Chunk) -> Result<(), RunError> {
        chunk.seq = self.next_seq;
        chunk.read_end = self.read;
        self.next_seq += 1;
        self.work.send(chunk).map_err(|_| stopped())
    }

    fn op(&mut self, op: Op) -> Result<(), RunError> {
        self.chunk.ops.push(op);
        if self.chunk.len >= CHUNK_RECORDS || self.chunk.ops.len() >= CHUNK_OPS {
            self.ship()?;
        }
        Ok(())
    }
}

impl Sink for ChunkWriter {
    fn count_read(&mut self) {
        self.read += 1;
    }

    fn records_read(&self) -> u64 {
        self.read
    }

    fn excluded(&mut self) -> Result<(), RunError> {
        self.op(Op::Excluded { read: self.read })
    }

    fn body(&mut self, lines: &[RawRecord], selector: &Selector<'_>) -> Result<(), RunError> {
        let [record] = lines else {
            unreachable!("records of several lines take the sequential pass")
        };
        let chunk = &mut self.chunk;
        let generation = selector.header_generation();
        if chunk.header_generation != Some(generation) {
            chunk.headers.push(selector.header().to_vec());
            chunk.header_generation = Some(generation);
        }
        chunk.header_of.push(chunk.headers.len() - 1);
        if chunk.len == 0 {
            chunk.first_ordinal = self.bodies;
        }
        self.bodies += 1;
        match chunk.records.get_mut(chunk.len) {
            Some(kept) => refill(kept, record),
            None => chunk.records.push(record.clone()),
        }
        chunk.len += 1;
        self.op(Op::Body { read: self.read })
    }

    fn reject(&mut self, line: u64, reason: String) -> Result<(), RunError> {
        self.op(Op::Reject {
            read: self.read,
            line,
            reason,
        })
    }

    fn progress(&mut self) -> Result<(), RunError> {
        self.op(Op::Progress { read: self.read })
    }
}

/// The reading thread: runs the selection loop into chunks, finishes the source, and sends
/// the last chunk with how the input ended.
fn read_into_chunks(
    plan: &Plan,
    mut source: Box<dyn RecordSource>,
    limit: Option<u64>,
    mut writer: ChunkWriter,
) {
    let end = match select_records(plan, source.as_mut(), limit, &mut writer) {
        Ok(()) => End::Finished(source.finish()),
        Err(RunError::Input(e)) => End::Failed(e),
        // The run's thread has gone; nobody waits for the rest.
        Err(_) => return,
    };
    let mut last = std::mem::take(&mut writer.chunk);
    last.end = Some(end);
    let _ = writer.send(last);
}

/// What the deriving threads know of the line memo.
#[derive(Clone)]
struct Memo {
    /// Tonight's memo is written: every body line is fingerprinted.
    active: bool,
    /// Last night's, to look lines up in.
    old: Option<Arc<LineMemo>>,
}

/// A deriving thread: derives chunks until the reading thread is done.
fn derive_chunks(
    plan: &Plan,
    now: NaiveDateTime,
    memo: &Memo,
    work: &Receiver<Chunk>,
    done: &Sender<Chunk>,
) {
    let deriver = Deriver::new(plan, now);
    let mut derived = DerivedRecord::default();
    let mut records = Records::default();
    for mut chunk in work.iter() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            chunk.derive(&deriver, &mut derived, memo, &mut records);
        }));
        if let Err(panic) = result {
            chunk.panic = Some(panic);
        }
        if done.send(chunk).is_err() {
            return;
        }
    }
}

/// Pass 1 with `workers` deriving threads; see the module documentation.
pub(super) fn read_pass<'a>(
    plan: &Plan,
    lines: LineReader,
    workers: usize,
    mut out: Spiller<'a>,
) -> Result<Spiller<'a>, RunError> {
    // The threads outlive this call when it fails (the reading thread may be blocked on an
    // input command), so they own what they use.
    let plan = Arc::new(plan.clone());
    let pool = 2 * workers + 2;
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Chunk>(pool);
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Chunk>(pool);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Chunk>(pool);
    for _ in 0..pool - 1 {
        free_tx
            .send(Chunk::default())
            .expect("the pool fits the channel");
    }
    let writer = ChunkWriter {
        chunk: Chunk::default(),
        read: 0,
        bodies: 0,
        next_seq: 0,
        free: free_rx,
        work: work_tx,
    };
    let source = read::for_plan_deferring(&plan, lines);
    let limit = out.options.limit;
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let reading = Arc::clone(&plan);
    threads.push(spawn("tapesync-read", move || {
        read_into_chunks(&reading, source, limit, writer);
    })?);
    let now = out.options.now;
    let memo = Memo {
        active: out.memo_active(),
        old: out.memo.as_ref().and_then(|m| m.old.clone()),
    };
    for _ in 0..workers {
        let (plan, work, done) = (Arc::clone(&plan), work_rx.clone(), done_tx.clone());
        let memo = memo.clone();
        threads.push(spawn("tapesync-derive", move || {
            derive_chunks(&plan, now, &memo, &work, &done);
        })?);
    }
    // Only the threads hold these now: when they have all ended, `done_rx` says so.
    drop((work_rx, done_tx));
    let mut pending = BTreeMap::new();
    let mut next = 0;
    loop {
        let Ok(chunk) = done_rx.recv() else {
            // Every thread ended without a last chunk: one of them panicked.
            for thread in threads {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            return Err(RunError::Spill(io::Error::other(
                "pass 1: a reading or deriving thread stopped",
            )));
        };
        pending.insert(chunk.seq, chunk);
        while let Some(mut chunk) = pending.remove(&next) {
            next += 1;
            if let Some(panic) = chunk.panic.take() {
                std::panic::resume_unwind(panic);
            }
            merge(&mut chunk, &mut out)?;
            if let Some(end) = chunk.end.take() {
                match end {
                    End::Failed(e) | End::Finished(Err(e)) => return Err(e.into()),
                    End::Finished(Ok(())) => {}
                }
                // Every thread ends now that the reading thread has.
                drop((free_tx, done_rx));
                for thread in threads {
                    if let Err(panic) = thread.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                return Ok(out);
            }
            // The reading thread may have ended (its last chunk is still to come).
            let _ = free_tx.send(chunk);
        }
    }
}

/// Spills a derived chunk and replays its messages, counts and progress, in input order.
fn merge(chunk: &mut Chunk, out: &mut Spiller<'_>) -> Result<(), RunError> {
    let mut done = chunk.done.iter_mut();
    // With a line memo, every body record's fingerprint (in the same order as `done`).
    let mut fingerprints = chunk.fingerprints.iter();
    out.memo_hits(chunk.hits);
    for op in &mut chunk.ops {
        match op {
            Op::Body { read } => {
                out.counts.records_read = *read;
                let outcome = done.next().expect("one outcome per body record");
                let fp = fingerprints.next().copied();
                match std::mem::replace(outcome, Done::Excluded) {
                    Done::Record {
                        customer,
                        media,
                        encoded,
                        stored,
                    } => {
                        let (c, m, e) = (
                            &chunk.keys[customer],
                            &chunk.keys[media],
                            &chunk.encoded[encoded],
                        );
                        match fp {
                            Some(fp) => out.push_body(fp, c, m, e, stored)?,
                            None => out.push_encoded(c, m, e)?,
                        }
                    }
                    Done::Excluded => {
                        if let Some(fp) = fp {
                            out.memo_no_record(fp);
                        }
                        out.counts.records_excluded += 1;
                    }
                    Done::Rejected { line, reason } => {
                        if let Some(fp) = fp {
                            out.memo_no_record(fp);
                        }
                        out.reject(line, reason)?;
                    }
                    Done::Unspillable(e) => return Err(RunError::Spill(e)),
                }
            }
            Op::Excluded { read } => {
                out.counts.records_read = *read;
                out.counts.records_excluded += 1;
            }
            Op::Reject { read, line, reason } => {
                out.counts.records_read = *read;
                out.reject(*line, std::mem::take(reason))?;
            }
            Op::Progress { read } => {
                out.counts.records_read = *read;
                out.observer.progress(*read);
            }
        }
    }
    out.counts.records_read = chunk.read_end;
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, RunError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(RunError::Spill)
}
