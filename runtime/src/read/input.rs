//! Where report bytes come from (a file, standard input, or the output of a command) and how
//! they are cut into physical lines: bounded in length, with the UTF-8 byte-order mark and
//! CR/LF line ends removed, and invalid UTF-8 reported per line instead of failing the run.
//!
//! A report that starts with a UTF-16 byte-order mark (little- or big-endian: what Windows
//! PowerShell 5.1 writes with `>`, `Out-File` and `Export-Csv -Encoding Unicode`), or whose
//! first KiB is plainly UTF-16 without a mark, is decoded to UTF-8 as it is read
//! (`encoding_rs_io`); anything else is read as UTF-8 without a decoding
//! step, so the common case costs what it did.

use crate::read::utf16_sniff::utf16_without_bom;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A physical line longer than this is rejected (and skipped) rather than held in memory:
/// no real report has such lines, a binary file fed by mistake may.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What the report is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    File(PathBuf),
    Stdin,
    /// A shell command whose standard output is the report (`sh -c` / `cmd /C`).
    Command(String),
}

impl InputSource {
    /// The name used in rejection messages (`name:line: rejected: …`) and the session record.
    pub fn display_name(&self) -> String {
        match self {
            InputSource::File(p) => p.display().to_string(),
            InputSource::Stdin => "<stdin>".to_string(),
            InputSource::Command(c) => format!("<command: {c}>"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {name}: {source}")]
    Open { name: String, source: io::Error },
    #[error("cannot start the input command `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("error reading {name}: {source}")]
    Read { name: String, source: io::Error },
    #[error("the input command `{command}` failed ({status}); nothing was applied")]
    CommandFailed { command: String, status: String },
}

/// An open input: a buffered byte stream plus, for commands, the child to wait for.
pub struct OpenInput {
    pub name: String,
    /// The file read, when the input is one (it can be read again).
    path: Option<PathBuf>,
    reader: Box<dyn BufRead + Send>,
    child: Option<(String, Child)>,
}

impl OpenInput {
    pub fn open(source: &InputSource) -> Result<OpenInput, InputError> {
        let name = source.display_name();
        match source {
            InputSource::File(path) => {
                let file = File::open(path).map_err(|e| InputError::Open {
                    name: name.clone(),
                    source: e,
                })?;
                let mut input = OpenInput::from_reader(
                    name,
                    Box::new(BufReader::with_capacity(64 * 1024, file)),
                );
                input.path = Some(path.clone());
                Ok(input)
            }
            InputSource::Stdin => Ok(OpenInput::from_reader(
                name,
                Box::new(BufReader::with_capacity(64 * 1024, io::stdin())),
            )),
            InputSource::Command(command) => {
                let mut child = shell(command)
                    .stdout(Stdio::piped())
                    .stdin(Stdio::null())
                    .spawn()
                    .map_err(|e| InputError::Spawn {
                        command: command.clone(),
                        source: e,
                    })?;
                let stdout: ChildStdout = child.stdout.take().ok_or_else(|| InputError::Spawn {
                    command: command.clone(),
                    source: io::Error::other("no standard output pipe"),
                })?;
                let mut input = OpenInput::from_reader(
                    name,
                    Box::new(BufReader::with_capacity(64 * 1024, stdout)),
                );
                input.child = Some((command.clone(), child));
                Ok(input)
            }
        }
    }

    /// An input over any byte stream (tests, embedding).
    pub fn from_reader(name: String, reader: Box<dyn BufRead + Send>) -> OpenInput {
        OpenInput {
            name,
            path: None,
            reader,
            child: None,
        }
    }

    /// Reads whatever is left (so a command is never killed by a closed pipe) and, for a
    /// command, checks that it exited successfully.
    pub fn finish(mut self) -> Result<(), InputError> {
        if let Some((command, mut child)) = self.child.take() {
            io::copy(&mut self.reader, &mut io::sink()).map_err(|e| InputError::Read {
                name: self.name.clone(),
                source: e,
            })?;
            drop(self.reader);
            let status = child.wait().map_err(|e| InputError::Read {
                name: self.name.clone(),
                source: e,
            })?;
            if !status.success() {
                return Err(InputError::CommandFailed {
                    command,
                    status: status.to_string(),
                });
            }
        }
        Ok(())
    }

    pub fn lines(self) -> LineReader {
        LineReader::new(self)
    }
}

fn shell(command: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.arg("/C").arg(command);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(command);
        c
    }
}

/// One physical line: its 1-based number and its text, or why it cannot be used. The text is
/// borrowed from the reader's buffer until the next [`LineReader::next_line`] call, so reading
/// a line allocates nothing (only an unusable line allocates its reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub number: u64,
    pub text: Result<&'a str, String>,
}

impl Line<'_> {
    pub fn to_owned_line(&self) -> OwnedLine {
        OwnedLine {
            number: self.number,
            text: self.text.clone().map(str::to_string),
        }
    }
}

