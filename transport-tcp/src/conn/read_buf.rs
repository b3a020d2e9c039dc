//! The driver's read buffer: sized by what the reads bring, given back when
//! the connection goes quiet.
//!
//! Reads go into a buffer of the *read size*, which starts at [`READ_MIN`]:
//! a read that fills all the room it was given doubles it (up to
//! [`READ_MAX`]), so a busy connection soon reads large chunks; two reads in
//! a row that bring less than half of it halve it again (one small read
//! alone does not: a burst often ends with one), the same two-step
//! adaptation as hyper's HTTP/1 reads. A new allocation is made when less
//! than half the read size is left. When a read finds nothing to read, a
//! buffer larger than [`READ_MIN`] is released, so an idle connection keeps
//! at most a small one.
//!
//! Every read is handed out whole (the filled part split off as [`Bytes`]),
//! so the buffer is empty between reads; its allocation is reused once the
//! protocol has dropped every chunk cut from it.

use bytes::{Bytes, BytesMut};

/// The first read size, and the smallest one.
pub(crate) const READ_MIN: usize = 8 * 1024;
/// The largest read size.
const READ_MAX: usize = 64 * 1024;

/// A read buffer with an adaptive size.
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    buf: BytesMut,
    /// The size of `buf`'s allocation as we asked for it; 0 for none.
    allocated: usize,
    /// The read size.
    next: usize,
    /// The room the last [`prepare`](Self::prepare) left for the read.
    offered: usize,
    /// The last read brought less than half of `next`.
    shrink_pending: bool,
}

impl ReadBuffer {
    pub(crate) fn new() -> Self {
        ReadBuffer {
            buf: BytesMut::new(),
            allocated: 0,
            next: READ_MIN,
            offered: 0,
            shrink_pending: false,
        }
    }

    /// The buffer to read into, with room for at least half the read size.
    pub(crate) fn prepare(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < self.next / 2 {
            if self.allocated == self.next {
                // Takes the allocation back if every chunk cut from it was
                // dropped, or makes a new one of the same size.
                self.buf.reserve(self.next);
            } else {
                // A new size: a fresh allocation, not one that `reserve`
                // would size after the old one.
                self.buf = BytesMut::with_capacity(self.next);
                self.allocated = self.next;
            }
        }
        self.offered = self.buf.capacity() - self.buf.len();
        &mut self.buf
    }

    /// Records a read of `n` bytes into the prepared buffer and returns them.
    pub(crate) fn filled(&mut self, n: usize) -> Bytes {
        self.adapt(n);
        self.buf.split().freeze()
    }

    /// Records a read of `n` bytes and drops them (after `close`).
    pub(crate) fn discard(&mut self, n: usize) {
        self.adapt(n);
        self.buf.clear();
    }

    /// The socket had nothing to read: release a grown buffer.
    pub(crate) fn idle(&mut self) {
        if self.buf.is_empty() && self.allocated > READ_MIN {
            self.buf = BytesMut::new();
            self.allocated = 0;
        }
    }

    /// The buffer itself, for reading what is left to discard.
    pub(crate) fn into_inner(self) -> BytesMut {
        self.buf
    }

    /// The read size the next read gets.
    #[cfg(test)]
    fn next(&self) -> usize {
        self.next
    }

    fn adapt(&mut self, n: usize) {
        if n >= self.offered {
            self.next = (self.next * 2).min(READ_MAX);
            self.shrink_pending = false;
        } else if n < self.next / 2 {
            if self.shrink_pending {
                self.next = (self.next / 2).max(READ_MIN);
            }
            self.shrink_pending = !self.shrink_pending;
        } else {
            self.shrink_pending = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `n` bytes into `rb` as a socket would.
    fn read(rb: &mut ReadBuffer, n: usize) -> Bytes {
        let buf = rb.prepare();
        assert!(buf.capacity() - buf.len() >= n.min(READ_MIN / 2));
        buf.extend_from_slice(&vec![1u8; n]);
        rb.filled(n)
    }

    #[test]
    fn grows_when_reads_fill_it_up_to_the_maximum() {
        let mut rb = ReadBuffer::new();
        assert_eq!(rb.next(), READ_MIN);
        let sizes: Vec<usize> = (0..6)
            .map(|_| {
                let room = rb.prepare().capacity();
                read(&mut rb, room);
                rb.next()
            })
            .collect();
        assert_eq!(sizes, [16, 32, 64, 64, 64, 64].map(|k| k * 1024));
    }

    #[test]
    fn shrinks_after_two_small_reads_in_a_row() {
        let mut rb = ReadBuffer::new();
        for _ in 0..3 {
            let room = rb.prepare().capacity();
            read(&mut rb, room);
        }
        assert_eq!(rb.next(), READ_MAX);
        read(&mut rb, 100);
        assert_eq!(rb.next(), READ_MAX, "one small read is not enough");
        read(&mut rb, READ_MAX / 2);
        read(&mut rb, 100);
        assert_eq!(rb.next(), READ_MAX, "a read in range cancels the shrink");
        read(&mut rb, 100);
        assert_eq!(rb.next(), READ_MAX / 2);
        for _ in 0..8 {
            read(&mut rb, 100);
        }
        assert_eq!(rb.next(), READ_MIN);
    }

    #[test]
    fn hands_out_what_was_read() {
        let mut rb = ReadBuffer::new();
        let buf = rb.prepare();
        buf.extend_from_slice(b"hello");
        assert_eq!(rb.filled(5), Bytes::from_static(b"hello"));
        rb.prepare().extend_from_slice(b"world");
        assert_eq!(rb.filled(5), Bytes::from_static(b"world"));
    }

    #[test]
    fn idle_releases_a_grown_buffer_and_keeps_a_small_one() {
        let mut rb = ReadBuffer::new();
        read(&mut rb, 10);
        rb.idle();
        assert!(rb.prepare().capacity() > 0, "a small buffer is kept");
        let room = rb.prepare().capacity();
        read(&mut rb, room);
        read(&mut rb, 10);
        rb.idle();
        assert_eq!(rb.buf.capacity(), 0, "a grown buffer is released");
        assert!(rb.prepare().capacity() >= rb.next());
    }

    #[test]
    fn reuses_its_allocation_once_chunks_are_dropped() {
        let mut rb = ReadBuffer::new();
        let first = read(&mut rb, READ_MIN - 100);
        let ptr = first.as_ptr();
        drop(first);
        let again = read(&mut rb, 10);
        assert_eq!(again.as_ptr(), ptr, "the allocation was taken back");
    }

    #[test]
    fn small_reads_share_one_allocation_while_chunks_are_kept() {
        let mut rb = ReadBuffer::new();
        let kept: Vec<Bytes> = (0..10).map(|_| read(&mut rb, 100)).collect();
        let start = kept[0].as_ptr() as usize;
        for (i, chunk) in kept.iter().enumerate() {
            assert_eq!(chunk.as_ptr() as usize, start + 100 * i);
        }
    }
}
