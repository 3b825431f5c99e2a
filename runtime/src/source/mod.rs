//! Record sources: turn the lines of a report into records, one at a time (streaming), for
//! each [`RecordFormat`] of the plan.
//!
//! A record that cannot be read (invalid UTF-8, an unterminated quote, an over-long line) is
//! returned as [`SourceItem::Bad`] with its line number; only I/O failures end the stream.

mod delimited;
mod keyvalue;
mod text;

pub use delimited::DelimitedSource;
pub use keyvalue::KeyValueSource;
pub use text::{FixedSource, WhitespaceSource};

use crate::input::{InputError, LineReader};
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
    pub elements: Vec<String>,
    /// `key`/`value` pairs of key/value input, in order (empty for other formats).
    pub pairs: Vec<(String, String)>,
    /// Whether a missing element is an error (delimited input: a ragged row) rather than an
    /// empty value (whitespace words: optional trailing columns).
    pub strict_elements: bool,
}

/// What a source yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceItem {
    Record(RawRecord),
    /// A record that cannot be read; the run goes on.
    Bad {
        line: u64,
        reason: String,
    },
}

/// A streaming reader of records.
pub trait RecordSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>, InputError>;
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

#[cfg(test)]
pub(crate) fn collect(mut src: Box<dyn RecordSource>) -> Vec<SourceItem> {
    let mut out = Vec::new();
    while let Some(item) = src.next_item().expect("in-memory input") {
        out.push(item);
    }
    out
}
