//! The scope cache: the scope tables a run downloaded, kept in files between runs, so that a
//! scope nobody changed since is read from the local disk instead of the inventory.
//!
//! A cached table is used only when the inventory says the scope is still at the version the
//! table was read at (`Target::scope_versions`, one call per run) **and** the file proves to
//! be whole and meant for this use: its key names the same store identity, target (file path
//! or server URL), scope and compared fields. Anything else — a missing file, another
//! version, a damaged, truncated or foreign file, a versions call that failed — means a
//! download, exactly as without a cache, so a stale cache can never change a result.
//!
//! After a run applies changes to a scope it brings its copy up to date from its own batches
//! ([`written`]): only when every batch's answer says that the scope's version moved by that
//! batch's own write alone (`ScopeVersionStep::only_this_batch`, `before` equal to the
//! version the copy is at). Otherwise the entry is dropped and the next run downloads.
//!
//! The rows a run wrote go to the entry's **journal** (`.tsj` beside the `.tsc` file) instead
//! of a rewrite of the whole table: a night that changes 1 % of a scope writes that 1 %. A
//! journal names the entry file it follows (that file's CRC-32) and holds, in order, each
//! run's written rows with the versions before and after; loading applies the records that
//! follow on from the file's version, and the result must reach the version the inventory
//! tells. Once a journal passes an eighth of its entry's size (or 64 records), the run writes
//! the whole table again and removes the journal. A journal of another entry file is ignored
//! (never applied), a damaged one is reported and dropped with its entry.
//!
//! Journal format (little-endian): magic `TSSCJRNL`, format (u32), the entry file's CRC-32
//! (u32), the number of columns (u32), the number of records (u32); per record the version
//! before and after (u64 each) and the number of rows (u32), per row the Volume-ID (u16 length
//! and UTF-8), its version (u64) and per column a flag (u8, 1 for a value) and the value (u32
//! length and UTF-8); then a CRC-32 of everything before it. Replaced whole, like the entries.
//!
//! File format (little-endian): magic `TSSCACHE`, format version (u32), the key as a u32
//! length and UTF-8, the scope version (u64), the table as a u64 length and
//! `ScopeTable::encode` bytes, then a CRC-32 of everything before it (u32). Files are written
//! to a temporary file in the same directory and renamed over the old one, so concurrent runs
//! sharing a directory each see either the old file or the new one, never a mix.

use crate::scope::diff::PendingChange;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use tapesync_model::{
    canonicalise, ApplyResponse, Field, ScopeKey, ScopeTable, ScopeVersions, VolumeOutcome,
};

const MAGIC: &[u8; 8] = b"TSSCACHE";
const FORMAT: u32 = 1;
const JOURNAL_MAGIC: &[u8; 8] = b"TSSCJRNL";
const JOURNAL_FORMAT: u32 = 1;
/// Records a journal may hold before the table is written whole again.
const JOURNAL_RECORDS: usize = 64;

/// Where a run keeps its scope tables and which inventory they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// The cache directory (entries live in its `scopes/` subdirectory).
    pub dir: PathBuf,
    /// The inventory as the user named it: the store's path (absolute) or the server's URL
    /// (without password).
    pub target: String,
}

/// A run's view of the cache: its settings, the compared fields, and (once asked) the
/// inventory's identity and scope versions.
#[derive(Clone)]
pub struct ScopeCache {
    dir: PathBuf,
    target: String,
    columns: Vec<Field>,
    store: Option<String>,
    versions: BTreeMap<ScopeKey, u64>,
}

/// Why a cache entry was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No entry, or one for another store or version: an ordinary download.
    Absent,
    /// The file is damaged, truncated or not one of ours (reported as a warning).
    Damaged(String),
}

impl ScopeCache {
    pub fn new(settings: &CacheSettings, columns: &[Field]) -> ScopeCache {
        ScopeCache {
            dir: settings.dir.join("scopes"),
            target: settings.target.clone(),
            columns: columns.to_vec(),
            store: None,
            versions: BTreeMap::new(),
        }
    }

    /// Whether a file exists for `scope` (whatever its content): a run whose first scope
    /// has one waits for the versions before downloading anything.
    pub fn has_entry(&self, scope: &ScopeKey) -> bool {
        self.path(scope).exists()
    }

    /// Takes the inventory's answer to `Target::scope_versions`.
    pub fn set_versions(&mut self, versions: ScopeVersions) {
        self.store = Some(versions.store);
        self.versions = versions
            .scopes
            .into_iter()
            .map(|v| {
                (
                    ScopeKey {
                        customer: v.customer,
                        media: v.media,
                    },
                    v.version,
                )
            })
            .collect();
    }

    /// The inventory's version of `scope`, as the versions call told it.
    pub fn version_of(&self, scope: &ScopeKey) -> Option<u64> {
        self.versions.get(scope).copied()
    }

