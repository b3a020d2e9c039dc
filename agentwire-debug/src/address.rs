//! [`SimAddress`]: any backend's address, routed through a [`Sim`], and
//! [`SimServer`].

use std::fmt;
use std::sync::Arc;

use agentwire::api::{Address, Protocol, ProtocolHandle, Result, Server};
use async_trait::async_trait;

use crate::conn::{connect, SimTransport};
use crate::sim::Sim;

/// An address of any backend (`A`), wrapped by a [`Sim`]: it prints as
/// `A` does (so URLs do not change), a server started on it is its node,
/// and connections made to it go from its node through the simulation's
/// links, faults, rules and recorder. Made by
/// [`Node::address`](crate::Node::address).
#[derive(Clone)]
pub struct SimAddress<A> {
    inner: A,
    node: Arc<str>,
    sim: Sim,
}

impl<A: Address> SimAddress<A> {
    pub(crate) fn new(inner: A, node: Arc<str>, sim: Sim) -> Self {
        SimAddress { inner, node, sim }
    }

    /// The wrapped address.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The node this address belongs to.
    pub fn node(&self) -> &str {
        &self.node
    }
}

impl<A: fmt::Display> fmt::Display for SimAddress<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<A: fmt::Debug> fmt::Debug for SimAddress<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimAddress")
            .field("inner", &self.inner)
            .field("node", &self.node)
            .finish()
    }
}

#[async_trait]
impl<A: Address> Address for SimAddress<A> {
    type Transport = SimTransport;
    type Server = SimServer<A>;

    fn scheme(&self) -> &'static str {
        self.inner.scheme()
    }

    async fn create_server<P, F>(&self, factory: F) -> Result<Self::Server>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let server = self.inner.create_server(factory).await?;
        self.sim
            .inner
            .register_server(server.addr().to_string(), &self.node);
        Ok(SimServer {
            inner: server,
            node: Arc::clone(&self.node),
            sim: self.sim.clone(),
        })
    }

    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(Self::Transport, ProtocolHandle<P>)> {
        connect(&self.inner, &self.node, &self.sim, protocol).await
    }
}

/// A server started on a [`SimAddress`]: the backend's server, whose
/// address is wrapped again.
pub struct SimServer<A: Address> {
    inner: A::Server,
    node: Arc<str>,
    sim: Sim,
}

impl<A: Address> fmt::Debug for SimServer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimServer")
            .field("inner", &self.inner)
            .field("node", &self.node)
            .finish()
    }
}

#[async_trait]
impl<A: Address> Server for SimServer<A> {
    type Addr = SimAddress<<A::Server as Server>::Addr>;

    fn addr(&self) -> Self::Addr {
        SimAddress::new(self.inner.addr(), Arc::clone(&self.node), self.sim.clone())
    }

    fn close(&self) {
        self.inner.close();
    }

    async fn wait_closed(&self) {
        self.inner.wait_closed().await;
    }

    fn is_serving(&self) -> bool {
        self.inner.is_serving()
    }
}
