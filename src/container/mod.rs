//! Containers of agents (aiomas's `agent` module).
//!
//! A [`Container`] is a server at one address — a local queue, TCP, a Unix
//! socket, TLS, or any other backend's [`Address`](transport_api::Address),
//! given as the address itself or as a URL ([`IntoContainerAddr`],
//! [`Schemes`]) — with agents registered in it. An agent is a [`Service`](crate::rpc::Service)
//! (usually a [`Router`](crate::rpc::Router) of methods) and a class name;
//! agents get ids `"0"`, `"1"`, … and URLs `<container URL>/<id>`
//! (`tcp://127.0.0.1:5555/0`, `ipc://[/tmp/c.sock]/0`, `local://c/0`).
//!
//! [`Container::connect`] gives a [`Proxy`](crate::rpc::Proxy) to another
//! container's agent, after asking that container (root method
//! `validate_aid`) whether the agent exists. One connection per remote
//! container is cached and shared by all proxies to it, and either side
//! may call the other over it. The URL's scheme picks the backend, so a
//! container reaches containers on any backend its [`Schemes`] know;
//! [`Container::connect_with`] takes [`ConnectOptions`] (a retry timeout,
//! a TLS client configuration) for one connect. [`Container::shutdown`] closes everything;
//! calls in flight then fail with a connection error.
//!
//! The default codec is JSON, as in aiomas, so Rust and Python aiomas
//! containers can call each other over TCP; set another with
//! [`ContainerOptions::codec`].
//!
//! # Features
//!
//! `local://` queues always work. The crate features `tcp`, `tls`,
//! `unix` and `mqtt` (all on by default) add `tcp://`, `tls://`, `ipc://`
//! (Unix domain sockets, on Unix) and `mqtt://`/`mqtts://` (through an
//! MQTT broker: agents at `mqtt://broker:port/<name>/<aid>`); without them
//! the crate builds without sockets or rustls.
//!
//! Map of the module: `container` ([`Container`]: creating, registering,
//! shutting down), `connect` (its `connect` methods and their cache of
//! connections), `addr`
//! ([`ContainerAddr`], [`IntoContainerAddr`] and its [`marker`]s),
//! `schemes` ([`Schemes`]: URLs to addresses), `agents` ([`AgentInfo`],
//! the root service), `loopback` (the container's connection to itself),
//! `options` ([`ContainerOptions`], [`ConnectOptions`]), `error`
//! ([`ContainerError`]).

mod addr;
mod agent;
mod agents;
mod connect;
#[allow(clippy::module_inception)]
mod container;
mod error;
mod loopback;
mod options;
mod schemes;

pub use addr::{marker, ContainerAddr, IntoContainerAddr};
pub use agent::{Agent, AgentContext, AgentHandle, AgentRef};
pub use agents::AgentInfo;
pub use container::Container;
pub use error::ContainerError;
pub use options::{ConnectOptions, ContainerOptions};
pub use schemes::{Resolver, Schemes};