    /// The inventory's store identity, once the versions call told it.
    pub fn store(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Whether the versions are known (the versions call succeeded).
    pub fn is_ready(&self) -> bool {
        self.store.is_some()
    }

    fn key(&self, scope: &ScopeKey) -> Option<String> {
        let store = self.store.as_ref()?;
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name()).collect();
        Some(format!(
            "store={store}\ntarget={}\nscope={}/{}\ncolumns={}",
            self.target,
            scope.customer,
            scope.media,
            columns.join(",")
        ))
    }

    /// One file per target, scope and compared fields; a new store identity or version
    /// replaces it.
    fn path(&self, scope: &ScopeKey) -> PathBuf {
        use sha2::Digest;
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name()).collect();
        let name = sha2::Sha256::digest(format!(
            "{}\n{}/{}\n{}",
            self.target,
            scope.customer,
            scope.media,
            columns.join(",")
        ));
        self.dir.join(format!("{}.tsc", &hex::encode(name)[..32]))
    }

    /// Reads only the file's head: `Ok` when it claims to hold `scope` at its current
    /// version (the run then plans to read it instead of downloading); a head that is not one
    /// of ours is [`Miss::Damaged`] already here.
    pub fn check_head(&self, scope: &ScopeKey) -> Result<(), Miss> {
        let (Some(key), Some(version)) = (self.key(scope), self.versions.get(scope)) else {
            return Err(Miss::Absent);
        };
        let path = self.path(scope);
        let head = read_head(&path)?;
        compare_keys(&head.key, &key)
            .map_err(|why| Miss::Damaged(format!("{}: {why}", path.display())))?;
        if head.key != key {
            return Err(Miss::Absent);
        }
        if head.version == *version {
            return Ok(());
        }
        // Brought up to date by a journal?
        let records = self.read_journal(scope, head.crc)?;
        match follow(head.version, &records) {
            (reached, _) if reached == *version => Ok(()),
            _ => Err(Miss::Absent),
        }
    }

    /// The cached table of `scope` if it is whole and current.
    pub fn load(&self, scope: &ScopeKey) -> Result<ScopeTable, Miss> {
        let (Some(key), Some(version)) = (self.key(scope), self.versions.get(scope)) else {
            return Err(Miss::Absent);
        };
        let path = self.path(scope);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Damaged(format!("{}: {e}", path.display()))),
        };
        let damaged = |why: &str| Miss::Damaged(format!("{}: {why}", path.display()));
        let entry = Entry::decode(&bytes).map_err(|why| damaged(&why))?;
        compare_keys(entry.key, &key).map_err(|why| damaged(&why))?;
        if entry.key != key {
            return Err(Miss::Absent);
        }
        let records = if entry.version == *version {
            Vec::new()
        } else {
            self.read_journal(scope, entry.crc)?
        };
        let (reached, used) = follow(entry.version, &records);
        if reached != *version {
            return Err(Miss::Absent);
        }
        let table = ScopeTable::decode(entry.table).map_err(|e| damaged(&e.to_string()))?;
        if table.scope_version != entry.version || table.columns() != self.columns.as_slice() {
            return Err(damaged("the table does not match its key"));
        }
        if used == 0 {
            return Ok(table);
        }
        let mut rows = Written {
            from: entry.version,
            to: reached,
            rows: BTreeMap::new(),
        };
        for record in records.into_iter().take(used) {
            if record
                .rows
                .values()
                .any(|(_, values)| values.len() != self.columns.len())
            {
                return Err(damaged("the journal does not match its entry"));
            }
            rows.rows.extend(record.rows);
        }
        apply_written(&table, &rows).ok_or_else(|| damaged("the journal does not match its entry"))
    }

    /// The journal of `scope` if it follows the entry file whose CRC-32 is `crc` (records in
    /// order); none when there is no journal or it follows another file.
    fn read_journal(&self, scope: &ScopeKey, crc: u32) -> Result<Vec<Written>, Miss> {
        let path = self.journal_path(scope);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Miss::Damaged(format!("{}: {e}", path.display()))),
        };
        match decode_journal(&bytes) {
            Some((follows, records)) if follows == crc => Ok(records),
            Some(_) => Ok(Vec::new()),
            None => Err(Miss::Damaged(format!(
                "{}: a damaged or truncated journal",
                path.display()
            ))),
        }
    }

    /// Keeps the rows the run's own batches wrote (`rows`, from `base`'s version on): in the
    /// entry's journal when the entry file on disk is where they follow on from, otherwise —
    /// or when the journal has grown too large — as the whole table again.
    pub fn save_written(
        &self,
        scope: &ScopeKey,
        base: &ScopeTable,
        rows: Written,
    ) -> std::io::Result<()> {
        if self.key(scope).is_none() || rows.from != base.scope_version {
            return Ok(());
        }
        // The entry file's head and CRC only: reading and checking the whole file would cost
        // what the journal saves (a file damaged since is found when it is loaded).
        if let Some(Head {
            version, crc, size, ..
        }) = self.entry_head(scope)
        {
            let mut records = self.read_journal(scope, crc).unwrap_or_default();
            let (reached, used) = follow(version, &records);
            if reached == rows.from && used == records.len() {
                records.push(rows);
                let bytes = encode_journal(crc, self.columns.len(), &records)?;
                if records.len() <= JOURNAL_RECORDS && bytes.len() <= size / 8 {
                    return crate::cache_file::replace(
                        &self.journal_path(scope),
                        ".journal",
                        &[&bytes],
                    );
                }
                let rows = records.pop().expect("just pushed");
                return match apply_written(base, &rows) {
                    Some(table) => self.save(scope, &table),
                    None => {
                        self.forget(scope);
                        Ok(())
                    }
                };
            }
        }
        match apply_written(base, &rows) {
            Some(table) => self.save(scope, &table),
            None => {
                self.forget(scope);
                Ok(())
            }
        }
    }

    /// The head of `scope`'s entry file when it is ours and for this key.
    fn entry_head(&self, scope: &ScopeKey) -> Option<Head> {
        let key = self.key(scope)?;
        read_head(&self.path(scope)).ok().filter(|h| h.key == key)
    }

    fn journal_path(&self, scope: &ScopeKey) -> PathBuf {
        self.path(scope).with_extension("tsj")
    }

    /// Keeps `table` as the entry of `scope` (at the table's own version). Written to a
    /// temporary file and renamed over the old entry.
    pub fn save(&self, scope: &ScopeKey, table: &ScopeTable) -> std::io::Result<()> {
        let Some(key) = self.key(scope) else {
            return Ok(());
        };
        let mut bytes = Vec::with_capacity(table.encoded_len_hint() + key.len() + 40);
        write_head(&mut bytes, &key, table.scope_version);
        // The table's length goes before the table: written once the table is in place.
        let at = bytes.len();
        bytes.extend_from_slice(&0u64.to_le_bytes());
        table.encode_into(&mut bytes);
        let length = (bytes.len() - at - 8) as u64;
        bytes[at..at + 8].copy_from_slice(&length.to_le_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        // Private (0600 on Unix): the tables are inventory data.
        crate::cache_file::replace(&self.path(scope), ".entry", &[&bytes])?;
        // The journal followed the file just replaced (and would be ignored anyway).
        let _ = std::fs::remove_file(self.journal_path(scope));
        Ok(())
    }

    /// Drops the entry of `scope` and its journal (their content is in doubt).
    pub fn forget(&self, scope: &ScopeKey) {
        let _ = std::fs::remove_file(self.path(scope));
        let _ = std::fs::remove_file(self.journal_path(scope));
    }

    /// The file of `scope`'s entry (tests damage it on purpose).
    pub fn entry_path(&self, scope: &ScopeKey) -> PathBuf {
        self.path(scope)
    }

    /// The directory of the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether a file's key is for this target, scope and set of fields (`Ok`; the store
/// identity may differ: an entry of an older store is merely stale) or foreign.
fn compare_keys(found: &str, wanted: &str) -> Result<(), String> {
    let rest = |k: &'_ str| k.split_once('\n').map(|(_, r)| r.to_string());
    if rest(found).is_some() && rest(found) == rest(wanted) {
        Ok(())
    } else {
        Err("the file belongs to another target, scope or set of fields".into())
    }
}

fn write_head(out: &mut Vec<u8>, key: &str, version: u64) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&version.to_le_bytes());
}

