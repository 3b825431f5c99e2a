//! The derived records of a run, grouped by scope in one temporary file.
//!
//! Reading the whole input before the first apply is what lets a run group unsorted input by
//! scope (one download per scope, however the report is ordered), abort `--strict` runs
//! before anything is written, and refuse the output of a failed input command — while memory
//! stays bounded by the largest scope, not by the input.
//!
//! Records are encoded compactly (see [`encode`]) into a small buffer per scope; a full buffer
//! (or all of them, when together they pass a budget) is appended to the one spill file as a
//! chunk, and each scope remembers where its chunks are. Shuffled input over many scopes
//! therefore costs sequential appends to one file — no file per scope to open, close and
//! reopen — and reading a scope back reads just its chunks.

use crate::derive::SyncRecord;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use tapesync_model::{Field, ScopeKey};

/// A scope's buffer is written out as a chunk once it holds this many bytes.
const CHUNK_BYTES: usize = 32 * 1024;
/// All buffers together may hold this many bytes before every one is written out (many scopes
/// would otherwise make the buffers, not the largest scope, bound the memory).
const BUFFER_BUDGET: usize = 8 * 1024 * 1024;

struct ScopeData {
    key: ScopeKey,
    /// (offset, length) of the scope's chunks in the spill file, in write order.
    chunks: Vec<(u64, u64)>,
    buffer: Vec<u8>,
    records: u64,
}

pub struct Spill {
    file: File,
    /// Bytes written to `file` so far (the next chunk's offset).
    written: u64,
    scopes: Vec<ScopeData>,
    index: HashMap<ScopeKey, usize>,
    buffered: usize,
    current: Option<usize>,
    /// Scopes the input has moved on from.
    left: Vec<bool>,
    unsorted: bool,
}

impl Spill {
    pub fn new() -> io::Result<Spill> {
        Ok(Spill {
            file: tempfile::Builder::new()
                .prefix("tapesync-spill")
                .tempfile()?
                .into_file(),
            written: 0,
            scopes: Vec::new(),
            index: HashMap::new(),
            buffered: 0,
            current: None,
            left: Vec::new(),
            unsorted: false,
        })
    }

