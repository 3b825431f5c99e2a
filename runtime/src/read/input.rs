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
                Ok(OpenInput::from_reader(
                    name,
                    Box::new(BufReader::with_capacity(64 * 1024, file)),
                ))
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
pub struct LineReader {
    input: OpenInput,
    number: u64,
    buf: Vec<u8>,
}

impl LineReader {
    fn new(input: OpenInput) -> LineReader {
        LineReader {
            input,
            number: 0,
            buf: Vec::with_capacity(256),
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

    pub fn name(&self) -> &str {
        &self.input.name
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, InputError> {
        if self.number == 0 {
            self.decode_utf16()?;
        }
        self.buf.clear();
        let mut too_long = false;
        let mut seen_any = false;
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
                break;
            }
            seen_any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_BYTES + 2 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.reader.consume(take);
            if done {
                break;
            }
        }
        if !seen_any {
            return Ok(None);
        }
        self.number += 1;
        let number = self.number;
        if too_long {
            return Ok(Some(Line {
                number,
                text: Err(format!("line is longer than {MAX_LINE_BYTES} bytes")),
            }));
        }
        let mut bytes: &[u8] = &self.buf;
        if number == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if let Some(b) = bytes.strip_suffix(b"\n") {
            bytes = b;
        }
        if let Some(b) = bytes.strip_suffix(b"\r") {
            bytes = b;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(s) if s.contains('\0') => Err("line contains binary data (NUL bytes)".to_string()),
            Ok(s) => Ok(s),
            Err(e) => Err(format!(
                "line is not valid UTF-8 (bad byte at column {})",
                e.valid_up_to() + 1
            )),
        };
        Ok(Some(Line { number, text }))
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

    fn all(bytes: &[u8]) -> Vec<OwnedLine> {
        let mut r = lines_of(bytes);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.to_owned_line());
        }
        out
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
