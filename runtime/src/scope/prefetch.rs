//! Scope downloads on a second thread.
//!
//! A run needs every scope's table, one after the other, in the order the scopes first
//! appeared in the input. Downloading them one by one on the run's own thread made the
//! downloads (a read of every volume of the scope from SQLite, or a request to the server)
//! wait for the reading of the input and for the applies, and vice versa. The [`Prefetcher`]
//! asks for a scope the moment the input first names it, downloads it on a thread of its own
//! (through the target's [`ScopeReader`], a second connection), and hands the tables back in
//! the same order. The tables it holds that the run has not used yet are bounded by a byte
//! budget, so memory stays bounded however many scopes the input names.

use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{ScopeReader, TargetError};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use tapesync_model::{Field, ScopeKey, ScopeTable};

/// Bytes of downloaded tables the prefetcher may hold ahead of the run.
pub const DEFAULT_BUDGET: usize = 16 * 1024 * 1024;

/// A downloaded table and the bytes it counts against the budget.
pub struct Fetched {
    pub table: ScopeTable,
    bytes: usize,
}

struct Budget {
    state: Mutex<BudgetState>,
    changed: Condvar,
}

struct BudgetState {
    held: usize,
    cancelled: bool,
}

pub struct Prefetcher {
    /// Tables the run is done with, for the thread to refill.
    recycled: Option<Sender<ScopeTable>>,
    requests: Option<Sender<ScopeKey>>,
    results: Receiver<Result<Fetched, TargetError>>,
    budget: Arc<Budget>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts the download thread. `columns` are the table columns every scope is fetched
    /// with; `limit` is the byte budget (one table is always allowed, however large).
    pub fn start(
        mut reader: Box<dyn ScopeReader>,
        columns: Vec<Field>,
        retry: RetryPolicy,
        limit: usize,
    ) -> Prefetcher {
        let (requests, incoming) = mpsc::channel::<ScopeKey>();
        let (recycled, pool) = mpsc::channel::<ScopeTable>();
        let (outgoing, results) = mpsc::channel();
        let budget = Arc::new(Budget {
            state: Mutex::new(BudgetState {
                held: 0,
                cancelled: false,
            }),
            changed: Condvar::new(),
        });
        let shared = Arc::clone(&budget);
        let thread = std::thread::Builder::new()
            .name("tapesync-prefetch".into())
            .spawn(move || {
                for scope in incoming {
                    {
                        let state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                        let state = shared
                            .changed
                            .wait_while(state, |s| !s.cancelled && s.held != 0 && s.held >= limit)
                            .unwrap_or_else(PoisonError::into_inner);
                        if state.cancelled {
                            return;
                        }
                    }
                    let mut table = pool.try_recv().unwrap_or_default();
                    let result = with_retry(&retry, || {
                        reader.download_table_into(&scope, &columns, &mut table)
                    })
                    .map(|()| {
                        let bytes = table.heap_bytes();
                        shared
                            .state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .held += bytes;
                        Fetched { table, bytes }
                    });
                    if outgoing.send(result).is_err() {
                        return;
                    }
                }
            });
        match thread {
            Ok(thread) => Prefetcher {
                recycled: Some(recycled),
                requests: Some(requests),
                results,
                budget,
                thread: Some(thread),
            },
            // No thread: every `next` reports the failure, and the run falls back to
            // downloading on its own thread.
            Err(_) => Prefetcher {
                recycled: None,
                requests: None,
                results,
                budget,
                thread: None,
            },
        }
    }

    /// Whether the download thread is running.
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Asks for `scope` (after every scope asked for before it).
    pub fn request(&self, scope: &ScopeKey) {
        if let Some(r) = &self.requests {
            // A closed channel means the thread has ended; `next` reports why.
            let _ = r.send(scope.clone());
        }
    }

    /// The next table, in request order.
    pub fn next(&self) -> Result<Fetched, TargetError> {
        self.results.recv().unwrap_or_else(|_| {
            Err(TargetError::Internal(
                "the scope download thread ended unexpectedly".into(),
            ))
        })
    }

