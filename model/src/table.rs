//! [`ScopeTable`]: a scope download that holds only what a sync compares, in one block of text.
//!
//! A [`crate::ScopeSnapshot`] gives every volume a `BTreeMap` of every field; building and
//! dropping a million of those dominated a large sync. A sync only needs each volume's ID, its
//! version and the values of the fields its definition sets, so a `ScopeTable` is a column list
//! plus, per volume, a version and `1 + columns` *cells* (the Volume-ID, then one cell per
//! column). All cell text lives in one `String`; a cell is the end offset of its text, with the
//! top bit set for "no value". Volumes are in ascending Volume-ID order (the order of the store's
//! index), which [`ScopeTable::find`] relies on.
//!
//! The HTTP server sends the same structure in a small binary encoding ([`ScopeTable::encode`]),
//! so both targets hand the runtime identical tables.

use crate::field::Field;
use crate::wire::RepositoryInfo;

/// Top bit of a cell: the cell has no value.
const NULL: u32 = 1 << 31;
/// Version of [`ScopeTable::encode`]'s format (2 added the scope version).
const FORMAT: u32 = 2;
/// Largest text a table may hold (the cell offsets are 31 bits).
pub const TABLE_TEXT_MAX: usize = (NULL - 1) as usize;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeTable {
    /// Whether the customer exists (if not, nothing else does either).
    pub customer_exists: bool,
    /// Whether the media type exists for the customer.
    pub media_exists: bool,
    /// The customer's repositories, for REPOSITORY checks and REPOSITORY_DESC look-ups.
    pub repositories: Vec<RepositoryInfo>,
    /// The scope's version in the snapshot the table was read from (see
    /// [`crate::ScopeVersions`]).
    pub scope_version: u64,
    columns: Vec<Field>,
    versions: Vec<u64>,
    /// `1 + columns.len()` per volume: end offsets into `text`, `NULL` bit for "no value".
    cells: Vec<u32>,
    text: String,
}

/// Why a table cannot be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError(pub String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TableError {}

impl ScopeTable {
    /// An empty table of `columns` (any order; each field at most once).
    pub fn new(columns: &[Field]) -> ScopeTable {
        ScopeTable {
            columns: columns.to_vec(),
            ..ScopeTable::default()
        }
    }

    /// Empties the table for new `columns`, keeping its allocations: a run that downloads
    /// scope after scope refills one table instead of making the kernel hand out (and zero)
    /// fresh memory for each.
    pub fn reset(&mut self, columns: &[Field]) {
        self.customer_exists = false;
        self.media_exists = false;
        self.repositories.clear();
        self.scope_version = 0;
        self.columns.clear();
        self.columns.extend_from_slice(columns);
        self.versions.clear();
        self.cells.clear();
        self.text.clear();
    }

    pub fn columns(&self) -> &[Field] {
        &self.columns
    }

