//! [`AnyAddress`]: any backend's address behind one type, with its
//! [`AnyServer`] and [`AnyTransport`].
//!
//! Code that must hold addresses of backends it does not know at compile
//! time (a container that listens wherever its user says, a table of
//! peers on different backends) stores an [`AnyAddress`]. It is itself an
//! [`Address`], so code generic over `A: Address` runs on it unchanged, and
//! it keeps the semantics of the address inside: every callback reaches
//! the caller's protocol in the same order, and every error is the inner
//! backend's own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> transport_api::Result<()> {
//! # use std::fmt;
//! # use async_trait::async_trait;
//! # use transport_api::{Address, Protocol, ProtocolHandle, Result};
//! # #[derive(Debug, Clone)] struct MyAddr;
//! # impl fmt::Display for MyAddr {
//! #     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("my://x") }
//! # }
//! # #[async_trait]
//! # impl Address for MyAddr {
//! #     type Transport = transport_api::AnyTransport;
//! #     type Server = transport_api::AnyServer;
//! #     fn scheme(&self) -> &'static str { "my" }
//! #     async fn create_server<P: Protocol, F: Fn() -> P + Send + Sync + 'static>(&self, _: F)
//! #         -> Result<Self::Server> { Err(transport_api::Error::Unsupported("demo")) }
//! #     async fn create_connection<P: Protocol>(&self, _: P)
//! #         -> Result<(Self::Transport, ProtocolHandle<P>)> { Err(transport_api::Error::Unsupported("demo")) }
//! # }
//! use transport_api::AnyAddress;
//!
//! let addr = AnyAddress::new(MyAddr);
//! assert_eq!(addr.to_string(), "my://x");
//! assert_eq!(addr.scheme(), "my");
//! assert!(addr.downcast_ref::<MyAddr>().is_some());
//! // Erasing twice keeps one layer.
//! assert!(AnyAddress::new(addr.clone()).downcast_ref::<MyAddr>().is_some());
//! # Ok(()) }
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    boxed_factory, Address, Endpoint, Error, Protocol, ProtocolFactory, ProtocolHandle, Result,
    Server, SharedTransport, Transport, WriteBufferLimits,
};

/// The object-safe face of an [`Address`].
#[async_trait]
trait DynAddress: fmt::Display + fmt::Debug + Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn dyn_scheme(&self) -> &'static str;
    async fn dyn_create_server(&self, factory: ProtocolFactory) -> Result<AnyServer>;
    async fn dyn_create_connection(&self, protocol: Box<dyn Protocol>) -> Result<AnyTransport>;
}

#[async_trait]
impl<A: Address> DynAddress for A {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn dyn_scheme(&self) -> &'static str {
        self.scheme()
    }

    async fn dyn_create_server(&self, factory: ProtocolFactory) -> Result<AnyServer> {
        let server = self.create_server(move || factory()).await?;
        Ok(AnyServer::new(server))
    }

    async fn dyn_create_connection(&self, protocol: Box<dyn Protocol>) -> Result<AnyTransport> {
        let (transport, _) = self.create_connection(protocol).await?;
        Ok(AnyTransport::new(transport))
    }
}

/// Any backend's [`Address`], type-erased: one type for addresses of
/// every backend, this repository's and third-party ones alike.
///
/// Cheap to clone (an `Arc` inside). Prints as the inner address does (its
/// URL); [`downcast_ref`](Self::downcast_ref) gives the inner address
/// back. As an [`Address`], its servers are [`AnyServer`]s and its
/// connections' transports [`AnyTransport`]s; the protocols a server
/// accepts see the inner backend's own transport.
///
/// See the [module docs](self) for an example.
#[derive(Clone)]
pub struct AnyAddress {
    inner: Arc<dyn DynAddress>,
}

impl AnyAddress {
    /// Erases `addr`'s type. An `AnyAddress` given here is returned as it
    /// is, not wrapped again.
    pub fn new<A: Address>(addr: A) -> Self {
        let any: &dyn Any = &addr;
        if let Some(erased) = any.downcast_ref::<AnyAddress>() {
            return erased.clone();
        }
        AnyAddress {
            inner: Arc::new(addr),
        }
    }

    /// The inner address, if it is an `A`.
    pub fn downcast_ref<A: Address>(&self) -> Option<&A> {
        self.inner.as_any().downcast_ref::<A>()
    }

    /// Whether the inner address is an `A`.
    pub fn is<A: Address>(&self) -> bool {
        self.downcast_ref::<A>().is_some()
    }
}

impl fmt::Display for AnyAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl fmt::Debug for AnyAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnyAddress").field(&self.inner).finish()
    }
}

#[async_trait]
impl Address for AnyAddress {
    type Transport = AnyTransport;
    type Server = AnyServer;