struct Entry<'a> {
    key: &'a str,
    version: u64,
    table: &'a [u8],
    /// The file's CRC-32 (what a journal names).
    crc: u32,
}

impl<'a> Entry<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Entry<'a>, String> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err("not a tapesync scope cache file".into());
        }
        let Some((body, crc)) = bytes.split_last_chunk::<4>() else {
            return Err("truncated".into());
        };
        if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
            return Err("checksum mismatch (damaged or truncated)".into());
        }
        let mut at = 8;
        let mut take = |n: usize| -> Result<&'a [u8], String> {
            let end = at + n;
            let part = body.get(at..end).ok_or("truncated")?;
            at = end;
            Ok(part)
        };
        let format = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default());
        if format != FORMAT {
            return Err(format!("cache format {format} is not supported"));
        }
        let len = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default()) as usize;
        let key = std::str::from_utf8(take(len)?).map_err(|_| "the key is not UTF-8")?;
        let version = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default());
        let len = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default());
        let table = take(usize::try_from(len).map_err(|_| "too large")?)?;
        if at != body.len() {
            return Err("trailing bytes".into());
        }
        Ok(Entry {
            key,
            version,
            table,
            crc: u32::from_le_bytes(*crc),
        })
    }
}

/// `table` (the one the changes were diffed against) as the inventory holds it after the
/// run's own batches, or `None` when anything about it is in doubt: a batch that did not
/// answer, an answer without a version step, a version moved by anyone else, a conflict
/// (the table was not what the inventory held), a volume the answers and the table disagree
/// on, a value the inventory would not store as sent.
/// The scope's version after `response`'s batch, when the batch alone moved it from
/// `version`.
fn own_step(version: u64, response: &ApplyResponse) -> Option<u64> {
    let step = response.scope_version?;
    // One batch moves its scope by one write at most; anything more is not its alone,
    // whatever the flag says.
    let own = step.after == step.before || step.after == step.before + 1;
    (step.before == version && step.only_this_batch && own).then_some(step.after)
}

