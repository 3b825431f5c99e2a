//! Delimited text (`SetCSVDelimiter`), split by the `csv` crate's parser (`csv-core`).
//!
//! Lines are collected into records here (rather than letting `csv` read the stream) so that
//! each record keeps its raw text for `AddString` rules and `Extract(F, 0, …)`, a quoted field
//! may span lines, and an unterminated quote costs one rejected line instead of swallowing
//! the rest of the file.

use super::{Elements, RawRecord, RecordSource, SourceItem};
use crate::read::input::{InputError, LineReader, OwnedLine};
use std::collections::VecDeque;

/// A quoted field may span at most this many lines; beyond that the opening quote is taken
/// to be a stray one and the line is rejected as an unterminated quote.
const MAX_RECORD_LINES: usize = 64;

pub struct DelimitedSource {
    lines: LineReader,
    /// Lines read ahead for a record that turned out not to be one (rare: stray quotes).
    pushed_back: VecDeque<OwnedLine>,
    delimiter: u8,
    quote: Option<u8>,
    splitter: Splitter,
    /// The record lent out by `next_item`, refilled in place.
    record: RawRecord,
    /// Continuation lines of the current record: line number and byte offset in `record.raw`.
    continuation: Vec<(u64, usize)>,
    /// Plain lines are not cut here but marked for their deriver ([`Self::deferring`]).
    defer_plain: bool,
}

/// The csv parser and its output buffers, reused from record to record.
pub(crate) struct Splitter {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

/// What [`fetch`] read.
enum Fetched {
    End,
    /// A usable line, appended to the record's raw text.
    Text(u64),
    Bad(u64, String),
}

/// Reads the next line (pushed-back lines first) and appends its text to `raw`, after a
/// `\n` when `joined`.
fn fetch(
    pushed_back: &mut VecDeque<OwnedLine>,
    lines: &mut LineReader,
    raw: &mut String,
    joined: bool,
) -> Result<Fetched, InputError> {
    let mut append = |text: &str| {
        if joined {
            raw.push('\n');
        }
        raw.push_str(text);
    };
    if let Some(line) = pushed_back.pop_front() {
        return Ok(match line.text {
            Ok(text) => {
                append(&text);
                Fetched::Text(line.number)
            }
            Err(reason) => Fetched::Bad(line.number, reason),
        });
    }
    Ok(match lines.next_line()? {
        None => Fetched::End,
        Some(line) => match line.text {
            Ok(text) => {
                append(text);
                Fetched::Text(line.number)
            }
            Err(reason) => Fetched::Bad(line.number, reason),
        },
    })
}

impl DelimitedSource {
    pub fn new(lines: LineReader, delimiter: u8, quote: Option<u8>) -> DelimitedSource {
        DelimitedSource {
            lines,
            pushed_back: VecDeque::new(),
            delimiter,
            quote,
            splitter: Splitter::new(delimiter, quote),
            record: RawRecord {
                strict_elements: true,
                ..RawRecord::default()
            },
            continuation: Vec::new(),
            defer_plain: false,
        }
    }

    /// Leaves plain lines uncut ([`Elements::defer`]): for a reader whose records are each
    /// cut, if at all, by the thread that derives them. Lines with quotes or line ends are
    /// still split here (their errors are the reader's).
    pub fn deferring(mut self) -> DelimitedSource {
        self.defer_plain = true;
        self
    }
}

/// Whether `text` ends inside a quoted field (csv rules: a quote opens a quoted field only
/// at the start of a field; `""` inside quotes is an escaped quote).
fn open_quote(quote: Option<u8>, delimiter: u8, text: &str) -> bool {
    let Some(quote) = quote else {
        return false;
    };
    let bytes = text.as_bytes();
    // Most records have no quote at all: one fast scan settles them.
    if memchr::memchr(quote, bytes).is_none() {
        return false;
    }
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
        field_start = !in_quote && (b == delimiter || b == b'\n');
        i += 1;
    }
    in_quote
}

/// Splits `raw` at each `delimiter` if that is exactly what the csv parser would do: no quote
/// character to interpret, no CR or LF (which the parser takes for a record end), and an
/// ASCII delimiter (so every cut is a char boundary). Returns false, leaving `out` as it was,
/// for anything else. This runs for nearly every record: one memchr scan rules out the bytes
/// that need the parser, then [`positions`] finds the cuts.
fn split_plain(raw: &str, delimiter: u8, quote: Option<u8>, out: &mut Elements) -> bool {
    if !is_plain(raw, delimiter, quote) {
        return false;
    }
    cut_plain(raw, delimiter, out);
    true
}

