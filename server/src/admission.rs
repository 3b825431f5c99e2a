//! How much store work and how many batch bodies the server holds at once, so that its memory
//! under many clients is bounded by its configuration rather than by the number of clients
//! (docs/server.md, "Memory").
//!
//! - **Store work** waits for a permit *before* it takes a blocking thread: reads and writes
//!   each have as many permits as connections that can serve them, so no more blocking threads
//!   than that ever run store calls (and a read never waits behind queued writes). Without this, 20 clients meant 20 blocking threads, most parked on the pool's
//!   condition variable, each with its own allocator heap that kept the large buffers (scope
//!   tables, batches) its thread had built after the request ended.
//! - **Batch bodies** (up to `max_body_bytes`, 64 MiB by default, plus the parsed batch) are read
//!   only under a permit: on SQLite batches are applied one at a time anyway, so bodies read
//!   beyond the next one or two only wait in memory.

use crate::pool::StorePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// How long an idle blocking thread lives (see `crate::app::run`).
pub const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(1);

pub struct Admission {
    reads: Arc<Semaphore>,
    writes: Arc<Semaphore>,
    batches: Semaphore,
}

/// What a store call is, for its permit.
#[derive(Debug, Clone, Copy)]
pub enum StoreCall {
    Read,
    Write,
}

impl Admission {
    pub fn new(pool: &StorePool) -> Admission {
        Admission {
            reads: Arc::new(Semaphore::new(pool.readers().max(1))),
            writes: Arc::new(Semaphore::new(pool.writers().max(1))),
            // One batch applying and one read ahead, per connection that can write.
            batches: Semaphore::new(2 * pool.writers().max(1)),
        }
    }

    /// Waits (without a thread) for a store connection to be free for this request's call.
    pub async fn store_call(&self, call: StoreCall) -> OwnedSemaphorePermit {
        match call {
            StoreCall::Read => &self.reads,
            StoreCall::Write => &self.writes,
        }
        .clone()
        .acquire_owned()
        .await
        .expect("the store semaphore is never closed")
    }

    /// Waits for room to read and apply one batch body.
    pub async fn batch(&self) -> SemaphorePermit<'_> {
        self.batches
            .acquire()
            .await
            .expect("the batch semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use crate::pool::StorePool;
    use crate::state::{AppState, ServerConfig};
    use std::sync::mpsc;
    use std::time::Duration;
    use tapesync_store::StoreLocation;

    /// Store calls that wait for a connection hold no blocking thread: with one reader held
    /// and five more reads queued behind it, a write still finds a thread (tokio's blocking
    /// pool is cut to two threads here). Before the permits, each queued read parked a thread
    /// on the pool's condition variable, and the write waited for the held read to end.
    #[test]
    fn queued_store_calls_wait_without_a_thread() {
        let dir = tempfile::tempdir().unwrap();
        let pool = StorePool::open(&StoreLocation::File(dir.path().join("inv.db")), 1).unwrap();
        let state = AppState::new(pool, ServerConfig::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (release, held) = mpsc::channel::<()>();
            let (started, has_started) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn({
                let state = state.clone();
                async move {
                    state
                        .read(move |_| {
                            let _ = started.send(());
                            let _ = held.recv();
                            Ok(())
                        })
                        .await
                }
            });
            has_started.await.unwrap();
            let queued: Vec<_> = (0..5)
                .map(|_| {
                    let state = state.clone();
                    tokio::spawn(async move { state.read(|_| Ok(())).await })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let write = state.write(|_| Ok(()));
            let written = tokio::time::timeout(Duration::from_secs(10), write).await;
            release.send(()).unwrap();
            assert!(
                matches!(written, Ok(Ok(()))),
                "the write waited behind reads queued for the one reader"
            );
            holder.await.unwrap().unwrap();
            for read in queued {
                read.await.unwrap().unwrap();
            }
        });
    }

    #[test]
    fn permits_follow_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let pool = StorePool::open(&StoreLocation::File(dir.path().join("inv.db")), 3).unwrap();
        assert_eq!((pool.readers(), pool.writers()), (3, 1));
        let admission = super::Admission::new(&pool);
        assert_eq!(admission.reads.available_permits(), 3);
        assert_eq!(admission.writes.available_permits(), 1);
        // SQLite applies one batch at a time: one applying, one read ahead.
        assert_eq!(admission.batches.available_permits(), 2);
    }
}
