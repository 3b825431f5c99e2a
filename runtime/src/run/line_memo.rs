//! The line memo: what each line of last night's report gave, keyed by a fingerprint of the
//! line, so that pass 1 need not derive a line that is byte for byte one of the last run's
//! (docs/running.md, "The line memo"). A *memo of scopes* (the default) keeps only each line's
//! scope: pass 1 spills the line's text under it, derived only when pass 2 reads the scope
//! (`kept_texts.rs`), so a settled scope's lines are never derived. A *memo of records*
//! (`TAPESYNC_LINE_MEMO=on`) also keeps each line's record, which pass 1 copies.
//!
//! **Why it is exact.** For the plans it is used with ([`eligible`]) a record depends on
//! nothing but its line and the plan: no header section, no "now", no neighbouring lines,
//! and a record is one line. A copied record is the very bytes deriving gave (kept as they
//! were spilled, with the line number put back); a text is derived later as pass 1 would have
//! derived it, and must give a record of the scope the memo named. So everything after pass 1
//! — the spill, the diff, every count and message — is what it would have been. Only records
//! are kept: a line that was excluded or rejected is derived again (its message comes from
//! deriving it). The memo is keyed by the plan, the source's name, its kind and the running
//! executable (its size and modification time), so a changed definition or a new build never
//! reads an old memo.
//!
//! **Files.** The *index* (`.tsm`) has one entry per body record of the last run, in input
//! order: the line's fingerprint and its scope, and for a memo of records where its record is
//! in the *data* file (`.tsd`), with a CRC-32 of the record. The data file is only ever
//! appended to, so a night with 1 % of its lines changed writes 1 % of the records (and the
//! index). Records appended after the last fresh file are out of the report's order and are
//! read one at a time, so when they pass a tenth of the records in use (or more than half of
//! the file is records no entry points at) the run writes a fresh file. The index is read
//! whole and checked by its own CRC-32; records are read where they are needed, a window at a
//! time (tonight's lines come in last night's order, so the reads run through the file front
//! to back), and each is checked against its entry's CRC before it is used: a record that
//! fails is derived instead.
//!
//! **Finding a line.** The k-th body record of tonight is first compared with the k-th
//! entry, then with its neighbours; a run of misses (lines inserted or removed above) turns
//! to an index of every fingerprint, built once, and the offset it finds is tried first for
//! the next records.
//!
//! **Writing.** While every entry so far equals the memo's at the same position nothing is
//! written, and a night with nothing changed writes nothing. At the first difference the
//! equal entries are copied from the old index and the rest follow. Index files are written
//! to a temporary file and renamed; data files carry a random identity that the index names,
//! so an index never reads another data file's records. Nothing is synced: a memo lost in a
//! crash only means deriving once more.
//!
//! Index format (little-endian): magic `TSLNMEMO`, format (u32), the entries, then a trailer —
//! the key (u32 length, UTF-8), the data file's identity (u64) and its length when it was
//! written fresh (u64), both 0 for a memo of scopes, the scope table (u32 count, then per scope
//! the customer and media, each a u16 length and UTF-8) and the number of entries (u64) —,
//! the trailer's length (u32) and a CRC-32 of everything before it (u32). The entries come
//! first so that a run streams them to the file as pass 1 goes. An entry of a memo of records
//! is 36 bytes: fingerprint u128, offset u64 in the data file, length u32, scope u32 —
//! [`NO_RECORD`] for a line that gave no record —, CRC-32 u32 of the record; of a memo of
//! scopes, 28: the fingerprint, the scope and the hash of the record's Volume-ID
//! (`spill::volume_hash`, u64; 0 for no record).
//! Data format: magic `TSLNDATA`, the identity (u64), then records (spill encoding, line
//! number zeroed).