/// Whether cutting `raw` at each `delimiter` is exactly what the csv parser would do (see
/// [`split_plain`]).
fn is_plain(raw: &str, delimiter: u8, quote: Option<u8>) -> bool {
    if !delimiter.is_ascii() || delimiter == b'\r' || delimiter == b'\n' || quote == Some(delimiter)
    {
        return false;
    }
    let bytes = raw.as_bytes();
    let special = match quote {
        Some(q) => memchr::memchr3(b'\r', b'\n', q, bytes),
        None => memchr::memchr2(b'\r', b'\n', bytes),
    };
    special.is_none()
}

/// Cuts a plain line ([`is_plain`]) at each `delimiter`.
pub(crate) fn cut_plain(raw: &str, delimiter: u8, out: &mut Elements) {
    out.set_cut(raw, positions(raw.as_bytes(), delimiter));
}

/// The positions of `needle` in `bytes`, found eight bytes at a time. Fields are a few bytes
/// long: a `memchr` call per field cost more than it saved, and a byte-by-byte loop was a
/// third of reading a record (docs/benchmarks.md, "Round 6d").
fn positions(bytes: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let pattern = u64::from_le_bytes([needle; 8]);
    let words = bytes.chunks_exact(8);
    let tail_start = bytes.len() - words.remainder().len();
    let mut words = words.enumerate();
    let (mut hits, mut base) = (0u64, 0usize);
    let in_words = std::iter::from_fn(move || loop {
        if hits != 0 {
            let bit = hits.trailing_zeros() as usize;
            hits &= hits - 1;
            return Some(base + bit / 8);
        }
        let (i, word) = words.next()?;
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        // A byte of `x` is zero exactly where the word holds `needle`; the expression sets
        // the top bit of exactly those bytes (no carry crosses a byte: each sum is < 0x100).
        let x = u64::from_le_bytes(le) ^ pattern;
        hits = !(((x & LOW7) + LOW7) | x | LOW7);
        base = i * 8;
    });
    let in_tail = bytes[tail_start..]
        .iter()
        .enumerate()
        .filter(move |(_, b)| **b == needle)
        .map(move |(i, _)| tail_start + i);
    in_words.chain(in_tail)
}

