//! One spare grown buffer per thread and use (reads, write runs), so that a
//! connection can give back what a burst made large each time it goes
//! quiet, without a stream paying for that.
//!
//! A stream goes quiet between its bursts many times a second: releasing a
//! 64 KiB buffer to the allocator each time and allocating it again for the
//! next burst costs little while the allocator keeps the memory, but when
//! the freed block lies at the top of the heap the allocator trims the heap
//! and grows it again, a system call and fresh pages each time (twenty
//! times the `brk` calls of a whole benchmark run). The buffer a connection
//! gives back is kept here instead, and the next connection on this thread
//! that needs one of that size takes it. What a thread keeps is bounded:
//! one buffer per use, whatever the number of connections.

use std::cell::RefCell;

use bytes::BytesMut;

/// What a spare buffer is for; each has its own slot.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Use {
    /// A driver's read buffer.
    Read,
    /// A write buffer's run of small writes.
    Run,
}

/// A spare buffer and the size its allocation was asked for.
type Slot = RefCell<Option<(usize, BytesMut)>>;

thread_local! {
    static READ: Slot = const { RefCell::new(None) };
    static RUN: Slot = const { RefCell::new(None) };
}

fn with_slot<R>(use_: Use, f: impl FnOnce(&mut Option<(usize, BytesMut)>) -> R) -> Option<R> {
    let slot = match use_ {
        Use::Read => &READ,
        Use::Run => &RUN,
    };
    // No slot while the thread is being torn down, or (never expected)
    // while it is in use: the caller goes to the allocator instead.
    slot.try_with(|cell| cell.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

/// An empty buffer with room for `size` bytes: the spare, if it was
/// allocated with that size, else a new one.
pub(crate) fn take(use_: Use, size: usize) -> BytesMut {
    let spare = with_slot(use_, |slot| match slot {
        Some((allocated, _)) if *allocated == size => slot.take().map(|(_, buf)| buf),
        _ => None,
    })
    .flatten();
    match spare {
        Some(mut buf) => {
            // Takes the allocation back if nothing cut from it is still
            // alive, or makes a new one of the same size.
            buf.reserve(size);
            buf
        }
        None => BytesMut::with_capacity(size),
    }
}

/// Gives back an empty buffer allocated with `size` bytes: kept as the
/// spare if there is none, dropped otherwise.
pub(crate) fn give(use_: Use, size: usize, mut buf: BytesMut) {
    buf.clear();
    with_slot(use_, |slot| {
        if slot.is_none() {
            *slot = Some((size, buf));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_for_its_size_only() {
        let buf = take(Use::Read, 4096);
        let ptr = buf.as_ptr();
        give(Use::Read, 4096, buf);
        let other = take(Use::Read, 8192);
        assert_ne!(other.as_ptr(), ptr, "another size: a new buffer");
        let again = take(Use::Read, 4096);
        assert_eq!(again.as_ptr(), ptr, "the same size: the spare");
        assert!(again.capacity() >= 4096 && again.is_empty());
    }

    #[test]
    fn one_spare_per_use_and_thread() {
        let (a, b) = (take(Use::Run, 1024), take(Use::Run, 1024));
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        give(Use::Run, 1024, a);
        give(Use::Run, 1024, b);
        assert_eq!(take(Use::Run, 1024).as_ptr(), pa, "the first one kept");
        assert_ne!(take(Use::Run, 1024).as_ptr(), pb, "the second one dropped");
        let read = take(Use::Read, 1024);
        let pr = read.as_ptr();
        give(Use::Read, 1024, read);
        assert_eq!(
            take(Use::Read, 1024).as_ptr(),
            pr,
            "reads have their own slot"
        );
    }

    #[test]
    fn a_spare_still_shared_is_replaced_not_overwritten() {
        let mut buf = take(Use::Read, 1024);
        buf.extend_from_slice(b"still read by someone");
        let chunk = buf.split().freeze();
        give(Use::Read, 1024, buf);
        let mut next = take(Use::Read, 1024);
        next.extend_from_slice(&[0; 1024]);
        assert_eq!(&chunk[..], b"still read by someone");
    }
}