/// The scope's version after the run's batches of `changes` (cut in `batch_size`, answered
/// by `responses`), applied to the scope at `version` — when every change was applied as sent
/// (nothing rejected or in conflict, no compared field written that the changes did not set)
/// and every batch alone moved the scope. `None` when anything is in doubt. With no changes,
/// `version` itself (docs/running.md, "Settled scopes").
pub fn version_after_own(
    version: u64,
    changes: &[PendingChange],
    batch_size: usize,
    responses: &[ApplyResponse],
    compared: &[Field],
) -> Option<u64> {
    let chunks = changes.chunks(batch_size.max(1));
    if chunks.len() != responses.len() {
        return None;
    }
    let mut version = version;
    for (chunk, response) in chunks.zip(responses) {
        version = own_step(version, response)?;
        let as_sent = response.results.len() == chunk.len()
            && response.results.iter().all(|r| {
                matches!(
                    r.outcome,
                    VolumeOutcome::Applied { .. } | VolumeOutcome::Created { .. }
                )
            })
            && !response.implied.iter().any(|f| compared.contains(f));
        if !as_sent {
            return None;
        }
    }
    Some(version)
}

pub fn patched(
    table: &ScopeTable,
    changes: &[PendingChange],
    batch_size: usize,
    responses: &[ApplyResponse],
) -> Option<ScopeTable> {
    apply_written(table, &written(table, changes, batch_size, responses)?)
}

/// The rows a run's own batches wrote to a scope: per volume (in Volume-ID order) its version
/// and every column's value afterwards, and the scope's version before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub from: u64,
    pub to: u64,
    rows: BTreeMap<String, (u64, Vec<Option<String>>)>,
}

/// What [`patched`] writes into `table`, or `None` when anything is in doubt.
pub fn written(
    table: &ScopeTable,
    changes: &[PendingChange],
    batch_size: usize,
    responses: &[ApplyResponse],
) -> Option<Written> {
    let chunks = changes.chunks(batch_size.max(1));
    if chunks.len() != responses.len() {
        return None;
    }
    let width = table.columns().len();
    // Values the store wrote that no change of the run set: the table cannot follow them.
    if responses
        .iter()
        .any(|r| r.implied.iter().any(|f| table.columns().contains(f)))
    {
        return None;
    }
    let mut version = table.scope_version;
    // Volumes the batches wrote: their version and every column's value afterwards.
    let mut written: BTreeMap<String, (u64, Vec<Option<String>>)> = BTreeMap::new();
    for (chunk, response) in chunks.zip(responses) {
        version = own_step(version, response)?;
        if response.results.len() != chunk.len() {
            return None;
        }
        for (p, result) in chunk.iter().zip(&response.results) {
            let (new_version, created) = match result.outcome {
                VolumeOutcome::Applied { version } => (version, false),
                VolumeOutcome::Created { version } => (version, true),
                VolumeOutcome::Rejected { .. } => continue,
                VolumeOutcome::Conflict { .. } => return None,
            };
            let volume = tapesync_model::validate_volume_id(&p.change.volume).ok()?;
            let mut values = match (written.remove(&volume), table.find(&volume), created) {
                (Some((_, values)), _, false) => values,
                (None, Some(i), false) => (0..width)
                    .map(|c| table.value(i, c).map(str::to_string))
                    .collect(),
                (None, None, true) => vec![None; width],
                _ => return None,
            };
            for (field, value) in &p.change.set {
                let Some(column) = table.column(*field) else {
                    continue;
                };
                values[column] = match value.as_deref() {
                    None | Some("") => None,
                    Some(raw) => Some(canonicalise(*field, raw).ok()?),
                };
            }
            written.insert(volume, (new_version, values));
        }
    }
    Some(Written {
        from: table.scope_version,
        to: version,
        rows: written,
    })
}

/// `table` with `written`'s rows in place (a volume not in it is added), at `written.to`.
fn apply_written(table: &ScopeTable, written: &Written) -> Option<ScopeTable> {
    if written.from != table.scope_version {
        return None;
    }
    let mut out = ScopeTable::new(table.columns());
    out.customer_exists = table.customer_exists;
    out.media_exists = table.media_exists;
    out.repositories = table.repositories.clone();
    out.scope_version = written.to;
    out.reserve(table.len() + written.rows.len(), table.text_len());
    // The volumes between two written ones are copied as one run.
    let mut next = 0;
    for (v, (ver, values)) in &written.rows {
        let at = table.lower_bound(v);
        out.extend_from(table, next..at).ok()?;
        out.push(v, *ver, values.iter().map(Option::as_deref))
            .ok()?;
        next = if at < table.len() && table.volume(at) == v.as_str() {
            at + 1
        } else {
            at
        };
    }
    out.extend_from(table, next..table.len()).ok()?;
    Some(out)
}

