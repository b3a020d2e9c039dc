//! [`Address`]: what a server is started on and a connection made to.

use std::fmt;

use async_trait::async_trait;

use crate::{Protocol, ProtocolHandle, Result, Server, Transport};

/// An address of some backend: it knows its scheme, prints as a URL, and can
/// start a server or open a connection.
///
/// Code generic over `A: Address` runs unchanged on every backend; the free
/// functions [`create_server`] and [`create_connection`] are the usual entry
/// points.
#[async_trait]
pub trait Address: fmt::Display + fmt::Debug + Clone + Send + Sync + 'static {
    /// The transport type of connections to this kind of address.
    type Transport: Transport + Clone;
    /// The server type for this kind of address.
    type Server: Server;

    /// The URL scheme: `"local"`, `"tcp"`, `"ipc"`, `"tls"`, …
    fn scheme(&self) -> &'static str;

    /// Starts a server; `factory` is called once per accepted connection.
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`](crate::Error::AddrInUse) when something already
    /// serves the address, or a backend-specific error.
    async fn create_server<P, F>(&self, factory: F) -> Result<Self::Server>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static;

    /// Connects `protocol` to the server at this address; returns once its
    /// `connection_made` has returned.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionRefused`](crate::Error::ConnectionRefused) when no
    /// server accepts;
    /// [`Error::ProtocolPanicked`](crate::Error::ProtocolPanicked), naming
    /// the panic, when `protocol`'s `connection_made` panicked (the panic
    /// does not unwind into the caller, and the connection is aborted: see
    /// [`Protocol`]'s "Panics in `connection_made`"); or a backend-specific
    /// error.
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(Self::Transport, ProtocolHandle<P>)>;
}

/// Starts a server at `addr` that calls `factory` once per accepted connection
/// (asyncio's `loop.create_server`).
///
/// # Errors
///
/// See [`Address::create_server`].
pub async fn create_server<A, P, F>(factory: F, addr: &A) -> Result<A::Server>
where
    A: Address,
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    addr.create_server(factory).await
}

/// Connects a protocol made by `factory` to `addr` and returns the transport
/// and a handle to the protocol (asyncio's `loop.create_connection`).
///
/// # Errors
///
/// See [`Address::create_connection`]; a panic in the protocol's
/// `connection_made` is returned as
/// [`Error::ProtocolPanicked`](crate::Error::ProtocolPanicked).
pub async fn create_connection<A, P, F>(
    factory: F,
    addr: &A,
) -> Result<(A::Transport, ProtocolHandle<P>)>
where
    A: Address,
    P: Protocol,
    F: FnOnce() -> P,
{
    addr.create_connection(factory()).await
}
