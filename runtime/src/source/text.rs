//! Line-per-record text: fixed-column reports (read by character offset) and whitespace
//! separated words (extension `SetWhitespaceDelimited`). Blank lines are not records.

use super::{RawRecord, RecordSource, SourceItem};
use crate::input::{InputError, LineReader};

/// Reads the next non-blank line as a record, splitting it with `split`.
fn next_line_record(
    lines: &mut LineReader,
    split: impl Fn(&str) -> Vec<String>,
) -> Result<Option<SourceItem>, InputError> {
    while let Some(line) = lines.next_line()? {
        match line.text {
            Err(reason) => {
                return Ok(Some(SourceItem::Bad {
                    line: line.number,
                    reason,
                }))
            }
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => {
                return Ok(Some(SourceItem::Record(RawRecord {
                    line: line.number,
                    elements: split(&text),
                    raw: text,
                    pairs: Vec::new(),
                    strict_elements: false,
                })))
            }
        }
    }
    Ok(None)
}

pub struct FixedSource {
    lines: LineReader,
}

impl FixedSource {
    pub fn new(lines: LineReader) -> FixedSource {
        FixedSource { lines }
    }
}

impl RecordSource for FixedSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>, InputError> {
        next_line_record(&mut self.lines, |_| Vec::new())
    }
    fn finish(self: Box<Self>) -> Result<(), InputError> {
        self.lines.finish()
    }
}

pub struct WhitespaceSource {
    lines: LineReader,
    /// `SetWhitespaceDelimited(n)`: word `n` (1-based) runs to the end of the line.
    tail: Option<usize>,
}

impl WhitespaceSource {
    pub fn new(lines: LineReader, tail: Option<usize>) -> WhitespaceSource {
        WhitespaceSource { lines, tail }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits `text` into words; with `tail = Some(n)` the n-th word is the rest of the line.
fn words(text: &str, tail: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches(is_blank);
    while !rest.is_empty() {
        if tail == Some(out.len() + 1) {
            out.push(rest.trim_end_matches(is_blank).to_string());
            break;
        }
        let end = rest.find(is_blank).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start_matches(is_blank);
    }
    out
}

impl RecordSource for WhitespaceSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>, InputError> {
        let tail = self.tail;
        next_line_record(&mut self.lines, |t| words(t, tail))
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

    #[test]
    fn fixed_keeps_raw_and_skips_blank_lines() {
        let items = collect(Box::new(FixedSource::new(lines_of(
            b"A00001  LIBR\n\n   \nA00002  OFFS\r\n",
        ))));
        assert_eq!(items.len(), 2);
        match &items[1] {
            SourceItem::Record(r) => {
                assert_eq!(r.line, 4);
                assert_eq!(r.raw, "A00002  OFFS");
                assert!(r.elements.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whitespace_words() {
        let items = collect(Box::new(WhitespaceSource::new(
            lines_of(b"  A00001 \t LIBR  full tape\n\xff\n"),
            None,
        )));
        match &items[0] {
            SourceItem::Record(r) => assert_eq!(r.elements, ["A00001", "LIBR", "full", "tape"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[1], SourceItem::Bad { line: 2, .. }));
    }
    #[test]
    fn whitespace_tail_keeps_free_text() {
        assert_eq!(
            words("A1  LIBR  full  tape, do not touch  ", Some(3)),
            ["A1", "LIBR", "full  tape, do not touch"]
        );
        assert_eq!(words("A1", Some(3)), ["A1"]);
    }
}