/// A [`Line`] kept past the next read (a source that looks ahead and pushes lines back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLine {
    pub number: u64,
    pub text: Result<String, String>,
}

impl OwnedLine {
    pub fn as_line(&self) -> Line<'_> {
        Line {
            number: self.number,
            text: self.text.as_deref().map_err(Clone::clone),
        }
    }
}

/// Cuts an input into lines of at most [`MAX_LINE_BYTES`] bytes.
///
/// Lines are cut from a *block*: the whole lines of one read from the input (the part of a line
/// the read ended in waits in `carry` for the next). A block is checked as UTF-8, and for NUL
/// bytes, once as a whole; its lines are then slices of a `String`, so a line costs one search
/// for its end. Checking each line on its own cost a third of the reading thread's time on a
/// report of short lines (docs/benchmarks.md, "Round 7"). A block that is not valid UTF-8 as a
/// whole is kept as bytes and its lines are checked one by one, so the line and column of the
/// bad byte are reported as before.
pub struct LineReader {
    input: OpenInput,
    number: u64,
    block: Block,
    /// Where the next line starts in `block`.
    pos: usize,
    /// The bytes after the block's last line end: the start of a line not read to its end yet.
    carry: Vec<u8>,
    /// A line longer than [`MAX_LINE_BYTES`] was skipped: it comes next, as an error.
    too_long: bool,
    /// The input is read to its end.
    eof: bool,
    started: bool,
}

/// Whole lines of the input, line ends included.
enum Block {
    /// Valid UTF-8; `nul` says whether it holds a NUL byte anywhere.
    Text { text: String, nul: bool },
    /// Not valid UTF-8 as a whole.
    Bytes(Vec<u8>),
}

impl Block {
    fn bytes(&self) -> &[u8] {
        match self {
            Block::Text { text, .. } => text.as_bytes(),
            Block::Bytes(bytes) => bytes,
        }
    }

    /// The buffer back, empty, for the next block.
    fn recycle(&mut self) -> Vec<u8> {
        let block = std::mem::replace(self, Block::Bytes(Vec::new()));
        let mut bytes = match block {
            Block::Text { text, .. } => text.into_bytes(),
            Block::Bytes(bytes) => bytes,
        };
        bytes.clear();
        bytes
    }

    /// `bytes` checked as UTF-8 and for NUL bytes, as a whole.
    fn of(bytes: Vec<u8>) -> Block {
        match String::from_utf8(bytes) {
            Ok(text) => Block::Text {
                nul: memchr::memchr(0, text.as_bytes()).is_some(),
                text,
            },
            Err(e) => Block::Bytes(e.into_bytes()),
        }
    }