use crate::cache_file::{put_text, Reader};
use crate::spill::read_at;
use rustc_hash::{FxHashMap, FxHashSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tapesync_compiler::plan::{ExtractSource, Plan, RecordFormat};
use tapesync_model::ScopeKey;

const MAGIC: &[u8; 8] = b"TSLNMEMO";
const DATA_MAGIC: &[u8; 8] = b"TSLNDATA";
const DATA_HEAD: u64 = 16;
const FORMAT: u32 = 4;
/// Where the entries begin: after the magic and the format.
const ENTRIES_AT: usize = 12;
/// An index entry's scope for a line that gave no record (excluded or rejected).
const NO_RECORD: u32 = u32::MAX;
const ENTRY: usize = 36;
/// Bytes of an index entry of a memo of scopes: the fingerprint, the scope and the hash of
/// the record's volume.
const SCOPE_ENTRY: usize = 28;

/// Bytes of an index entry of a memo that keeps records or not.
fn entry_size(records: bool) -> usize {
    if records {
        ENTRY
    } else {
        SCOPE_ENTRY
    }
}
/// Positional misses in a row after which the index of every fingerprint is consulted (and
/// built, the first time): a line changed in place misses once and must not cost the whole
/// index.
const MISSES_BEFORE_INDEX: u32 = 4;
/// Bytes of the data file read at a time: tonight's hits mostly follow last night's order.
const WINDOW: usize = 256 * 1024;

/// Environment variable: `on` keeps the line memo's files (records copied instead of
/// derived), `off` fingerprints nothing (no settled scopes either — for comparisons); unset
/// or anything else, lines are fingerprinted for settled scopes only.
pub const LINE_MEMO_ENV: &str = "TAPESYNC_LINE_MEMO";

/// A line's fingerprint.
pub(crate) type Fingerprint = u128;

pub(crate) fn fingerprint(raw: &str) -> Fingerprint {
    xxhash_rust::xxh3::xxh3_128(raw.as_bytes())
}

/// The fingerprint of a record's lines: its line's, for a record of one line (the only kind
/// the memo is kept for, [`eligible`]); of all of them, each ended by a line feed, otherwise.
pub(crate) fn fingerprint_record(lines: &[crate::read::RawRecord]) -> Fingerprint {
    match lines {
        [one] => fingerprint(&one.raw),
        _ => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for l in lines {
                h.update(l.raw.as_bytes());
                h.update(b"\n");
            }
            h.digest128()
        }
    }
}

/// Whether a record of `plan` depends on its line alone: one line per record (no grouping,
/// no key/value blocks, no ruler above it), nothing taken from a header section, and no
/// repository rule (they compare dates with "now").
pub(crate) fn eligible(plan: &Plan) -> bool {
    let from_header = |source: &ExtractSource| match source {
        ExtractSource::Columns { record, .. } | ExtractSource::ElementFromEnd { record, .. } => {
            *record != 0
        }
        ExtractSource::HeaderElement { .. } => true,
        _ => false,
    };
    plan.grouping.is_none()
        && plan.repository_on_move_date.is_empty()
        && plan.repository_on_write_time.is_empty()
        && matches!(
            plan.format,
            RecordFormat::Delimited { .. } | RecordFormat::Whitespace | RecordFormat::FixedColumns
        )
        && !plan.extractions.iter().any(|e| from_header(&e.source))
}

/// Where a run's memo lives and what it must have been written for.
#[derive(Debug, Clone)]
pub(crate) struct MemoSettings {
    /// The index; the data file is beside it (extension `tsd`).
    path: PathBuf,
    key: String,
    /// Whether the records are kept (a data file beside the index), or only each line's
    /// scope.
    records: bool,
}

impl MemoSettings {
    /// The memo of `plan` over the source `source_name`, in `cache_dir`; `None` when the plan
    /// is not [`eligible`], the memo is turned off, or the executable cannot be identified.
    pub(crate) fn for_run(plan: &Plan, cache_dir: &Path, source_name: &str) -> Option<Self> {
        use sha2::Digest;
        if !eligible(plan)
            || std::env::var(LINE_MEMO_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))
        {
            return None;
        }
        // A new build may derive differently: its memo is not this one's.
        let exe = std::env::current_exe().ok()?.metadata().ok()?;
        let modified = exe
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let mut identity = plan.clone();
        identity.definition.clear();
        identity.input = Default::default();
        let plan_hash = hex::encode(sha2::Sha256::digest(serde_json::to_vec(&identity).ok()?));
        let records =
            std::env::var(LINE_MEMO_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("on"));
        let key = format!(
            "format={FORMAT}\nexe={}:{modified}\nplan={plan_hash}\nsource={source_name}",
            exe.len()
        );
        // One memo per definition and source: a changed definition replaces it.
        let name = sha2::Sha256::digest(format!("{}\n{source_name}", plan.definition));
        Some(MemoSettings {
            path: cache_dir
                .join("lines")
                .join(format!("{}.tsm", &hex::encode(name)[..32])),
            key,
            records,
        })
    }

    #[cfg(test)]
    pub(crate) fn at(path: PathBuf, key: &str) -> Self {
        MemoSettings {
            path,
            key: key.to_string(),
            records: true,
        }
    }

    /// The same memo keeping only each line's scope.
    #[cfg(test)]
    pub(crate) fn scopes_only(mut self) -> Self {
        self.records = false;
        self
    }

    /// Whether the memo keeps records (`TAPESYNC_LINE_MEMO=on`), or only each line's scope
    /// (the default): a data file of records costs a first run about a fifth more
    /// (docs/benchmarks.md, "Round 8").
    pub(crate) fn keeps_records(&self) -> bool {
        self.records
    }

    fn data_path(&self) -> PathBuf {
        self.path.with_extension("tsd")
    }

    /// Where the run's settled scopes are kept (`settled.rs`).
    pub(crate) fn settled_path(&self) -> PathBuf {
        self.path.with_extension("tss")
    }

    /// What the memo is for: plan, input and executable (settled scopes are kept for it too,
    /// whichever kind of memo the run keeps).
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The key a memo file is written for: [`MemoSettings::key`] and the kind of memo.
    fn memo_key(&self) -> String {
        format!("{}\nrecords={}", self.key, self.records)
    }
}

