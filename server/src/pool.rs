//! Store connections for the server.
//!
//! Store calls block, so handlers run them on tokio's blocking threads.
//!
//! - **SQLite**: writes go through ONE connection behind a mutex: SQLite admits one writer at
//!   a time anyway, and serialising writers in-process avoids `SQLITE_BUSY` on a
//!   read-to-write upgrade, which a busy timeout cannot cure. Reads use a small set of
//!   further connections: with WAL they run concurrently with each other and with the
//!   writer, so a large scope download never waits for a batch being applied.
//! - **PostgreSQL**: every connection reads and writes; the database keeps writers of one
//!   scope apart (the store's per-scope lock) and lets batches of different scopes, from this
//!   node and others, commit side by side. Serialising them here would make a second node
//!   pointless.

use std::sync::{Condvar, Mutex, MutexGuard};
use tapesync_store::{Store, StoreError, StoreLocation};

pub struct StorePool {
    /// SQLite's one writer; `None` on PostgreSQL, where writes use the shared connections.
    writer: Option<Mutex<Store>>,
    connections: Option<Idle>,
}

struct Idle {
    /// Connections opened (for the metrics: `idle` holds only those not checked out).
    total: usize,
    idle: Mutex<Vec<Store>>,
    returned: Condvar,
}

impl StorePool {
    /// Opens the store at `location`: on SQLite the writer and `readers` reader connections,
    /// on PostgreSQL `readers + 1` connections that each read and write.
    pub fn open(location: &StoreLocation, readers: usize) -> Result<StorePool, StoreError> {
        let first = Store::open_location(location)?;
        if location.is_postgres() {
            let mut idle = vec![first];
            for _ in 0..readers {
                idle.push(Store::open_location(location)?);
            }
            return Ok(StorePool {
                writer: None,
                connections: Some(Idle::new(idle)),
            });
        }
        let mut idle = Vec::with_capacity(readers);
        for _ in 0..readers {
            idle.push(Store::open_location(location)?);
        }
        Ok(StorePool {
            writer: Some(Mutex::new(first)),
            connections: (readers > 0).then(|| Idle::new(idle)),
        })
    }

    /// One connection for everything (an in-memory store cannot be opened twice).
    pub fn single(store: Store) -> StorePool {
        StorePool {
            writer: Some(Mutex::new(store)),
            connections: None,
        }
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        match (&self.writer, &self.connections) {
            (Some(writer), _) => f(&mut lock(writer)),
            (None, Some(shared)) => shared.with(f),
            (None, None) => unreachable!("a pool has a writer or shared connections"),
        }
    }

    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        match (&self.connections, &self.writer) {
            (Some(shared), _) => shared.with(|store| f(store)),
            (None, Some(writer)) => f(&lock(writer)),
            (None, None) => unreachable!("a pool has a writer or shared connections"),
        }
    }
}

impl Idle {
    fn new(idle: Vec<Store>) -> Idle {
        Idle {
            total: idle.len(),
            idle: Mutex::new(idle),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on an idle connection, waiting for one to be handed back if none is idle.
    fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let store = {
            let mut idle = lock(&self.idle);
            loop {
                if let Some(store) = idle.pop() {
                    break store;
                }
                idle = self
                    .returned
                    .wait(idle)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        // Hand the connection back even if `f` panics, so the pool never shrinks.
        let mut guard = CheckedOut {
            pool: self,
            store: Some(store),
        };
        let result = f(guard.store.as_mut().expect("present until drop"));
        drop(guard);
        result
    }
}

struct CheckedOut<'a> {
    pool: &'a Idle,
    store: Option<Store>,
}

impl Drop for CheckedOut<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            lock(&self.pool.idle).push(store);
            self.pool.returned.notify_one();
        }
    }
}

/// A panic inside a store call leaves the connection usable (an open transaction is rolled
/// back when it is dropped), so a poisoned lock is simply taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many connections are in use at one moment, for the metrics (`crate::metrics`).
/// Kept apart from the pool's workings so that another pool only needs to answer this.
/// On PostgreSQL every connection reads and writes: they all count as `readers`, and there is
/// no single writer to be busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub readers: usize,
    pub readers_in_use: usize,
    pub writer_busy: bool,
}

impl StorePool {
    /// Reads that can run at once: the reader connections (every connection on PostgreSQL), or
    /// the one connection of a single-connection pool.
    pub fn readers(&self) -> usize {
        self.connections.as_ref().map_or(1, |c| c.total)
    }

    /// Connections that can write at once: SQLite's one writer, or every PostgreSQL connection.
    pub fn writers(&self) -> usize {
        match (&self.writer, &self.connections) {
            (Some(_), _) => 1,
            (None, Some(shared)) => shared.total,
            (None, None) => 0,
        }
    }

    pub fn usage(&self) -> PoolUsage {
        let writer_busy = self.writer.as_ref().is_some_and(|writer| {
            matches!(writer.try_lock(), Err(std::sync::TryLockError::WouldBlock))
        });
        let (readers, readers_in_use) = match &self.connections {
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
