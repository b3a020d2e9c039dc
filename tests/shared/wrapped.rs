//! A third-party-style backend: its own address, transport and server types,
//! delegating to local queues, built only from the crates' public API.
//! Included with `#[path]` by the conformance tests (the kit runs it) and the
//! container tests (containers are hosted on it and reach it by a scheme).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use transport_api::{
    Address, Endpoint, Protocol, ProtocolHandle, Result, Server, SharedTransport, Transport,
    WriteBufferLimits,
};
use transport_local::{LocalNetwork, LocalQueue, LocalQueueServer, LocalQueueTransport};

/// `wrapped://name`: a local queue under another name. Counts the
/// connections made to it (shared by the clones of the address, and by the
/// address of a server started on it).
#[derive(Debug, Clone)]
pub struct WrappedAddr {
    queue: LocalQueue,
    dialed: Arc<AtomicUsize>,
}

impl WrappedAddr {
    pub fn new(queue: LocalQueue) -> Self {
        WrappedAddr {
            queue,
            dialed: Arc::default(),
        }
    }

    /// Parses `wrapped://name`, a queue of `net`.
    pub fn parse(url: &str, net: &LocalNetwork) -> Result<Self> {
        let Some(name) = url.strip_prefix("wrapped://") else {
            return Err(transport_api::Error::invalid_address(
                url,
                "expected wrapped://name",
            ));
        };
        Ok(WrappedAddr::new(net.get_queue(name)?))
    }

    /// Counts connections made to this address in `dialed`.
    pub fn counting(mut self, dialed: Arc<AtomicUsize>) -> Self {
        self.dialed = dialed;
        self
    }

    /// How many connections were made to this address.
    pub fn dialed(&self) -> usize {
        self.dialed.load(Ordering::SeqCst)
    }
}

impl fmt::Display for WrappedAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrapped://{}", self.queue.queue_id())
    }
}

/// A transport that counts the bytes it was asked to write.
#[derive(Debug, Clone)]
pub struct WrappedTransport {
    inner: LocalQueueTransport,
    written: Arc<AtomicUsize>,
}

fn rename(e: Option<Endpoint>) -> Option<Endpoint> {
    e.map(|e| Endpoint::Other(e.to_string().replace("local://", "wrapped://")))
}

impl Transport for WrappedTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        let n = data.len();
        self.inner.write(data)?;
        self.written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
    fn write_eof(&self) -> Result<()> {
        self.inner.write_eof()
    }
    fn can_write_eof(&self) -> bool {
        self.inner.can_write_eof()
    }
    fn close(&self) {
        self.inner.close()
    }
    fn abort(&self) {
        self.inner.abort()
    }
    fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }
    fn peer_addr(&self) -> Option<Endpoint> {
        rename(self.inner.peer_addr())
    }
    fn local_addr(&self) -> Option<Endpoint> {
        rename(self.inner.local_addr())
    }
    fn write_buffer_size(&self) -> usize {
        self.inner.write_buffer_size()
    }
    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.inner.write_buffer_limits()
    }
    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        self.inner.set_write_buffer_limits(limits)
    }
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_write_ready(cx)
    }
    fn pause_reading(&self) {
        self.inner.pause_reading()
    }
    fn resume_reading(&self) {
        self.inner.resume_reading()
    }
    fn is_reading(&self) -> bool {
        self.inner.is_reading()
    }
}

/// Wraps the protocol so that it sees a [`WrappedTransport`], as it would
/// from a real third-party backend.
struct Adapt<P> {
    inner: P,
}

impl<P: Protocol> Protocol for Adapt<P> {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.inner
            .connection_made(Arc::new(WrappedTransportDyn(transport)));
    }
    fn data_received(&mut self, data: Bytes) {
        self.inner.data_received(data)
    }
    fn eof_received(&mut self) -> bool {
        self.inner.eof_received()
    }
    fn connection_lost(&mut self, error: Option<transport_api::Error>) {
        self.inner.connection_lost(error)
    }
    fn pause_writing(&mut self) {
        self.inner.pause_writing()
    }
    fn resume_writing(&mut self) {
        self.inner.resume_writing()
    }
}

