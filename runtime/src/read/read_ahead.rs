//! Reading records on a thread of their own.
//!
//! Pass 1 of a run reads, cuts and splits the report's lines, then selects, derives and
//! spills each record. On one thread the reading part (system calls, line ends, UTF-8 checks,
//! splitting at delimiters) was about 40 % of the pass while the second core waited
//! (docs/benchmarks.md, "Round 3"). [`ReadAhead`] runs any
//! [`RecordSource`] on a second thread and hands its items over in batches, in order; it is a
//! `RecordSource` itself, so the run's loop does not change.
//!
//! Items are copied into batches that travel back to the reading thread once used, so the
//! strings keep their capacity and steady-state reading allocates nothing, as the sources do.

use super::{RawRecord, RecordSource, SourceItem};
use crate::read::input::InputError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Items per batch: large enough that the hand-over (a channel send and a wake-up) is a
/// small part of a batch's cost, small enough that the two threads overlap from the start.
const BATCH_ITEMS: usize = 512;

/// Batches read ahead of the consumer. With the one being filled and the one being used this
/// bounds the records held to a few thousand, whatever the size of the input.
const BATCHES_AHEAD: usize = 4;

/// One item, owned.
#[derive(Debug, Default)]
enum Slot {
    Record(RawRecord),
    Bad {
        line: u64,
        reason: String,
    },
    /// A slot not yet written (a fresh batch).
    #[default]
    Empty,
}

#[derive(Debug, Default)]
struct Batch {
    slots: Vec<Slot>,
    /// Slots written, from the start of `slots`; the rest keep old records for reuse.
    len: usize,
    /// Set on the last batch: how the input ended (end of input or a read error).
    end: Option<Result<(), InputError>>,
}

impl Batch {
    /// Copies `item` into the next slot, reusing the slot's strings when it held a record.
    fn push(&mut self, item: SourceItem<'_>) {
        if self.len == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        let slot = &mut self.slots[self.len];
        match (item, slot) {
            (SourceItem::Record(record), Slot::Record(kept)) => refill(kept, record),
            (SourceItem::Record(record), slot) => *slot = Slot::Record(record.clone()),
            (SourceItem::Bad { line, reason }, slot) => *slot = Slot::Bad { line, reason },
        }
        self.len += 1;
    }
}

/// Copies `from` into `kept` field by field, so that every string keeps its capacity (the
/// derived `clone_from` would allocate a whole new record).
pub(crate) fn refill(kept: &mut RawRecord, from: &RawRecord) {
    let RawRecord {
        line,
        raw,
        elements,
        pairs,
        strict_elements,
        ruler,
    } = from;
    kept.line = *line;
    kept.raw.clone_from(raw);
    kept.elements.clone_from(elements);
    kept.pairs.clone_from(pairs);
    kept.strict_elements = *strict_elements;
    kept.ruler = *ruler;
}

/// A [`RecordSource`] whose records are read by another source on a second thread.
pub struct ReadAhead {
    filled: Option<Receiver<Batch>>,
    used: Option<Sender<Batch>>,
    current: Batch,
    /// The next slot of `current` to hand out.
    next: usize,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Box<dyn RecordSource>>>,
    /// Set once the reading thread has delivered its last batch.
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `inner` on a new thread. If the thread cannot be started, the source is
    /// read on the caller's thread instead (returned as `Err`).
    #[allow(clippy::result_large_err)]
    pub fn start(inner: Box<dyn RecordSource>) -> Result<ReadAhead, Box<dyn RecordSource>> {
        let (send_filled, filled) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD);
        let (used, receive_used) = mpsc::channel::<Batch>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        // The source moves to the thread through this slot, so that it can be handed back if
        // the thread cannot be created.
        let handoff = Arc::new(std::sync::Mutex::new(Some(inner)));
        let for_thread = Arc::clone(&handoff);
        let spawned = std::thread::Builder::new()
            .name("tapesync-read".into())
            .spawn(move || {
                let inner = for_thread
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .expect("the source is handed over exactly once");
                read_batches(inner, &send_filled, &receive_used, &stop_flag)
            });
        match spawned {
            Ok(thread) => Ok(ReadAhead {
                filled: Some(filled),
                used: Some(used),
                current: Batch::default(),
                next: 0,
                stop,
                thread: Some(thread),
                ended: false,
            }),
            Err(_) => Err(handoff
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .expect("the thread never started, so the source is still here")),
        }
    }

    /// Stops the reading thread after its current item and takes the source back.
    fn join(&mut self) -> Option<Box<dyn RecordSource>> {
        self.stop.store(true, Ordering::Relaxed);
        // A thread waiting for room in the channel wakes up with an error and returns.
        drop(self.filled.take());
        drop(self.used.take());
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(inner) => Some(inner),
            // A panic in a record source is a bug; let it surface as one, where it happened.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// The reading thread: fills batches until the input ends, reading fails, or the consumer
/// goes away, and then returns the source so that the consumer can finish it.
fn read_batches(
    mut inner: Box<dyn RecordSource>,
    filled: &SyncSender<Batch>,
    used: &Receiver<Batch>,
    stop: &AtomicBool,
) -> Box<dyn RecordSource> {
    loop {
        let mut batch = used.try_recv().unwrap_or_default();
        batch.len = 0;
        while batch.len < BATCH_ITEMS {
            match inner.next_item() {
                Ok(Some(item)) => batch.push(item),
                Ok(None) => {
                    batch.end = Some(Ok(()));
                    break;
                }
                Err(e) => {
                    batch.end = Some(Err(e));
                    break;
                }
            }
        }
        let last = batch.end.is_some();
        if filled.send(batch).is_err() || last || stop.load(Ordering::Relaxed) {
            return inner;
        }
    }
}

impl RecordSource for ReadAhead {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        while self.next == self.current.len {
            if let Some(end) = self.current.end.take() {
                self.ended = true;
                end?;
                return Ok(None);
            }
            if self.ended {
                return Ok(None);
            }
            let Some(filled) = &self.filled else {
                return Ok(None);
            };
            let Ok(batch) = filled.recv() else {
                // The thread is gone without a last batch: it panicked. `finish` reports it.
                self.ended = true;
                return Ok(None);
            };
            let used = std::mem::replace(&mut self.current, batch);
            if let Some(back) = &self.used {
                // The thread may have finished already; the batch is then simply freed.
                let _ = back.send(used);
            }
            self.next = 0;
        }
        let slot = &self.current.slots[self.next];
        self.next += 1;
        Ok(Some(match slot {
            Slot::Record(record) => SourceItem::Record(record),
            Slot::Bad { line, reason } => SourceItem::Bad {
                line: *line,
                reason: reason.clone(),
            },
            Slot::Empty => unreachable!("slots below `len` are written"),
        }))
    }

    /// Stops the reading thread and finishes the source it read (which drains the rest of
    /// the input and checks an input command's exit status).
    fn finish(mut self: Box<Self>) -> Result<(), InputError> {
        match self.join() {
            Some(inner) => inner.finish(),
            None => Ok(()),
        }
    }
}

