//! Store connections for the server.
//!
//! rusqlite calls block, so handlers run them on tokio's blocking threads. Writes go through ONE
//! connection behind a mutex: SQLite admits one writer at a time anyway, and serialising writers
//! in-process avoids `SQLITE_BUSY` on a read-to-write upgrade, which a busy timeout cannot cure.
//! Reads use a small set of further connections: with WAL they run concurrently with each other
//! and with the writer, so a large scope download never waits for a batch being applied.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use tapesync_store::{Store, StoreError};

pub struct StorePool {
    writer: Mutex<Store>,
    readers: Option<Readers>,
}

struct Readers {
    /// Connections opened (for the metrics: `idle` holds only those not checked out).
    total: usize,
    idle: Mutex<Vec<Store>>,
    returned: Condvar,
}

impl StorePool {
    /// Opens the writer and `readers` reader connections to the store file.
    pub fn open(path: &Path, readers: usize) -> Result<StorePool, StoreError> {
        let writer = Store::open(path)?;
        let mut idle = Vec::with_capacity(readers);
        for _ in 0..readers {
            idle.push(Store::open(path)?);
        }
        Ok(StorePool {
            writer: Mutex::new(writer),
            readers: (readers > 0).then(|| Readers {
                total: readers,
                idle: Mutex::new(idle),
                returned: Condvar::new(),
            }),
        })
    }

    /// One connection for everything (an in-memory store cannot be opened twice).
    pub fn single(store: Store) -> StorePool {
        StorePool {
            writer: Mutex::new(store),
            readers: None,
        }
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut store = lock(&self.writer);
        f(&mut store)
    }

    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        let Some(readers) = &self.readers else {
            let store = lock(&self.writer);
            return f(&store);
        };
        let store = {
            let mut idle = lock(&readers.idle);
            loop {
                if let Some(store) = idle.pop() {
                    break store;
                }
                idle = readers
                    .returned
                    .wait(idle)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        // Hand the connection back even if `f` panics, so the pool never shrinks.
        let guard = CheckedOut {
            readers,
            store: Some(store),
        };
        let result = f(guard.store.as_ref().expect("present until drop"));
        drop(guard);
        result
    }
}

struct CheckedOut<'a> {
    readers: &'a Readers,
    store: Option<Store>,
}

impl Drop for CheckedOut<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            lock(&self.readers.idle).push(store);
            self.readers.returned.notify_one();
        }
    }
}

/// A panic inside a store call leaves the connection usable (rusqlite rolls back an open
/// transaction on drop), so a poisoned lock is simply taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many connections are in use at one moment, for the metrics (`crate::metrics`).
/// Kept apart from the pool's workings so that another pool only needs to answer this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub readers: usize,
    pub readers_in_use: usize,
    pub writer_busy: bool,
}

impl StorePool {
    pub fn usage(&self) -> PoolUsage {
        let writer_busy = matches!(
            self.writer.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        );
        let (readers, readers_in_use) = match &self.readers {
            None => (0, 0),
            Some(r) => (r.total, r.total - lock(&r.idle).len()),
        };
        PoolUsage {
            readers,
            readers_in_use,
            writer_busy,
        }
    }
}
