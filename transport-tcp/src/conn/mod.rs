//! One connection: its shared state, its driver task, and how it starts.
//!
//! - `state`: what transport handles and the driver share (the write buffer,
//!   flags, flow control, wakers);
//! - `coalesce`: the write buffer's run of small writes copied together;
//! - `driver`: the task that owns the socket and the protocol;
//! - `read_buf`: the driver's read buffer, sized by what reads bring;
//! - `stream`: the socket types a driver runs on.
//!
//! A connection's life, all in its own task ([`run`]): `connection_made`,
//! then the driver's events, then `connection_lost` exactly once, then the
//! server's connection token is released. After a graceful close the task
//! may linger for up to [`LINGER`] reading (and discarding) until the peer's
//! EOF, so that unread data does not turn our close into a reset.

mod coalesce;
mod driver;
mod read_buf;
mod state;
mod stream;

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle as Runtime;
use tokio::sync::oneshot;
use transport_api::{
    AbortGuard, ConnectionToken, Error, Protocol, ProtocolFactory, ProtocolHandle, Result,
    SharedTransport,
};

pub(crate) use state::{ConnInfo, Shared};
pub(crate) use stream::Stream;

use crate::SocketTransport;
use driver::Driver;

/// How long a closed connection keeps reading until the peer's EOF.
pub(crate) const LINGER: Duration = Duration::from_secs(5);

/// The current tokio runtime.
///
/// # Errors
///
/// [`Error::NoRuntime`] outside of one.
pub(crate) fn runtime() -> Result<Runtime> {
    Runtime::try_current().map_err(|_| Error::NoRuntime)
}

/// Turns an I/O error of an established connection into a transport error:
/// a reset (or a broken pipe: writing to a peer that is gone) is
/// [`Error::ConnectionReset`], a TLS failure [`Error::Tls`].
pub(crate) fn map_io_error(err: io::Error) -> Error {
    #[cfg(feature = "tls")]
    let err = match crate::tls::error::from_io(err, "TLS connection failed") {
        Ok(tls) => return tls,
        Err(err) => err,
    };
    match err.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Error::ConnectionReset,
        _ => Error::Io(err),
    }
}

/// Marks the connection finished however its task ends (also on a panic in
/// a protocol callback, or when the runtime drops the task), so that writers
/// get [`Error::Closed`] instead of filling a buffer nobody sends.
struct FinishGuard(Arc<Shared>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Runs one connection to its end: `connection_made`, the driver, then
/// `connection_lost`. `made` gets the outcome of `connection_made`; if it
/// panicked, the connection ends there (the socket is dropped, the peer
/// sees it end) and the protocol gets nothing more.
async fn run<S: Stream, P: Protocol>(
    stream: S,
    shared: Arc<Shared>,
    transport: SocketTransport,
    protocol: ProtocolHandle<P>,
    made: Option<oneshot::Sender<Result<()>>>,
    token: Option<ConnectionToken>,
) {
    let guard = FinishGuard(Arc::clone(&shared));
    let outcome = protocol.connection_made(Arc::new(transport) as SharedTransport);
    let panicked = outcome.is_err();
    if let Some(made) = made {
        let _ = made.send(outcome);
    }
    if panicked {
        return;
    }
    let mut driver = Driver::new(stream, Arc::clone(&shared), protocol);
    let ending = poll_fn(|cx| driver.poll_drive(cx)).await;
    shared.finish();
    driver.protocol.with(|p| p.connection_lost(ending.error));
    let Driver {
        mut stream,
        protocol,
        rbuf,
        ..
    } = driver;
    drop(protocol);
    drop(token);
    drop(guard);
    if ending.drain {
        let mut rbuf = rbuf.into_inner();
        let discard = poll_fn(|cx| driver::poll_discard(&mut stream, &mut rbuf, cx));
        let _ = tokio::time::timeout(LINGER, discard).await;
    }
}

/// Starts the driver task of a connection that a server accepted; the
/// factory makes its protocol.
pub(crate) fn spawn_accepted<S: Stream>(
    runtime: &Runtime,
    stream: S,
    info: ConnInfo,
    factory: ProtocolFactory,
    token: ConnectionToken,
) {
    runtime.spawn(serve(stream, info, factory, token));
}

/// Runs a connection that a server accepted (see [`spawn_accepted`]).
pub(crate) async fn serve<S: Stream>(
    stream: S,
    info: ConnInfo,
    factory: ProtocolFactory,
    token: ConnectionToken,
) {
    let shared = Arc::new(Shared::new(info));
    let transport = SocketTransport::new(Arc::clone(&shared));
    let protocol = ProtocolHandle::new(factory());
    run(stream, shared, transport, protocol, None, Some(token)).await
}

/// Starts the driver task of a connection we opened and waits until its
/// protocol got `connection_made`. Dropped while it waits, it aborts the
/// connection (its protocol still gets `connection_made`, then
/// `connection_lost`).
///
/// # Errors
///
/// [`Error::NoRuntime`] outside a tokio runtime;
/// [`Error::ProtocolPanicked`] if `connection_made` panicked (the
/// connection is then closed); [`Error::Closed`] if the task ended before
/// `connection_made` returned (the runtime is shutting down).
pub(crate) async fn start_client<S: Stream, P: Protocol>(
    stream: S,
    info: ConnInfo,
    protocol: P,
) -> Result<(SocketTransport, ProtocolHandle<P>)> {
    let runtime = runtime()?;
    let shared = Arc::new(Shared::new(info));
    let transport = SocketTransport::new(Arc::clone(&shared));
    let handle = ProtocolHandle::new(protocol);
    let (made_tx, made_rx) = oneshot::channel();
    runtime.spawn(run(
        stream,
        shared,
        transport.clone(),
        handle.clone(),
        Some(made_tx),
        None,
    ));
    // A caller that gives up now must not leave the connection to its
    // protocol alone: nobody would ever close it.
    let transport = AbortGuard::new(transport);
    made_rx.await.map_err(|_| Error::Closed)??;
    Ok((transport.keep(), handle))
}