    /// The inner address's scheme.
    fn scheme(&self) -> &'static str {
        self.inner.dyn_scheme()
    }

    /// Starts a server at the inner address.
    ///
    /// # Errors
    ///
    /// The inner backend's.
    async fn create_server<P, F>(&self, factory: F) -> Result<AnyServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.inner.dyn_create_server(boxed_factory(factory)).await
    }

    /// Connects to the inner address. The inner backend drives a small
    /// protocol that forwards every callback, in order, to `protocol`
    /// behind the returned handle.
    ///
    /// # Errors
    ///
    /// The inner backend's.
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(AnyTransport, ProtocolHandle<P>)> {
        let handle = ProtocolHandle::new(protocol);
        let forward = Box::new(Forward(handle.clone()));
        let transport = self.inner.dyn_create_connection(forward).await?;
        Ok((transport, handle))
    }
}

/// Forwards every callback to a protocol behind a handle (the one that
/// [`AnyAddress::create_connection`] returns).
struct Forward<P>(ProtocolHandle<P>);

impl<P: Protocol> Protocol for Forward<P> {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.0.with(|p| p.connection_made(transport))
    }
    fn data_received(&mut self, data: Bytes) {
        self.0.with(|p| p.data_received(data))
    }
    fn eof_received(&mut self) -> bool {
        self.0.with(|p| p.eof_received())
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.0.with(|p| p.connection_lost(error))
    }
    fn pause_writing(&mut self) {
        self.0.with(|p| p.pause_writing())
    }
    fn resume_writing(&mut self) {
        self.0.with(|p| p.resume_writing())
    }
}

/// The object-safe face of a [`Server`].
#[async_trait]
trait DynServer: fmt::Debug + Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn dyn_addr(&self) -> AnyAddress;
    fn dyn_close(&self);
    async fn dyn_wait_closed(&self);
    fn dyn_is_serving(&self) -> bool;
}

#[async_trait]
impl<S: Server> DynServer for S {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn dyn_addr(&self) -> AnyAddress {
        AnyAddress::new(self.addr())
    }
    fn dyn_close(&self) {
        self.close()
    }
    async fn dyn_wait_closed(&self) {
        self.wait_closed().await
    }
    fn dyn_is_serving(&self) -> bool {
        self.is_serving()
    }
}

/// The server of an [`AnyAddress`]: any backend's [`Server`], type-erased.
/// Cheap to clone; [`downcast_ref`](Self::downcast_ref) gives the
/// backend's server back.
#[derive(Clone)]
pub struct AnyServer {
    inner: Arc<dyn DynServer>,
}

impl AnyServer {
    /// Erases `server`'s type (an `AnyServer` is returned as it is).
    pub fn new<S: Server>(server: S) -> Self {
        let any: &dyn Any = &server;
        if let Some(erased) = any.downcast_ref::<AnyServer>() {
            return erased.clone();
        }
        AnyServer {
            inner: Arc::new(server),
        }
    }

    /// The backend's server, if it is an `S`.
    pub fn downcast_ref<S: Server>(&self) -> Option<&S> {
        self.inner.as_any().downcast_ref::<S>()
    }
}

impl fmt::Debug for AnyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnyServer").field(&self.inner).finish()
    }
}

#[async_trait]
impl Server for AnyServer {
    type Addr = AnyAddress;

    fn addr(&self) -> AnyAddress {
        self.inner.dyn_addr()
    }
    fn close(&self) {
        self.inner.dyn_close()
    }
    async fn wait_closed(&self) {
        self.inner.dyn_wait_closed().await
    }
    fn is_serving(&self) -> bool {
        self.inner.dyn_is_serving()
    }
}

/// The transport of a connection to an [`AnyAddress`]: the backend's
/// transport behind a [`SharedTransport`]. Every method forwards to it;
/// [`downcast_ref`](Self::downcast_ref) reaches the backend's type (and
/// what only it knows, such as TLS details).
#[derive(Debug, Clone)]
pub struct AnyTransport(SharedTransport);

impl AnyTransport {
    /// Erases `transport`'s type.
    pub fn new<T: Transport>(transport: T) -> Self {
        let any: &dyn Any = &transport;
        if let Some(erased) = any.downcast_ref::<AnyTransport>() {
            return erased.clone();
        }
        AnyTransport(Arc::new(transport))
    }

    /// The backend's transport, if it is a `T`.
    pub fn downcast_ref<T: Transport>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The backend's transport as a shared handle.
    pub fn shared(&self) -> &SharedTransport {
        &self.0
    }
}

impl Transport for AnyTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        self.0.write(data)
    }
    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        self.0.writelines(data)
    }
    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        self.0.write_if_ready(data)
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
        self.0.peer_addr()
    }
    fn local_addr(&self) -> Option<Endpoint> {
        self.0.local_addr()
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
