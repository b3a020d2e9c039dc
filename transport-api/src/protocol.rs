//! [`Protocol`]: the receiving end of a connection, and [`ProtocolHandle`].

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::{Error, SharedTransport};

/// The events of one connection, as asyncio's `asyncio.Protocol` receives them.
///
/// # Call order
///
/// The methods are called one at a time, never concurrently and never from
/// inside a [`Transport`](crate::Transport) method (so a protocol may call
/// its transport freely from any callback):
///
/// 1. [`connection_made`](Protocol::connection_made) exactly once, first, and
///    before `create_connection` returns (local queues call it from the
///    connecting task, socket backends from the driver task);
///
/// then, from the connection's own driver task:
///
/// 2. any number of [`data_received`](Protocol::data_received), in the order the
///    peer wrote the bytes (chunking is up to the backend), interleaved with
///    [`pause_writing`](Protocol::pause_writing) /
///    [`resume_writing`](Protocol::resume_writing), which alternate, starting
///    with a pause;
/// 3. at most one [`eof_received`](Protocol::eof_received) (only on transports
///    whose peer can half-close);
/// 4. [`connection_lost`](Protocol::connection_lost) exactly once, last:
///    `None` for a clean close (ours or the peer's), `Some(error)` otherwise.
///
/// The data path is synchronous: callbacks must not block. To hand work to async
/// code, push it into a channel from the callback.
///
/// # Panics in `connection_made`
///
/// Every backend keeps one contract (the conformance kit checks it): a panic
/// in `connection_made` stays inside its connection, which is aborted, and
/// the protocol gets no further callbacks.
///
/// - A client's panic does not unwind into the caller of `create_connection`
///   (which may be an unrelated task that only asked for a connection):
///   `create_connection` returns
///   [`Error::ProtocolPanicked`] with the
///   panic's message, and the server's side of the connection ends (with
///   `connection_lost`) as for a peer that went away.
/// - A server's panic (in its factory or its `connection_made`) refuses or
///   ends that one connection: the server goes on serving, and its other
///   connections go on undisturbed.
///
/// The panic is still reported by the panic hook (printed to stderr by
/// default), as for a panicking task.
pub trait Protocol: Send + 'static {
    /// The connection is up; `transport` is its writing end.
    ///
    /// Keep the transport if you want to write later: the connection closes
    /// (gracefully, as by [`close`](crate::Transport::close)) once the last
    /// handle to its transport is dropped.
    fn connection_made(&mut self, transport: SharedTransport);

    /// Bytes arrived from the peer.
    fn data_received(&mut self, data: Bytes);

    /// The peer half-closed its writing side. Return `true` to keep our side
    /// open (we may still write), `false` to close the transport.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone. `None` for a clean close, `Some` with the cause
    /// otherwise. Called exactly once, and nothing is called after it.
    fn connection_lost(&mut self, error: Option<Error>) {
        let _ = error;
    }

    /// The transport's write buffer passed the high-water mark: stop writing
    /// until [`resume_writing`](Protocol::resume_writing).
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained below the low-water mark.
    fn resume_writing(&mut self) {}
}

impl<P: Protocol + ?Sized> Protocol for Box<P> {
    fn connection_made(&mut self, transport: SharedTransport) {
        (**self).connection_made(transport)
    }
    fn data_received(&mut self, data: Bytes) {
        (**self).data_received(data)
    }
    fn eof_received(&mut self) -> bool {
        (**self).eof_received()
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        (**self).connection_lost(error)
    }
    fn pause_writing(&mut self) {
        (**self).pause_writing()
    }
    fn resume_writing(&mut self) {
        (**self).resume_writing()
    }
}

/// A protocol factory as servers store it: called once per accepted connection.
pub type ProtocolFactory = Arc<dyn Fn() -> Box<dyn Protocol> + Send + Sync>;

/// Turns a typed factory into a [`ProtocolFactory`].
pub fn boxed_factory<P, F>(factory: F) -> ProtocolFactory
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    Arc::new(move || Box::new(factory()) as Box<dyn Protocol>)
}

/// Shared access to a protocol instance that a connection's driver owns.
///
/// asyncio's `create_connection` returns `(transport, protocol)`; here the
/// protocol lives in the driver task, and this handle reaches it. The driver
/// locks it for each callback, so [`with`](ProtocolHandle::with) sees the
/// protocol between two events, never in the middle of one.
///
/// # Panics
///
/// Calling [`with`](ProtocolHandle::with) from inside one of the same
/// protocol's callbacks deadlocks (the driver holds the lock); that is API
/// misuse, as is re-entering a `std::sync::Mutex`.
pub struct ProtocolHandle<P: ?Sized> {
    inner: Arc<Mutex<P>>,
}

impl<P> ProtocolHandle<P> {
    /// Wraps a protocol.
    pub fn new(protocol: P) -> Self {
        ProtocolHandle {
            inner: Arc::new(Mutex::new(protocol)),
        }
    }
}

impl<P: Protocol + ?Sized> ProtocolHandle<P> {
    /// Calls the protocol's [`connection_made`](Protocol::connection_made),
    /// catching a panic in it: what a backend calls, so that every backend
    /// keeps the contract described under [`Protocol`] ("Panics in
    /// `connection_made`").
    ///
    /// # Errors
    ///
    /// [`Error::ProtocolPanicked`] naming the
    /// panic's message; the caller then ends the connection.
    pub fn connection_made(&self, transport: SharedTransport) -> crate::Result<()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.with(|p| p.connection_made(transport))
        }))
        .map_err(|payload| crate::Error::protocol_panicked("connection_made", payload.as_ref()))
    }
}

impl<P: ?Sized> ProtocolHandle<P> {
    /// Runs `f` with exclusive access to the protocol.
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        f(&mut self.lock())
    }

    /// Locks the protocol. Prefer [`with`](Self::with); a held guard stalls the
    /// connection's driver.
    pub fn lock(&self) -> MutexGuard<'_, P> {
        // A protocol that panicked in a callback poisons the lock; its state is
        // still the best information the caller can get.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl<P: ?Sized> Clone for ProtocolHandle<P> {
    fn clone(&self) -> Self {
        ProtocolHandle {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: ?Sized> fmt::Debug for ProtocolHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolHandle")
            .field("protocol", &std::any::type_name::<P>())
            .finish()
    }
}