    /// Position of `field` among the columns.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.columns.iter().position(|c| *c == field)
    }

    /// Number of volumes.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Bytes of cell text (Volume-IDs and values) the table holds.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Bytes the table holds (for memory budgets).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.cells.capacity() * 4 + self.versions.capacity() * 8
    }

    /// Makes room for `volumes` more volumes with `text` more bytes of cell text, so that a
    /// download that knows its size up front fills the table without growing it step by step
    /// (every step of a large table is a fresh allocation the kernel must zero).
    pub fn reserve(&mut self, volumes: usize, text: usize) {
        self.versions.reserve(volumes);
        self.cells
            .reserve(volumes.saturating_mul(self.columns.len() + 1));
        self.text.reserve(text.min(TABLE_TEXT_MAX));
    }

    /// Appends a volume. Volumes must be pushed in ascending Volume-ID order and `values` must
    /// give exactly one value per column.
    pub fn push<'a>(
        &mut self,
        volume: &str,
        version: u64,
        values: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), TableError> {
        let width = self.columns.len() + 1;
        let start = self.cells.len();
        self.push_cell(Some(volume))?;
        for value in values {
            if self.cells.len() - start == width {
                return self.undo(start, "more values than columns");
            }
            self.push_cell(value)?;
        }
        if self.cells.len() - start != width {
            return self.undo(start, "fewer values than columns");
        }
        if let Some(last) = self.len().checked_sub(1) {
            if self.volume(last) >= volume {
                return self.undo(start, "volumes out of order");
            }
        }
        self.versions.push(version);
        Ok(())
    }

    fn undo(&mut self, start: usize, why: &str) -> Result<(), TableError> {
        let end = start
            .checked_sub(1)
            .map_or(0, |i| (self.cells[i] & !NULL) as usize);
        self.cells.truncate(start);
        self.text.truncate(end);
        Err(TableError(format!("scope table: {why}")))
    }

    fn push_cell(&mut self, value: Option<&str>) -> Result<(), TableError> {
        if let Some(v) = value {
            if self.text.len() + v.len() > TABLE_TEXT_MAX {
                return Err(TableError("scope table: more than 2 GiB of text".into()));
            }
            self.text.push_str(v);
        }
        let end = self.text.len() as u32;
        self.cells
            .push(if value.is_some() { end } else { end | NULL });
        Ok(())
    }

    fn cell(&self, index: usize) -> Option<&str> {
        let raw = self.cells[index];
        if raw & NULL != 0 {
            return None;
        }
        let start = index
            .checked_sub(1)
            .map_or(0, |i| (self.cells[i] & !NULL) as usize);
        Some(&self.text[start..raw as usize])
    }

    /// Volume-ID of volume `i`.
    pub fn volume(&self, i: usize) -> &str {
        self.cell(i * (self.columns.len() + 1)).unwrap_or("")
    }

    pub fn version(&self, i: usize) -> u64 {
        self.versions[i]
    }

    /// Value of column `column` of volume `i` (`None`: no value).
    pub fn value(&self, i: usize, column: usize) -> Option<&str> {
        debug_assert!(column < self.columns.len());
        self.cell(i * (self.columns.len() + 1) + 1 + column)
    }

    /// Whether column `column` of volume `i` holds exactly `value` (as `value(i, column) ==
    /// Some(value)`, without cutting the text on character boundaries first: equal bytes are
    /// equal text). The diff asks this of every compared value of every record.
    pub fn value_is(&self, i: usize, column: usize, value: &str) -> bool {
        debug_assert!(column < self.columns.len());
        let index = i * (self.columns.len() + 1) + 1 + column;
        let raw = self.cells[index];
        if raw & NULL != 0 {
            return false;
        }
        let start = (self.cells[index - 1] & !NULL) as usize;
        self.text.as_bytes().get(start..raw as usize) == Some(value.as_bytes())
    }

    /// Appends volumes `rows` of `from`, a table of the same columns, as they are: a table
    /// brought up to date after a run's own changes copies the long runs of volumes the run
    /// left alone in one go (text and offsets) instead of cell by cell.
    pub fn extend_from(
        &mut self,
        from: &ScopeTable,
        rows: std::ops::Range<usize>,
    ) -> Result<(), TableError> {
        if rows.is_empty() {
            return Ok(());
        }
        if from.columns != self.columns || rows.end > from.len() {
            return Err(TableError("scope table: rows of another table".into()));
        }
        if let Some(last) = self.len().checked_sub(1) {
            if self.volume(last) >= from.volume(rows.start) {
                return Err(TableError("scope table: volumes out of order".into()));
            }
        }
        let width = self.columns.len() + 1;
        let cells = rows.start * width..rows.end * width;
        let text_start = cells
            .start
            .checked_sub(1)
            .map_or(0, |i| (from.cells[i] & !NULL) as usize);
        let text_end = (from.cells[cells.end - 1] & !NULL) as usize;
        let base = self.text.len();
        if base + (text_end - text_start) > TABLE_TEXT_MAX {
            return Err(TableError("scope table: more than 2 GiB of text".into()));
        }
        self.text.push_str(&from.text[text_start..text_end]);
        // Offsets rise within `from`, so none is below `text_start`.
        self.cells.extend(from.cells[cells].iter().map(|c| {
            let end = (c & !NULL) as usize - text_start + base;
            end as u32 | (c & NULL)
        }));
        self.versions.extend_from_slice(&from.versions[rows]);
        Ok(())
    }

    /// The first volume whose Volume-ID is not below `volume` (`len()` if none).
    pub fn lower_bound(&self, volume: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.volume(mid) < volume {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Index of the volume with this Volume-ID (binary search; volumes are sorted).
    pub fn find(&self, volume: &str) -> Option<usize> {
        let i = self.lower_bound(volume);
        (i < self.len() && self.volume(i) == volume).then_some(i)
    }

    /// The binary encoding the HTTP server sends (`application/vnd.tapesync.scope-table`):
    /// magic `TSST`, format version 2 (u32), flags (u32: bit 0 customer exists, bit 1 media
    /// exists), the scope version (u64), repository count (u32) and per repository two strings (ID, description),
    /// column count (u32) and per column its name as a string, volume count (u32), the
    /// versions (u64 each), the cells (u32 each) and the text as a string. Strings are a u32
    /// byte length and UTF-8; integers are little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out);
        out
    }

    /// About how many bytes [`ScopeTable::encode`] gives (to reserve them up front).
    pub fn encoded_len_hint(&self) -> usize {
        let names: usize = self
            .repositories
            .iter()
            .map(|r| 8 + r.id.len() + r.description.len())
            .sum();
        64 + names
            + self.columns.len() * 24
            + self.text.len()
            + self.cells.len() * 4
            + self.len() * 8
    }

    /// [`ScopeTable::encode`], appended to `out`: a cache entry is its head and this, written
    /// once (a copy of a large scope's bytes saved).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"TSST");
        put_u32(out, FORMAT);
        put_u32(
            out,
            u32::from(self.customer_exists) | (u32::from(self.media_exists) << 1),
        );
        out.extend_from_slice(&self.scope_version.to_le_bytes());
        put_u32(out, self.repositories.len() as u32);
        for r in &self.repositories {
            put_str(out, &r.id);
            put_str(out, &r.description);
        }
        put_u32(out, self.columns.len() as u32);
        for c in &self.columns {
            put_str(out, c.name());
        }
        put_u32(out, self.len() as u32);
        // Sized first, then filled: the compiler turns these loops into plain copies on a
        // little-endian machine, where pushing value by value checked the capacity each time.
        let start = out.len();
        out.resize(start + self.versions.len() * 8, 0);
        for (to, v) in out[start..].chunks_exact_mut(8).zip(&self.versions) {
            to.copy_from_slice(&v.to_le_bytes());
        }
        let start = out.len();
        out.resize(start + self.cells.len() * 4, 0);
        for (to, c) in out[start..].chunks_exact_mut(4).zip(&self.cells) {
            to.copy_from_slice(&c.to_le_bytes());
        }
        put_str(out, &self.text);
    }

    /// Reads [`ScopeTable::encode`]'s output, checking every offset (the bytes come from the
    /// network).
    pub fn decode(bytes: &[u8]) -> Result<ScopeTable, TableError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != b"TSST" {
            return Err(TableError("not a scope table".into()));
        }
        let version = r.u32()?;
        if version != FORMAT {
            return Err(TableError(format!(
                "scope table format {version} is not supported"
            )));
        }
        let flags = r.u32()?;
        let mut table = ScopeTable {
            customer_exists: flags & 1 != 0,
            media_exists: flags & 2 != 0,
            scope_version: r.u64()?,
            ..ScopeTable::default()
        };
        let repositories = r.u32()? as usize;
        for _ in 0..repositories {
            let id = r.string()?.to_string();
            let description = r.string()?.to_string();
            table.repositories.push(RepositoryInfo { id, description });
        }
        let columns = r.u32()? as usize;
        for _ in 0..columns {
            let name = r.string()?;
            let field = Field::lookup(name)
                .ok_or_else(|| TableError(format!("scope table: unknown column `{name}`")))?;
            table.columns.push(field);
        }
        let count = r.u32()? as usize;
        let versions = r.take(count.checked_mul(8).ok_or_else(too_long)?)?;
        table.versions = versions
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
            .collect();
        let cells = count.checked_mul(columns + 1).ok_or_else(too_long)?;
        let raw = r.take(cells.checked_mul(4).ok_or_else(too_long)?)?;
        table.cells = raw
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
            .collect();
        table.text = r.string()?.to_string();
        if r.pos != bytes.len() {
            return Err(TableError("scope table: trailing bytes".into()));
        }
        // Offsets must rise, stay inside the text and fall on character boundaries; volumes
        // must be present and sorted.
        let mut previous = 0usize;
        for row in table.cells.chunks_exact(columns + 1) {
            if row[0] & NULL != 0 {
                return Err(TableError("scope table: a volume without an ID".into()));
            }
            for c in row {
                let end = (c & !NULL) as usize;
                let bad = if c & NULL != 0 {
                    end != previous
                } else {
                    end < previous || !table.text.is_char_boundary(end)
                };
                if bad {
                    return Err(TableError("scope table: bad cell offsets".into()));
                }
                previous = end;
            }
        }
        if previous != table.text.len() {
            return Err(TableError("scope table: text beyond the last cell".into()));
        }
        for i in 1..table.len() {
            if table.volume(i - 1) >= table.volume(i) {
                return Err(TableError("scope table: volumes out of order".into()));
            }
        }
        Ok(table)
    }
}

