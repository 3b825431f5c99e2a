//! The derived records of a run, spilled to one temporary file per scope.
//!
//! Reading the whole input before the first apply is what lets a run group unsorted input by
//! scope (one download per scope, however the report is ordered), abort `--strict` runs
//! before anything is written, and refuse the output of a failed input command — while memory
//! stays bounded by the largest scope, not by the input.

use crate::derive::SyncRecord;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use tapesync_model::ScopeKey;

/// At most this many spill files are open for writing at once (unsorted input over many
/// scopes would otherwise run out of file handles).
const MAX_OPEN_WRITERS: usize = 32;

struct ScopeFile {
    key: ScopeKey,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    records: u64,
}

pub struct Spill {
    dir: tempfile::TempDir,
    files: Vec<ScopeFile>,
    index: HashMap<ScopeKey, usize>,
    open_writers: usize,
    current: Option<usize>,
    /// Scopes the input has moved on from.
    left: Vec<bool>,
    unsorted: bool,
}

impl Spill {
    pub fn new() -> io::Result<Spill> {
        Ok(Spill {
            dir: tempfile::Builder::new()
                .prefix("tapesync-spill")
                .tempdir()?,
            files: Vec::new(),
            index: HashMap::new(),
            open_writers: 0,
            current: None,
            left: Vec::new(),
            unsorted: false,
        })
    }

    pub fn push(&mut self, record: &SyncRecord) -> io::Result<()> {
        let i = match self.index.get(&record.scope) {
            Some(i) => *i,
            None => {
                let i = self.files.len();
                self.files.push(ScopeFile {
                    key: record.scope.clone(),
                    path: self.dir.path().join(format!("scope-{i}.jsonl")),
                    writer: None,
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
        if self.files[i].writer.is_none() {
            if self.open_writers >= MAX_OPEN_WRITERS {
                self.close_writers()?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.files[i].path)?;
            self.files[i].writer = Some(BufWriter::with_capacity(32 * 1024, f));
            self.open_writers += 1;
        }
        let file = &mut self.files[i];
        if let Some(w) = file.writer.as_mut() {
            serde_json::to_writer(&mut *w, record).map_err(io::Error::other)?;
            w.write_all(b"\n")?;
        }
        file.records += 1;
        Ok(())
    }

    fn close_writers(&mut self) -> io::Result<()> {
        for f in &mut self.files {
            if let Some(mut w) = f.writer.take() {
                w.flush()?;
            }
        }
        self.open_writers = 0;
        Ok(())
    }

    /// Flushes everything written; call before reading.
    pub fn finish_writing(&mut self) -> io::Result<()> {
        self.close_writers()
    }

    /// Whether records of one scope were interleaved with records of another.
    pub fn unsorted(&self) -> bool {
        self.unsorted
    }

    /// Scopes in order of first appearance.
    pub fn scopes(&self) -> Vec<ScopeKey> {
        self.files.iter().map(|f| f.key.clone()).collect()
    }

    pub fn total_records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }

    /// The records of scope number `i` (in [`Spill::scopes`] order), in input order.
    pub fn read(&self, i: usize) -> io::Result<impl Iterator<Item = io::Result<SyncRecord>>> {
        let file = File::open(&self.files[i].path)?;
        Ok(BufReader::with_capacity(64 * 1024, file)
            .lines()
            .map(|line| line.and_then(|l| serde_json::from_str(&l).map_err(io::Error::other))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
    fn many_scopes_reuse_file_handles() {
        let mut s = Spill::new().unwrap();
        for round in 0..3 {
            for c in 0..(MAX_OPEN_WRITERS * 2) {
                s.push(&rec(&format!("C{c}"), &format!("V{round}")))
                    .unwrap();
            }
        }
        s.finish_writing().unwrap();
        assert_eq!(s.scopes().len(), MAX_OPEN_WRITERS * 2);
        assert_eq!(s.read(5).unwrap().count(), 3);
    }
}
