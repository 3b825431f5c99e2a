//! Record sources: turn the lines of a report into records, one at a time (streaming), for
//! each [`RecordFormat`] of the plan.
//!
//! A record that cannot be read (invalid UTF-8, an unterminated quote, an over-long line) is
//! returned as [`SourceItem::Bad`] with its line number; only I/O failures end the stream.
//!
//! Sources lend their records: each owns one [`RawRecord`] and refills it in place, keeping
//! the capacity of its strings, so reading a million records allocates a handful of times
//! rather than a few million (see docs/benchmarks.md).

mod delimited;
mod elements;
pub mod group;
pub mod input;
mod keyvalue;
mod read_ahead;
mod ruler;
mod text;
mod utf16_sniff;

pub use delimited::DelimitedSource;
pub use elements::Elements;
pub use keyvalue::KeyValueSource;
pub(crate) use read_ahead::refill;
pub use read_ahead::ReadAhead;
pub use ruler::RulerSource;
pub use text::{FixedSource, WhitespaceSource};

use crate::read::input::{InputError, LineReader};
use tapesync_compiler::plan::{Plan, RecordFormat};

/// One input record as the derivation engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based line on which the record starts.
    pub line: u64,
    /// The record's text as read (for `AddString` rules, fixed columns and `Extract(F, 0, …)`).
    /// Multi-line records (quoted newlines, key/value blocks) are joined with `\n`.
    pub raw: String,
    /// Elements of delimited and whitespace input (empty for other formats).
    pub elements: Elements,
    /// `key`/`value` pairs of key/value input, in order (empty for other formats).
    pub pairs: Vec<(String, String)>,
    /// Whether a missing element is an error (delimited input: a ragged row) rather than an
    /// empty value (whitespace words: optional trailing columns).
    pub strict_elements: bool,
    /// What the line is to a dashed ruler (extension `SetRulerColumns`; always
    /// [`RulerRole::Cut`] in other formats).
    pub ruler: RulerRole,
}

/// With columns cut at the report's ruler (`SetRulerColumns`): what a line is to the ruler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RulerRole {
    /// A line of any other format, or one cut at the columns of the latest ruler above it.
    #[default]
    Cut,
    /// The ruler itself: it sets the columns of the lines after it and, like a blank line,
    /// is seen by the line rules but never gives a volume.
    Ruler,
    /// No ruler above the line: its columns are unknown, and taking one rejects the record.
    BeforeRuler,
}

/// What a source yields: a record borrowed from the source until the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceItem<'a> {
    Record(&'a RawRecord),
    /// A record that cannot be read; the run goes on.
    Bad {
        line: u64,
        reason: String,
    },
}

/// Whether a line is blank (empty or only spaces and tabs). Line-per-record sources yield
/// blank lines as records — TapeTrack counts them for `AddString` rules and header sections
/// (docs/language.md, "Blank lines") — and pass 1 never derives one.
pub fn is_blank_line(text: &str) -> bool {
    text.bytes().all(|b| b == b' ' || b == b'\t')
}

/// A streaming reader of records. `Send`, so that a run can read on a thread of its own
/// ([`ReadAhead`]).
pub trait RecordSource: Send {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError>;
    /// Ends reading (drains and checks an input command).
    fn finish(self: Box<Self>) -> Result<(), InputError>;
}

/// The source the plan's format calls for.
pub fn for_plan(plan: &Plan, lines: LineReader) -> Box<dyn RecordSource> {
    match &plan.format {
        RecordFormat::FixedColumns => Box::new(FixedSource::new(lines)),
        RecordFormat::Delimited { delimiter, quote } => {
            Box::new(DelimitedSource::new(lines, *delimiter, *quote))
        }
        RecordFormat::Whitespace => Box::new(WhitespaceSource::new(lines, plan.whitespace_tail)),
        RecordFormat::RulerColumns => Box::new(RulerSource::new(lines)),
        RecordFormat::KeyValue {
            separator,
            record_start,
        } => Box::new(KeyValueSource::new(
            lines,
            separator.clone(),
            record_start.clone(),
        )),
    }
}

