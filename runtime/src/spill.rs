//! The derived records of a run, grouped by scope in one temporary file.
//!
//! Reading the whole input before the first apply is what lets a run group unsorted input by
//! scope (one download per scope, however the report is ordered), abort `--strict` runs
//! before anything is written, and refuse the output of a failed input command — while memory
//! stays bounded by the largest scope, not by the input.
//!
//! Records are encoded compactly (see `encode`) into a small buffer per scope; a full buffer
//! (or all of them, when together they pass a budget) is appended to the one spill file as a
//! chunk, and each scope remembers where its chunks are. Shuffled input over many scopes
//! therefore costs sequential appends to one file — no file per scope to open, close and
//! reopen — and reading a scope back reads just its chunks.
//!
//! A scope the run expects to settle ([`Spill::expect_settled`]) is held in memory instead,
//! while it is on probation: once it has [`PROBATION_BYTES`] of entries that are all texts of
//! lines last night's memo knows, it keeps none — a settled scope is never read, and writing
//! a night's worth of such records to the file was a fifth of a night with nothing changed.
//!
//! With a memo of scopes, a scope expected to settle is compared *in part* instead
//! ([`Spill::expect_settled`] with `in_part`): the texts of the lines last night's memo
//! knows are only counted, and only the records derived from other lines are kept
//! (`run/partial.rs` compares those alone, or has the scope filled from a second reading).

use crate::derive::{DerivedRecord, SyncRecord};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use tapesync_model::{Field, ScopeKey};

/// A scope's buffer is written out as a chunk once it holds this many bytes.
const CHUNK_BYTES: usize = 32 * 1024;
/// All buffers together may hold this many bytes before every one is written out (many scopes
/// would otherwise make the buffers, not the largest scope, bound the memory).
const BUFFER_BUDGET: usize = 8 * 1024 * 1024;
/// Bytes of texts a scope expected to be settled keeps before it keeps none: enough that a
/// scope with changed lines nearly always shows one (a record derived) before, few enough
/// that a settled scope costs next to nothing.
const PROBATION_BYTES: usize = 64 * 1024;
/// Bytes all scopes on probation may hold together: past it, a scope on probation is kept
/// (written to the file) instead, so that many scopes cannot make memory grow.
const PROBATION_BUDGET: usize = 64 * 1024 * 1024;

struct ScopeData {
    key: ScopeKey,
    /// (offset, length) of the scope's chunks in the spill file, in write order.
    chunks: Vec<(u64, u64)>,
    /// Full buffers held in memory, in order, after the written chunks: a scope's on
    /// probation (it has no chunks), or one filled by [`Spill::fill_counted`].
    held: Vec<Vec<u8>>,
    buffer: Vec<u8>,
    records: u64,
    keep: Keep,
    /// Bytes held while on probation (`held` and `buffer`).
    kept: usize,
    /// Compared in part ([`Keep::InPart`]): the hash ([`volume_hash`]) of the volume of each
    /// record kept, in input order.
    derived_volumes: Vec<u64>,
}

/// Whether a scope's records are kept ([`Spill::expect_settled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Kept,
    /// Expected to be settled, kept so far: all of its records are texts (lines last night's
    /// memo knows), and there are fewer than [`PROBATION_BYTES`] of them.
    Probation,
    /// Expected to be settled and past its probation: its records are counted, not kept.
    Counted,
    /// Expected to be settled, with a memo of scopes: texts of lines last night's memo knows
    /// are counted, derived records are kept (the scope is compared in part).
    InPart,
}

pub struct Spill {
    /// The temporary file, made when the first chunk is written.
    file: Option<File>,
    /// Bytes held by scopes on probation.
    probation: usize,
    /// Bytes written to `file` so far (the next chunk's offset).
    written: u64,
    scopes: Vec<ScopeData>,
    /// `customer`, a unit separator and `media` → scope number. Looked up with a reused key
    /// buffer, so a record of a known scope allocates nothing.
    index: FxHashMap<String, usize>,
    /// The same for keys that fit in a word (see [`packed_key`]): nearly every record of
    /// shuffled input changes scope, and a string key cost a hash of the text and a `memcmp`
    /// on the run's thread per record.
    packed: FxHashMap<u64, usize>,
    key: String,
    buffered: usize,
    current: Option<usize>,
    /// Scopes the input has moved on from.
    left: Vec<bool>,
    unsorted: bool,
    /// Scopes were dropped ([`Spill::retain_scopes`]): the numbers no longer match the index.
    retained: bool,
    /// Scopes expected to be settled ([`Spill::expect_settled`]).
    expected: FxHashMap<ScopeKey, ()>,
    /// Whether they are compared in part rather than put on probation.
    in_part: bool,
    /// Derives the texts of a scope when it is read ([`Spill::derive_texts_on_read`]).
    texts: Option<Arc<dyn TextDeriver>>,
}

impl Spill {
    pub fn new() -> io::Result<Spill> {
        Ok(Spill {
            file: None,
            probation: 0,
            written: 0,
            scopes: Vec::new(),
            index: FxHashMap::default(),
            packed: FxHashMap::default(),
            key: String::new(),
            buffered: 0,
            current: None,
            left: Vec::new(),
            unsorted: false,
            retained: false,
            expected: FxHashMap::default(),
            in_part: false,
            texts: None,
        })
    }

    /// Adds a derived record; returns the scope's key when the record is the first of its
    /// scope (so that the scope can be fetched early).
    pub fn push(&mut self, record: &DerivedRecord) -> io::Result<Option<&ScopeKey>> {
        self.push_parts(
            record.customer(),
            record.media(),
            record.line,
            record.volume(),
            record.repository_by_rule,
            record.fields(),
        )
    }