/// The protocol-side view: any shared transport, renamed.
#[derive(Debug)]
struct WrappedTransportDyn(SharedTransport);

impl Transport for WrappedTransportDyn {
    fn write(&self, data: Bytes) -> Result<()> {
        self.0.write(data)
    }
    fn write_eof(&self) -> Result<()> {
        self.0.write_eof()
    }
    fn can_write_eof(&self) -> bool {
        self.0.can_write_eof()
    }
    fn close(&self) {
        self.0.close()
    }
    fn abort(&self) {
        self.0.abort()
    }
    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }
    fn peer_addr(&self) -> Option<Endpoint> {
        rename(self.0.peer_addr())
    }
    fn local_addr(&self) -> Option<Endpoint> {
        rename(self.0.local_addr())
    }
    fn write_buffer_size(&self) -> usize {
        self.0.write_buffer_size()
    }
    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.0.write_buffer_limits()
    }
    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        self.0.set_write_buffer_limits(limits)
    }
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.0.poll_write_ready(cx)
    }
    fn pause_reading(&self) {
        self.0.pause_reading()
    }
    fn resume_reading(&self) {
        self.0.resume_reading()
    }
    fn is_reading(&self) -> bool {
        self.0.is_reading()
    }
}

/// The server of a [`WrappedAddr`].
#[derive(Debug, Clone)]
pub struct WrappedServer(LocalQueueServer, Arc<AtomicUsize>);

#[async_trait]
impl Server for WrappedServer {
    type Addr = WrappedAddr;
    fn addr(&self) -> WrappedAddr {
        WrappedAddr::new(self.0.addr()).counting(Arc::clone(&self.1))
    }
    fn close(&self) {
        self.0.close()
    }
    async fn wait_closed(&self) {
        self.0.wait_closed().await
    }
    fn is_serving(&self) -> bool {
        self.0.is_serving()
    }
}

#[async_trait]
impl Address for WrappedAddr {
    type Transport = WrappedTransport;
    type Server = WrappedServer;

    fn scheme(&self) -> &'static str {
        "wrapped"
    }

    async fn create_server<P, F>(&self, factory: F) -> Result<WrappedServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let server = self
            .queue
            .create_server(move || Adapt { inner: factory() })
            .await?;
        Ok(WrappedServer(server, Arc::clone(&self.dialed)))
    }

    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(WrappedTransport, ProtocolHandle<P>)> {
        // The caller's protocol handle must reach the caller's protocol type,
        // so connect through a relay that owns a handle to it.
        let handle = ProtocolHandle::new(protocol);
        let relay = Relay(handle.clone());
        let (inner, _) = self.queue.create_connection(Adapt { inner: relay }).await?;
        self.dialed.fetch_add(1, Ordering::SeqCst);
        Ok((
            WrappedTransport {
                inner,
                written: Arc::default(),
            },
            handle,
        ))
    }
}

/// Forwards every callback to a protocol behind a handle.
struct Relay<P>(ProtocolHandle<P>);

impl<P: Protocol> Protocol for Relay<P> {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.0.with(|p| p.connection_made(transport))
    }
    fn data_received(&mut self, data: Bytes) {
        self.0.with(|p| p.data_received(data))
    }
    fn eof_received(&mut self) -> bool {
        self.0.with(|p| p.eof_received())
    }
    fn connection_lost(&mut self, error: Option<transport_api::Error>) {
        self.0.with(|p| p.connection_lost(error))
    }
    fn pause_writing(&mut self) {
        self.0.with(|p| p.pause_writing())
    }
    fn resume_writing(&mut self) {
        self.0.with(|p| p.resume_writing())
    }
}