/// How far `records` bring an entry at `version`: the version reached and how many records
/// (from the first) follow on one from the other.
fn follow(version: u64, records: &[Written]) -> (u64, usize) {
    let mut reached = version;
    let mut used = 0;
    for record in records {
        if record.from != reached {
            break;
        }
        reached = record.to;
        used += 1;
    }
    (reached, used)
}

/// What an entry file's head tells (and its last four bytes, its CRC-32), read without the
/// table: the key it was written for, the scope version, the CRC a journal names, its size.
struct Head {
    key: String,
    version: u64,
    crc: u32,
    size: usize,
}

/// Reads the head of the entry file at `path`: magic, format and key length, the key and
/// the version, then its CRC-32 at the end. No file is [`Miss::Absent`]; a head that is not
/// one of ours is [`Miss::Damaged`].
fn read_head(path: &Path) -> Result<Head, Miss> {
    use std::io::{Seek, SeekFrom};
    let damaged = |why: &str| Miss::Damaged(format!("{}: {why}", path.display()));
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
        Err(e) => return Err(damaged(&e.to_string())),
    };
    let mut fixed = [0u8; 16];
    file.read_exact(&mut fixed)
        .map_err(|_| damaged("truncated"))?;
    if &fixed[..8] != MAGIC {
        return Err(damaged("not a tapesync scope cache file"));
    }
    let format = u32::from_le_bytes(fixed[8..12].try_into().unwrap_or_default());
    if format != FORMAT {
        return Err(damaged(&format!("cache format {format} is not supported")));
    }
    let len = u32::from_le_bytes(fixed[12..16].try_into().unwrap_or_default()) as usize;
    if len > 64 * 1024 {
        return Err(damaged("the key is too long"));
    }
    let mut head = vec![0u8; len + 8];
    file.read_exact(&mut head)
        .map_err(|_| damaged("truncated"))?;
    let key = std::str::from_utf8(&head[..len])
        .map_err(|_| damaged("the key is not UTF-8"))?
        .to_string();
    let version = u64::from_le_bytes(head[len..].try_into().unwrap_or_default());
    let size = file
        .seek(SeekFrom::End(-4))
        .map_err(|_| damaged("truncated"))? as usize
        + 4;
    let mut crc = [0u8; 4];
    file.read_exact(&mut crc)
        .map_err(|_| damaged("truncated"))?;
    Ok(Head {
        key,
        version,
        crc: u32::from_le_bytes(crc),
        size,
    })
}

