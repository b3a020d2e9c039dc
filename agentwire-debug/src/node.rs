//! [`Node`]: one named endpoint of a [`Sim`].

use std::fmt;
use std::sync::Arc;

use agentwire::api::{Address, AnyAddress};
use agentwire::channel::Codec;
use agentwire::ContainerOptions;

use crate::address::SimAddress;
use crate::Sim;

/// One named endpoint of a [`Sim`]: what listens and connects through
/// it appears under its name in traces, links, rules and faults.
#[derive(Clone)]
pub struct Node {
    pub(crate) sim: Sim,
    pub(crate) name: Arc<str>,
}

impl Node {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `inner` (any backend's address) wrapped: a server started on it is
    /// this node; connections made to it go from this node through the
    /// simulation.
    pub fn address<A: Address>(&self, inner: A) -> SimAddress<A> {
        SimAddress::new(inner, Arc::clone(&self.name), self.sim.clone())
    }

    /// `options` for a container that is this node: its `local://` and
    /// `tcp://` URLs (its own and those it connects to) resolve to wrapped
    /// addresses, and its clock is the simulation's.
    pub fn container_options<C: Codec>(&self, options: ContainerOptions<C>) -> ContainerOptions<C> {
        let net = options.get_local_network().clone();
        let local = self.clone();
        let tcp = self.clone();
        options
            .clock(self.sim.clock())
            .scheme("local", move |url: &str| {
                let id = url.strip_prefix("local://").unwrap_or(url);
                Ok(AnyAddress::new(local.address(net.get_queue(id)?)))
            })
            .scheme("tcp", move |url: &str| {
                let addr: agentwire::tcp::TcpAddr = url.parse()?;
                Ok(AnyAddress::new(tcp.address(addr)))
            })
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node").field("name", &self.name).finish()
    }
}
