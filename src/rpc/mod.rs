//! Remote procedure calls (aiomas's `rpc` module): paths routed to typed
//! async functions, over a [`Channel`](crate::channel::Channel).
//!
//! A call is a request whose content is aiomas's `[path, args, kwargs]`:
//! `["agents/0/add", [1, 2], {}]`. With the [`Json`](crate::channel::Json)
//! codec these are the bytes aiomas 2.0.1 writes, so Rust and Python peers
//! call each other.
//!
//! - Serving: a [`Router`] maps names to [`Handler`]s (typed async
//!   functions: arguments decoded from the `args` list as a tuple, see
//!   [`FromArgs`]; result and error sent back) and path segments to
//!   sub-services (`agents/0/add`). Any [`Service`] can route.
//! - Calling: [`Connection::call`] / [`Proxy::call`] with typed arguments
//!   and result; many calls may be in flight on one connection.
//! - Both ways: a [`Connection`] serves a service to its peer and calls
//!   the peer's over the same connection.
//!
//! An unknown path, bad arguments or a handler's error come back to the
//! caller as [`RpcError::Remote`] with the peer's address and the message;
//! the connection goes on. Keyword arguments are refused (with an error
//! naming the first one) by methods added with [`Router::method`], and
//! decoded into a type of the handler's choice by
//! [`Router::method_with_kwargs`].
//!
//! Map of the module: `args` ([`Args`], [`FromArgs`], [`NoKwargs`]), `handler`
//! ([`Handler`], dispatch), `router` ([`Router`], [`Service`]),
//! `connection` ([`Connection`], [`start_server`]), `proxy` ([`Proxy`]),
//! `error` ([`RpcError`]), `quoted` (how an error names a peer's text).

mod args;
mod connection;
mod date;
mod error;
mod handler;
mod params;
mod proxy;
mod quoted;
mod router;
mod serve;
mod wire;

pub use args::{Args, FromArgs, NoKwargs};
pub use connection::{start_server, Connection};
pub(crate) use connection::{start_server_with, WireConfig};
pub use date::Date;
pub use error::RpcError;
pub use handler::Handler;
pub use params::{Optional, Param, Params, Required};
pub use proxy::Proxy;
pub use router::{Router, Service};
pub(crate) use serve::{mark_serving_loopback, serving_loopback, AwaitingReply};
pub(crate) use wire::serialize_reference;
pub use wire::{deserialize_typed, serialize_typed, Serializable, Serializers};
