//! [`Transport`]: the writing end of a connection.

use std::any::Any;
use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::{Endpoint, Result, WriteBufferLimits};

/// The writing end of one connection (asyncio's `asyncio.Transport`).
///
/// Every method is synchronous and returns at once: `write` buffers and the
/// backend sends in the background. Implementations are cheap to clone (an
/// `Arc` inside) and `Send + Sync`, so a transport can be written from any task.
///
/// No method ever calls into the protocol: events that a method causes (such
/// as `connection_lost` after [`close`](Transport::close)) are delivered later
/// by the connection's driver task.
///
/// The connection closes gracefully, as by `close`, when the last handle to its
/// transport is dropped.
pub trait Transport: AsAny + fmt::Debug + Send + Sync + 'static {
    /// Queues `data` for sending; never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) once the transport is closing or
    /// closed (also after the peer closed it).
    fn write(&self, data: Bytes) -> Result<()>;

    /// Queues every chunk of `data`, in order, as one step (asyncio's
    /// `writelines`): either all of it is queued or, once the transport is
    /// closing, none. Backends take their lock once for the whole batch, so
    /// many small messages cost about as much as one write each of a
    /// `BufWriter`; the default joins the chunks into one
    /// [`write`](Transport::write) (a copy, where there is more than one),
    /// which keeps the promise even when another task closes or aborts the
    /// transport meanwhile: a write per chunk could queue half a batch.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) once the transport is closing
    /// or closed.
    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        if self.is_closing() {
            return Err(crate::Error::Closed);
        }
        match data {
            [] => Ok(()),
            [one] => self.write(one.clone()),
            many => {
                let len = many.iter().map(Bytes::len).sum();
                let mut joined = bytes::BytesMut::with_capacity(len);
                many.iter()
                    .for_each(|chunk| joined.extend_from_slice(chunk));
                self.write(joined.freeze())
            }
        }
    }

    /// Queues `data` if a write is welcome now (what
    /// [`poll_write_ready`](Transport::poll_write_ready) would answer with
    /// `Ready(Ok)`), as one step; otherwise gives it back untouched as
    /// `Ok(Some(data))` and registers nothing. This is the fast path of a
    /// writer that respects backpressure: one check-and-write instead of a
    /// poll and a write. Backends do it under one lock; the default is
    /// conservative (it writes only while the buffer is at or below the
    /// low-water mark) and correct for any transport.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) once the transport is closing
    /// or closed.
    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        if self.is_closing() {
            return Err(crate::Error::Closed);
        }
        if self.write_buffer_size() <= self.write_buffer_limits().low() {
            self.write(data).map(|()| None)
        } else {
            Ok(Some(data))
        }
    }

    /// Half-closes the connection after the buffered data is sent; the peer's
    /// protocol gets `eof_received`. We may still receive.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`](crate::Error::Unsupported) where
    /// [`can_write_eof`](Transport::can_write_eof) is false,
    /// [`Error::Closed`](crate::Error::Closed) when already closing.
    fn write_eof(&self) -> Result<()>;

    /// Whether [`write_eof`](Transport::write_eof) is supported.
    fn can_write_eof(&self) -> bool;

    /// Closes the connection: buffered data is still sent, nothing more is
    /// received, then `connection_lost(None)` is delivered on both sides.
    /// Idempotent.
    ///
    /// As in asyncio, our side's `connection_lost` comes once the buffered
    /// data is handed off (to the OS's buffers on sockets; on local queues,
    /// once what the peer has not read fits in our high-water mark), not
    /// once the peer has read it: a peer that paused reading gets the data,
    /// and then its own `connection_lost`, when it reads again. While the
    /// data cannot be handed off (the peer reads nothing and the buffers
    /// are full), the close waits; [`abort`](Transport::abort) ends it.
    fn close(&self);

    /// Closes the connection at once: buffered data is dropped and our
    /// protocol gets `connection_lost(None)`. The peer's protocol gets
    /// `connection_lost(Some(ConnectionReset))` where the transport can say
    /// so (TCP, TLS, local queues); on Unix sockets, which cannot signal a
    /// reset, the peer just sees the connection end. Idempotent.
    fn abort(&self);

    /// Whether the transport is closing or closed.
    fn is_closing(&self) -> bool;

    /// The remote end (asyncio's `get_extra_info("peername")`).
    fn peer_addr(&self) -> Option<Endpoint>;

    /// The local end (asyncio's `get_extra_info("sockname")`).
    fn local_addr(&self) -> Option<Endpoint>;

    /// Bytes written but not yet handed to the peer (or the OS).
    fn write_buffer_size(&self) -> usize;

    /// The current water marks.
    fn write_buffer_limits(&self) -> WriteBufferLimits;

    /// Sets the water marks; may cause an immediate pause or resume event.
    fn set_write_buffer_limits(&self, limits: WriteBufferLimits);

    /// `Ready(Ok)` when a write would not take the buffer past the high-water
    /// mark (once paused: when it is back to the low-water mark); `Pending`
    /// otherwise, waking `cx` when that changes. `Ready(Err(Closed))` once the
    /// transport is closing. This is the async face of
    /// [`pause_writing`](crate::Protocol::pause_writing) /
    /// [`resume_writing`](crate::Protocol::resume_writing); one waker is kept,
    /// so one task at a time should wait on it.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>>;

    /// Stops delivering `data_received` until [`resume_reading`](Transport::resume_reading).
    ///
    /// Called from the protocol's callbacks or on a current-thread runtime,
    /// nothing more arrives once it returns. Called from another thread of
    /// a multi-thread runtime while the connection's driver is delivering,
    /// it takes effect at the driver's next round: one `data_received`
    /// under way may still come (the same holds for [`close`](Transport::close)).
    fn pause_reading(&self);

    /// Resumes delivering `data_received`.
    fn resume_reading(&self);

    /// Whether data is being delivered (not paused by
    /// [`pause_reading`](Transport::pause_reading)).
    fn is_reading(&self) -> bool;
}