/// A journal of `records` (each row with `width` values) following the entry file whose
/// CRC-32 is `follows`.
fn encode_journal(follows: u32, width: usize, records: &[Written]) -> std::io::Result<Vec<u8>> {
    let mut b = Vec::new();
    b.extend_from_slice(JOURNAL_MAGIC);
    b.extend_from_slice(&JOURNAL_FORMAT.to_le_bytes());
    b.extend_from_slice(&follows.to_le_bytes());
    b.extend_from_slice(&(width as u32).to_le_bytes());
    b.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for record in records {
        b.extend_from_slice(&record.from.to_le_bytes());
        b.extend_from_slice(&record.to.to_le_bytes());
        b.extend_from_slice(&(record.rows.len() as u32).to_le_bytes());
        for (volume, (version, values)) in &record.rows {
            crate::cache_file::put_text(&mut b, volume, "a Volume-ID")?;
            b.extend_from_slice(&version.to_le_bytes());
            if values.len() != width {
                return Err(std::io::Error::other("a journal row of another table"));
            }
            for value in values {
                match value {
                    None => b.push(0),
                    Some(v) => {
                        b.push(1);
                        let len = u32::try_from(v.len())
                            .map_err(|_| std::io::Error::other("a value too long to keep"))?;
                        b.extend_from_slice(&len.to_le_bytes());
                        b.extend_from_slice(v.as_bytes());
                    }
                }
            }
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    Ok(b)
}

/// The entry CRC a journal follows and its records; `None` when it is damaged.
fn decode_journal(bytes: &[u8]) -> Option<(u32, Vec<Written>)> {
    let (body, crc) = bytes.split_last_chunk::<4>()?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return None;
    }
    let mut r = crate::cache_file::Reader::new(body);
    if r.bytes(8)? != JOURNAL_MAGIC || r.u32()? != JOURNAL_FORMAT {
        return None;
    }
    let follows = r.u32()?;
    let width = usize::try_from(r.u32()?).ok()?;
    let count = r.u32()?;
    let mut records = Vec::new();
    for _ in 0..count {
        let from = r.u64()?;
        let to = r.u64()?;
        let mut rows = BTreeMap::new();
        for _ in 0..r.u32()? {
            let volume = r.text()?;
            let version = r.u64()?;
            let mut values = Vec::new();
            for _ in 0..width {
                match r.bytes(1)?[0] {
                    0 => values.push(None),
                    1 => {
                        let len = usize::try_from(r.u32()?).ok()?;
                        values.push(Some(std::str::from_utf8(r.bytes(len)?).ok()?.to_string()));
                    }
                    _ => return None,
                }
            }
            rows.insert(volume, (version, values));
        }
        records.push(Written { from, to, rows });
    }
    r.is_done().then_some((follows, records))
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use tapesync_model::{
        ScopeVersion, ScopeVersionStep, VolumeChange, VolumeOutcome, VolumeResult,
    };

    pub(super) fn scope() -> ScopeKey {
        ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        }
    }

    pub(super) fn columns() -> Vec<Field> {
        vec![Field::Repository, Field::Slot]
    }

    pub(super) fn table(version: u64) -> ScopeTable {
        let mut t = ScopeTable::new(&columns());
        t.customer_exists = true;
        t.media_exists = true;
        t.scope_version = version;
        t.push("A1", 1, [Some("LIBR"), None]).unwrap();
        t.push("A3", 4, [Some("OFFS"), Some("7")]).unwrap();
        t
    }

    pub(super) fn cache_at(dir: &Path, store: &str, version: u64) -> ScopeCache {
        let mut c = ScopeCache::new(
            &CacheSettings {
                dir: dir.to_path_buf(),
                target: "file:/inv.db".into(),
            },
            &columns(),
        );
        c.set_versions(ScopeVersions {
            store: store.into(),
            scopes: vec![ScopeVersion {
                customer: "US01".into(),
                media: "LTO".into(),
                version,
            }],
        });
        c
    }

    pub(super) fn change(
        volume: &str,
        expected: Option<u64>,
        set: &[(Field, Option<&str>)],
    ) -> PendingChange {
        PendingChange {
            line: 1,
            change: VolumeChange {
                volume: volume.into(),
                expected_version: expected,
                set: set
                    .iter()
                    .map(|(f, v)| (*f, v.map(str::to_string)))
                    .collect(),
            },
            before: None,
        }
    }

    pub(super) fn answer(
        step: (u64, u64, bool),
        outcomes: &[(&str, VolumeOutcome)],
    ) -> ApplyResponse {
        ApplyResponse {
            replayed: false,
            moves: Default::default(),
            implied: Vec::new(),
            results: outcomes
                .iter()
                .map(|(v, o)| VolumeResult {
                    volume: v.to_string(),
                    outcome: o.clone(),
                })
                .collect(),
            scope_version: Some(ScopeVersionStep {
                before: step.0,
                after: step.1,
                only_this_batch: step.2,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use tapesync_model::ScopeVersion;

    #[test]
    fn an_entry_is_used_only_for_the_same_store_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_at(dir.path(), "s1", 5);
        assert!(!cache.has_entry(&scope()));
        assert_eq!(cache.load(&scope()), Err(Miss::Absent));
        cache.save(&scope(), &table(5)).unwrap();
        assert!(cache.has_entry(&scope()));
        assert_eq!(cache.check_head(&scope()), Ok(()));
        assert_eq!(cache.load(&scope()).unwrap(), table(5));
        for other in [cache_at(dir.path(), "s1", 6), cache_at(dir.path(), "s2", 5)] {
            assert_eq!(other.check_head(&scope()), Err(Miss::Absent));
            assert_eq!(other.load(&scope()), Err(Miss::Absent));
        }
        // Other compared fields: another file altogether.
        let mut narrower = ScopeCache::new(
            &CacheSettings {
                dir: dir.path().to_path_buf(),
                target: "file:/inv.db".into(),
            },
            &[Field::Slot],
        );
        narrower.set_versions(ScopeVersions {
            store: "s1".into(),
            scopes: cache
                .versions
                .iter()
                .map(|(k, v)| ScopeVersion {
                    customer: k.customer.clone(),
                    media: k.media.clone(),
                    version: *v,
                })
                .collect(),
        });
        assert!(!narrower.has_entry(&scope()));
        cache.forget(&scope());
        assert!(!cache.has_entry(&scope()));
    }

    #[test]
    fn damaged_truncated_and_foreign_files_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_at(dir.path(), "s1", 5);
        cache.save(&scope(), &table(5)).unwrap();
        let path = cache.entry_path(&scope());
        let good = std::fs::read(&path).unwrap();
        let damaged = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            matches!(cache.load(&scope()), Err(Miss::Damaged(_)))
        };
        let head_damaged = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            matches!(cache.check_head(&scope()), Err(Miss::Damaged(_)))
        };
        assert!(head_damaged(b"PK\x03\x04 not ours at all"));
        assert!(head_damaged(&good[..20]));
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x20;
            assert!(damaged(&b), "a changed byte {i} went unnoticed");
        }
        for n in 0..good.len() {
            assert!(
                damaged(&good[..n]),
                "truncation to {n} bytes went unnoticed"
            );
        }
        assert!(damaged(b"PK\x03\x04 not ours at all"));
        // A whole, valid entry of another scope under this scope's name is foreign.
        let other = ScopeKey {
            customer: "EU02".into(),
            media: "LTO".into(),
        };
        let mut elsewhere = cache_at(dir.path(), "s1", 5);
        elsewhere.versions.insert(other.clone(), 5);
        elsewhere.save(&other, &table(5)).unwrap();
        let foreign = std::fs::read(elsewhere.entry_path(&other)).unwrap();
        assert!(damaged(&foreign));
        assert!(head_damaged(&foreign));
        // And a good entry written again reads back.
        cache.save(&scope(), &table(5)).unwrap();
        assert_eq!(cache.load(&scope()).unwrap(), table(5));
    }

    #[test]
    fn own_batches_bring_the_table_up_to_date() {
        let changes = vec![
            change(
                "A3",
                Some(4),
                &[(Field::Slot, Some("")), (Field::Description, Some("x"))],
            ),
            change(
                "A2",
                None,
                &[(Field::Repository, Some("libr")), (Field::Slot, Some("9"))],
            ),
            change("A9", None, &[(Field::Repository, Some("NOPE"))]),
        ];
        let answers = [
            answer(
                (5, 6, true),
                &[("A3", VolumeOutcome::Applied { version: 5 })],
            ),
            answer(
                (6, 7, true),
                &[
                    ("A2", VolumeOutcome::Created { version: 1 }),
                    (
                        "A9",
                        VolumeOutcome::Rejected {
                            reason: "no such repository".into(),
                            field: Some(Field::Repository),
                        },
                    ),
                ],
            ),
        ];
        let out = patched(&table(5), &changes, 1, &answers[..1]);
        assert!(out.is_none(), "two batches were sent, one answered");
        let out = patched(&table(5), &changes, 2, &answers).is_none();
        assert!(out, "batch sizes must line up with the answers");
        let answers = [
            answer(
                (5, 6, true),
                &[("A3", VolumeOutcome::Applied { version: 5 })],
            ),
            answers[1].clone(),
        ];
        let changes = vec![changes[0].clone(), changes[1].clone(), changes[2].clone()];
        let first = patched(&table(5), &changes[..1], 1, &answers[..1]).unwrap();
        assert_eq!(first.scope_version, 6);
        let both = patched(
            &table(5),
            &changes,
            2,
            &[
                answer(
                    (5, 7, true),
                    &[
                        ("A3", VolumeOutcome::Applied { version: 5 }),
                        ("A2", VolumeOutcome::Created { version: 1 }),
                    ],
                ),
                answer(
                    (7, 7, true),
                    &[(
                        "A9",
                        VolumeOutcome::Rejected {
                            reason: "x".into(),
                            field: None,
                        },
                    )],
                ),
            ],
        );
        assert!(
            both.is_none(),
            "a step of 2 for one batch is someone else's write too"
        );
        let mut expected = ScopeTable::new(&columns());
        expected.customer_exists = true;
        expected.media_exists = true;
        expected.scope_version = 7;
        expected.push("A1", 1, [Some("LIBR"), None]).unwrap();
        expected.push("A2", 1, [Some("LIBR"), Some("9")]).unwrap();
        expected.push("A3", 5, [Some("OFFS"), None]).unwrap();
        let two = [
            answer(
                (5, 6, true),
                &[("A3", VolumeOutcome::Applied { version: 5 })],
            ),
            answer(
                (6, 7, true),
                &[("A2", VolumeOutcome::Created { version: 1 })],
            ),
            answer(
                (7, 7, true),
                &[(
                    "A9",
                    VolumeOutcome::Rejected {
                        reason: "x".into(),
                        field: None,
                    },
                )],
            ),
        ];
        assert_eq!(patched(&table(5), &changes, 1, &two).unwrap(), expected);
    }

    #[test]
    fn anything_in_doubt_drops_the_entry() {
        let changes = vec![change("A1", Some(1), &[(Field::Slot, Some("3"))])];
        let applied = [("A1", VolumeOutcome::Applied { version: 2 })];
        let cases = [
            answer((4, 5, true), &applied),  // someone wrote before the batch
            answer((5, 6, false), &applied), // someone wrote during it, or it created metadata
            answer(
                (5, 6, true),
                &[(
                    "A1",
                    VolumeOutcome::Conflict {
                        current_version: Some(3),
                    },
                )],
            ),
            ApplyResponse {
                scope_version: None,
                ..answer((5, 6, true), &applied)
            },
        ];
        for (i, a) in cases.into_iter().enumerate() {
            assert!(patched(&table(5), &changes, 10, &[a]).is_none(), "case {i}");
        }
        // A created volume the table already holds, or an update of one it lacks.
        let created = [answer(
            (5, 6, true),
            &[("A1", VolumeOutcome::Created { version: 1 })],
        )];
        assert!(patched(&table(5), &[change("A1", None, &[])], 1, &created).is_none());
        let missing = [answer(
            (5, 6, true),
            &[("B1", VolumeOutcome::Applied { version: 2 })],
        )];
        assert!(patched(&table(5), &[change("B1", Some(1), &[])], 1, &missing).is_none());
    }
}

