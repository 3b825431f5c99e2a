//! The allocator's settings for a long-running `tapesync serve` (docs/server.md, "Memory").
//!
//! mimalloc's defaults suit a batch run, which ends: arenas are committed eagerly (on Linux,
//! where memory is overcommitted) and freed pages stay committed for a while (a second in
//! mimalloc 3, ten for arena ranges), given back only when the thread that freed them next
//! allocates. A server
//! lives on: after a burst of 20 clients the threads that built scope tables and read batches
//! go quiet and everything they once held stayed resident (docs/benchmarks.md, "Server
//! memory": 375 MB half a minute after the load, of which the server was using a tenth).
//! Committing on demand and purging at once trade a few more `mmap`/`madvise` calls for a
//! resident size that follows what is in use. The `MIMALLOC_*` variable of an option in the
//! environment still wins, for measurements.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// Sets the options below for the rest of the process.
pub fn for_server() {
    for (option, variable, value) in [
        (
            MI_OPTION_ARENA_EAGER_COMMIT,
            "MIMALLOC_ARENA_EAGER_COMMIT",
            0,
        ),
        (MI_OPTION_PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mi_option_set only stores a number in mimalloc's option table; it may be
            // called at any time, from any thread, and the value is read by later decisions.
            unsafe { mi_option_set(option, value) };
        }
    }
}

// The positions of the options in mimalloc.h's `mi_option_e`, the same in mimalloc 2 and 3
// (libmimalloc-sys declares no constants for them).
/// `mi_option_arena_eager_commit`: 0 commits arena memory when it is first used.
const MI_OPTION_ARENA_EAGER_COMMIT: mi_option_t = 4;
/// `mi_option_purge_delay`: 0 gives freed memory back at once.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    /// The positions name the options meant: their defaults in the mimalloc 3 that is built
    /// (arena eager commit 2, "on overcommit systems"; purge delay 1000 ms), then the values set.
    #[test]
    fn the_options_are_the_ones_meant() {
        if std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("MIMALLOC_")) {
            return;
        }
        // SAFETY: reading an option has no preconditions.
        let get = |option| unsafe { mi_option_get(option) };
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 2);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 1000);
        for_server();
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 0);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0);
    }
}
