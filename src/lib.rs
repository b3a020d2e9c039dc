//! agentwire: a transport layer with agent containers on top, modelled on the
//! Python library aiomas.
//!
//! Map of the crate:
//!
//! - [`api`] — the transport traits (`transport-api`), re-exported;
//! - [`local`] — the deterministic in-process backend (`transport-local`);
//! - `tcp` — TCP, TLS and Unix domain sockets (`transport-tcp`; features
//!   `tcp`, `tls`, `unix`, on by default);
//! - [`channel`] — length-prefixed frames, codecs (bincode, aiomas's JSON and MsgPack) and
//!   request/reply [`Channel`]s over any of them;
//! - [`clock`] — real time, or an [`ExternalClock`](clock::ExternalClock)
//!   set from outside, for co-simulation;
//! - [`rpc`] — aiomas's RPC: `[path, args, kwargs]` calls routed to typed
//!   async handlers, [`Connection`](rpc::Connection)s and
//!   [`Proxy`]s;
//! - [`container`] — [`Container`]s of agents, addressed by URL;
//! - [`agent`] and [`serializable`] — agents as Rust types, custom types on
//!   the wire (the `agentwire-macros` crate).
//!
//! # Agents
//!
//! An agent is a Rust type; exposing a method is one attribute, as
//! aiomas's `@expose`:
//!
//! ```
//! # use agentwire::agent;
//! struct Calc;
//!
//! #[agent]
//! impl Calc {
//!     #[expose]
//!     async fn add(&self, a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let container = agentwire::Container::create("local://lib-doc").await?;
//! let calc = container.register_agent(Calc)?; // agent "0", class "Calc"
//! let proxy: CalcProxy = container.connect(calc.url()).await?.into();
//! assert_eq!(proxy.add(1, 2).await?, 3);
//! # container.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The typed client `CalcProxy` is written from the same definition, so a
//! misspelt method does not compile:
//!
//! ```compile_fail,E0599
//! # use agentwire::agent;
//! # struct Calc;
//! # #[agent]
//! # impl Calc {
//! #     #[expose]
//! #     async fn add(&self, a: i64, b: i64) -> i64 {
//! #         a + b
//! #     }
//! # }
//! # async fn f(proxy: CalcProxy) {
//! proxy.ad(1, 2).await; // no method `ad`
//! # }
//! ```
//!
//! Nor do arguments of the wrong type:
//!
//! ```compile_fail,E0308
//! # use agentwire::agent;
//! # struct Calc;
//! # #[agent]
//! # impl Calc {
//! #     #[expose]
//! #     async fn add(&self, a: i64, b: i64) -> i64 {
//! #         a + b
//! #     }
//! # }
//! # async fn f(proxy: CalcProxy) {
//! proxy.add("1", 2).await; // `a` is an i64
//! # }
//! ```
//!
//! Python callers may pass parameters by position or by keyword, and leave
//! out trailing `Option` ones; see [`macro@agent`] and
//! [`Container::register_agent`].
//!
//! # Runtime
//!
//! Everything runs on the tokio runtime it is created on, which needs its
//! time driver (`Builder::enable_time`, or `enable_all` as
//! `#[tokio::main]` and `#[tokio::test]` have; sockets need `enable_io`
//! too): closing a channel, shutting a container down and retrying a
//! connect wait at most a bounded time, and on a runtime without timers
//! those waits panic with tokio's "timers are disabled" message, as any
//! `tokio::time` call there does. Both flavours work; on the current-thread
//! one, a handler that blocks its thread stalls everything on it (run
//! blocking work with `tokio::task::spawn_blocking`).
#![warn(missing_docs, missing_debug_implementations)]

// The attributes write `::agentwire::…` paths, which must resolve here too.
#[allow(unused_extern_crates)]
extern crate self as agentwire;

pub mod channel;
pub mod clock;
pub mod container;
mod panics;
pub mod rpc;

pub use agentwire_macros::{agent, serializable};
pub use channel::{Channel, ChannelError, ChannelOptions};
pub use container::{
    Agent, AgentContext, AgentHandle, AgentRef, ConnectOptions, Container, ContainerError,
    ContainerOptions,
};
pub use rpc::{Proxy, Router, RpcError};
pub use transport_api as api;
pub use transport_local as local;
#[cfg(feature = "mqtt")]
pub use transport_mqtt as mqtt;
#[cfg(any(feature = "tcp", feature = "unix"))]
pub use transport_tcp as tcp;

/// What the code written by [`agent`] and [`serializable`] refers to; not
/// an API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use std::convert::Infallible;
    pub use std::sync::Arc;
}