    /// The next table if its download has finished: `None` while it is under way. (Pass 2's
    /// diff workers are handed tables as they arrive, without waiting for one while a
    /// compared scope is ready to apply.)
    pub fn try_next(&self) -> Option<Result<Fetched, TargetError>> {
        match self.results.try_recv() {
            Ok(result) => Some(result),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(TargetError::Internal(
                "the scope download thread ended unexpectedly".into(),
            ))),
        }
    }

    /// Gives a table's bytes back to the budget once the run is done with it.
    pub fn release(&self, fetched: Fetched) {
        let Fetched { table, bytes } = fetched;
        if let Some(r) = &self.recycled {
            // Refilled by the thread's next download; dropped if the thread has ended.
            let _ = r.send(table);
        }
        let mut state = self
            .budget
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.held = state.held.saturating_sub(bytes);
        self.budget.changed.notify_all();
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.budget
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancelled = true;
        self.budget.changed.notify_all();
        // Closing the request channel ends the thread after the download in progress.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Tables of `size` volumes; counts downloads; fails for customer `BAD`.
    struct Fake {
        size: usize,
        downloads: Arc<AtomicUsize>,
    }

    impl ScopeReader for Fake {
        fn download_table(
            &mut self,
            scope: &ScopeKey,
            columns: &[Field],
        ) -> Result<ScopeTable, TargetError> {
            self.downloads.fetch_add(1, Ordering::SeqCst);
            if scope.customer == "BAD" {
                return Err(TargetError::Refused("no such scope".into()));
            }
            let mut t = ScopeTable::new(columns);
            for i in 0..self.size {
                t.push(
                    &format!("{}{i:06}", scope.media),
                    1,
                    columns.iter().map(|_| None),
                )
                .map_err(|e| TargetError::Internal(e.to_string()))?;
            }
            Ok(t)
        }
    }

    fn key(c: &str, m: &str) -> ScopeKey {
        ScopeKey {
            customer: c.into(),
            media: m.into(),
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            first_delay: Duration::from_millis(1),
        }
    }

    #[test]
    fn tables_come_back_in_request_order_with_errors_in_place() {
        let downloads = Arc::new(AtomicUsize::new(0));
        let p = Prefetcher::start(
            Box::new(Fake {
                size: 3,
                downloads: Arc::clone(&downloads),
            }),
            vec![Field::Slot],
            policy(),
            DEFAULT_BUDGET,
        );
        for (c, m) in [("A", "M1"), ("BAD", "M2"), ("A", "M3")] {
            p.request(&key(c, m));
        }
        let first = p.next().unwrap();
        assert_eq!(first.table.volume(0), "M1000000");
        p.release(first);
        assert!(matches!(p.next(), Err(TargetError::Refused(_))));
        let third = p.next().unwrap();
        assert_eq!(third.table.volume(2), "M3000002");
        p.release(third);
        assert_eq!(downloads.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_budget_holds_downloads_back_until_tables_are_released() {
        let downloads = Arc::new(AtomicUsize::new(0));
        // A budget of one byte: one table at a time.
        let p = Prefetcher::start(
            Box::new(Fake {
                size: 100,
                downloads: Arc::clone(&downloads),
            }),
            vec![Field::Slot],
            policy(),
            1,
        );
        for m in ["M1", "M2", "M3"] {
            p.request(&key("A", m));
        }
        let first = p.next().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The thread waits for the first table to be released before the second download.
        assert_eq!(downloads.load(Ordering::SeqCst), 1);
        p.release(first);
        let second = p.next().unwrap();
        assert_eq!(second.table.volume(0), "M2000000");
        p.release(second);
        let third = p.next().unwrap();
        p.release(third);
        assert_eq!(downloads.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn dropping_stops_a_waiting_thread() {
        let downloads = Arc::new(AtomicUsize::new(0));
        let p = Prefetcher::start(
            Box::new(Fake {
                size: 100,
                downloads: Arc::clone(&downloads),
            }),
            vec![],
            policy(),
            1,
        );
        for m in ["M1", "M2", "M3"] {
            p.request(&key("A", m));
        }
        let first = p.next().unwrap();
        drop(first);
        // The second download waits on the budget; dropping must not hang.
        drop(p);
        assert_eq!(downloads.load(Ordering::SeqCst), 1);
    }
}
