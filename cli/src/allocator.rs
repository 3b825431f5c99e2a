//! The allocator's settings for a long-running `tapesync serve` (docs/server.md, "Memory").
//!
//! mimalloc keeps freed pages committed for a while (a second in mimalloc 3, ten for arena
//! ranges) and gives them back only when the thread that freed them next allocates. A batch run
//! never notices: it ends. A server does: after a burst of 20 clients the threads that built
//! scope tables and read batches go quiet, and what they once held stayed resident
//! (docs/benchmarks.md, "Server memory"). Purging at once trades a few more `madvise` calls for
//! a resident size that follows what is in use. `MIMALLOC_PURGE_DELAY` in the environment
//! still wins, for measurements.
//!
//! Eager arena commit (the other setting that matters) is decided when the first arena is
//! made, before `main`, so it can only be turned off in the environment
//! (`MIMALLOC_ARENA_EAGER_COMMIT=0`, set in packaging/systemd/tapesync.service).

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay`, the 16th option of mimalloc.h's `mi_option_e` in mimalloc 2 and 3
/// alike (libmimalloc-sys declares no constant for it).
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Tells mimalloc to give freed memory back to the operating system at once.
pub fn for_server() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores a number in mimalloc's option table; it may be
        // called at any time, from any thread, and the value is read by later purge decisions.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    /// The position names the option meant: its default in the mimalloc 3 that is built
    /// (a purge delay of 1000 ms), then the value set.
    #[test]
    fn the_option_is_the_one_meant() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading an option has no preconditions.
        let get = || unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), 1000);
        for_server();
        assert_eq!(get(), 0);
    }
}