    /// [`Spill::push`] for an owned record.
    pub fn push_record(&mut self, record: &SyncRecord) -> io::Result<Option<&ScopeKey>> {
        self.push_parts(
            &record.scope.customer,
            &record.scope.media,
            record.line,
            &record.volume,
            record.repository_by_rule,
            record.fields.iter().map(|(f, v)| (*f, v.as_str())),
        )
    }

    fn push_parts<'v>(
        &mut self,
        customer: &str,
        media: &str,
        line: u64,
        volume: &str,
        repository_by_rule: bool,
        fields: impl Iterator<Item = (Field, &'v str)>,
    ) -> io::Result<Option<&ScopeKey>> {
        let (i, new_scope) = self.scope_of(customer, media);
        match self.scopes[i].keep {
            Keep::Counted => {
                self.scopes[i].records += 1;
                return Ok(new_scope.then(|| &self.scopes[i].key));
            }
            Keep::Probation => self.keep_scope(i)?,
            Keep::InPart => self.scopes[i].derived_volumes.push(volume_hash(volume)),
            Keep::Kept => {}
        }
        let buffer = &mut self.scopes[i].buffer;
        let before = buffer.len();
        encode(buffer, line, volume, repository_by_rule, fields)?;
        let added = buffer.len() - before;
        self.appended(i, added)?;
        Ok(new_scope.then(|| &self.scopes[i].key))
    }

    /// [`Spill::push`] for a record encoded already by [`encode_derived`] (pass 1 derives and
    /// encodes on several threads and spills on one, in input order).
    pub fn push_encoded(
        &mut self,
        customer: &str,
        media: &str,
        encoded: &[u8],
    ) -> io::Result<Option<&ScopeKey>> {
        let (i, new_scope) = self.scope_of(customer, media);
        match self.scopes[i].keep {
            Keep::Counted => {
                self.scopes[i].records += 1;
                return Ok(new_scope.then(|| &self.scopes[i].key));
            }
            // A derived record: the scope's lines are not last night's.
            Keep::Probation if encoded.get(8) != Some(&TEXT_MARK) => self.keep_scope(i)?,
            Keep::InPart if encoded.get(8) == Some(&TEXT_MARK) => {
                // A line last night's memo knows: counted only.
                self.scopes[i].records += 1;
                return Ok(new_scope.then(|| &self.scopes[i].key));
            }
            Keep::InPart => {
                let volume = encoded_volume(encoded).ok_or_else(corrupt)?;
                self.scopes[i].derived_volumes.push(volume_hash(volume));
            }
            _ => {}
        }
        self.scopes[i].buffer.extend_from_slice(encoded);
        self.appended(i, encoded.len())?;
        let scope = &mut self.scopes[i];
        if scope.keep == Keep::Probation && scope.kept > PROBATION_BYTES {
            // Past its probation with nothing but known lines: counted from now on.
            self.probation -= scope.kept;
            scope.keep = Keep::Counted;
            scope.kept = 0;
            scope.held = Vec::new();
            scope.buffer = Vec::new();
        } else if scope.keep == Keep::Probation && self.probation > PROBATION_BUDGET {
            self.keep_scope(i)?;
        }
        Ok(new_scope.then(|| &self.scopes[i].key))
    }

    /// Keeps only the scopes whose `keep` is true (in [`Spill::scopes`] order): pass 2 then
    /// sees the others no more (settled scopes, `run/settled.rs`). Nothing can be pushed
    /// after this.
    pub fn retain_scopes(&mut self, keep: &[bool]) {
        let mut flags = keep.iter();
        self.scopes
            .retain(|_| flags.next().copied().unwrap_or(true));
        let mut flags = keep.iter();
        self.left.retain(|_| flags.next().copied().unwrap_or(true));
        self.index.clear();
        self.packed.clear();
        self.current = None;
        self.retained = true;
    }

    /// The number (in [`Spill::scopes`] order) of the scope of the record pushed last.
    pub fn current_scope(&self) -> Option<usize> {
        self.current
    }

    /// The number of the scope a record of (`customer`, `media`) belongs to, registered if it
    /// is new (`true`), and made the current one.
    fn scope_of(&mut self, customer: &str, media: &str) -> (usize, bool) {
        debug_assert!(!self.retained, "records pushed after scopes were dropped");
        if let Some(c) = self.current {
            let key = &self.scopes[c].key;
            if key.customer == customer && key.media == media {
                return (c, false);
            }
        }
        let packed = packed_key(customer, media);
        let known = match packed {
            Some(k) => self.packed.get(&k).copied(),
            None => {
                self.key.clear();
                self.key.push_str(customer);
                self.key.push('\u{1f}');
                self.key.push_str(media);
                self.index.get(self.key.as_str()).copied()
            }
        };
        let mut new_scope = false;
        let i = match known {
            Some(i) => i,
            None => {
                let i = self.scopes.len();
                let key = ScopeKey {
                    customer: customer.to_string(),
                    media: media.to_string(),
                };
                self.scopes.push(ScopeData {
                    keep: match (self.expected.contains_key(&key), self.in_part) {
                        (false, _) => Keep::Kept,
                        (true, false) => Keep::Probation,
                        (true, true) => Keep::InPart,
                    },
                    derived_volumes: Vec::new(),
                    key,
                    chunks: Vec::new(),
                    held: Vec::new(),
                    buffer: Vec::new(),
                    records: 0,
                    kept: 0,
                });
                self.left.push(false);
                match packed {
                    Some(k) => self.packed.insert(k, i),
                    None => self.index.insert(self.key.clone(), i),
                };
                new_scope = true;
                i
            }
        };
        if let Some(c) = self.current {
            self.left[c] = true;
        }
        if self.left[i] {
            // The input came back to a scope it had left: it is not sorted by scope.
            self.unsorted = true;
        }
        self.current = Some(i);
        (i, new_scope)
    }