/// Why a memo could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// No memo, or one written for another plan, source or build, or its data file is gone
    /// or another one.
    Absent,
    /// Damaged, truncated or not a memo (reported as a warning; the run rewrites it).
    Damaged(String),
}

/// A memo read from disk: its index in memory, its data file open.
pub(crate) struct LineMemo {
    index: Vec<u8>,
    /// Where the entries begin in `index`.
    entries_at: usize,
    entries: usize,
    scopes: Vec<ScopeKey>,
    /// The data file, for a memo that keeps records.
    data: Option<File>,
    data_id: u64,
    /// Length of the data file when it was opened, when it was last written fresh, and the
    /// bytes of it that entries use.
    data_len: u64,
    base: u64,
    live: u64,
    /// Fingerprint (its low 64 bits) → entry, for lines that moved; built on first need.
    by_fingerprint: OnceLock<FxHashMap<u64, u32>>,
    /// One bit per entry: a line of tonight was taken as it ([`LineMemo::mark`]).
    marks: Vec<AtomicU64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    fingerprint: Fingerprint,
    offset: u64,
    len: u32,
    scope: u32,
    crc: u32,
    volume: u64,
}

/// Where a record is in the data file, and how to check it; the hash of its volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    offset: u64,
    len: u32,
    crc: u32,
    volume: u64,
}

/// A line found in the memo.
pub(crate) struct Hit<'m> {
    pub(crate) scope: &'m ScopeKey,
    pub(crate) stored: Stored,
    /// Its entry.
    entry: usize,
}

/// Where a deriving thread looks first: the offset between tonight's positions and the
/// memo's that the last hit found, and the positional misses since.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cursor {
    shift: i64,
    misses: u32,
}

