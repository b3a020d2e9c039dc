//! Containers of agents (aiomas's `agent` module).
//!
//! A [`Container`] is a server at one address — a local queue, TCP, a Unix
//! socket or TLS, picked by the address's type ([`IntoContainerAddr`]) —
//! with agents registered in it. An agent is a [`Service`](crate::rpc::Service)
//! (usually a [`Router`](crate::rpc::Router) of methods) and a class name;
//! agents get ids `"0"`, `"1"`, … and URLs `<container URL>/<id>`
//! (`tcp://127.0.0.1:5555/0`, `ipc://[/tmp/c.sock]/0`, `local://c/0`).
//!
//! [`Container::connect`] gives a [`Proxy`](crate::rpc::Proxy) to another
//! container's agent, after asking that container (root method
//! `validate_aid`) whether the agent exists. One connection per remote
//! container is cached and shared by all proxies to it, and either side
//! may call the other over it. [`Container::shutdown`] closes everything;
//! calls in flight then fail with a connection error.
//!
//! The default codec is JSON, as in aiomas, so Rust and Python aiomas
//! containers can call each other over TCP; set another with
//! [`ContainerOptions::codec`].
//!
//! Map of the module: `container` ([`Container`]), `addr`
//! ([`ContainerAddr`], [`IntoContainerAddr`]), `agents` ([`AgentInfo`],
//! the root service), `options` ([`ContainerOptions`]), `error`
//! ([`ContainerError`]), `server` (private: a backend-independent server
//! handle).

mod addr;
mod agents;
#[allow(clippy::module_inception)]
mod container;
mod error;
mod options;
mod server;

pub use addr::{ContainerAddr, IntoContainerAddr};
pub use agents::AgentInfo;
pub use container::Container;
pub use error::ContainerError;
pub use options::ContainerOptions;
