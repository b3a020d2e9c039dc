//! [`Hooked`]: a local queue whose server tells the test when it closes,
//! and whose connections can be held back at the server's side.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use transport_api::{Protocol, ProtocolHandle, SharedTransport};
use transport_local::{LocalQueue, LocalQueueServer, LocalQueueTransport};

/// A local queue (`local://<id>`), with two hooks:
/// - its server, once closed (its address free for another container),
///   calls `on_close`;
/// - its server sees a connection (its protocol's `connection_made`) only
///   at the first bytes that arrive once `open` is set, as a TLS server
///   sees one only once its handshake is done, which may be after the
///   container was dropped. Open from the start unless [`gated`](Self::gated).
#[derive(Clone)]
pub struct Hooked {
    queue: LocalQueue,
    on_close: Arc<dyn Fn() + Send + Sync>,
    open: Arc<AtomicBool>,
}

impl Hooked {
    pub fn new(queue: LocalQueue) -> Self {
        Hooked {
            queue,
            on_close: Arc::new(|| {}),
            open: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Calls `f` when the server closes.
    pub fn on_close(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_close = Arc::new(f);
        self
    }

    /// Holds connections back at the server's side until `open` is set.
    pub fn gated(mut self, open: Arc<AtomicBool>) -> Self {
        self.open = open;
        self
    }
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Hooked").field(&self.queue).finish()
    }
}

impl std::fmt::Display for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "local://{}", self.queue.queue_id())
    }
}

#[derive(Debug)]
pub struct HookedServer(LocalQueueServer, Hooked);

#[async_trait::async_trait]
impl transport_api::Server for HookedServer {
    type Addr = Hooked;
    fn addr(&self) -> Hooked {
        self.1.clone()
    }
    fn close(&self) {
        self.0.close();
        (self.1.on_close)();
    }
    async fn wait_closed(&self) {
        self.0.wait_closed().await
    }
    fn is_serving(&self) -> bool {
        self.0.is_serving()
    }
}

/// The server side of a `Hooked` connection: holds the transport and the
/// bytes back until the gate is open (passes everything on at once if it
/// is open when the connection is made).
struct Late<P> {
    inner: P,
    open: Arc<AtomicBool>,
    transport: Option<SharedTransport>,
    held: Vec<Bytes>,
}

impl<P: Protocol> Protocol for Late<P> {
    fn connection_made(&mut self, transport: SharedTransport) {
        if self.open.load(Ordering::SeqCst) {
            self.inner.connection_made(transport);
        } else {
            self.transport = Some(transport);
        }
    }
    fn data_received(&mut self, data: Bytes) {
        self.held.push(data);
        if !self.open.load(Ordering::SeqCst) {
            return;
        }
        if let Some(transport) = self.transport.take() {
            self.inner.connection_made(transport);
        }
        for data in self.held.drain(..) {
            self.inner.data_received(data);
        }
    }
    fn eof_received(&mut self) -> bool {
        self.inner.eof_received()
    }
    fn connection_lost(&mut self, error: Option<transport_api::Error>) {
        self.inner.connection_lost(error);
    }
    fn pause_writing(&mut self) {
        self.inner.pause_writing();
    }
    fn resume_writing(&mut self) {
        self.inner.resume_writing();
    }
}

#[async_trait::async_trait]
impl transport_api::Address for Hooked {
    type Transport = LocalQueueTransport;
    type Server = HookedServer;
    fn scheme(&self) -> &'static str {
        "local"
    }
    async fn create_server<P, F>(&self, factory: F) -> transport_api::Result<HookedServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let open = Arc::clone(&self.open);
        let late = move || Late {
            inner: factory(),
            open: Arc::clone(&open),
            transport: None,
            held: Vec::new(),
        };
        Ok(HookedServer(
            self.queue.create_server(late).await?,
            self.clone(),
        ))
    }
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> transport_api::Result<(Self::Transport, ProtocolHandle<P>)> {
        self.queue.create_connection(protocol).await
    }
}
