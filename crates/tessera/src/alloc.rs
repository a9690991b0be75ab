//! Allocator settings (the binary uses mimalloc as its global allocator).
//!
//! mimalloc 3 keeps the pages of freed memory for `purge_delay` milliseconds (1,000 by
//! default in options.c; mimalloc.h's comment still says 10) before it hands them back to the
//! OS. In the WADO benchmark server RSS climbed op after op to 237 MB with the default and
//! peaked at 188 MB with a 1 ms delay, at the same throughput (0 ms, i.e. purging at every
//! free, cost a quarter of the sustained frame rate).

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay`: its position in `mi_option_e` in mimalloc.h (mimalloc 3, as
/// bundled by libmimalloc-sys 0.1.49, which exports no constant for it).
const PURGE_DELAY: mi_option_t = 15;

/// Milliseconds freed pages wait before they go back to the OS.
const PURGE_DELAY_MS: c_long = 1;

/// Apply the settings; call first thing in `main`.
pub fn configure() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; any option
    // number is accepted (out of range ones are ignored) and it may be called at any time.
    unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

/// The purge delay mimalloc uses now, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    // SAFETY: reads one entry of mimalloc's option table.
    unsafe { mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_number_is_the_purge_delay() {
        // mimalloc 3's default purge_delay is 1,000 ms (options.c); its neighbours'
        // defaults (eager_commit_delay, use_numa_nodes) are different, so a renumbering of
        // the enum would show here.
        assert_eq!(super::purge_delay_ms(), 1000);
        super::configure();
        assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
    }
}
