//! agentwire: a transport layer with agent containers on top, modelled on the
//! Python library aiomas.
//!
//! Map of the crate:
//!
//! - [`api`] — the transport traits (`transport-api`), re-exported;
//! - [`local`] — the deterministic in-process backend (`transport-local`);
//! - `tcp` — TCP, TLS and Unix domain sockets (`transport-tcp`; features
//!   `tcp`, `tls`, `unix`, on by default);
//! - [`channel`] — length-prefixed frames, codecs (bincode, aiomas's JSON) and
//!   request/reply [`Channel`]s over any of them;
//! - [`clock`] — real time, or an [`ExternalClock`](clock::ExternalClock)
//!   set from outside, for co-simulation;
//! - [`rpc`] — aiomas's RPC: `[path, args, kwargs]` calls routed to typed
//!   async handlers, [`Connection`](rpc::Connection)s and
//!   [`Proxy`]s;
//! - [`container`] — [`Container`]s of agents, addressed by URL.
#![warn(missing_docs, missing_debug_implementations)]

pub mod channel;
pub mod clock;
pub mod container;
pub mod rpc;

pub use channel::{Channel, ChannelError, ChannelOptions};
pub use container::{ConnectOptions, Container, ContainerError, ContainerOptions};
pub use rpc::{Proxy, Router, RpcError};
pub use transport_api as api;
pub use transport_local as local;
#[cfg(feature = "mqtt")]
pub use transport_mqtt as mqtt;
#[cfg(any(feature = "tcp", feature = "unix"))]
pub use transport_tcp as tcp;
