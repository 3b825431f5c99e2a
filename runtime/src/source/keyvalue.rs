//! Key/value blocks (extension `SetKeyValueFormat(sep)`): a record is a block of
//! `key SEP value` lines, begun by a line matching the record-start filter or, without one,
//! separated by blank lines. Lines without the separator stay in the raw text only.

use super::{RawRecord, RecordSource, SourceItem};
use crate::input::{InputError, Line, LineReader};
use tapesync_compiler::plan::Pattern;

pub struct KeyValueSource {
    lines: LineReader,
    separator: String,
    record_start: Option<Pattern>,
    /// A record-start line read while finishing the previous block.
    pending: Option<Line>,
}

/// A block being collected.
#[derive(Default)]
struct Block {
    line: u64,
    raw: Vec<String>,
    pairs: Vec<(String, String)>,
    bad: Option<String>,
}

impl KeyValueSource {
    pub fn new(lines: LineReader, separator: String, record_start: Option<Pattern>) -> Self {
        KeyValueSource {
            lines,
            separator,
            record_start,
            pending: None,
        }
    }

    fn is_start(&self, text: &str) -> bool {
        self.record_start
            .as_ref()
            .is_some_and(|p| p.matches(text.trim()))
    }

    fn add(&self, block: &mut Block, line: Line) {
        if block.raw.is_empty() && block.bad.is_none() {
            block.line = line.number;
        }
        match line.text {
            Ok(text) => {
                if let Some((k, v)) = text.split_once(self.separator.as_str()) {
                    block
                        .pairs
                        .push((k.trim().to_string(), v.trim().to_string()));
                }
                block.raw.push(text);
            }
            Err(reason) => {
                if block.bad.is_none() {
                    block.bad = Some(format!("line {}: {reason}", line.number));
                }
            }
        }
    }

    fn emit(block: Block) -> SourceItem {
        match block.bad {
            Some(reason) => SourceItem::Bad {
                line: block.line,
                reason,
            },
            None => SourceItem::Record(RawRecord {
                line: block.line,
                raw: block.raw.join("\n"),
                elements: Vec::new(),
                pairs: block.pairs,
                strict_elements: false,
            }),
        }
    }
}

impl RecordSource for KeyValueSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>, InputError> {
        let mut block = Block::default();
        let mut started = false;
        if let Some(line) = self.pending.take() {
            self.add(&mut block, line);
            started = true;
        }
        loop {
            let Some(line) = self.lines.next_line()? else {
                return Ok(started.then(|| Self::emit(block)));
            };
            let blank = matches!(&line.text, Ok(t) if t.trim().is_empty());
            if self.record_start.is_some() {
                let start = matches!(&line.text, Ok(t) if self.is_start(t));
                if start {
                    if started {
                        self.pending = Some(line);
                        return Ok(Some(Self::emit(block)));
                    }
                    started = true;
                    self.add(&mut block, line);
                } else if started && !blank {
                    self.add(&mut block, line);
                }
                // Lines before the first record start are a preamble, not a record.
            } else if blank {
                if started {
                    return Ok(Some(Self::emit(block)));
                }
            } else {
                started = true;
                self.add(&mut block, line);
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
    use crate::input::lines_of;
    use crate::source::collect;

    fn pairs(item: &SourceItem) -> Vec<(String, String)> {
        match item {
            SourceItem::Record(r) => r.pairs.clone(),
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
            SourceItem::Record(r) => assert_eq!(r.line, 6),
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
        assert!(matches!(&items[1], SourceItem::Bad { line: 6, .. }));
    }
}