#[cfg(test)]
mod journal_tests {
    use super::tests_support::*;
    use super::*;
    use tapesync_model::VolumeOutcome;

    /// [`table`] with two hundred volumes more (a journal of a few rows is then far below an
    /// eighth of the entry).
    fn table(version: u64) -> ScopeTable {
        let mut t = super::tests_support::table(version);
        for i in 0..200 {
            t.push(&format!("B{i:03}"), 1, [Some("LIBR"), Some("12")])
                .unwrap();
        }
        t
    }

    /// Night `n`'s own write: volume A1 to repository `place`, the scope from `n` to `n + 1`.
    fn night(table: &ScopeTable, place: &str) -> Written {
        let n = table.scope_version;
        let changes = [change("A1", Some(1), &[(Field::Repository, Some(place))])];
        let answers = [answer(
            (n, n + 1, true),
            &[("A1", VolumeOutcome::Applied { version: n + 10 })],
        )];
        written(table, &changes, 10, &answers).expect("own writes")
    }

    #[test]
    fn own_writes_go_to_the_journal_and_bring_the_entry_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_at(dir.path(), "s1", 5);
        cache.save(&scope(), &table(5)).unwrap();
        let entry = std::fs::read(cache.entry_path(&scope())).unwrap();
        let mut expected = table(5);
        for (version, place) in [(5, "OFFS"), (6, "LIBR"), (7, "VLT2")] {
            let now = cache_at(dir.path(), "s1", version);
            let loaded = now.load(&scope()).unwrap();
            assert_eq!(loaded, expected, "version {version}");
            let rows = night(&loaded, place);
            expected = apply_written(&loaded, &rows).unwrap();
            now.save_written(&scope(), &loaded, rows).unwrap();
            // The entry file is left as it was; the journal follows it.
            assert_eq!(std::fs::read(cache.entry_path(&scope())).unwrap(), entry);
            assert!(now.journal_path(&scope()).exists());
        }
        let at_8 = cache_at(dir.path(), "s1", 8);
        assert_eq!(at_8.check_head(&scope()), Ok(()));
        assert_eq!(at_8.load(&scope()).unwrap(), expected);
        assert_eq!(expected.value(0, 0), Some("VLT2"));
        // A version the journal does not reach, or one it passed: a download.
        for version in [9, 6] {
            let other = cache_at(dir.path(), "s1", version);
            assert_eq!(other.check_head(&scope()), Err(Miss::Absent), "{version}");
            assert_eq!(other.load(&scope()), Err(Miss::Absent), "{version}");
        }
        // The whole table written again: the journal goes with the old file.
        at_8.save(&scope(), &expected).unwrap();
        assert!(!at_8.journal_path(&scope()).exists());
        assert_eq!(at_8.load(&scope()).unwrap(), expected);
    }

    #[test]
    fn a_journal_of_another_entry_is_ignored_and_a_damaged_one_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_at(dir.path(), "s1", 5);
        cache.save(&scope(), &table(5)).unwrap();
        cache
            .save_written(&scope(), &table(5), night(&table(5), "OFFS"))
            .unwrap();
        let journal = std::fs::read(cache.journal_path(&scope())).unwrap();
        let at_6 = cache_at(dir.path(), "s1", 6);
        assert!(at_6.load(&scope()).is_ok());
        // Another entry file (another run wrote the table at 5 again, with other values).
        let mut other = table(5);
        other.push("Z99", 2, [None, None]).unwrap();
        cache.save(&scope(), &other).unwrap();
        std::fs::write(cache.journal_path(&scope()), &journal).unwrap();
        assert_eq!(at_6.check_head(&scope()), Err(Miss::Absent));
        assert_eq!(at_6.load(&scope()), Err(Miss::Absent));
        // A damaged journal of this entry.
        cache.save(&scope(), &table(5)).unwrap();
        for at in [0, 13, journal.len() / 2, journal.len() - 1] {
            let mut bad = journal.clone();
            bad[at] ^= 0x10;
            std::fs::write(cache.journal_path(&scope()), &bad).unwrap();
            assert!(
                matches!(at_6.load(&scope()), Err(Miss::Damaged(_))),
                "byte {at}"
            );
            assert!(matches!(at_6.check_head(&scope()), Err(Miss::Damaged(_))));
        }
        std::fs::write(cache.journal_path(&scope()), &journal[..journal.len() - 2]).unwrap();
        assert!(matches!(at_6.load(&scope()), Err(Miss::Damaged(_))));
        at_6.forget(&scope());
        assert!(!at_6.journal_path(&scope()).exists());
    }

    #[test]
    fn a_long_journal_is_folded_into_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_at(dir.path(), "s1", 5);
        cache.save(&scope(), &table(5)).unwrap();
        let mut current = table(5);
        let mut folded = false;
        for n in 0..200u64 {
            let now = cache_at(dir.path(), "s1", 5 + n);
            assert_eq!(now.load(&scope()).unwrap(), current, "night {n}");
            let rows = night(&current, if n % 2 == 0 { "OFFS" } else { "LIBR" });
            let next = apply_written(&current, &rows).unwrap();
            now.save_written(&scope(), &current, rows).unwrap();
            folded |= !now.journal_path(&scope()).exists();
            current = next;
        }
        assert!(folded, "the journal was never folded into the entry");
        assert_eq!(
            cache_at(dir.path(), "s1", 205).load(&scope()).unwrap(),
            current
        );
    }
}