    /// The text of the line at `range` (its line end already left out), or why it cannot be
    /// used.
    fn line(&self, range: std::ops::Range<usize>) -> Result<&str, String> {
        let text = match self {
            Block::Text { text, nul } => {
                // The range starts and ends next to ASCII line ends (or after the 3-byte
                // mark), so it is on character boundaries.
                let line = text
                    .get(range)
                    .ok_or_else(|| "line is not valid UTF-8".to_string())?;
                return if *nul && line.contains('\0') {
                    Err("line contains binary data (NUL bytes)".to_string())
                } else {
                    Ok(line)
                };
            }
            Block::Bytes(bytes) => std::str::from_utf8(&bytes[range]),
        };
        match text {
            Ok(s) if s.contains('\0') => Err("line contains binary data (NUL bytes)".to_string()),
            Ok(s) => Ok(s),
            Err(e) => Err(format!(
                "line is not valid UTF-8 (bad byte at column {})",
                e.valid_up_to() + 1
            )),
        }
    }
}

impl LineReader {
    fn new(input: OpenInput) -> LineReader {
        LineReader {
            input,
            number: 0,
            block: Block::Bytes(Vec::new()),
            pos: 0,
            carry: Vec::new(),
            too_long: false,
            eof: false,
            started: false,
        }
    }

    /// Before the first line: a UTF-16 byte-order mark, or a first KiB that is plainly UTF-16
    /// without one ([`utf16_without_bom`]), puts a decoder between the input and the line
    /// cutter (it drops the mark; malformed UTF-16 becomes U+FFFD, which no id or value check
    /// accepts, so such a record is rejected with its line).
    fn decode_utf16(&mut self) -> Result<(), InputError> {
        let head = loop {
            match self.input.reader.fill_buf() {
                Ok(head) => break head,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(InputError::Read {
                        name: self.input.name.clone(),
                        source: e,
                    })
                }
            }
        };
        let encoding = match head {
            [0xFF, 0xFE, ..] => encoding_rs::UTF_16LE,
            [0xFE, 0xFF, ..] => encoding_rs::UTF_16BE,
            _ => match utf16_without_bom(head) {
                Some(encoding) => encoding,
                None => return Ok(()),
            },
        };
        let raw = std::mem::replace(&mut self.input.reader, Box::new(io::empty()));
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .strip_bom(true)
            .build(raw);
        self.input.reader = Box::new(BufReader::with_capacity(64 * 1024, decoded));
        Ok(())
    }

    /// The file the lines come from, when they come from one (which can be read again).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.input.path.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.input.name
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, InputError> {
        if !self.started {
            self.started = true;
            self.decode_utf16()?;
        }
        while !self.too_long && self.pos >= self.block.bytes().len() {
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
        self.number += 1;
        let number = self.number;
        if self.too_long {
            self.too_long = false;
            return Ok(Some(Line {
                number,
                text: Err(format!("line is longer than {MAX_LINE_BYTES} bytes")),
            }));
        }
        let bytes = self.block.bytes();
        let start = self.pos;
        let rest = &bytes[start..];
        let taken = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        self.pos = start + taken;
        if taken > MAX_LINE_BYTES + 2 {
            return Ok(Some(Line {
                number,
                text: Err(format!("line is longer than {MAX_LINE_BYTES} bytes")),
            }));
        }
        let mut line = &rest[..taken];
        let mut from = start;
        if number == 1 {
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
                from += 3;
            }
        }
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let text = self.block.line(from..from + line.len());
        Ok(Some(Line { number, text }))
    }

    /// Reads the next block: the carried start of a line, then the input up to the last line
    /// end of what one read gives (more reads while no line end comes). A line that grows past
    /// [`MAX_LINE_BYTES`] is skipped to its end and flagged instead (memory stays bounded).
    fn fill(&mut self) -> Result<(), InputError> {
        let mut bytes = self.block.recycle();
        self.pos = 0;
        bytes.append(&mut self.carry);
        let mut skipping = false;
        loop {
            let chunk = match self.input.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(InputError::Read {
                        name: self.input.name.clone(),
                        source: e,
                    })
                }
            };
            if chunk.is_empty() {
                self.eof = true;
                self.too_long |= skipping;
                break;
            }
            let n = chunk.len();
            if skipping {
                if let Some(i) = memchr::memchr(b'\n', chunk) {
                    self.input.reader.consume(i + 1);
                    self.too_long = true;
                    break;
                }
                self.input.reader.consume(n);
                continue;
            }
            match memchr::memrchr(b'\n', chunk) {
                Some(i) => {
                    bytes.extend_from_slice(&chunk[..=i]);
                    self.carry.extend_from_slice(&chunk[i + 1..]);
                    self.input.reader.consume(n);
                    break;
                }
                None => {
                    bytes.extend_from_slice(chunk);
                    self.input.reader.consume(n);
                    if bytes.len() > MAX_LINE_BYTES + 2 {
                        // One line, longer than any report's: dropped, not held.
                        bytes.clear();
                        skipping = true;
                    }
                }
            }
        }
        self.block = Block::of(bytes);
        Ok(())
    }

    /// Ends reading; see [`OpenInput::finish`].
    pub fn finish(self) -> Result<(), InputError> {
        self.input.finish()
    }
}