fn too_long() -> TableError {
    TableError("scope table: too large".into())
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TableError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| TableError("scope table: truncated".into()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, TableError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    fn u32(&mut self) -> Result<u32, TableError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a str, TableError> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| TableError("scope table: text is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ScopeTable {
        let mut t = ScopeTable::new(&[Field::Repository, Field::Slot]);
        t.customer_exists = true;
        t.media_exists = true;
        t.scope_version = 41;
        t.repositories.push(RepositoryInfo {
            id: "LIBR".into(),
            description: "Library".into(),
        });
        t.push("A1", 3, [Some("LIBR"), None]).unwrap();
        t.push("A2", 1, [None, Some("")]).unwrap();
        t.push("B7", 9, [Some("OFFS"), Some("12")]).unwrap();
        t
    }

    #[test]
    fn cells_and_lookup() {
        let t = sample();
        assert_eq!(t.len(), 3);
        assert_eq!(t.volume(2), "B7");
        assert_eq!(t.version(2), 9);
        assert_eq!(t.value(0, 0), Some("LIBR"));
        assert_eq!(t.value(0, 1), None);
        assert_eq!(t.value(1, 1), Some(""));
        assert_eq!(t.value(2, 1), Some("12"));
        assert_eq!(t.find("A2"), Some(1));
        assert_eq!(t.find("A3"), None);
        assert_eq!(t.column(Field::Slot), Some(1));
        for row in 0..t.len() {
            for column in 0..t.columns().len() {
                for probe in ["LIBR", "", "12", "1", "B7", "LIB"] {
                    assert_eq!(
                        t.value_is(row, column, probe),
                        t.value(row, column) == Some(probe),
                        "{row} {column} {probe:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn push_refuses_bad_rows_and_keeps_the_table_whole() {
        let mut t = sample();
        let before = t.clone();
        assert!(t.push("C1", 1, [Some("X")]).is_err());
        assert!(t.push("C1", 1, [Some("X"), None, None]).is_err());
        assert!(t.push("A0", 1, [None, None]).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn extend_from_copies_rows_as_push_would() {
        let t = sample();
        for start in 0..=t.len() {
            for end in start..=t.len() {
                // A row pushed before the copied run, with text of another length.
                let mut copied = ScopeTable::new(t.columns());
                let mut pushed = ScopeTable::new(t.columns());
                for table in [&mut copied, &mut pushed] {
                    table.push("A0", 5, [Some("LONGER TEXT"), None]).unwrap();
                }
                copied.extend_from(&t, start..end).unwrap();
                for i in start..end {
                    pushed
                        .push(t.volume(i), t.version(i), (0..2).map(|c| t.value(i, c)))
                        .unwrap();
                }
                assert_eq!(copied, pushed, "rows {start}..{end}");
                assert_eq!(ScopeTable::decode(&copied.encode()).unwrap(), copied);
            }
        }
        let mut later = ScopeTable::new(t.columns());
        later.push("B0", 1, [None, None]).unwrap();
        assert!(later.extend_from(&t, 0..1).is_err(), "out of order");
        let mut other = ScopeTable::new(&[Field::Slot]);
        assert!(other.extend_from(&t, 0..1).is_err(), "other columns");
        assert!(ScopeTable::new(t.columns()).extend_from(&t, 2..4).is_err());
        assert_eq!(t.lower_bound("A0"), 0);
        assert_eq!(t.lower_bound("A2"), 1);
        assert_eq!(t.lower_bound("A3"), 2);
        assert_eq!(t.lower_bound("Z"), 3);
    }

    #[test]
    fn reset_keeps_nothing_but_room() {
        let mut t = sample();
        t.reset(&[Field::Scratch]);
        assert_eq!(t, ScopeTable::new(&[Field::Scratch]));
        assert!(t.heap_bytes() > 0);
        t.push("Z1", 1, [Some("true")]).unwrap();
        assert_eq!(t.value(0, 0), Some("true"));
    }

    #[test]
    fn encoding_after_other_bytes_appends_exactly_the_encoding() {
        let t = sample();
        let mut out = b"head".to_vec();
        t.encode_into(&mut out);
        assert_eq!(&out[..4], b"head");
        assert_eq!(&out[4..], t.encode().as_slice());
        // The layout the format describes: the versions, then the cells, little-endian.
        let versions_at = out.len() - 4 - t.text.len() - t.cells.len() * 4 - t.len() * 8;
        assert_eq!(
            out[versions_at..versions_at + 8],
            t.version(0).to_le_bytes()
        );
        assert!(t.encoded_len_hint() >= t.encode().len());
    }

    #[test]
    fn round_trip_and_corruption() {
        let t = sample();
        let bytes = t.encode();
        assert_eq!(ScopeTable::decode(&bytes).unwrap(), t);
        // Every truncation and every single-byte change is refused or decodes to a table that
        // still answers every accessor without panicking.
        for n in 0..bytes.len() {
            assert!(ScopeTable::decode(&bytes[..n]).is_err());
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            if let Ok(d) = ScopeTable::decode(&b) {
                for v in 0..d.len() {
                    let _ = d.volume(v);
                    for c in 0..d.columns().len() {
                        let _ = d.value(v, c);
                    }
                }
            }
        }
    }
}
