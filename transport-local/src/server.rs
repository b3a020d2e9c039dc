//! [`LocalQueueServer`]: accepts connections made to one [`LocalQueue`].

use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::runtime::Handle as Runtime;
use transport_api::{
    ConnectionTracker, Error, Protocol, ProtocolFactory, ProtocolHandle, Result, Server,
    SharedTransport,
};

use crate::conn::{Conn, CLIENT, SERVER};
use crate::{LocalQueue, LocalQueueTransport};

struct Inner {
    lq: LocalQueue,
    factory: ProtocolFactory,
    tracker: ConnectionTracker,
    serving: AtomicBool,
}

/// A server bound to a [`LocalQueue`] (aiomas's `LocalQueueServer`).
///
/// It serves until [`close`](Server::close) is called, like an asyncio server:
/// dropping the value does not unbind it. Cheap to clone.
#[derive(Clone)]
pub struct LocalQueueServer {
    inner: Arc<Inner>,
}

impl LocalQueueServer {
    /// A server for `lq` that is not bound yet; bind it with
    /// [`LocalQueue::set_server`]. Most code wants [`start`](Self::start).
    pub fn new(lq: LocalQueue, factory: ProtocolFactory) -> Self {
        LocalQueueServer {
            inner: Arc::new(Inner {
                lq,
                factory,
                tracker: ConnectionTracker::new(),
                serving: AtomicBool::new(false),
            }),
        }
    }

    /// A server bound to `lq`: every connection made to the queue gets a
    /// protocol from `factory`.
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] if the queue already has a server.
    pub fn start(lq: LocalQueue, factory: ProtocolFactory) -> Result<Self> {
        let server = Self::new(lq.clone(), factory);
        lq.set_server(server.clone())?;
        Ok(server)
    }

    /// The queue this server is for.
    pub fn lq(&self) -> &LocalQueue {
        &self.inner.lq
    }

    pub(crate) fn set_serving(&self, serving: bool) {
        self.inner.serving.store(serving, Ordering::SeqCst);
    }

    pub(crate) fn same(&self, other: &LocalQueueServer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Connects `client` to this server: calls the factory for the server's
    /// protocol, wires both to a fresh pair of queues, calls
    /// `connection_made` on the server's protocol and then on the client's
    /// (both before this returns), and starts one driver task per side.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionRefused`] if the server is closed, or if the
    /// server's factory or `connection_made` panicked (its source names the
    /// panic); [`Error::ProtocolPanicked`] if the client's `connection_made`
    /// panicked (the server's side then ends with a reset, as a socket's
    /// peer would see); [`Error::NoRuntime`] outside a tokio runtime.
    pub fn new_connection<P: Protocol>(
        &self,
        client: P,
    ) -> Result<(LocalQueueTransport, ProtocolHandle<P>)> {
        let runtime = Runtime::try_current().map_err(|_| Error::NoRuntime)?;
        // Counted before the check: `close` clears `serving` before it
        // closes the tracker, so either this sees the server closed, or
        // `wait_closed` waits for this connection (counting after the check
        // let `wait_closed` return while an accepted connection was still
        // being set up).
        let token = self.inner.tracker.track();
        if !self.is_serving() {
            return Err(Error::ConnectionRefused {
                addr: self.inner.lq.to_string(),
                source: None,
            });
        }
        let lq = &self.inner.lq;
        let conn = Arc::new(Conn::new(
            lq.queue_id().to_owned(),
            lq.next_connection_number(),
            Default::default(),
        ));
        let server_transport = LocalQueueTransport::new(Arc::clone(&conn), SERVER);
        let client_transport = LocalQueueTransport::new(Arc::clone(&conn), CLIENT);

        // The server's code runs in the connecting task here: a panic in it
        // refuses this connection instead of unwinding into the client (a
        // socket's client sees its connection end, not the server's panic).
        let server_proto = catch_unwind(AssertUnwindSafe(|| {
            ProtocolHandle::new((self.inner.factory)())
        }))
        .map_err(|payload| Error::protocol_panicked("the factory", payload.as_ref()))
        .and_then(|server_proto| {
            server_proto
                .connection_made(Arc::new(server_transport) as SharedTransport)
                .map(|()| server_proto)
        });
        let server_proto = match server_proto {
            Ok(server_proto) => server_proto,
            Err(panicked) => {
                conn.abandon(SERVER);
                return Err(Error::ConnectionRefused {
                    addr: self.inner.lq.to_string(),
                    source: Some(io::Error::other(panicked)),
                });
            }
        };
        // The server's side is accepted: its driver runs from here on, so
        // that it learns of the end whatever happens to the client's side.
        let driver_conn = Arc::clone(&conn);
        runtime.spawn(async move { driver_conn.drive(SERVER, server_proto, Some(token)).await });

        // The client's panic in `connection_made` stays here (see
        // `Protocol`): its side is abandoned, the server's protocol sees the
        // connection reset (as a socket's peer would), and the caller gets
        // an error naming the panic.
        let client_proto = ProtocolHandle::new(client);
        if let Err(panicked) =
            client_proto.connection_made(Arc::new(client_transport.clone()) as SharedTransport)
        {
            conn.abandon(CLIENT);
            return Err(panicked);
        }

        let driver_proto = client_proto.clone();
        runtime.spawn(async move { conn.drive(CLIENT, driver_proto, None).await });
        Ok((client_transport, client_proto))
    }
}

impl fmt::Debug for LocalQueueServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalQueueServer")
            .field("queue_id", &self.inner.lq.queue_id())
            .field("serving", &self.is_serving())
            .field("connections", &self.inner.tracker.active())
            .finish()
    }
}

#[async_trait]
impl Server for LocalQueueServer {
    type Addr = LocalQueue;

    fn addr(&self) -> LocalQueue {
        self.inner.lq.clone()
    }

    /// Unbinds from the queue (its id can be served again) and refuses new
    /// connections; established ones go on.
    fn close(&self) {
        self.set_serving(false);
        self.inner.lq.unset_server_if(self);
        self.inner.tracker.close();
    }

    async fn wait_closed(&self) {
        self.inner.tracker.wait_closed().await
    }

    fn is_serving(&self) -> bool {
        self.inner.serving.load(Ordering::SeqCst)
    }
}