    /// Counts a record of `added` bytes appended to scope `i`'s buffer, and writes buffers
    /// out when they are full.
    fn appended(&mut self, i: usize, added: usize) -> io::Result<()> {
        let scope = &mut self.scopes[i];
        scope.records += 1;
        if scope.keep == Keep::Probation {
            scope.kept += added;
            self.probation += added;
            if scope.buffer.len() >= CHUNK_BYTES {
                let next = Vec::with_capacity(scope.buffer.capacity());
                scope.held.push(std::mem::replace(&mut scope.buffer, next));
            }
            return Ok(());
        }
        self.buffered += added;
        if scope.buffer.len() >= CHUNK_BYTES {
            self.write_chunk(i)?;
        }
        if self.buffered >= BUFFER_BUDGET {
            self.write_all_chunks()?;
        }
        Ok(())
    }

    /// Ends scope `i`'s probation by keeping it: what it holds is written, and it is spilled
    /// like any other from now on.
    fn keep_scope(&mut self, i: usize) -> io::Result<()> {
        let scope = &mut self.scopes[i];
        scope.keep = Keep::Kept;
        self.probation -= scope.kept;
        scope.kept = 0;
        let held = std::mem::take(&mut scope.held);
        self.buffered += scope.buffer.len();
        for chunk in &held {
            self.write_bytes(i, chunk)?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, i: usize) -> io::Result<()> {
        if !matches!(self.scopes[i].keep, Keep::Kept | Keep::InPart) {
            // Held until its probation ends (or not kept at all).
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.scopes[i].buffer);
        if buffer.is_empty() {
            return Ok(());
        }
        self.write_bytes(i, &buffer)?;
        self.buffered -= buffer.len();
        let scope = &mut self.scopes[i];
        scope.buffer = buffer;
        scope.buffer.clear();
        Ok(())
    }

    /// Appends `bytes` of scope `i` to the file.
    fn write_bytes(&mut self, i: usize, bytes: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(
                tempfile::Builder::new()
                    .prefix("tapesync-spill")
                    .tempfile()?
                    .into_file(),
            ),
        };
        file.write_all(bytes)?;
        let len = bytes.len() as u64;
        let scope = &mut self.scopes[i];
        match scope.chunks.last_mut() {
            // Right behind the scope's previous chunk (sorted input, or a scope alone in the
            // budget): one longer chunk, read back in one go.
            Some((offset, previous)) if *offset + *previous == self.written => *previous += len,
            _ => scope.chunks.push((self.written, len)),
        }
        self.written += len;
        Ok(())
    }

    fn write_all_chunks(&mut self) -> io::Result<()> {
        for i in 0..self.scopes.len() {
            self.write_chunk(i)?;
        }
        Ok(())
    }