    pub fn push(&mut self, record: &SyncRecord) -> io::Result<()> {
        let i = match self.index.get(&record.scope) {
            Some(i) => *i,
            None => {
                let i = self.scopes.len();
                self.scopes.push(ScopeData {
                    key: record.scope.clone(),
                    chunks: Vec::new(),
                    buffer: Vec::new(),
                    records: 0,
                });
                self.left.push(false);
                self.index.insert(record.scope.clone(), i);
                i
            }
        };
        if self.current != Some(i) {
            if let Some(c) = self.current {
                self.left[c] = true;
            }
            if self.left[i] {
                // The input came back to a scope it had left: it is not sorted by scope.
                self.unsorted = true;
            }
            self.current = Some(i);
        }
        let scope = &mut self.scopes[i];
        let before = scope.buffer.len();
        encode(record, &mut scope.buffer);
        scope.records += 1;
        self.buffered += scope.buffer.len() - before;
        if scope.buffer.len() >= CHUNK_BYTES {
            self.write_chunk(i)?;
        }
        if self.buffered >= BUFFER_BUDGET {
            self.write_all_chunks()?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, i: usize) -> io::Result<()> {
        let scope = &mut self.scopes[i];
        if scope.buffer.is_empty() {
            return Ok(());
        }
        self.file.write_all(&scope.buffer)?;
        let len = scope.buffer.len() as u64;
        scope.chunks.push((self.written, len));
        self.written += len;
        self.buffered -= scope.buffer.len();
        scope.buffer.clear();
        Ok(())
    }

    fn write_all_chunks(&mut self) -> io::Result<()> {
        for i in 0..self.scopes.len() {
            self.write_chunk(i)?;
        }
        Ok(())
    }

    /// Writes out what is still buffered; call before reading.
    pub fn finish_writing(&mut self) -> io::Result<()> {
        self.write_all_chunks()?;
        self.file.flush()
    }

    /// Whether records of one scope were interleaved with records of another.
    pub fn unsorted(&self) -> bool {
        self.unsorted
    }

    /// Scopes in order of first appearance.
    pub fn scopes(&self) -> Vec<ScopeKey> {
        self.scopes.iter().map(|s| s.key.clone()).collect()
    }

    pub fn total_records(&self) -> u64 {
        self.scopes.iter().map(|s| s.records).sum()
    }

    /// The records of scope number `i` (in [`Spill::scopes`] order), in input order.
    pub fn read(&self, i: usize) -> io::Result<impl Iterator<Item = io::Result<SyncRecord>>> {
        let scope = &self.scopes[i];
        let total: u64 = scope.chunks.iter().map(|(_, len)| len).sum();
        let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut file = &self.file;
        for &(offset, len) in &scope.chunks {
            file.seek(SeekFrom::Start(offset))?;
            file.take(len).read_to_end(&mut bytes)?;
        }
        // Records still buffered (before finish_writing) follow the written chunks.
        bytes.extend_from_slice(&scope.buffer);
        let key = scope.key.clone();
        let mut pos = 0;
        Ok(std::iter::from_fn(move || {
            if pos >= bytes.len() {
                return None;
            }
            Some(decode(&bytes, &mut pos, &key))
        }))
    }
}

/// Encoding of one record: line (u64), volume, `repository_by_rule` (u8), field count (u8),
/// then per field its index in [`Field::ALL`] (u8) and value; strings are a u32 length and
/// UTF-8 bytes, integers little-endian. The scope is not stored: it is the chunk's scope.
fn encode(record: &SyncRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&record.line.to_le_bytes());
    put_str(out, &record.volume);
    out.push(u8::from(record.repository_by_rule));
    out.push(record.fields.len() as u8);
    for (field, value) in &record.fields {
        out.push(field_index(*field));
        put_str(out, value);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn field_index(field: Field) -> u8 {
    Field::ALL
        .iter()
        .position(|f| *f == field)
        .map_or(u8::MAX, |i| i as u8)
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "corrupt spill file")
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> io::Result<&'a [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(corrupt)?;
    let out = &bytes[*pos..end];
    *pos = end;
    Ok(out)
}

fn get_str(bytes: &[u8], pos: &mut usize) -> io::Result<String> {
    let len = take(bytes, pos, 4)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let raw = take(bytes, pos, len)?;
    String::from_utf8(raw.to_vec()).map_err(|_| corrupt())
}

fn decode(bytes: &[u8], pos: &mut usize, scope: &ScopeKey) -> io::Result<SyncRecord> {
    let line = take(bytes, pos, 8)?;
    let line = u64::from_le_bytes(line.try_into().map_err(|_| corrupt())?);
    let volume = get_str(bytes, pos)?;
    let flags = take(bytes, pos, 2)?;
    let (repository_by_rule, count) = (flags[0] != 0, flags[1]);
    let mut fields = BTreeMap::new();
    for _ in 0..count {
        let index = take(bytes, pos, 1)?[0];
        let field = *Field::ALL.get(usize::from(index)).ok_or_else(corrupt)?;
        fields.insert(field, get_str(bytes, pos)?);
    }
    Ok(SyncRecord {
        line,
        scope: scope.clone(),
        volume,
        fields,
        repository_by_rule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(customer: &str, volume: &str) -> SyncRecord {
        SyncRecord {
            line: 1,
            scope: ScopeKey {
                customer: customer.into(),
                media: "LTO".into(),
            },
            volume: volume.into(),
            fields: BTreeMap::new(),
            repository_by_rule: false,
        }
    }

    #[test]
    fn groups_by_scope_and_detects_unsorted() {
        let mut s = Spill::new().unwrap();
        for (c, v) in [("A", "V1"), ("A", "V2"), ("B", "V3")] {
            s.push(&rec(c, v)).unwrap();
        }
        assert!(!s.unsorted());
        s.push(&rec("A", "V4")).unwrap();
        assert!(s.unsorted());
        s.finish_writing().unwrap();
        let a: Vec<String> = s.read(0).unwrap().map(|r| r.unwrap().volume).collect();
        assert_eq!(a, ["V1", "V2", "V4"]);
        assert_eq!(s.total_records(), 4);
    }

    #[test]
    fn records_round_trip_with_every_field() {
        let mut s = Spill::new().unwrap();
        let mut r = rec("C1", "VOL001");
        r.line = 123_456_789_012;
        r.repository_by_rule = true;
        for (i, f) in Field::ALL.iter().enumerate() {
            r.fields.insert(*f, format!("v{i} ünïcode"));
        }
        s.push(&r).unwrap();
        s.finish_writing().unwrap();
        let back: Vec<SyncRecord> = s.read(0).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, [r]);
    }

    #[test]
    fn many_scopes_and_chunks_keep_input_order_per_scope() {
        let mut s = Spill::new().unwrap();
        // Long values make each scope's buffer fill several chunks, interleaved with others.
        let mut r = rec("X", "V");
        r.fields.insert(Field::Description, "d".repeat(200));
        let rounds = CHUNK_BYTES / 100;
        for round in 0..rounds {
            for c in 0..70 {
                r.scope.customer = format!("C{c}");
                r.volume = format!("V{round}");
                s.push(&r).unwrap();
            }
        }
        s.finish_writing().unwrap();
        assert_eq!(s.scopes().len(), 70);
        assert!(s.scopes[5].chunks.len() > 1);
        let vols: Vec<String> = s.read(5).unwrap().map(|r| r.unwrap().volume).collect();
        let expected: Vec<String> = (0..rounds).map(|i| format!("V{i}")).collect();
        assert_eq!(vols, expected);
        assert_eq!(s.total_records(), 70 * rounds as u64);
    }
}
