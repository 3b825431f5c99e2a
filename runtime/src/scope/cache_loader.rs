//! Reading the scope cache's entries on a thread of their own, one scope ahead of the diff.
//!
//! A warm run reads every scope's table from the cache in pass 2. Loading an entry (reading
//! the file, its checksum, decoding and checking the table) on the run's own thread made each
//! scope's diff wait for its load, while the second core had nothing to do once the downloads
//! were gone. The [`CacheLoader`] loads the entries the run planned to read, in the order
//! pass 2 takes them, at most one ahead of the diff (so memory holds at most two tables), and
//! hands each over with exactly the answer [`ScopeCache::load`] gives: a damaged entry is
//! reported and replaced by the run's own thread as before.

use crate::scope::cache::{Miss, ScopeCache};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use tapesync_model::{ScopeKey, ScopeTable};

pub struct CacheLoader {
    /// `None` once the loader is stopped (dropped before the thread is joined, so that a
    /// thread waiting to hand over a table wakes and ends).
    results: Option<Receiver<Result<ScopeTable, Miss>>>,
    thread: Option<JoinHandle<()>>,
}

impl CacheLoader {
    /// Starts loading `scopes` (in this order) from `cache`, whose versions are known.
    /// `None` when no thread can be started: the run then loads on its own thread.
    pub fn start(cache: ScopeCache, scopes: Vec<ScopeKey>) -> Option<CacheLoader> {
        // A rendezvous channel: the thread loads the next entry while the run diffs the
        // previous one, then waits until the run takes it.
        let (loaded, results) = mpsc::sync_channel(0);
        let thread = std::thread::Builder::new()
            .name("tapesync-cache-load".into())
            .spawn(move || {
                for scope in &scopes {
                    if loaded.send(cache.load(scope)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(CacheLoader {
            results: Some(results),
            thread: Some(thread),
        })
    }

    /// The next planned scope's entry, as [`ScopeCache::load`] answers; `None` when the
    /// thread has ended (every planned scope handed over, or it failed).
    pub fn next(&self) -> Option<Result<ScopeTable, Miss>> {
        self.results.as_ref()?.recv().ok()
    }
}

impl Drop for CacheLoader {
    fn drop(&mut self) {
        self.results = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::cache::CacheSettings;
    use tapesync_model::{Field, ScopeVersion, ScopeVersions};

    fn scope(n: usize) -> ScopeKey {
        ScopeKey {
            customer: format!("C{n}"),
            media: "LTO".into(),
        }
    }

    fn cache(dir: &std::path::Path) -> ScopeCache {
        let mut c = ScopeCache::new(
            &CacheSettings {
                dir: dir.to_path_buf(),
                target: "file:/inv.db".into(),
            },
            &[Field::Slot],
        );
        c.set_versions(ScopeVersions {
            store: "s1".into(),
            scopes: (0..4)
                .map(|n| ScopeVersion {
                    customer: format!("C{n}"),
                    media: "LTO".into(),
                    version: 3,
                })
                .collect(),
        });
        c
    }

    fn table(n: usize) -> ScopeTable {
        let mut t = ScopeTable::new(&[Field::Slot]);
        t.scope_version = 3;
        t.push(&format!("A{n}"), 1, [Some("7")]).unwrap();
        t
    }

    #[test]
    fn hands_over_what_load_answers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        for n in [0, 1, 3] {
            c.save(&scope(n), &table(n)).unwrap();
        }
        std::fs::write(c.entry_path(&scope(3)), b"damaged").unwrap();
        let order = vec![scope(1), scope(2), scope(0), scope(3)];
        let loader = CacheLoader::start(c.clone(), order.clone()).unwrap();
        for s in &order {
            assert_eq!(loader.next(), Some(c.load(s)), "{s}");
        }
        assert_eq!(loader.next(), None);
        assert!(matches!(c.load(&scope(3)), Err(Miss::Damaged(_))));
    }

    #[test]
    fn stopping_early_ends_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        for n in 0..4 {
            c.save(&scope(n), &table(n)).unwrap();
        }
        let loader = CacheLoader::start(c, (0..4).map(scope).collect()).unwrap();
        assert_eq!(loader.next().unwrap().unwrap(), table(0));
        drop(loader); // joins: a hang here fails the test by timeout
    }
}