impl LineMemo {
    pub(crate) fn load(settings: &MemoSettings) -> Result<LineMemo, Unusable> {
        let path = &settings.path;
        let damaged =
            |why: &dyn std::fmt::Display| Unusable::Damaged(format!("{}: {why}", path.display()));
        let mut index = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut index).map_err(|e| damaged(&e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unusable::Absent),
            Err(e) => return Err(damaged(&e)),
        };
        if index.len() < 20 || &index[..MAGIC.len()] != MAGIC {
            return Err(damaged(&"not a line memo"));
        }
        let crc_at = index.len() - 4;
        if crc32fast::hash(&index[..crc_at]) != u32_at(&index, crc_at) {
            return Err(damaged(&"damaged or truncated (checksum)"));
        }
        if u32_at(&index, 8) != FORMAT {
            return Err(Unusable::Absent);
        }
        let bad = || damaged(&"inconsistent sizes");
        // The trailer: everything but the entries, which the writer streams before it.
        let trailer_len = u32_at(&index, crc_at - 4) as usize;
        let trailer_at = (crc_at - 4)
            .checked_sub(trailer_len)
            .filter(|t| *t >= ENTRIES_AT)
            .ok_or_else(bad)?;
        let trailer = &index[trailer_at..crc_at - 4];
        let mut r = Reader::new(trailer);
        let key_len = r.u32().ok_or_else(bad)? as usize;
        if r.bytes(key_len) != Some(settings.memo_key().as_bytes()) {
            return Err(Unusable::Absent);
        }
        let data_id = r.u64().ok_or_else(bad)?;
        let base = r.u64().ok_or_else(bad)?;
        let rest = &trailer[r.at..];
        let (scopes, used) = read_scopes(rest).ok_or_else(bad)?;
        let mut r = Reader::new(&rest[used..]);
        let entries = r.u64().ok_or_else(bad)?;
        if !r.is_done() {
            return Err(bad());
        }
        let at = ENTRIES_AT;
        let entries = usize::try_from(entries)
            .ok()
            .filter(|n| {
                n.checked_mul(entry_size(settings.records))
                    .and_then(|b| b.checked_add(at))
                    == Some(trailer_at)
            })
            .ok_or_else(bad)?;
        if !settings.records {
            let memo = LineMemo {
                index,
                entries_at: at,
                entries,
                scopes,
                data: None,
                data_id: 0,
                data_len: 0,
                base: 0,
                live: 0,
                by_fingerprint: OnceLock::new(),
                marks: marks(entries),
            };
            let bad_scope = (0..memo.entries).any(|k| {
                let scope = memo.entry(k).scope;
                scope != NO_RECORD && scope as usize >= memo.scopes.len()
            });
            if bad_scope {
                return Err(damaged(&"an entry names no scope"));
            }
            return Ok(memo);
        }
        let data_path = settings.data_path();
        // Opened for appending too: tonight's records go to this very file (not to whatever
        // the path names by then), or to a fresh one.
        let mut data = match std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&data_path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unusable::Absent),
            Err(e) => return Err(damaged(&e)),
        };
        let mut head = [0u8; DATA_HEAD as usize];
        if data.read_exact(&mut head).is_err()
            || &head[..8] != DATA_MAGIC
            || u64_at(&head, 8) != data_id
        {
            // Another run's data file (or none): nothing of this index can be read.
            return Err(Unusable::Absent);
        }
        let data_len = data.seek(io::SeekFrom::End(0)).map_err(|e| damaged(&e))?;
        if base < DATA_HEAD || base > data_len {
            return Err(Unusable::Absent);
        }
        let mut memo = LineMemo {
            index,
            entries_at: at,
            entries,
            scopes,
            data: Some(data),
            data_id,
            data_len,
            base,
            live: 0,
            by_fingerprint: OnceLock::new(),
            marks: marks(entries),
        };
        // Entries that point outside the data file or at no scope are checked here, so that
        // a hit never reads outside it; their records are checked by CRC when read.
        for k in 0..memo.entries {
            let e = memo.entry(k);
            if e.scope == NO_RECORD {
                continue;
            }
            let inside = e.offset >= DATA_HEAD
                && e.offset
                    .checked_add(u64::from(e.len))
                    .is_some_and(|end| end <= data_len);
            if (e.scope as usize) >= memo.scopes.len() || !inside || e.len < 8 {
                return Err(damaged(&"an entry points outside the data file"));
            }
            memo.live += u64::from(e.len);
        }
        Ok(memo)
    }

    /// Whether the memo has records to copy, or only the scope of each line.
    pub(crate) fn keeps_records(&self) -> bool {
        self.data.is_some()
    }

    /// Number of body records the memo was written from.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    fn entry(&self, k: usize) -> Entry {
        let size = entry_size(self.data.is_some());
        let at = self.entries_at + k * size;
        let b = &self.index[at..at + size];
        if size == SCOPE_ENTRY {
            return Entry {
                fingerprint: u128::from_le_bytes(b[..16].try_into().expect("16 bytes")),
                offset: 0,
                len: 0,
                scope: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
                crc: 0,
                volume: u64::from_le_bytes(b[20..28].try_into().expect("8 bytes")),
            };
        }
        Entry {
            fingerprint: u128::from_le_bytes(b[..16].try_into().expect("16 bytes")),
            offset: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            len: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
            scope: u32::from_le_bytes(b[28..32].try_into().expect("4 bytes")),
            crc: u32::from_le_bytes(b[32..36].try_into().expect("4 bytes")),
            volume: 0,
        }
    }

    fn hit_at(&self, k: i64, fp: Fingerprint) -> Option<Hit<'_>> {
        let k = usize::try_from(k).ok().filter(|k| *k < self.entries)?;
        let e = self.entry(k);
        if e.fingerprint != fp || e.scope == NO_RECORD {
            return None;
        }
        Some(Hit {
            scope: &self.scopes[e.scope as usize],
            stored: Stored {
                offset: e.offset,
                len: e.len,
                crc: e.crc,
                volume: e.volume,
            },
            entry: k,
        })
    }

    /// Notes that a line of tonight was taken as `hit` (found, and its record copied or its
    /// text kept): [`LineMemo::sweep`] tells the entries no line was.
    pub(crate) fn mark(&self, hit: &Hit<'_>) {
        self.marks[hit.entry / 64].fetch_or(1 << (hit.entry % 64), Ordering::Relaxed);
    }

    /// After pass 1, for the scopes `wanted` (each with the hashes of the volumes of its
    /// records derived tonight): per scope, the volume hashes of its entries that no line of
    /// tonight was taken as, and whether a derived record's volume is also that of an entry a
    /// line was taken as. Only a memo of scopes keeps volume hashes.
    pub(crate) fn sweep(&self, wanted: &[(&ScopeKey, &[u64])]) -> Vec<Swept> {
        let mut out: Vec<Swept> = wanted.iter().map(|_| Swept::default()).collect();
        let by_key: FxHashMap<&ScopeKey, usize> = wanted
            .iter()
            .enumerate()
            .map(|(j, (k, _))| (*k, j))
            .collect();
        // The memo's scope numbers → the wanted scope.
        let target: Vec<Option<usize>> =
            self.scopes.iter().map(|k| by_key.get(k).copied()).collect();
        let derived: Vec<FxHashSet<u64>> = wanted
            .iter()
            .map(|(_, d)| d.iter().copied().collect())
            .collect();
        for k in 0..self.entries {
            let e = self.entry(k);
            let Some(Some(j)) = target.get(e.scope as usize) else {
                continue;
            };
            out[*j].lines.add(e.fingerprint);
            let marked = self.marks[k / 64].load(Ordering::Relaxed) & (1 << (k % 64)) != 0;
            if !marked {
                out[*j].unmarked.push(e.volume);
            } else if derived[*j].contains(&e.volume) {
                out[*j].shared = true;
            }
        }
        out
    }

    /// The record of the body record at `ordinal` (0-based, input order) whose line has the
    /// fingerprint `fp`, if the memo has one.
    pub(crate) fn find(
        &self,
        ordinal: u64,
        fp: Fingerprint,
        cursor: &mut Cursor,
    ) -> Option<Hit<'_>> {
        let at = i64::try_from(ordinal).ok()?;
        for d in [0, 1, -1, 2, -2] {
            if let Some(hit) = self.hit_at(at + cursor.shift + d, fp) {
                cursor.shift += d;
                cursor.misses = 0;
                return Some(hit);
            }
        }
        cursor.misses += 1;
        if cursor.misses < MISSES_BEFORE_INDEX && self.by_fingerprint.get().is_none() {
            return None;
        }
        let index = self.by_fingerprint.get_or_init(|| self.build_index());
        let k = *index.get(&(fp as u64))?;
        let hit = self.hit_at(i64::from(k), fp)?;
        cursor.shift = i64::from(k) - at;
        cursor.misses = 0;
        Some(hit)
    }

    fn build_index(&self) -> FxHashMap<u64, u32> {
        let mut index = FxHashMap::default();
        index.reserve(self.entries);
        for k in 0..self.entries {
            let e = self.entry(k);
            if e.scope != NO_RECORD {
                // The first of identical lines; any of them gives the same record.
                index.entry(e.fingerprint as u64).or_insert(k as u32);
            }
        }
        index
    }
}