/// [`for_plan`] for pass 1's reading thread: plain delimited lines are left for the deriving
/// threads to cut ([`Elements::defer`], [`cut_deferred`]) — only when nothing reads a
/// record's elements before it is derived: no header section's elements are taken.
pub fn for_plan_deferring(plan: &Plan, lines: LineReader) -> Box<dyn RecordSource> {
    use tapesync_compiler::plan::ExtractSource;
    let header_elements = plan.extractions.iter().any(|e| {
        matches!(
            e.source,
            ExtractSource::HeaderElement { .. }
                | ExtractSource::Columns { record: 1.., .. }
                | ExtractSource::ElementFromEnd { record: 1.., .. }
        )
    });
    match &plan.format {
        RecordFormat::Delimited { delimiter, quote } if !header_elements => {
            Box::new(DelimitedSource::new(lines, *delimiter, *quote).deferring())
        }
        _ => for_plan(plan, lines),
    }
}

/// Cuts a record whose cut was deferred ([`for_plan_deferring`]); any other is left alone.
pub(crate) fn cut_deferred(record: &mut RawRecord) {
    if let Some(delimiter) = record.elements.deferred() {
        delimited::cut_plain(&record.raw, delimiter, &mut record.elements);
    }
}

/// Makes a record again from its text alone, as the plan's record source made it when it read
/// the text: for records that pass 1 kept as their text, to derive only when they are needed
/// (`run/line_memo.rs`). Only for the formats whose records are one text that is split by
/// rules of its own (delimited, whitespace words, fixed columns); `None` for the others.
pub(crate) enum Resplit {
    Delimited {
        delimiter: u8,
        quote: Option<u8>,
        splitter: Box<delimited::Splitter>,
    },
    Whitespace {
        tail: Option<usize>,
    },
    Fixed,
}

impl Resplit {
    pub(crate) fn for_plan(plan: &Plan) -> Option<Resplit> {
        match &plan.format {
            RecordFormat::FixedColumns => Some(Resplit::Fixed),
            RecordFormat::Whitespace => Some(Resplit::Whitespace {
                tail: plan.whitespace_tail,
            }),
            RecordFormat::Delimited { delimiter, quote } => Some(Resplit::Delimited {
                delimiter: *delimiter,
                quote: *quote,
                splitter: Box::new(delimited::Splitter::new(*delimiter, *quote)),
            }),
            RecordFormat::RulerColumns | RecordFormat::KeyValue { .. } => None,
        }
    }

    /// Fills `record` with the record of `raw` (a record that was not blank) at `line`.
    pub(crate) fn fill(
        &mut self,
        line: u64,
        raw: &str,
        record: &mut RawRecord,
    ) -> Result<(), String> {
        record.line = line;
        record.raw.clear();
        record.raw.push_str(raw);
        record.elements.clear();
        record.pairs.clear();
        record.ruler = RulerRole::Cut;
        match self {
            Resplit::Delimited {
                delimiter,
                quote,
                splitter,
            } => {
                record.strict_elements = true;
                splitter.split(raw, *delimiter, *quote, &mut record.elements)
            }
            Resplit::Whitespace { tail } => {
                record.strict_elements = false;
                text::words(raw, *tail, &mut record.elements);
                Ok(())
            }
            Resplit::Fixed => {
                record.strict_elements = false;
                Ok(())
            }
        }
    }
}

/// Strings of a [`RawRecord`] kept for reuse, so their capacity survives from record to
/// record.
#[derive(Debug, Default)]
pub(crate) struct StringPool {
    spare: Vec<String>,
}

impl StringPool {
    /// Empties `pairs`, keeping their strings for [`StringPool::take`].
    pub(crate) fn reclaim_pairs(&mut self, pairs: &mut Vec<(String, String)>) {
        for (k, v) in pairs.drain(..) {
            self.spare.push(k);
            self.spare.push(v);
        }
    }

    /// A copy of `text` in a reused string.
    pub(crate) fn take(&mut self, text: &str) -> String {
        let mut s = self.spare.pop().unwrap_or_default();
        s.clear();
        s.push_str(text);
        s
    }
}

/// A record source's item as owned data (tests).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedItem {
    Record(RawRecord),
    Bad { line: u64, reason: String },
}

#[cfg(test)]
pub(crate) fn collect(mut src: Box<dyn RecordSource>) -> Vec<OwnedItem> {
    let mut out = Vec::new();
    while let Some(item) = src.next_item().expect("in-memory input") {
        out.push(match item {
            SourceItem::Record(r) => OwnedItem::Record(r.clone()),
            SourceItem::Bad { line, reason } => OwnedItem::Bad { line, reason },
        });
    }
    out
}