impl Drop for ReadAhead {
    /// Without `finish` (the run failed): tell the thread to stop and let it go. It is not
    /// waited for, because it may be blocked reading an input command that writes nothing;
    /// it ends after that read, when it finds the channel closed.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.filled.take());
        drop(self.used.take());
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::input::lines_of;
    use crate::read::{collect, DelimitedSource, KeyValueSource, OwnedItem};

    fn through_thread(inner: Box<dyn RecordSource>) -> Box<dyn RecordSource> {
        Box::new(ReadAhead::start(inner).unwrap_or_else(|_| panic!("thread")))
    }

    fn csv(text: &[u8]) -> Box<dyn RecordSource> {
        Box::new(DelimitedSource::new(lines_of(text), b',', Some(b'"')))
    }

    /// Many batches' worth of records, with bad lines (invalid UTF-8, an unterminated
    /// quote) and records of varying width, so that reused slots change shape.
    fn big_csv() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..5_000u32 {
            match i % 97 {
                13 => text.extend_from_slice(b"bad \xFF byte\n"),
                41 => text.extend_from_slice(format!("\"quoted, {i}\",x\n").as_bytes()),
                _ => {
                    let width = 1 + (i % 7) as usize;
                    let row: Vec<String> = (0..width).map(|c| format!("v{i}-{c}")).collect();
                    text.extend_from_slice(row.join(",").as_bytes());
                    text.push(b'\n');
                }
            }
        }
        text.extend_from_slice(b"\"unterminated,1\n");
        text
    }

    #[test]
    fn yields_exactly_what_the_source_yields() {
        let text = big_csv();
        let direct = collect(csv(&text));
        assert!(direct.len() > 4 * BATCH_ITEMS, "several batches");
        assert!(direct.iter().any(|i| matches!(i, OwnedItem::Bad { .. })));
        assert_eq!(collect(through_thread(csv(&text))), direct);
    }

    #[test]
    fn empty_and_tiny_inputs() {
        for text in [&b""[..], b"a", b"a,b\n", b"\n\n\n"] {
            assert_eq!(collect(through_thread(csv(text))), collect(csv(text)));
        }
    }

    #[test]
    fn key_value_records_too() {
        let mut text = String::new();
        for i in 0..2_000 {
            text.push_str(&format!("Volume: V{i:05}\nStatus: Full\n\n"));
        }
        let source = || -> Box<dyn RecordSource> {
            Box::new(KeyValueSource::new(
                lines_of(text.as_bytes()),
                ":".into(),
                Some(crate::testutil::glob("Volume*")),
            ))
        };
        assert_eq!(collect(through_thread(source())), collect(source()));
    }

    #[test]
    fn finish_after_stopping_early() {
        let text = big_csv();
        let mut source = through_thread(csv(&text));
        for _ in 0..10 {
            assert!(source.next_item().unwrap().is_some());
        }
        source.finish().unwrap();
    }

    #[test]
    fn dropping_without_finish_does_not_hang() {
        let text = big_csv();
        let mut source = through_thread(csv(&text));
        assert!(source.next_item().unwrap().is_some());
        drop(source);
    }

    /// A reader that fails after some lines: the error arrives after every item read before
    /// it, as it does without the thread.
    #[test]
    fn read_errors_arrive_in_order() {
        let make = || -> Box<dyn RecordSource> {
            let text: Vec<u8> = (0..3_000)
                .flat_map(|i| format!("a{i},b\n").into_bytes())
                .collect();
            let input = crate::read::input::OpenInput::from_reader(
                "failing".into(),
                Box::new(std::io::BufReader::new(crate::testutil::Failing::new(text))),
            );
            Box::new(DelimitedSource::new(input.lines(), b',', Some(b'"')))
        };
        let drain = |mut s: Box<dyn RecordSource>| {
            let mut n = 0;
            loop {
                match s.next_item() {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => return (n, None),
                    Err(e) => return (n, Some(e.to_string())),
                }
            }
        };
        let direct = drain(make());
        assert_eq!(direct.0, 3_000);
        assert!(direct.1.is_some());
        assert_eq!(drain(through_thread(make())), direct);
    }
}