/// A transport handle as protocols receive it.
pub type SharedTransport = Arc<dyn Transport>;

/// Gives every transport an [`Any`] view, so that code holding a
/// [`SharedTransport`] can reach the backend's own type (and what only it
/// knows, such as a TLS peer's certificates) with
/// [`downcast_ref`](trait.Transport.html#method.downcast_ref). Implemented
/// for every type; backends write nothing for it.
pub trait AsAny {
    /// `self` as [`Any`].
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl dyn Transport {
    /// The backend's transport type behind a shared handle, if it is `T`
    /// (asyncio's `get_extra_info`, typed).
    ///
    /// ```
    /// use transport_api::{SharedTransport, Transport};
    ///
    /// /// Whether the connection runs on backend `T`.
    /// fn runs_on<T: Transport>(transport: &SharedTransport) -> bool {
    ///     transport.downcast_ref::<T>().is_some()
    /// }
    /// ```
    pub fn downcast_ref<T: Transport>(&self) -> Option<&T> {
        self.as_any().downcast_ref::<T>()
    }
}

/// Async helpers for every [`Transport`].
pub trait TransportExt: Transport {
    /// Waits until the transport accepts writes (see
    /// [`poll_write_ready`](Transport::poll_write_ready)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing.
    fn writable(&self) -> impl Future<Output = Result<()>> + Send + '_ {
        poll_fn(move |cx| self.poll_write_ready(cx))
    }
}

impl<T: Transport + ?Sized> TransportExt for T {}

/// Aborts a transport when dropped, unless [`kept`](AbortGuard::keep): for a
/// backend's `create_connection` that waits for `connection_made` to run in
/// the connection's own task. A caller who gives up while it waits (a
/// timeout, a `select!`) drops the guard, and the connection, which only
/// its protocol would hold from then on, is aborted instead of living on
/// unclosable.
///
/// ```
/// # use transport_api::{AbortGuard, Transport};
/// # async fn wait_made(_: &()) {}
/// /// The end of a backend's `create_connection`.
/// async fn hand_out<T: Transport>(transport: T, made: ()) -> T {
///     let guard = AbortGuard::new(transport);
///     wait_made(&made).await; // dropped here: the connection is aborted
///     guard.keep()
/// }
/// ```
#[derive(Debug)]
pub struct AbortGuard<T: Transport>(Option<T>);

impl<T: Transport> AbortGuard<T> {
    /// Guards `transport`.
    pub fn new(transport: T) -> Self {
        AbortGuard(Some(transport))
    }

    /// Disarms the guard and gives the transport back.
    pub fn keep(mut self) -> T {
        match self.0.take() {
            Some(transport) => transport,
            // Only `keep` and `drop` take it, each once.
            None => unreachable!("an AbortGuard holds its transport until kept"),
        }
    }
}

impl<T: Transport> Drop for AbortGuard<T> {
    fn drop(&mut self) {
        if let Some(transport) = self.0.take() {
            transport.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::Transport;
    use crate::{Endpoint, Result, WriteBufferLimits};

    /// Records every `write`, and nothing else: the trait's defaults on top.
    #[derive(Debug, Default)]
    struct Writes(Mutex<Vec<Bytes>>);

    impl Transport for Writes {
        fn write(&self, data: Bytes) -> Result<()> {
            self.0.lock().expect("not poisoned").push(data);
            Ok(())
        }
        fn write_eof(&self) -> Result<()> {
            Ok(())
        }
        fn can_write_eof(&self) -> bool {
            false
        }
        fn close(&self) {}
        fn abort(&self) {}
        fn is_closing(&self) -> bool {
            false
        }
        fn peer_addr(&self) -> Option<Endpoint> {
            None
        }
        fn local_addr(&self) -> Option<Endpoint> {
            None
        }
        fn write_buffer_size(&self) -> usize {
            0
        }
        fn write_buffer_limits(&self) -> WriteBufferLimits {
            WriteBufferLimits::default()
        }
        fn set_write_buffer_limits(&self, _: WriteBufferLimits) {}
        fn poll_write_ready(&self, _: &mut Context<'_>) -> Poll<Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn pause_reading(&self) {}
        fn resume_reading(&self) {}
        fn is_reading(&self) -> bool {
            true
        }
    }

    /// One write for the whole batch, so that no close or abort from
    /// another task can fall between its chunks.
    #[test]
    fn default_writelines_is_one_write() {
        let t = Writes::default();
        t.writelines(&[
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"c"),
            Bytes::new(),
        ])
        .expect("writes");
        t.writelines(&[Bytes::from_static(b"single")])
            .expect("writes");
        t.writelines(&[]).expect("nothing to write");
        let writes = t.0.lock().expect("not poisoned").clone();
        assert_eq!(
            writes,
            [Bytes::from_static(b"abc"), Bytes::from_static(b"single")]
        );
    }
}