/// Reads all of `r` into lines (tests).
#[cfg(test)]
pub(crate) fn lines_of(bytes: &[u8]) -> LineReader {
    OpenInput::from_reader(
        "test".into(),
        Box::new(BufReader::new(io::Cursor::new(bytes.to_vec()))),
    )
    .lines()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line `reader` gives.
    fn drain(mut reader: LineReader) -> Vec<OwnedLine> {
        let mut out = Vec::new();
        while let Some(l) = reader.next_line().unwrap() {
            out.push(l.to_owned_line());
        }
        out
    }

    fn all(bytes: &[u8]) -> Vec<OwnedLine> {
        drain(lines_of(bytes))
    }

    #[test]
    fn strips_bom_and_crlf() {
        let lines = all(b"\xEF\xBB\xBFa,b\r\nc\r\n\nd");
        let texts: Vec<_> = lines.iter().map(|l| l.text.clone().unwrap()).collect();
        assert_eq!(texts, vec!["a,b", "c", "", "d"]);
        assert_eq!(lines[3].number, 4);
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        bytes
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_decoded() {
        let text = "A00001,LIBR,Café\r\nA00002,OFFS,日本\r\n\r\nlast 😀";
        for big_endian in [false, true] {
            let lines = all(&utf16(text, big_endian));
            let texts: Vec<_> = lines.iter().map(|l| l.text.clone()).collect();
            assert_eq!(
                texts,
                [
                    Ok("A00001,LIBR,Café".to_string()),
                    Ok("A00002,OFFS,日本".to_string()),
                    Ok(String::new()),
                    Ok("last 😀".to_string()),
                ],
                "big endian: {big_endian}"
            );
        }
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_decoded() {
        let text = "A00001,LIBR,Café\r\nA00002,OFFS,x\r\n";
        for big_endian in [false, true] {
            let lines = all(&utf16(text, big_endian)[2..]);
            let texts: Vec<_> = lines.iter().map(|l| l.text.clone()).collect();
            assert_eq!(
                texts,
                [
                    Ok("A00001,LIBR,Café".to_string()),
                    Ok("A00002,OFFS,x".to_string()),
                ],
                "big endian: {big_endian}"
            );
        }
    }

    #[test]
    fn a_long_utf16_report_is_decoded_across_buffer_boundaries() {
        let text: String = (0..20_000)
            .map(|i| format!("VOL{i:05},LIBR,é{i}\n"))
            .collect();
        let lines = all(&utf16(&text, false));
        assert_eq!(lines.len(), 20_000);
        assert_eq!(lines[12_345].text.as_deref(), Ok("VOL12345,LIBR,é12345"));
        assert_eq!(lines[19_999].number, 20_000);
    }

    #[test]
    fn invalid_utf8_is_per_line() {
        let lines = all(b"ok\n\xff\xfebad\nok2\n");
        assert!(lines[0].text.is_ok());
        assert!(lines[1].text.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(lines[2].text.as_deref(), Ok("ok2"));
    }

    #[test]
    fn huge_line_is_rejected_and_skipped() {
        let mut data = vec![b'x'; MAX_LINE_BYTES + 10];
        data.extend_from_slice(b"\nnext\n");
        let lines = all(&data);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].text.is_err());
        assert_eq!(lines[1].text.as_deref(), Ok("next"));
    }

    /// What a line reader must give for `bytes`, one line at a time, written as plainly as
    /// possible: the reference for the block reader.
    fn reference(bytes: &[u8]) -> Vec<OwnedLine> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let taken = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let (raw, after) = rest.split_at(taken);
            rest = after;
            let number = out.len() as u64 + 1;
            let text = if raw.len() > MAX_LINE_BYTES + 2 {
                Err(format!("line is longer than {MAX_LINE_BYTES} bytes"))
            } else {
                let mut line = raw;
                if number == 1 {
                    line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
                }
                line = line.strip_suffix(b"\n").unwrap_or(line);
                line = line.strip_suffix(b"\r").unwrap_or(line);
                match std::str::from_utf8(line) {
                    Ok(s) if s.contains('\0') => {
                        Err("line contains binary data (NUL bytes)".to_string())
                    }
                    Ok(s) => Ok(s.to_string()),
                    Err(e) => Err(format!(
                        "line is not valid UTF-8 (bad byte at column {})",
                        e.valid_up_to() + 1
                    )),
                }
            };
            out.push(OwnedLine { number, text });
        }
        out
    }

    /// Every line of `bytes`, read from an input that gives at most `capacity` bytes a read.
    fn read_in_pieces(bytes: &[u8], capacity: usize) -> Vec<OwnedLine> {
        drain(
            OpenInput::from_reader(
                "test".into(),
                Box::new(BufReader::with_capacity(
                    capacity,
                    io::Cursor::new(bytes.to_vec()),
                )),
            )
            .lines(),
        )
    }

    #[test]
    fn blocks_cut_lines_as_the_line_by_line_reference_does() {
        use rand::{Rng, SeedableRng};
        // Pieces that put line ends, CRs, NULs, a mark, a two-byte character, its halves and
        // bytes that are never UTF-8 at every place a read can end.
        let pieces: [&[u8]; 9] = [
            b"a",
            b"VOL01,LIBR",
            b"\n",
            b"\r\n",
            b"\0",
            b"\xEF\xBB\xBF",
            "é".as_bytes(),
            b"\xC3",
            b"\xFF",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for case in 0..3_000 {
            let mut bytes = Vec::new();
            for _ in 0..rng.random_range(0..60) {
                bytes.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            let capacity = rng.random_range(1..48);
            assert_eq!(
                read_in_pieces(&bytes, capacity),
                reference(&bytes),
                "case {case}, read size {capacity}: {bytes:?}"
            );
        }
    }

    #[test]
    fn lines_at_the_length_limit_across_reads() {
        for extra in [0usize, 1, 2, 3] {
            let mut data = b"first\n".to_vec();
            data.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + extra));
            data.extend_from_slice(b"\nlast");
            for capacity in [7, 64 * 1024] {
                assert_eq!(
                    read_in_pieces(&data, capacity),
                    reference(&data),
                    "{extra} over, read size {capacity}"
                );
            }
        }
    }

    #[test]
    fn command_output_and_failure() {
        if cfg!(windows) {
            return;
        }
        let input = OpenInput::open(&InputSource::Command("printf 'a\\nb\\n'".into())).unwrap();
        let mut r = input.lines();
        assert_eq!(r.next_line().unwrap().unwrap().text.as_deref(), Ok("a"));
        assert!(r.finish().is_ok());
        let input = OpenInput::open(&InputSource::Command("echo x; exit 3".into())).unwrap();
        let mut r = input.lines();
        assert!(r.next_line().unwrap().is_some());
        assert!(matches!(r.finish(), Err(InputError::CommandFailed { .. })));
    }
}
