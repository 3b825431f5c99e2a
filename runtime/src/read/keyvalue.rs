//! Key/value blocks (extension `SetKeyValueFormat(sep)`): a record is a block of
//! `key SEP value` lines, begun by a line matching the record-start filter or, without one,
//! separated by blank lines. Lines without the separator stay in the raw text only.

use super::{RawRecord, RecordSource, SourceItem, StringPool};
use crate::read::input::{InputError, LineReader};
use tapesync_compiler::plan::Pattern;

pub struct KeyValueSource {
    lines: LineReader,
    separator: String,
    record_start: Option<Pattern>,
    /// The number of a record-start line read while finishing the previous block; its text
    /// is in `pending_text` (a reused buffer: with a record-start filter every record begins
    /// this way).
    pending: Option<u64>,
    pending_text: String,
    block: Block,
}

/// The block being collected, in the record lent out by `next_item`.
#[derive(Default)]
struct Block {
    record: RawRecord,
    /// Lines in `record.raw` (joined with `\n`).
    raw_lines: usize,
    bad: Option<String>,
    pool: StringPool,
}

impl Block {
    fn reset(&mut self) {
        self.record.line = 0;
        self.record.raw.clear();
        self.pool.reclaim_pairs(&mut self.record.pairs);
        self.raw_lines = 0;
        self.bad = None;
    }

    fn add(&mut self, separator: &str, number: u64, text: Result<&str, String>) {
        if self.raw_lines == 0 && self.bad.is_none() {
            self.record.line = number;
        }
        match text {
            Ok(text) => {
                if let Some((k, v)) = text.split_once(separator) {
                    let pair = (self.pool.take(k.trim()), self.pool.take(v.trim()));
                    self.record.pairs.push(pair);
                }
                if self.raw_lines > 0 {
                    self.record.raw.push('\n');
                }
                self.record.raw.push_str(text);
                self.raw_lines += 1;
            }
            Err(reason) => {
                if self.bad.is_none() {
                    self.bad = Some(format!("line {number}: {reason}"));
                }
            }
        }
    }

    fn emit(&mut self) -> SourceItem<'_> {
        match self.bad.take() {
            Some(reason) => SourceItem::Bad {
                line: self.record.line,
                reason,
            },
            None => SourceItem::Record(&self.record),
        }
    }
}

impl KeyValueSource {
    pub fn new(lines: LineReader, separator: String, record_start: Option<Pattern>) -> Self {
        KeyValueSource {
            lines,
            separator,
            record_start,
            pending: None,
            pending_text: String::new(),
            block: Block::default(),
        }
    }
}

impl RecordSource for KeyValueSource {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        self.block.reset();
        let mut started = false;
        if let Some(number) = self.pending.take() {
            self.block
                .add(&self.separator, number, Ok(self.pending_text.as_str()));
            started = true;
        }
        loop {
            let Some(line) = self.lines.next_line()? else {
                return Ok(if started {
                    Some(self.block.emit())
                } else {
                    None
                });
            };
            let blank = matches!(&line.text, Ok(t) if t.trim().is_empty());
            if let Some(record_start) = &self.record_start {
                let start = matches!(&line.text, Ok(t) if record_start.matches(t.trim()));
                if start {
                    if started {
                        if let Ok(text) = line.text {
                            self.pending_text.clear();
                            self.pending_text.push_str(text);
                        }
                        self.pending = Some(line.number);
                        return Ok(Some(self.block.emit()));
                    }
                    started = true;
                    self.block.add(&self.separator, line.number, line.text);
                } else if started && !blank {
                    self.block.add(&self.separator, line.number, line.text);
                }
                // Lines before the first record start are a preamble, not a record.
            } else if blank {
                if started {
                    return Ok(Some(self.block.emit()));
                }
            } else {
                started = true;
                self.block.add(&self.separator, line.number, line.text);
            }
        }
    }

    fn finish(self: Box<Self>) -> Result<(), InputError> {
        self.lines.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::input::lines_of;
    use crate::read::{collect, OwnedItem};

    fn pairs(item: &OwnedItem) -> Vec<(String, String)> {
        match item {
            OwnedItem::Record(r) => r.pairs.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn blank_line_blocks() {
        let items = collect(Box::new(KeyValueSource::new(
            lines_of(b"\nVolume : A00001\nPool: Daily\n\n\nVolume: A00002\n"),
            ":".into(),
            None,
        )));
        assert_eq!(items.len(), 2);
        assert_eq!(
            pairs(&items[0]),
            [
                ("Volume".to_string(), "A00001".to_string()),
                ("Pool".to_string(), "Daily".to_string())
            ]
        );
        match &items[1] {
            OwnedItem::Record(r) => assert_eq!(r.line, 6),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn record_start_lines() {
        let items = collect(Box::new(KeyValueSource::new(
            lines_of(b"preamble\nmedia ID = A1\nx = 1\n\ny = 2\nmedia ID = A2\n\xff\n"),
            "=".into(),
            Some(crate::testutil::glob("media ID*")),
        )));
        assert_eq!(items.len(), 2);
        assert_eq!(pairs(&items[0]).len(), 3);
        assert!(matches!(&items[1], OwnedItem::Bad { line: 6, .. }));
    }
}
