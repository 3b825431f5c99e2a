//! Line-per-record text: fixed-column reports (read by character offset) and whitespace
//! separated words (extension `SetWhitespaceDelimited`). A blank line is a record with no
//! elements: line rules and header sections count it, and pass 1 never derives it.

use super::{Elements, RawRecord, RecordSource, SourceItem};
use crate::read::input::{InputError, LineReader};

/// Reads the next line into `record`, splitting it into elements with `split` (a blank line
/// gets none).
fn next_line_record<'r>(
    lines: &mut LineReader,
    record: &'r mut RawRecord,
    split: impl Fn(&str, &mut Elements),
) -> Result<Option<SourceItem<'r>>, InputError> {
    if let Some(line) = lines.next_line()? {
        match line.text {
            Err(reason) => {
                return Ok(Some(SourceItem::Bad {
                    line: line.number,
                    reason,
                }))
            }
            Ok(text) => {
                record.line = line.number;
                record.raw.clear();
                record.raw.push_str(text);
                record.elements.clear();
                if !super::is_blank_line(text) {
                    split(text, &mut record.elements);
                }
                return Ok(Some(SourceItem::Record(record)));
            }
        }
    }
    Ok(None)
}

pub struct FixedSource {
    lines: LineReader,
    record: RawRecord,
}

impl FixedSource {
    pub fn new(lines: LineReader) -> FixedSource {
        FixedSource {
            lines,
            record: RawRecord::default(),
        }
    }
}

impl RecordSource for FixedSource {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        next_line_record(&mut self.lines, &mut self.record, |_, _| {})
    }
    fn finish(self: Box<Self>) -> Result<(), InputError> {
        self.lines.finish()
    }
}

pub struct WhitespaceSource {
    lines: LineReader,
    /// `SetWhitespaceDelimited(n)`: word `n` (1-based) runs to the end of the line.
    tail: Option<usize>,
    record: RawRecord,
}

impl WhitespaceSource {
    pub fn new(lines: LineReader, tail: Option<usize>) -> WhitespaceSource {
        WhitespaceSource {
            lines,
            tail,
            record: RawRecord::default(),
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits `text` into words appended to `out`; with `tail = Some(n)` the n-th word is the
/// rest of the line.
pub(crate) fn words(text: &str, tail: Option<usize>, out: &mut Elements) {
    let mut rest = text.trim_start_matches(is_blank);
    while !rest.is_empty() {
        if tail == Some(out.len() + 1) {
            out.push(rest.trim_end_matches(is_blank));
            break;
        }
        let end = rest.find(is_blank).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start_matches(is_blank);
    }
}

impl RecordSource for WhitespaceSource {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        let tail = self.tail;
        next_line_record(&mut self.lines, &mut self.record, |t, out| {
            words(t, tail, out)
        })
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

    #[test]
    fn fixed_keeps_raw_and_blank_lines() {
        let items = collect(Box::new(FixedSource::new(lines_of(
            b"A00001  LIBR\n\n   \nA00002  OFFS\r\n",
        ))));
        assert_eq!(items.len(), 4);
        match &items[2] {
            OwnedItem::Record(r) => assert_eq!((r.line, r.raw.as_str()), (3, "   ")),
            other => panic!("{other:?}"),
        }
        match &items[3] {
            OwnedItem::Record(r) => {
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
            lines_of(b"  A00001 \t LIBR  full tape\n\xff\n \t \nB1\n"),
            None,
        )));
        match &items[0] {
            OwnedItem::Record(r) => assert_eq!(r.elements, ["A00001", "LIBR", "full", "tape"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[1], OwnedItem::Bad { line: 2, .. }));
        // A blank line between two records has no words (and does not keep the last ones).
        match &items[2] {
            OwnedItem::Record(r) => assert!(r.elements.is_empty() && r.line == 3),
            other => panic!("{other:?}"),
        }
    }
    fn split(text: &str, tail: Option<usize>) -> Elements {
        let mut out = Elements::default();
        words(text, tail, &mut out);
        out
    }

    #[test]
    fn whitespace_tail_keeps_free_text() {
        assert_eq!(
            split("A1  LIBR  full  tape, do not touch  ", Some(3)),
            ["A1", "LIBR", "full  tape, do not touch"]
        );
        assert_eq!(split("A1", Some(3)), ["A1"]);
    }
}