/// What [`LineMemo::sweep`] tells of one scope.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Volume hashes of the scope's entries that no line of tonight was taken as.
    pub(crate) unmarked: Vec<u64>,
    /// A record derived tonight names the volume of an entry a line was taken as.
    pub(crate) shared: bool,
    /// The scope's entries (the lines of the run that wrote the memo).
    pub(crate) lines: super::settled::LineDigest,
}

fn marks(entries: usize) -> Vec<AtomicU64> {
    (0..entries.div_ceil(64))
        .map(|_| AtomicU64::new(0))
        .collect()
}

/// Reads a memo's records for one thread: a window of the data file at a time.
#[derive(Default)]
pub(crate) struct Records {
    window: Vec<u8>,
    /// Offset in the data file of `window[0]`.
    start: u64,
    single: Vec<u8>,
}

impl Records {
    /// Appends the record `hit` names to `out`, with the line number `line`; `false` (and
    /// nothing appended) when it cannot be read or fails its check — the line is then
    /// derived.
    pub(crate) fn put(
        &mut self,
        memo: &LineMemo,
        hit: &Hit<'_>,
        line: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(data) = &memo.data else {
            return false;
        };
        let Stored {
            offset, len, crc, ..
        } = hit.stored;
        let len = len as usize;
        let end = offset + len as u64;
        let in_window = offset >= self.start && end <= self.start + self.window.len() as u64;
        let bytes: &[u8] = if in_window {
            let from = (offset - self.start) as usize;
            &self.window[from..from + len]
        } else if offset < memo.base && (offset >= self.start || self.window.is_empty()) {
            // Ahead of the window, in the part written in last night's order (the usual
            // case): the next window. The other threads took the records in between.
            let size = (WINDOW.max(len) as u64).min(memo.data_len.saturating_sub(offset)) as usize;
            self.window.resize(size, 0);
            if read_at(data, &mut self.window, offset).is_err() {
                self.window.clear();
                return false;
            }
            self.start = offset;
            &self.window[..len]
        } else {
            // A record behind the window (a line that moved) or appended after the file was
            // written fresh (out of the report's order): read alone.
            self.single.resize(len, 0);
            if read_at(data, &mut self.single, offset).is_err() {
                return false;
            }
            &self.single
        };
        if record_crc(bytes) != crc {
            return false;
        }
        out.extend_from_slice(&line.to_le_bytes());
        out.extend_from_slice(&bytes[8..]);
        true
    }
}