    /// Writes out what is still buffered (scopes still on probation stay in memory); call
    /// before reading.
    pub fn finish_writing(&mut self) -> io::Result<()> {
        self.write_all_chunks()?;
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// Has the records that pass 1 kept as their text ([`encode_text`]) derived by `texts`
    /// whenever a scope is read ([`Spill::read_into`]): only the scopes pass 2 compares are,
    /// each by the thread that compares it, into buffers it reuses scope after scope.
    pub fn derive_texts_on_read(&mut self, texts: Arc<dyn TextDeriver>) {
        self.texts = Some(texts);
    }

    /// Scopes that this run is likely to settle (`run/settled.rs`): once one of them has
    /// [`PROBATION_BYTES`] of records, all of them texts of lines last night's memo knows,
    /// its records are only counted from then on — a settled scope never needs them. Call
    /// before the first record. A scope that is not settled after all is filled from a second
    /// reading of the input ([`Spill::fill_counted`]).
    ///
    /// `in_part` (a memo of scopes, whose hits are texts): such a scope is compared in part
    /// instead — its texts are counted from the first, its derived records kept
    /// ([`Spill::in_part`]); one that cannot be is counted ([`Spill::count_instead`]) and
    /// filled the same way.
    pub fn expect_settled(&mut self, scopes: impl IntoIterator<Item = ScopeKey>, in_part: bool) {
        self.expected = scopes.into_iter().map(|k| (k, ())).collect();
        self.in_part = in_part;
    }

    /// The scopes kept in part: per scope number (in [`Spill::scopes`] order), the hashes of
    /// the volumes of its derived records when it is one.
    pub fn in_part(&self) -> Vec<Option<&[u64]>> {
        self.scopes
            .iter()
            .map(|s| (s.keep == Keep::InPart).then_some(s.derived_volumes.as_slice()))
            .collect()
    }

    /// Lines of scope `i`, kept in part, that were only counted (texts of known lines).
    pub fn counted_texts(&self, i: usize) -> u64 {
        let scope = &self.scopes[i];
        match scope.keep {
            Keep::InPart => scope.records - scope.derived_volumes.len() as u64,
            _ => 0,
        }
    }

    /// Scope `i`, kept in part with every record kept (no text counted), is compared whole.
    pub fn keep_whole(&mut self, i: usize) {
        let scope = &mut self.scopes[i];
        if scope.keep == Keep::InPart && scope.records == scope.derived_volumes.len() as u64 {
            scope.keep = Keep::Kept;
            scope.derived_volumes = Vec::new();
        }
    }

    /// Scope `i`, kept in part, is to be compared whole: what it kept is dropped and it is
    /// counted, to be filled by [`Spill::fill_counted`].
    pub fn count_instead(&mut self, i: usize) {
        let scope = &mut self.scopes[i];
        if scope.keep == Keep::InPart {
            self.buffered -= scope.buffer.len();
            scope.keep = Keep::Counted;
            scope.chunks = Vec::new();
            scope.buffer = Vec::new();
            scope.derived_volumes = Vec::new();
        }
    }

    /// Whether a scope still in the spill has its records counted, not kept.
    pub fn has_counted(&self) -> bool {
        self.scopes.iter().any(|s| s.keep == Keep::Counted)
    }

    /// Fills every scope whose records were only counted with its records in `from` (a spill
    /// of the same input read again, every record kept).
    pub fn fill_counted(&mut self, from: &Spill) -> io::Result<()> {
        for scope in self.scopes.iter_mut().filter(|s| s.keep == Keep::Counted) {
            let j = from
                .scopes
                .iter()
                .position(|s| s.key == scope.key)
                .filter(|j| from.scopes[*j].records == scope.records)
                .ok_or_else(|| io::Error::other("the input read again gives other records"))?;
            let records = from.read(j)?;
            scope.kept = records.bytes.len();
            scope.chunks = Vec::new();
            scope.held = vec![records.bytes];
            scope.buffer = Vec::new();
            scope.keep = Keep::Kept;
        }
        Ok(())
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
    pub fn read(&self, i: usize) -> io::Result<ScopeRecords> {
        let mut records = ScopeRecords::default();
        self.read_into(i, &mut records)?;
        Ok(records)
    }

    /// [`Spill::read`] into `records`, reusing its buffer (a run reads scope after scope).
    ///
    /// Each chunk is one positioned read straight into its place in the buffer: the file's
    /// position is not used, so several threads may read scopes at the same time (pass 2's
    /// diff workers), and no read probes past a chunk's end.
    pub fn read_into(&self, i: usize, records: &mut ScopeRecords) -> io::Result<()> {
        let scope = &self.scopes[i];
        if scope.keep == Keep::Counted {
            return Err(io::Error::other(format!(
                "the records of {} were not kept",
                scope.key
            )));
        }
        let total: u64 = scope.chunks.iter().map(|(_, len)| len).sum();
        let total = usize::try_from(total).map_err(|_| corrupt())?;
        let bytes = &mut records.bytes;
        // Every byte up to `total` is read over below: only a buffer that grows is zeroed
        // (a diff worker reuses one buffer scope after scope).
        bytes.truncate(total);
        bytes.resize(total, 0);
        let mut at = 0;
        if let Some(file) = &self.file {
            for &(offset, len) in &scope.chunks {
                let len = usize::try_from(len).map_err(|_| corrupt())?;
                read_at(file, &mut bytes[at..at + len], offset)?;
                at += len;
            }
        }
        if at != total {
            return Err(corrupt());
        }
        // Records held in memory, then those still buffered, follow the written chunks.
        for chunk in &scope.held {
            bytes.extend_from_slice(chunk);
        }
        bytes.extend_from_slice(&scope.buffer);
        if let Some(texts) = &self.texts {
            if has_texts(bytes)? {
                std::mem::swap(&mut records.bytes, &mut records.texts);
                records.bytes.clear();
                let mut derive = texts.begin();
                derive_texts_into(&scope.key, &records.texts, &mut *derive, &mut records.bytes)?;
            }
        }
        records.key.clone_from(&scope.key);
        records.records = match scope.keep {
            // Its texts were only counted.
            Keep::InPart => scope.derived_volumes.len() as u64,
            _ => scope.records,
        };
        Ok(())
    }
}

/// One scope's spilled records, read back in one block; [`ScopeRecords::iter`] hands out
/// views that borrow from it instead of allocating a record each.
#[derive(Debug, Default)]
pub struct ScopeRecords {
    key: ScopeKey,
    bytes: Vec<u8>,
    records: u64,
    /// The scope's entries as spilled, while texts among them are derived into `bytes` (kept
    /// for the next scope read into this).
    texts: Vec<u8>,
}

impl ScopeRecords {
    /// The records of one scope, encoded in memory (for callers that hold owned records).
    pub fn from_records(key: ScopeKey, records: &[SyncRecord]) -> io::Result<ScopeRecords> {
        let mut bytes = Vec::new();
        for r in records {
            encode(
                &mut bytes,
                r.line,
                &r.volume,
                r.repository_by_rule,
                r.fields.iter().map(|(f, v)| (*f, v.as_str())),
            )?;
        }
        Ok(ScopeRecords {
            key,
            bytes,
            records: records.len() as u64,
            texts: Vec::new(),
        })
    }

    pub fn key(&self) -> &ScopeKey {
        &self.key
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = io::Result<RecordView<'_>>> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.bytes.len() {
                return None;
            }
            let view = RecordView::decode(&self.bytes, &mut pos);
            if view.is_err() {
                // Nothing after a corrupt record can be trusted.
                pos = self.bytes.len();
            }
            Some(view)
        })
    }

    /// Owned copies of the records (tests and small scopes).
    pub fn to_sync_records(&self) -> io::Result<Vec<SyncRecord>> {
        self.iter()
            .map(|v| v.map(|v| v.to_sync_record(&self.key)))
            .collect()
    }
}

