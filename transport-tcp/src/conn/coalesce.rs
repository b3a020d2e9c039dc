//! Write coalescing: small writes copied together into one contiguous *run*,
//! so that a burst of small messages leaves as a few large buffers.
//!
//! A run's buffer starts at [`RUN_MIN`] bytes. A burst that fills it (the
//! next write finds no room while it still holds unsent data) doubles the
//! size of the next one, up to [`RUN_MAX`]; once everything written has been
//! sent, a size that no burst needed since the last time is halved again,
//! and a buffer larger than [`RUN_MIN`] is released. An idle connection so
//! keeps at most a small one, reused once the driver has sent (and dropped)
//! the runs cut from it.

use bytes::{Bytes, BytesMut};

/// Writes up to this size are copied into the run; larger ones are queued
/// as they are.
pub(crate) const COALESCE_MAX: usize = 4096;

/// The first and smallest size of a run's buffer (one write of
/// [`COALESCE_MAX`] fits).
const RUN_MIN: usize = 4 * 1024;
/// The largest size of a run's buffer.
const RUN_MAX: usize = 64 * 1024;

/// The run of small writes after everything queued.
#[derive(Debug)]
pub(crate) struct Coalescer {
    run: BytesMut,
    /// The size of `run`'s allocation as we asked for it; 0 for none.
    allocated: usize,
    /// The size of the next allocation.
    size: usize,
    /// A burst filled a run since everything was last sent.
    grew: bool,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer {
            run: BytesMut::new(),
            allocated: 0,
            size: RUN_MIN,
            grew: false,
        }
    }
}

impl Coalescer {
    /// Whether a write of `len` bytes is copied into the run.
    pub(crate) fn takes(len: usize) -> bool {
        len <= COALESCE_MAX
    }

    /// Appends `data` (at most [`COALESCE_MAX`] bytes) to the run. If the run
    /// had no room for it, the full run is returned, to be queued before
    /// anything that follows.
    #[inline]
    pub(crate) fn push(&mut self, data: &[u8]) -> Option<Bytes> {
        // The common case, once per small write: there is room.
        if self.run.capacity() - self.run.len() >= data.len() {
            self.run.extend_from_slice(data);
            return None;
        }
        self.push_new_run(data)
    }

    /// [`push`](Self::push) when the run has no room left.
    #[cold]
    #[inline(never)]
    fn push_new_run(&mut self, data: &[u8]) -> Option<Bytes> {
        let mut full = None;
        if !self.run.is_empty() {
            full = Some(self.run.split().freeze());
            self.size = (self.size * 2).min(RUN_MAX);
            self.grew = true;
        }
        let size = self.size.max(data.len());
        if self.allocated == size {
            // Takes the allocation back if the driver has dropped every
            // run cut from it, or makes a new one of the same size.
            self.run.reserve(size);
        } else {
            self.run = BytesMut::with_capacity(size);
            self.allocated = size;
        }
        self.run.extend_from_slice(data);
        full
    }

    /// Takes the run so far, if it is not empty.
    pub(crate) fn take(&mut self) -> Option<Bytes> {
        if self.run.is_empty() {
            None
        } else {
            Some(self.run.split().freeze())
        }
    }

    /// Everything written was sent (the run is empty and no run cut from it
    /// is still queued): adapts the size and releases a large buffer.
    pub(crate) fn drained(&mut self) {
        if !self.run.is_empty() {
            return;
        }
        if !self.grew {
            self.size = (self.size / 2).max(RUN_MIN);
        }
        self.grew = false;
        if self.allocated > RUN_MIN {
            self.release();
        }
    }

    /// Drops the run and its buffer.
    pub(crate) fn release(&mut self) {
        self.run = BytesMut::new();
        self.allocated = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `count` writes of `len` bytes; returns the full runs.
    fn burst(c: &mut Coalescer, count: usize, len: usize) -> Vec<Bytes> {
        let data = vec![7u8; len];
        (0..count).filter_map(|_| c.push(&data)).collect()
    }

    #[test]
    fn small_writes_come_out_as_one_run() {
        let mut c = Coalescer::default();
        assert!(c.push(b"hello ").is_none());
        assert!(c.push(b"world").is_none());
        assert_eq!(c.take(), Some(Bytes::from_static(b"hello world")));
        assert_eq!(c.take(), None);
    }

    #[test]
    fn bursts_grow_the_runs_up_to_the_maximum() {
        let mut c = Coalescer::default();
        let full = burst(&mut c, 2000, 64);
        let sizes: Vec<usize> = full.iter().map(Bytes::len).collect();
        // Each run is as large as its buffer allows, in 64-byte writes.
        assert_eq!(sizes, [4096, 8192, 16384, 32768, 65536]);
        let rest = c.take().map_or(0, |b| b.len());
        assert_eq!(sizes.iter().sum::<usize>() + rest, 2000 * 64);
    }

    #[test]
    fn runs_keep_the_order_of_writes() {
        let mut c = Coalescer::default();
        let mut out = Vec::new();
        for i in 0..5000u32 {
            if let Some(full) = c.push(&i.to_be_bytes()) {
                out.extend_from_slice(&full);
            }
        }
        out.extend_from_slice(&c.take().unwrap_or_default());
        let expected: Vec<u8> = (0..5000u32).flat_map(u32::to_be_bytes).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn draining_releases_a_large_buffer_and_shrinks_back() {
        let mut c = Coalescer::default();
        drop(burst(&mut c, 2000, 64));
        drop(c.take());
        c.drained();
        assert_eq!(c.allocated, 0, "a large buffer is released");
        assert_eq!(c.size, RUN_MAX, "a burst needed it");
        // Each quiet round halves the size: 64, 32, 16, 8, 4 KiB.
        for _ in 0..5 {
            c.push(b"request");
            drop(c.take());
            c.drained();
        }
        assert_eq!(c.size, RUN_MIN, "quiet rounds shrink it");
        assert_eq!(c.allocated, RUN_MIN, "a small buffer is kept");
    }

    #[test]
    fn reuses_its_buffer_once_the_runs_are_dropped() {
        let mut c = Coalescer::default();
        c.push(&[1; 3000]);
        let first = c.take().unwrap_or_default();
        let ptr = first.as_ptr();
        drop(first);
        c.push(&[2; 3000]);
        assert_eq!(c.take().unwrap_or_default().as_ptr(), ptr);
    }
}
