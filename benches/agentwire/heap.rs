//! Live and peak heap bytes of the whole bench process, counted by the
//! global allocator.
//!
//! The counting allocator is `peak_alloc`'s (two atomics: live bytes and
//! their high-water mark, around `System`): implementing `GlobalAlloc` takes
//! `unsafe`, which the workspace forbids, so this module only reads it.
//! Every row pays the same two uncontended atomic operations per
//! allocation, its baseline too.

use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Bytes allocated and not yet freed.
pub fn live() -> usize {
    ALLOC.current_usage()
}

/// The most bytes live at once since the last [`reset_peak`].
pub fn peak() -> usize {
    ALLOC.peak_usage()
}

/// Starts a new high-water mark at the live bytes now.
pub fn reset_peak() {
    ALLOC.reset_peak_usage();
}

/// Heap bytes grown from a starting point (0 if it shrank).
pub fn growth(from: usize, to: usize) -> f64 {
    to.saturating_sub(from) as f64
}