/// A spilled record, borrowed from its [`ScopeRecords`].
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub line: u64,
    pub volume: &'a str,
    pub repository_by_rule: bool,
    /// The values, one after the other (checked as UTF-8 when the view was made).
    values: &'a str,
    /// Per field its index (u8) and its value's length (u16), as many as there are values;
    /// checked when the view was made.
    table: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Cuts the record at `pos` out of `bytes` and checks all of it: the structure, that the
    /// text is UTF-8 and that every value starts and ends on a character boundary. A spill
    /// file damaged in any of these ways is an error here, never a panic later.
    fn decode(bytes: &'a [u8], pos: &mut usize) -> io::Result<RecordView<'a>> {
        let header = take(bytes, pos, HEADER)?;
        let line = u64::from_le_bytes(header[..8].try_into().map_err(|_| corrupt())?);
        // A record kept as its text (`TEXT_MARK`) is never read as a record: it is derived
        // first ([`Spill::derive_texts_on_read`]).
        let repository_by_rule = match header[8] {
            0 => false,
            1 => true,
            _ => return Err(corrupt()),
        };
        let count = usize::from(header[9]);
        let volume_len = usize::from(u16::from_le_bytes([header[10], header[11]]));
        let text_len = u32::from_le_bytes(header[12..16].try_into().map_err(|_| corrupt())?);
        let text = take(
            bytes,
            pos,
            usize::try_from(text_len).map_err(|_| corrupt())?,
        )?;
        // One check of the whole text instead of one per value: nearly all of a record's
        // values are a few bytes, and the call cost more than the bytes.
        let text = std::str::from_utf8(text).map_err(|_| corrupt())?;
        let table = take(bytes, pos, count * 3)?;
        let volume = text.get(..volume_len).ok_or_else(corrupt)?;
        let values = &text[volume_len..];
        let mut at = 0usize;
        for entry in table.chunks_exact(3) {
            Field::ALL.get(usize::from(entry[0])).ok_or_else(corrupt)?;
            at += usize::from(u16::from_le_bytes([entry[1], entry[2]]));
            if !values.is_char_boundary(at) {
                return Err(corrupt());
            }
        }
        if at != values.len() {
            return Err(corrupt());
        }
        Ok(RecordView {
            line,
            volume,
            repository_by_rule,
            values,
            table,
        })
    }

    /// The record's fields in field order.
    pub fn fields(&self) -> impl Iterator<Item = (Field, &'a str)> + 'a {
        let values = self.values;
        let mut at = 0;
        self.table.chunks_exact(3).map_while(move |entry| {
            // `decode` checked the index and that the value lies on character boundaries;
            // the checked forms still cost next to nothing and keep a slip from a panic.
            let field = *Field::ALL.get(usize::from(entry[0]))?;
            let end = at + usize::from(u16::from_le_bytes([entry[1], entry[2]]));
            let value = values.get(at..end)?;
            at = end;
            Some((field, value))
        })
    }

    pub fn to_sync_record(&self, scope: &ScopeKey) -> SyncRecord {
        SyncRecord {
            line: self.line,
            scope: scope.clone(),
            volume: self.volume.to_string(),
            fields: self
                .fields()
                .map(|(f, v)| (f, v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            repository_by_rule: self.repository_by_rule,
        }
    }
}

/// Bytes of a record's header: line (u64), `repository_by_rule` (u8), number of fields (u8),
/// length of the volume (u16), length of the text (u32).
const HEADER: usize = 16;

/// Encoding of one record: the header ([`HEADER`]); the text — the volume and then the values
/// in field order, UTF-8, one after the other —; then per field its [`Field::index`] (u8) and
/// its value's length (u16). All integers little-endian; field limits keep every value far
/// below 64 KiB. The text is in one piece so that reading it back checks its UTF-8 once per
/// record. The scope is not stored: it is the chunk's scope.
///
/// Appends `record` to `out` as [`Spill::push`] would spill it (for [`Spill::push_encoded`]).
pub fn encode_derived(out: &mut Vec<u8>, record: &DerivedRecord) -> io::Result<()> {
    encode(
        out,
        record.line,
        record.volume(),
        record.repository_by_rule,
        record.fields(),
    )
}

fn encode<'v>(
    out: &mut Vec<u8>,
    line: u64,
    volume: &str,
    repository_by_rule: bool,
    fields: impl Iterator<Item = (Field, &'v str)>,
) -> io::Result<()> {
    let start = out.len();
    let result = encode_at(out, start, line, volume, repository_by_rule, fields);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_at<'v>(
    out: &mut Vec<u8>,
    start: usize,
    line: u64,
    volume: &str,
    repository_by_rule: bool,
    fields: impl Iterator<Item = (Field, &'v str)>,
) -> io::Result<()> {
    out.extend_from_slice(&line.to_le_bytes());
    out.push(u8::from(repository_by_rule));
    out.push(0);
    out.extend_from_slice(&value_len(volume)?.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(volume.as_bytes());
    // A record names each field at most once, so the table fits in this.
    let mut table = [[0u8; 3]; Field::COUNT];
    let mut count = 0;
    for (field, value) in fields {
        let len = value_len(value)?.to_le_bytes();
        let entry = table.get_mut(count).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a record names a field twice")
        })?;
        *entry = [field.index() as u8, len[0], len[1]];
        count += 1;
        out.extend_from_slice(value.as_bytes());
    }
    let text_len = u32::try_from(out.len() - start - HEADER)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record of more than 4 GiB"))?;
    out[start + 9] = count as u8;
    out[start + 12..start + HEADER].copy_from_slice(&text_len.to_le_bytes());
    out.extend_from_slice(table[..count].as_flattened());
    Ok(())
}

/// The hash of a Volume-ID that the line memo keeps per line and that a scope compared in
/// part matches volumes by (`run/partial.rs`).
pub fn volume_hash(volume: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(volume.as_bytes())
}

/// The Volume-ID of an entry encoded by [`encode_derived`]; `None` for a text
/// ([`encode_text`]) or bytes that are not an entry.
pub fn encoded_volume(encoded: &[u8]) -> Option<&str> {
    let header = encoded.get(..HEADER)?;
    if header[8] == TEXT_MARK {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([header[10], header[11]]));
    std::str::from_utf8(encoded.get(HEADER..HEADER + len)?).ok()
}

/// The second byte of a spilled entry's header (after the line) for a record kept as the text
/// it comes from, where a record has its `repository_by_rule` (0 or 1).
const TEXT_MARK: u8 = 0xFF;

/// Appends a record kept as its text: the line, [`TEXT_MARK`], the length of the text (u32,
/// where a record has its text's length) and the text. Pass 1 spills a line this way when the
/// line memo tells its scope without deriving it; [`Spill::derive_texts_on_read`] turns
/// those of a scope into records when the scope is read.
pub fn encode_text(out: &mut Vec<u8>, line: u64, text: &str) -> io::Result<()> {
    let len = u32::try_from(text.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record of more than 4 GiB"))?;
    out.extend_from_slice(&line.to_le_bytes());
    out.extend_from_slice(&[TEXT_MARK, 0, 0, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Makes the record of a text kept by [`encode_text`]: given the scope it was spilled under,
/// the line and the text, appends the encoded record to the buffer.
pub type DeriveText<'a> = dyn FnMut(&ScopeKey, u64, &str, &mut Vec<u8>) -> io::Result<()> + 'a;

/// What derives the texts of a spill when a scope is read ([`Spill::derive_texts_on_read`]):
/// each read takes a [`DeriveText`] of its own (several threads read scopes at once).
pub trait TextDeriver: Send + Sync {
    fn begin(&self) -> Box<DeriveText<'_>>;
}

/// The length of the entry whose header is `header` (a record or a text).
fn entry_len(header: &[u8]) -> io::Result<usize> {
    let len = u32::from_le_bytes(header[12..16].try_into().map_err(|_| corrupt())?);
    let len = usize::try_from(len).map_err(|_| corrupt())?;
    Ok(if header[8] == TEXT_MARK {
        len
    } else {
        len + usize::from(header[9]) * 3
    })
}

/// Whether `bytes` (a scope's entries) hold a text.
fn has_texts(bytes: &[u8]) -> io::Result<bool> {
    let mut pos = 0;
    while pos < bytes.len() {
        let header = take(bytes, &mut pos, HEADER)?;
        if header[8] == TEXT_MARK {
            return Ok(true);
        }
        take(bytes, &mut pos, entry_len(header)?)?;
    }
    Ok(false)
}

/// Appends `bytes` (a scope's entries) to `out` with every text derived by `derive`.
fn derive_texts_into(
    key: &ScopeKey,
    bytes: &[u8],
    derive: &mut DeriveText<'_>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let header = take(bytes, &mut pos, HEADER)?;
        let body = take(bytes, &mut pos, entry_len(header)?)?;
        if header[8] == TEXT_MARK {
            let line = u64::from_le_bytes(header[..8].try_into().map_err(|_| corrupt())?);
            let text = std::str::from_utf8(body).map_err(|_| corrupt())?;
            derive(key, line, text, out)?;
        } else {
            out.extend_from_slice(&bytes[start..pos]);
        }
    }
    Ok(())
}

fn value_len(s: &str) -> io::Result<u16> {
    u16::try_from(s.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a value of more than 64 KiB cannot be spilled",
        )
    })
}

/// (`customer`, `media`) as one word when both are at most four bytes without NUL — every
/// canonical Customer-ID and Media-ID (at most four of A–Z and 0–9): zero-padded halves, so
/// two different keys never pack alike.
fn packed_key(customer: &str, media: &str) -> Option<u64> {
    let (c, m) = (customer.as_bytes(), media.as_bytes());
    if c.len() > 4 || m.len() > 4 || c.contains(&0) || m.contains(&0) {
        return None;
    }
    let mut key = [0u8; 8];
    key[..c.len()].copy_from_slice(c);
    key[4..4 + m.len()].copy_from_slice(m);
    Some(u64::from_le_bytes(key))
}

/// Fills `buf` from `file` at `offset`, leaving the file's position alone.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset` (each call names its offset, so concurrent readers do
/// not disturb each other).
#[cfg(windows)]
pub(crate) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
            s.push_record(&rec(c, v)).unwrap();
        }
        assert!(!s.unsorted());
        s.push_record(&rec("A", "V4")).unwrap();
        assert!(s.unsorted());
        s.finish_writing().unwrap();
        let a: Vec<String> = s
            .read(0)
            .unwrap()
            .iter()
            .map(|r| r.unwrap().volume.to_string())
            .collect();
        assert_eq!(a, ["V1", "V2", "V4"]);
        assert_eq!(s.total_records(), 4);
    }

    /// Keys that pack into a word and keys that do not (longer than four bytes, or a NUL) are
    /// told apart, each scope found again however the input alternates between them.
    #[test]
    fn short_and_long_scope_keys_are_told_apart() {
        let keys = [
            ("AB", "C"),
            ("A", "BC"),
            ("ABCD", "EFGH"),
            ("ABCDE", "F"),
            ("ABCD", "EF"),
            ("A\0", "B"),
            ("A", "B"),
        ];
        let mut s = Spill::new().unwrap();
        for round in 0..3 {
            for (i, (c, m)) in keys.iter().enumerate() {
                let new = s
                    .push_parts(c, m, 1, &format!("V{round}{i}"), false, std::iter::empty())
                    .unwrap()
                    .is_some();
                assert_eq!(new, round == 0, "{c:?} {m:?}");
            }
        }
        s.finish_writing().unwrap();
        assert_eq!(s.scopes().len(), keys.len());
        for (i, (c, m)) in keys.iter().enumerate() {
            assert_eq!(
                (
                    s.scopes()[i].customer.as_str(),
                    s.scopes()[i].media.as_str()
                ),
                (*c, *m)
            );
            let volumes: Vec<String> = s
                .read(i)
                .unwrap()
                .iter()
                .map(|r| r.unwrap().volume.to_string())
                .collect();
            assert_eq!(volumes, [0, 1, 2].map(|r| format!("V{r}{i}")));
        }
        assert_eq!(packed_key("ABCDE", "F"), None);
        assert_ne!(packed_key("AB", "C"), packed_key("A", "BC"));
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
        s.push_record(&r).unwrap();
        s.finish_writing().unwrap();
        let back: Vec<SyncRecord> = s.read(0).unwrap().to_sync_records().unwrap();
        assert_eq!(back, [r]);
    }

    fn raw(bytes: Vec<u8>) -> ScopeRecords {
        ScopeRecords {
            key: ScopeKey::default(),
            bytes,
            records: 1,
            texts: Vec::new(),
        }
    }

    /// A record with multi-byte characters in its volume and values.
    fn encoded_sample() -> (SyncRecord, Vec<u8>) {
        let mut r = rec("C1", "VÖL1");
        r.fields.insert(Field::Repository, "LIBR".into());
        r.fields.insert(Field::Slot, "".into());
        r.fields.insert(Field::Description, "ünï €".into());
        r.fields.insert(Field::DataCluster, "x".into());
        let records = ScopeRecords::from_records(r.scope.clone(), std::slice::from_ref(&r));
        (r, records.unwrap().bytes)
    }

    /// Every way of damaging one byte, and every truncation, of a spilled record gives an
    /// error or a record whose every value can be read — never a panic, never a record that
    /// loses values on the way (each value's UTF-8 is checked once, for the whole record, when
    /// the record is read).
    #[test]
    fn a_damaged_spill_is_an_error_never_a_panic() {
        let (_, bytes) = encoded_sample();
        let check = |damaged: Vec<u8>| -> bool {
            let records = raw(damaged);
            let mut ok = true;
            for view in records.iter() {
                match view {
                    Ok(view) => {
                        let values: Vec<(Field, &str)> = view.fields().collect();
                        assert_eq!(values.len(), view.table.len() / 3);
                        let text: usize = values.iter().map(|(_, v)| v.len()).sum();
                        assert_eq!(text, view.values.len());
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                        ok = false;
                    }
                }
            }
            ok
        };
        assert!(check(bytes.clone()));
        let mut errors = 0;
        for at in 0..bytes.len() {
            errors += usize::from(!check(bytes[..at].to_vec()));
            for b in 0..=255u8 {
                let mut damaged = bytes.clone();
                damaged[at] = b;
                errors += usize::from(!check(damaged));
            }
        }
        assert!(errors > bytes.len() * 100, "{errors}");
    }

    /// The damage that only a check of the text finds: bytes that are not UTF-8, and a value
    /// length that cuts a character in two (the text as a whole is still UTF-8).
    #[test]
    fn text_that_is_not_utf8_or_cut_inside_a_character_is_an_error() {
        let (r, bytes) = encoded_sample();
        let text = HEADER..bytes.len() - 3 * r.fields.len();
        let e = bytes[text.clone()].iter().position(|&b| b == 0xc3).unwrap() + text.start;
        let mut not_utf8 = bytes.clone();
        not_utf8[e + 1] = b'u';
        assert!(raw(not_utf8).iter().next().unwrap().is_err());
        // DESCRIPTION ("ünï €", the third value) one byte shorter and DATA_CLUSTER one
        // longer: both cuts fall inside the `€`.
        let mut cut = bytes.clone();
        let table = text.end;
        assert_eq!(cut[table + 6], Field::Description.index() as u8);
        cut[table + 7] -= 1;
        cut[table + 10] += 1;
        assert!(raw(cut).iter().next().unwrap().is_err());
        let intact = raw(bytes);
        let back = intact.iter().next().unwrap().unwrap();
        assert_eq!(back.to_sync_record(&r.scope), r);
    }

    #[test]
    fn a_scope_written_alone_is_one_chunk() {
        let mut s = Spill::new().unwrap();
        let mut r = rec("A", "V");
        r.fields.insert(Field::Description, "d".repeat(200));
        let n = 3 * CHUNK_BYTES / 200;
        for i in 0..n {
            r.volume = format!("V{i}");
            s.push_record(&r).unwrap();
        }
        s.push_record(&rec("B", "W")).unwrap();
        s.finish_writing().unwrap();
        assert_eq!(s.scopes[0].chunks.len(), 1);
        let back = s.read(0).unwrap();
        assert_eq!(back.len(), n as u64);
        assert_eq!(back.iter().count(), n);
        assert_eq!(
            s.read(1).unwrap().to_sync_records().unwrap(),
            [rec("B", "W")]
        );
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
                s.push_record(&r).unwrap();
            }
        }
        s.finish_writing().unwrap();
        assert_eq!(s.scopes().len(), 70);
        assert!(s.scopes[5].chunks.len() > 1);
        let vols: Vec<String> = s
            .read(5)
            .unwrap()
            .iter()
            .map(|r| r.unwrap().volume.to_string())
            .collect();
        let expected: Vec<String> = (0..rounds).map(|i| format!("V{i}")).collect();
        assert_eq!(vols, expected);
        assert_eq!(s.total_records(), 70 * rounds as u64);
    }

    fn text(line: u64, volume: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_text(&mut out, line, &format!("{volume},{}", "x".repeat(60))).unwrap();
        out
    }

    fn record(line: u64, volume: &str) -> Vec<u8> {
        let mut r = rec("X", volume);
        r.line = line;
        let mut out = Vec::new();
        encode(
            &mut out,
            r.line,
            &r.volume,
            false,
            r.fields.iter().map(|(f, v)| (*f, v.as_str())),
        )
        .unwrap();
        out
    }

    /// Turns the texts of a scope's entries into records naming the text's first word.
    struct Words;

    impl TextDeriver for Words {
        fn begin(&self) -> Box<DeriveText<'_>> {
            Box::new(|_, line, text, out| {
                let volume = text.split(',').next().unwrap_or_default();
                encode(out, line, volume, false, std::iter::empty())
            })
        }
    }

    fn volumes(s: &Spill, i: usize) -> io::Result<Vec<String>> {
        s.read(i)?
            .iter()
            .map(|r| r.map(|r| r.volume.to_string()))
            .collect()
    }

    /// Scopes expected to be settled: one with nothing but texts past its probation is only
    /// counted (reading it is an error until it is filled from another spill); one that shows
    /// a derived record keeps everything, in order, as does a small one; a scope not expected
    /// is spilled as always. Texts are derived when a scope is read.
    #[test]
    fn scopes_on_probation_are_counted_kept_or_held() {
        let key = |c: &str| ScopeKey {
            customer: c.into(),
            media: "LTO".into(),
        };
        let mut s = Spill::new().unwrap();
        s.expect_settled(["A", "B", "C"].map(key), false);
        s.derive_texts_on_read(Arc::new(Words));
        let mut again = Spill::new().unwrap();
        let n = 3 * PROBATION_BYTES / 70;
        for i in 0..n as u64 {
            let v = format!("V{i}");
            s.push_encoded("A", "LTO", &text(i, &v)).unwrap();
            again.push_encoded("A", "LTO", &text(i, &v)).unwrap();
            let b = if i == 500 { record(i, &v) } else { text(i, &v) };
            s.push_encoded("B", "LTO", &b).unwrap();
            if i < 10 {
                s.push_encoded("C", "LTO", &text(i, &v)).unwrap();
            }
            s.push_encoded("D", "LTO", &text(i, &v)).unwrap();
        }
        s.finish_writing().unwrap();
        again.finish_writing().unwrap();
        let all: Vec<String> = (0..n).map(|i| format!("V{i}")).collect();
        assert!(s.has_counted());
        assert_eq!(s.scopes[0].keep, Keep::Counted);
        assert!(volumes(&s, 0).is_err());
        assert_eq!(
            s.read(0).err().map(|e| e.kind()),
            Some(io::ErrorKind::Other)
        );
        assert_eq!(volumes(&s, 1).unwrap(), all);
        assert_eq!(volumes(&s, 2).unwrap(), all[..10]);
        assert_eq!(volumes(&s, 3).unwrap(), all);
        assert_eq!(s.total_records(), 3 * n as u64 + 10);
        s.fill_counted(&again).unwrap();
        assert!(!s.has_counted());
        assert_eq!(volumes(&s, 0).unwrap(), all);
        assert_eq!(s.probation, s.scopes[2].kept);
    }

    #[test]
    fn scopes_kept_in_part_keep_their_derived_records_only() {
        let mut s = Spill::new().unwrap();
        s.expect_settled(
            ["A", "B", "C"].map(|c| ScopeKey {
                customer: c.into(),
                media: "LTO".into(),
            }),
            true,
        );
        s.derive_texts_on_read(Arc::new(Words));
        let mut again = Spill::new().unwrap();
        for i in 0..5000u64 {
            let v = format!("V{i}");
            // A: a few lines derived among known ones; B: the same, to be counted instead;
            // C: every line derived; D: not expected, kept whole.
            let a = if i % 1000 == 7 {
                record(i, &v)
            } else {
                text(i, &v)
            };
            for scope in ["A", "B", "D"] {
                s.push_encoded(scope, "LTO", &a).unwrap();
            }
            s.push_encoded("C", "LTO", &record(i, &v)).unwrap();
            again.push_encoded("B", "LTO", &text(i, &v)).unwrap();
        }
        s.finish_writing().unwrap();
        again.finish_writing().unwrap();
        let derived: Vec<String> = (0..5).map(|k| format!("V{}", k * 1000 + 7)).collect();
        let hashes: Vec<u64> = derived.iter().map(|v| volume_hash(v)).collect();
        let parts = s.in_part();
        // In order of first appearance: A, B, D, C.
        assert_eq!(parts[0], Some(&hashes[..]));
        assert_eq!(parts[2], None);
        assert_eq!(s.counted_texts(0), 4995);
        assert_eq!(s.counted_texts(3), 0);
        // Only the derived records are read back, and counted as such.
        let records = s.read(0).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(volumes(&s, 0).unwrap(), derived);
        s.keep_whole(3);
        assert_eq!(s.in_part()[3], None);
        assert_eq!(volumes(&s, 3).unwrap().len(), 5000);
        s.count_instead(1);
        assert!(s.has_counted());
        assert!(s.read(1).is_err());
        s.fill_counted(&again).unwrap();
        assert_eq!(volumes(&s, 1).unwrap().len(), 5000);
        assert_eq!(s.total_records(), 4 * 5000);
        assert_eq!(volumes(&s, 2).unwrap().len(), 5000);
    }
}