/// The check of a stored record (line number zeroed).
fn record_crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The scope table at the start of `b`, and its length in bytes.
fn read_scopes(b: &[u8]) -> Option<(Vec<ScopeKey>, usize)> {
    let mut r = Reader::new(b);
    let scopes = (0..r.u32()?)
        .map(|_| {
            Some(ScopeKey {
                customer: r.text()?,
                media: r.text()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((scopes, r.at))
}

/// Writes tonight's memo while pass 1 spills (on the run's thread, in input order).
pub(crate) struct MemoWriter {
    settings: MemoSettings,
    old: Option<Arc<LineMemo>>,
    /// Body records so far.
    entries: u64,
    /// Whether every entry so far is the old memo's at the same position.
    same: bool,
    out: Option<Pending>,
}

/// A memo being written, once it differs from the old one.
struct Pending {
    index: IndexOut,
    /// For a memo that keeps records.
    data: Option<DataOut>,
}

/// The index being written: streamed to a temporary file beside the memo (a million entries
/// gathered in memory first cost a cold run more in fresh pages than writing them), with the
/// CRC-32 of everything written so far.
struct IndexOut {
    file: io::BufWriter<File>,
    path: tempfile::TempPath,
    crc: crc32fast::Hasher,
}

impl IndexOut {
    fn create(dir: &Path) -> io::Result<IndexOut> {
        let (file, path) = tempfile::Builder::new()
            .prefix(".tapesync-memo")
            .tempfile_in(dir)?
            .into_parts();
        let mut out = IndexOut {
            file: io::BufWriter::with_capacity(1 << 16, file),
            path,
            crc: crc32fast::Hasher::new(),
        };
        out.put(MAGIC)?;
        out.put(&FORMAT.to_le_bytes())?;
        Ok(out)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.file.write_all(bytes)
    }

    /// Writes the trailer and the CRC, and puts the file at `path`.
    fn finish(mut self, trailer: &[u8], path: &Path) -> io::Result<()> {
        self.put(trailer)?;
        self.put(&(trailer.len() as u32).to_le_bytes())?;
        let crc = self.crc.clone().finalize();
        self.file.write_all(&crc.to_le_bytes())?;
        self.file.into_inner().map_err(|e| e.into_error())?;
        self.path.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The data file being written: the old one appended to, or a fresh one.
struct DataOut {
    file: io::BufWriter<File>,
    /// Where the next record goes.
    at: u64,
    id: u64,
    /// Length of the data file when it was last written fresh.
    base: u64,
    /// A fresh file, renamed into place when the memo is finished.
    fresh: Option<tempfile::TempPath>,
}

impl MemoWriter {
    /// Tonight's memo, appended to `old` — or, when there is none or its data file has
    /// grown too far from a fresh one, written anew.
    pub(crate) fn new(settings: MemoSettings, old: Option<Arc<LineMemo>>) -> MemoWriter {
        let old = old.filter(|old| {
            if old.data.is_none() {
                return !settings.records;
            }
            if !settings.records {
                return false;
            }
            let appended = old.data_len - old.base;
            // Records appended since the last fresh write are read one by one (they are out
            // of last night's order), and records nobody uses only take room.
            appended.saturating_mul(10) <= old.live
                && old.live.saturating_mul(2) >= old.data_len - DATA_HEAD
        });
        MemoWriter {
            settings,
            same: old.is_some(),
            old,
            entries: 0,
            out: None,
        }
    }

    /// The next body record gave the spilled `encoded` record, of scope number `scope` in
    /// the spill's order; `stored` says where it is in the old memo's data file when it was
    /// copied from there.
    pub(crate) fn record(
        &mut self,
        fp: Fingerprint,
        scope: usize,
        encoded: &[u8],
        stored: Option<Stored>,
    ) -> io::Result<()> {
        let scope = u32::try_from(scope)
            .ok()
            .filter(|s| *s != NO_RECORD)
            .ok_or_else(|| io::Error::other("too many scopes for the line memo"))?;
        self.next(fp, Some((scope, encoded, stored)))
    }

    /// The next body record gave no record (it was excluded or rejected).
    pub(crate) fn no_record(&mut self, fp: Fingerprint) -> io::Result<()> {
        self.next(fp, None)
    }

    fn next(
        &mut self,
        fp: Fingerprint,
        record: Option<(u32, &[u8], Option<Stored>)>,
    ) -> io::Result<()> {
        if self.out.is_none() && self.same {
            // Deriving is a function of the line: the same fingerprint at the same position
            // gives the same entry (the scope numbers agree while every entry before agrees).
            let old_entry = self.old.as_ref().and_then(|m| {
                usize::try_from(self.entries)
                    .ok()
                    .filter(|k| *k < m.entries)
                    .map(|k| m.entry(k))
            });
            if old_entry
                .is_some_and(|e| e.fingerprint == fp && (e.scope == NO_RECORD) == record.is_none())
            {
                self.entries += 1;
                return Ok(());
            }
        }
        if self.out.is_none() {
            self.diverge()?;
        }
        let out = self.out.as_mut().expect("diverge opened the memo");
        let entry = match (record, out.data.as_mut()) {
            (None, _) => Entry {
                fingerprint: fp,
                offset: 0,
                len: 0,
                scope: NO_RECORD,
                crc: 0,
                volume: 0,
            },
            // A memo of scopes only: the volume's hash comes with a line found in the old
            // memo (whose text was kept), or from the record derived.
            (Some((scope, encoded, stored)), None) => Entry {
                fingerprint: fp,
                offset: 0,
                len: 0,
                scope,
                crc: 0,
                volume: match (stored, crate::spill::encoded_volume(encoded)) {
                    (Some(stored), _) => stored.volume,
                    (None, Some(volume)) => crate::spill::volume_hash(volume),
                    (None, None) => {
                        return Err(io::Error::other("a line memo entry without its volume"))
                    }
                },
            },
            // Already in the data file being appended to.
            (Some((scope, _, Some(stored))), Some(data)) if data.fresh.is_none() => Entry {
                fingerprint: fp,
                offset: stored.offset,
                len: stored.len,
                scope,
                crc: stored.crc,
                volume: 0,
            },
            (Some((scope, encoded, _)), Some(data)) => {
                let len = u32::try_from(encoded.len())
                    .ok()
                    .filter(|n| *n >= 8)
                    .ok_or_else(|| io::Error::other("a record the line memo cannot hold"))?;
                let mut h = crc32fast::Hasher::new();
                // The line number is not part of what a line gives.
                h.update(&[0; 8]);
                h.update(&encoded[8..]);
                data.file.write_all(&[0; 8])?;
                data.file.write_all(&encoded[8..])?;
                let offset = data.at;
                data.at += u64::from(len);
                Entry {
                    fingerprint: fp,
                    offset,
                    len,
                    scope,
                    crc: h.finalize(),
                    volume: 0,
                }
            }
        };
        let (bytes, len) = entry_bytes(&entry, self.settings.records);
        out.index.put(&bytes[..len])?;
        self.entries += 1;
        Ok(())
    }

    /// The first entry that differs from the old memo (or the first entry of a memo written
    /// anew): opens the data file and copies the old entries before this one, which keep
    /// pointing where they point.
    fn diverge(&mut self) -> io::Result<()> {
        self.same = false;
        let dir = self.settings.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut index = IndexOut::create(dir)?;
        if let Some(old) = &self.old {
            let kept = self.entries as usize * entry_size(old.data.is_some());
            index.put(&old.index[old.entries_at..old.entries_at + kept])?;
        }
        let data = match &self.old {
            Some(old) if old.data.is_none() => None,
            None if !self.settings.records => None,
            Some(old) => {
                let mut file = old.data.as_ref().expect("a memo of records").try_clone()?;
                let at = file.seek(io::SeekFrom::End(0))?;
                let data = DataOut {
                    // Appends go to the end whatever was there; a concurrent writer's bytes
                    // make this run's records fail their check, never pass it.
                    at,
                    file: io::BufWriter::with_capacity(1 << 16, file),
                    id: old.data_id,
                    base: old.base,
                    fresh: None,
                };
                Some(data)
            }
            None => {
                let id = fastrand::u64(..);
                let (file, path) = tempfile::Builder::new()
                    .prefix(".tapesync-memo")
                    .tempfile_in(dir)?
                    .into_parts();
                let mut file = io::BufWriter::with_capacity(1 << 20, file);
                file.write_all(DATA_MAGIC)?;
                file.write_all(&id.to_le_bytes())?;
                let data = DataOut {
                    file,
                    at: DATA_HEAD,
                    id,
                    base: 0,
                    fresh: Some(path),
                };
                Some(data)
            }
        };
        self.out = Some(Pending { index, data });
        Ok(())
    }

    /// Ends the memo: `scopes` are the spill's scopes (the numbers the entries use). Writes
    /// nothing when the memo would be the old one; returns whether anything was written.
    pub(crate) fn finish(mut self, scopes: &[ScopeKey]) -> io::Result<bool> {
        let old_len = self.old.as_ref().map(|m| m.entries as u64);
        if self.same && old_len == Some(self.entries) {
            return Ok(false);
        }
        if self.out.is_none() {
            self.diverge()?;
        }
        let out = self.out.take().expect("diverge opened the memo");
        let (id, base) = match out.data {
            None => (0, 0),
            Some(DataOut {
                file,
                id,
                fresh,
                at,
                base,
            }) => {
                file.into_inner().map_err(|e| e.into_error())?;
                if let Some(path) = fresh {
                    path.persist(self.settings.data_path())
                        .map_err(|e| e.error)?;
                    // A fresh data file is the base that appends are measured from.
                    (id, at)
                } else {
                    (id, base)
                }
            }
        };
        let mut trailer = Vec::new();
        let key = self.settings.memo_key();
        let key = key.as_bytes();
        trailer.extend_from_slice(&(key.len() as u32).to_le_bytes());
        trailer.extend_from_slice(key);
        trailer.extend_from_slice(&id.to_le_bytes());
        trailer.extend_from_slice(&base.to_le_bytes());
        trailer.extend_from_slice(&(scopes.len() as u32).to_le_bytes());
        for s in scopes {
            put_text(&mut trailer, &s.customer, "a scope name")?;
            put_text(&mut trailer, &s.media, "a scope name")?;
        }
        trailer.extend_from_slice(&self.entries.to_le_bytes());
        out.index.finish(&trailer, &self.settings.path)?;
        Ok(true)
    }
}

/// An index entry as written: its first [`SCOPE_ENTRY`] or [`ENTRY`] bytes.
fn entry_bytes(e: &Entry, records: bool) -> ([u8; ENTRY], usize) {
    let mut b = [0u8; ENTRY];
    b[..16].copy_from_slice(&e.fingerprint.to_le_bytes());
    if !records {
        b[16..20].copy_from_slice(&e.scope.to_le_bytes());
        b[20..28].copy_from_slice(&e.volume.to_le_bytes());
        return (b, SCOPE_ENTRY);
    }
    b[16..24].copy_from_slice(&e.offset.to_le_bytes());
    b[24..28].copy_from_slice(&e.len.to_le_bytes());
    b[28..32].copy_from_slice(&e.scope.to_le_bytes());
    b[32..36].copy_from_slice(&e.crc.to_le_bytes());
    (b, ENTRY)
}

#[cfg(test)]
mod tests;
