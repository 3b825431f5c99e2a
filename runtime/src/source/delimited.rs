//! Delimited text (`SetCSVDelimiter`), split by the `csv` crate's parser (`csv-core`).
//!
//! Lines are collected into records here (rather than letting `csv` read the stream) so that
//! each record keeps its raw text for `AddString` rules and `Extract(F, 0, …)`, a quoted field
//! may span lines, and an unterminated quote costs one rejected line instead of swallowing
//! the rest of the file.

use super::{RawRecord, RecordSource, SourceItem};
use crate::input::{InputError, Line, LineReader};
use std::collections::VecDeque;

/// A quoted field may span at most this many lines; beyond that the opening quote is taken
/// to be a stray one and the line is rejected as an unterminated quote.
const MAX_RECORD_LINES: usize = 64;

pub struct DelimitedSource {
    lines: LineReader,
    pushed_back: VecDeque<Line>,
    delimiter: u8,
    quote: Option<u8>,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl DelimitedSource {
    pub fn new(lines: LineReader, delimiter: u8, quote: Option<u8>) -> DelimitedSource {
        let mut builder = csv_core::ReaderBuilder::new();
        builder
            .delimiter(delimiter)
            .quoting(quote.is_some())
            .double_quote(true);
        if let Some(q) = quote {
            builder.quote(q);
        }
        DelimitedSource {
            lines,
            pushed_back: VecDeque::new(),
            delimiter,
            quote,
            core: builder.build(),
            out: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn take_line(&mut self) -> Result<Option<Line>, InputError> {
        match self.pushed_back.pop_front() {
            Some(l) => Ok(Some(l)),
            None => self.lines.next_line(),
        }
    }

    /// Whether `text` ends inside a quoted field (csv rules: a quote opens a quoted field only
    /// at the start of a field; `""` inside quotes is an escaped quote).
    fn open_quote(&self, text: &str) -> bool {
        let Some(quote) = self.quote else {
            return false;
        };
        let bytes = text.as_bytes();
        let (mut in_quote, mut field_start) = (false, true);
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if in_quote {
                if b == quote {
                    if bytes.get(i + 1) == Some(&quote) {
                        i += 2;
                        continue;
                    }
                    in_quote = false;
                }
            } else if field_start && b == quote {
                in_quote = true;
            }
            field_start = !in_quote && (b == self.delimiter || b == b'\n');
            i += 1;
        }
        in_quote
    }

    /// Splits one complete record with the csv parser. The parser is built once and reset
    /// per record (building it is far more expensive than parsing a line).
    fn split(&mut self, raw: &str) -> Result<Vec<String>, String> {
        use csv_core::ReadRecordResult;
        self.core.reset();
        let input = raw.as_bytes();
        // A field never grows when unquoted, so the output fits in the input's size.
        self.out.clear();
        self.out.resize(input.len() + 1, 0);
        self.ends.clear();
        self.ends.resize(input.len() + 2, 0);
        let (mut nin, mut nout, mut nend) = (0, 0, 0);
        loop {
            let (result, i, o, e) =
                self.core
                    .read_record(&input[nin..], &mut self.out[nout..], &mut self.ends[nend..]);
            nin += i;
            nout += o;
            nend += e;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let n = self.out.len();
                    self.out.resize(n * 2 + 16, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len();
                    self.ends.resize(n * 2 + 16, 0);
                }
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }
        let out = &self.out[..nout];
        let mut fields = Vec::with_capacity(nend);
        let mut start = 0;
        for &end in &self.ends[..nend] {
            let bytes = out.get(start..end).ok_or("cannot split the record")?;
            fields.push(
                std::str::from_utf8(bytes)
                    .map_err(|e| format!("cannot split the record: {e}"))?
                    .to_string(),
            );
            start = end;
        }
        Ok(fields)
    }
}

impl RecordSource for DelimitedSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>, InputError> {
        loop {
            let Some(first) = self.take_line()? else {
                return Ok(None);
            };
            let number = first.number;
            let mut raw = match first.text {
                Err(reason) => {
                    return Ok(Some(SourceItem::Bad {
                        line: number,
                        reason,
                    }))
                }
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => t,
            };
            let mut continuation: Vec<Line> = Vec::new();
            let mut open = self.open_quote(&raw);
            while open && continuation.len() < MAX_RECORD_LINES {
                match self.take_line()? {
                    Some(line) => match &line.text {
                        Ok(t) => {
                            raw.push('\n');
                            raw.push_str(t);
                            continuation.push(line);
                            open = self.open_quote(&raw);
                        }
                        Err(_) => {
                            self.pushed_back.push_back(line);
                            break;
                        }
                    },
                    None => break,
                }
            }
            if open {
                // Give the following lines their own chance: only the line with the stray
                // quote is lost.
                for line in continuation.into_iter().rev() {
                    self.pushed_back.push_front(line);
                }
                return Ok(Some(SourceItem::Bad {
                    line: number,
                    reason:
                        "unterminated quoted field (the quote opened on this line is never closed)"
                            .to_string(),
                }));
            }
            return Ok(Some(match self.split(&raw) {
                Ok(elements) => SourceItem::Record(RawRecord {
                    line: number,
                    raw,
                    elements,
                    pairs: Vec::new(),
                    strict_elements: true,
                }),
                Err(reason) => SourceItem::Bad {
                    line: number,
                    reason,
                },
            }));
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

    fn records(bytes: &[u8], delimiter: u8, quote: Option<u8>) -> Vec<SourceItem> {
        collect(Box::new(DelimitedSource::new(
            lines_of(bytes),
            delimiter,
            quote,
        )))
    }

    fn elements(item: &SourceItem) -> Vec<String> {
        match item {
            SourceItem::Record(r) => r.elements.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quotes_embedded_delimiters_bom_crlf() {
        let items = records(
            b"\xEF\xBB\xBFA00001,\"Vault, shelf 3\",\"say \"\"hi\"\"\"\r\nA00002,x\r\n",
            b',',
            Some(b'"'),
        );
        assert_eq!(
            elements(&items[0]),
            ["A00001", "Vault, shelf 3", "say \"hi\""]
        );
        match &items[0] {
            SourceItem::Record(r) => assert!(r.raw.starts_with("A00001,\"Vault")),
            other => panic!("{other:?}"),
        }
        assert_eq!(elements(&items[1]), ["A00002", "x"]);
    }

    #[test]
    fn quoted_newline_spans_lines() {
        let items = records(b"A1,\"two\nlines\",z\nA2,b\n", b',', Some(b'"'));
        assert_eq!(items.len(), 2);
        assert_eq!(elements(&items[0]), ["A1", "two\nlines", "z"]);
        match &items[1] {
            SourceItem::Record(r) => assert_eq!(r.line, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unterminated_quote_loses_one_line() {
        let items = records(b"A1,ok\nA2,\"broken\nA3,fine\n", b',', Some(b'"'));
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[1], SourceItem::Bad { line: 2, reason } if reason.contains("unterminated"))
        );
        assert_eq!(elements(&items[2]), ["A3", "fine"]);
    }

    #[test]
    fn ragged_rows_and_no_quoting() {
        let items = records(b"a;b;c\nd\n\"e;f\n", b';', None);
        assert_eq!(elements(&items[0]), ["a", "b", "c"]);
        assert_eq!(elements(&items[1]), ["d"]);
        assert_eq!(elements(&items[2]), ["\"e", "f"]);
    }

    #[test]
    fn mid_field_quote_is_literal() {
        let items = records(b"ab\"c,d\nx,y\n", b',', Some(b'"'));
        assert_eq!(items.len(), 2);
        assert_eq!(elements(&items[0]), ["ab\"c", "d"]);
    }
}
