//! Writing the scope cache's entries on a thread of their own.
//!
//! After a scope's applies, the rows its batches wrote ([`written`]) go to its cache entry's
//! journal (or, past the journal's limit, the whole table is written again: encoded,
//! checksummed, written to a temporary file and renamed); a table downloaded and
//! left as it is is written too. On the run's own thread that work sat between one scope's
//! diff and the next. The [`CacheWriter`] does it on a second thread, in the order the run
//! hands the entries over, with at most two waiting (so memory holds at most that many
//! tables more). What it writes is exactly what the run's thread wrote before: an entry
//! is patched only when every answer proves it current, and dropped otherwise.

use crate::scope::cache::{written, ScopeCache};
use crate::scope::diff::PendingChange;
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;
use tapesync_model::{ApplyResponse, ScopeKey, ScopeTable};

/// An entry to write.
pub enum Write {
    /// A table the run read from the inventory and leaves as it is.
    Keep { scope: ScopeKey, table: ScopeTable },
    /// A scope the run changed: the table its changes were diffed against, the changes, and
    /// the answers of its batches (all of them answered: a failed send drops the entry).
    Patch {
        scope: ScopeKey,
        base: ScopeTable,
        changes: Vec<PendingChange>,
        batch_size: usize,
        responses: Vec<ApplyResponse>,
    },
}

impl Write {
    /// Writes the entry (or drops it); a failure to write is returned as a warning: it costs
    /// a download next time.
    fn run(self, cache: &ScopeCache) -> Option<String> {
        let (scope, saved) = match self {
            Write::Keep { scope, table } => {
                let saved = cache.save(&scope, &table);
                (scope, saved)
            }
            Write::Patch {
                scope,
                base,
                changes,
                batch_size,
                responses,
            } => match written(&base, &changes, batch_size, &responses) {
                // Only the rows the batches wrote are kept (the entry's journal).
                Some(rows) => {
                    let saved = cache.save_written(&scope, &base, rows);
                    (scope, saved)
                }
                None => {
                    cache.forget(&scope);
                    return None;
                }
            },
        };
        let e = saved.err()?;
        cache.forget(&scope);
        Some(format!(
            "scope cache: cannot write the entry of {scope} in {}: {e}",
            cache.dir().display()
        ))
    }
}

pub struct CacheWriter {
    /// `None` once finished (dropping it lets the thread end after the last entry).
    writes: Option<SyncSender<Write>>,
    thread: Option<JoinHandle<Vec<String>>>,
    /// Used on the run's thread when no thread could be started, or after it failed.
    cache: ScopeCache,
    warnings: Vec<String>,
}

impl CacheWriter {
    pub fn start(cache: ScopeCache) -> CacheWriter {
        let (writes, incoming) = mpsc::sync_channel::<Write>(2);
        let on_thread = cache.clone();
        let thread = std::thread::Builder::new()
            .name("tapesync-cache-write".into())
            .spawn(move || {
                incoming
                    .into_iter()
                    .filter_map(|w| w.run(&on_thread))
                    .collect()
            })
            .ok();
        CacheWriter {
            writes: thread.as_ref().map(|_| writes),
            thread,
            cache,
            warnings: Vec::new(),
        }
    }

    /// Hands `write` to the thread (or does it here, without one).
    pub fn write(&mut self, write: Write) {
        let write = match &self.writes {
            Some(sender) => match sender.send(write) {
                Ok(()) => return,
                Err(mpsc::SendError(write)) => write,
            },
            None => write,
        };
        self.warnings.extend(write.run(&self.cache));
    }

    /// Waits until every entry handed over is written; returns the warnings.
    pub fn finish(mut self) -> Vec<String> {
        self.stop();
        std::mem::take(&mut self.warnings)
    }

    fn stop(&mut self) {
        self.writes = None;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(warnings) => self.warnings.extend(warnings),
                Err(_) => self
                    .warnings
                    .push("scope cache: the thread writing entries failed".into()),
            }
        }
    }
}

impl Drop for CacheWriter {
    /// A run that stops early still waits for the entries it handed over (a test's cache
    /// directory may be removed right after the run).
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::cache::{CacheSettings, Miss};
    use tapesync_model::{
        Field, ScopeVersion, ScopeVersionStep, ScopeVersions, VolumeChange, VolumeOutcome,
        VolumeResult,
    };

    fn scope() -> ScopeKey {
        ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        }
    }

    fn cache_at(dir: &std::path::Path, version: u64) -> ScopeCache {
        let mut c = ScopeCache::new(
            &CacheSettings {
                dir: dir.to_path_buf(),
                target: "file:/inv.db".into(),
            },
            &[Field::Slot],
        );
        c.set_versions(ScopeVersions {
            store: "s1".into(),
            scopes: vec![ScopeVersion {
                customer: "US01".into(),
                media: "LTO".into(),
                version,
            }],
        });
        c
    }

    fn table(version: u64, slot: &str) -> ScopeTable {
        let mut t = ScopeTable::new(&[Field::Slot]);
        t.scope_version = version;
        t.push("A1", 1, [Some("1")]).unwrap();
        t.push("A2", if version > 5 { 3 } else { 2 }, [Some(slot)])
            .unwrap();
        t.push("A3", 1, [None]).unwrap();
        t
    }

    fn patch(step: (u64, u64, bool)) -> Write {
        Write::Patch {
            scope: scope(),
            base: table(5, "2"),
            changes: vec![PendingChange {
                line: 1,
                change: VolumeChange {
                    volume: "A2".into(),
                    expected_version: Some(2),
                    set: [(Field::Slot, Some("9".to_string()))].into_iter().collect(),
                },
                before: None,
            }],
            batch_size: 10,
            responses: vec![ApplyResponse {
                replayed: false,
                moves: Default::default(),
                implied: Vec::new(),
                results: vec![VolumeResult {
                    volume: "A2".into(),
                    outcome: VolumeOutcome::Applied { version: 3 },
                }],
                scope_version: Some(ScopeVersionStep {
                    before: step.0,
                    after: step.1,
                    only_this_batch: step.2,
                }),
            }],
        }
    }

    #[test]
    fn writes_what_the_run_thread_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = CacheWriter::start(cache_at(dir.path(), 5));
        writer.write(Write::Keep {
            scope: scope(),
            table: table(5, "2"),
        });
        assert!(writer.finish().is_empty());
        assert_eq!(cache_at(dir.path(), 5).load(&scope()), Ok(table(5, "2")));

        // Its own batch: the entry follows, at the new version.
        let mut writer = CacheWriter::start(cache_at(dir.path(), 5));
        writer.write(patch((5, 6, true)));
        assert!(writer.finish().is_empty());
        assert_eq!(cache_at(dir.path(), 6).load(&scope()), Ok(table(6, "9")));

        // Someone else wrote too: the entry is dropped, whatever was there.
        let mut writer = CacheWriter::start(cache_at(dir.path(), 5));
        writer.write(patch((5, 6, false)));
        drop(writer); // waits for the write as `finish` does
        assert_eq!(cache_at(dir.path(), 6).load(&scope()), Err(Miss::Absent));
        assert!(!cache_at(dir.path(), 6).has_entry(&scope()));
    }

    #[test]
    fn a_failed_write_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        // The entries' directory cannot be created: a file is in its place.
        std::fs::write(dir.path().join("scopes"), b"").unwrap();
        let mut writer = CacheWriter::start(cache_at(dir.path(), 5));
        writer.write(Write::Keep {
            scope: scope(),
            table: table(5, "2"),
        });
        let warnings = writer.finish();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("cannot write the entry of"),
            "{warnings:?}"
        );
    }
}
