//! WAL checkpoints on a thread of their own, off the thread that applies batches.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Copies committed batches from the WAL into the database file on a second connection, on a
/// thread of its own, so that the applying thread does not.
///
/// Without it SQLite's automatic checkpoint runs inside the COMMIT of every batch that takes
/// the WAL past 1,000 pages — in a large sync about every second batch, a third of the apply
/// time (see docs/benchmarks.md, "Applying batches"). Durability does not depend on when
/// checkpoints run: a batch is on disk once its WAL frames are fsynced by its COMMIT
/// (`synchronous = FULL`), and a checkpoint only copies frames that are already durable. The
/// writer's automatic checkpoint stays on, at a higher threshold once this thread runs
/// ([`WRITER_AUTOCHECKPOINT_PAGES`]), as the safety net that bounds the WAL should this thread
/// fall behind or be unavailable; the checkpoints are PASSIVE, so they never wait for or block
/// the writer or readers.
#[derive(Default)]
pub(crate) struct BackgroundCheckpoint {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The writer's automatic checkpoint threshold once the checkpoint thread runs: 10,000 pages
/// (~40 MB of WAL with 4 KiB pages) instead of SQLite's 1,000.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

impl BackgroundCheckpoint {
    /// Asks for a checkpoint of the store at `path`, starting the thread on first use.
    /// Returns whether this call started the thread.
    pub(crate) fn request(&mut self, path: &Path) -> bool {
        let started = self.requests.is_none() && self.start(path);
        if let Some(requests) = &self.requests {
            // Full means a request is already waiting, and it covers this batch too;
            // disconnected means the thread could not open the store: the writer's automatic
            // checkpoint does the work, as without this thread.
            let _ = requests.try_send(());
        }
        started
    }

    /// Whether the thread was started (it copies the WAL after each request).
    pub(crate) fn running(&self) -> bool {
        self.requests.is_some()
    }

    /// Starts the thread; false if it could not be started.
    fn start(&mut self, path: &Path) -> bool {
        let (requests, received) = sync_channel::<()>(1);
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("tapesync-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) else {
                    return;
                };
                // The checkpoint syncs the database file before the WAL may be reused.
                if conn
                    .busy_timeout(Duration::from_secs(1))
                    .and_then(|()| conn.execute_batch("PRAGMA synchronous = FULL;"))
                    .is_err()
                {
                    return;
                }
                while received.recv().is_ok() {
                    // BUSY (another checkpoint is running) or any other failure leaves the
                    // frames to the next checkpoint; nothing is lost either way.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            });
        match spawned {
            Ok(thread) => {
                self.requests = Some(requests);
                self.thread = Some(thread);
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for BackgroundCheckpoint {
    /// Lets the thread finish its checkpoint and close its connection, so that the store's own
    /// connection is the last one and closing it checkpoints the rest and removes the WAL, as
    /// it did before the thread existed.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