impl Splitter {
    pub(crate) fn new(delimiter: u8, quote: Option<u8>) -> Splitter {
        let mut builder = csv_core::ReaderBuilder::new();
        builder
            .delimiter(delimiter)
            .quoting(quote.is_some())
            .double_quote(true);
        if let Some(q) = quote {
            builder.quote(q);
        }
        Splitter {
            core: builder.build(),
            out: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Splits one complete record into `elements`: a plain record (nearly all of them) by
    /// its delimiters, anything else with the csv parser.
    pub(crate) fn split(
        &mut self,
        raw: &str,
        delimiter: u8,
        quote: Option<u8>,
        elements: &mut Elements,
    ) -> Result<(), String> {
        if split_plain(raw, delimiter, quote, elements) {
            return Ok(());
        }
        elements.clear();
        self.split_csv(raw, elements)
    }

    /// Splits with the csv parser. The parser is built once and reset per record (building
    /// it is far more expensive than parsing a line).
    fn split_csv(&mut self, raw: &str, elements: &mut Elements) -> Result<(), String> {
        use csv_core::ReadRecordResult;
        self.core.reset();
        let input = raw.as_bytes();
        // A field never grows when unquoted, so the output fits in the input's size.
        if self.out.len() < input.len() + 1 {
            self.out.resize(input.len() + 1, 0);
        }
        if self.ends.len() < input.len() + 2 {
            self.ends.resize(input.len() + 2, 0);
        }
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
        let mut start = 0;
        for &end in &self.ends[..nend] {
            let bytes = out.get(start..end).ok_or("cannot split the record")?;
            let text =
                std::str::from_utf8(bytes).map_err(|e| format!("cannot split the record: {e}"))?;
            elements.push(text);
            start = end;
        }
        Ok(())
    }
}

impl RecordSource for DelimitedSource {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        self.record.raw.clear();
        let number = match fetch(
            &mut self.pushed_back,
            &mut self.lines,
            &mut self.record.raw,
            false,
        )? {
            Fetched::End => return Ok(None),
            Fetched::Bad(line, reason) => return Ok(Some(SourceItem::Bad { line, reason })),
            Fetched::Text(number) => number,
        };
        if super::is_blank_line(&self.record.raw) {
            // A record for the line rules only: no elements to extract from.
            self.record.elements.clear();
            self.record.line = number;
            return Ok(Some(SourceItem::Record(&self.record)));
        }
        self.continuation.clear();
        let mut open = open_quote(self.quote, self.delimiter, &self.record.raw);
        while open && self.continuation.len() < MAX_RECORD_LINES {
            let start = self.record.raw.len() + 1;
            match fetch(
                &mut self.pushed_back,
                &mut self.lines,
                &mut self.record.raw,
                true,
            )? {
                Fetched::Text(line) => {
                    self.continuation.push((line, start));
                    open = open_quote(self.quote, self.delimiter, &self.record.raw);
                }
                Fetched::Bad(line, reason) => {
                    self.pushed_back.push_back(OwnedLine {
                        number: line,
                        text: Err(reason),
                    });
                    break;
                }
                Fetched::End => break,
            }
        }
        if open {
            // Give the following lines their own chance: only the line with the stray
            // quote is lost.
            let raw = &self.record.raw;
            let mut end = raw.len();
            for &(line, start) in self.continuation.iter().rev() {
                self.pushed_back.push_front(OwnedLine {
                    number: line,
                    text: Ok(raw[start..end].to_string()),
                });
                end = start.saturating_sub(1);
            }
            return Ok(Some(SourceItem::Bad {
                line: number,
                reason: "unterminated quoted field (the quote opened on this line is never closed)"
                    .to_string(),
            }));
        }
        if self.defer_plain && is_plain(&self.record.raw, self.delimiter, self.quote) {
            self.record.elements.defer(self.delimiter);
            self.record.line = number;
            return Ok(Some(SourceItem::Record(&self.record)));
        }
        let split = self.splitter.split(
            &self.record.raw,
            self.delimiter,
            self.quote,
            &mut self.record.elements,
        );
        Ok(Some(match split {
            Ok(()) => {
                self.record.line = number;
                SourceItem::Record(&self.record)
            }
            Err(reason) => SourceItem::Bad {
                line: number,
                reason,
            },
        }))
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

    fn records(bytes: &[u8], delimiter: u8, quote: Option<u8>) -> Vec<OwnedItem> {
        collect(Box::new(DelimitedSource::new(
            lines_of(bytes),
            delimiter,
            quote,
        )))
    }

    fn elements(item: &OwnedItem) -> Vec<String> {
        match item {
            OwnedItem::Record(r) => r.elements.iter().map(String::from).collect(),
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
            OwnedItem::Record(r) => assert!(r.raw.starts_with("A00001,\"Vault")),
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
            OwnedItem::Record(r) => assert_eq!(r.line, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unterminated_quote_loses_one_line() {
        let items = records(b"A1,ok\nA2,\"broken\nA3,fine\n", b',', Some(b'"'));
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[1], OwnedItem::Bad { line: 2, reason } if reason.contains("unterminated"))
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

    /// The fast split must cut exactly where the csv parser does, on every input it takes.
    #[test]
    fn plain_split_agrees_with_the_csv_parser() {
        const PIECES: [&str; 9] = ["a", ",", ";", "\"", " ", "é", "\r", "x", "\t"];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut fast_paths = 0;
        for _ in 0..20_000 {
            let raw: String = (0..1 + next(12))
                .map(|_| PIECES[next(PIECES.len())])
                .collect();
            for (delimiter, quote) in [(b',', Some(b'"')), (b';', None), (b'\t', Some(b'\''))] {
                let mut splitter = DelimitedSource::new(lines_of(b""), delimiter, quote).splitter;
                let (mut fast, mut slow) = (Elements::default(), Elements::default());
                // Stale elements from an earlier record must not survive a split.
                fast.push("stale");
                let fast_result = splitter.split(&raw, delimiter, quote, &mut fast);
                let slow_result = splitter.split_csv(&raw, &mut slow);
                assert_eq!(fast_result, slow_result, "{raw:?}");
                assert_eq!(fast, slow, "{raw:?}");
                let mut plain = Elements::default();
                if split_plain(&raw, delimiter, quote, &mut plain) {
                    fast_paths += 1;
                    assert_eq!(plain, slow, "{raw:?}");
                }
            }
        }
        assert!(fast_paths > 10_000, "{fast_paths}");
    }

    /// Every byte value, as needle and as neighbour of the needle (the case a carry between
    /// bytes would get wrong), at every position of lines up to three words long.
    #[test]
    fn positions_finds_every_needle_and_nothing_else() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for needle in 0..=255u8 {
            for len in 0..25 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| match next() % 4 {
                        0 => needle,
                        1 => needle ^ 1,
                        2 => needle.wrapping_add(1),
                        _ => next() as u8,
                    })
                    .collect();
                let want: Vec<usize> = (0..len).filter(|i| bytes[*i] == needle).collect();
                let got: Vec<usize> = positions(&bytes, needle).collect();
                assert_eq!(got, want, "{needle:#x} {bytes:?}");
            }
        }
    }

    #[test]
    fn mid_field_quote_is_literal() {
        let items = records(b"ab\"c,d\nx,y\n", b',', Some(b'"'));
        assert_eq!(items.len(), 2);
        assert_eq!(elements(&items[0]), ["ab\"c", "d"]);
    }
}
