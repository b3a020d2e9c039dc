//! The traits every agentwire transport backend implements: asyncio's
//! transport/protocol model, in Rust.
//!
//! A [`Protocol`] receives the events of one connection (synchronous callbacks,
//! called by the connection's driver task in a documented order); a
//! [`Transport`] is the connection's writing end; a [`Server`] accepts
//! connections; an [`Address`] is where servers listen and connections go. Code
//! written against these traits runs unchanged on in-process local queues
//! (`transport-local`), TCP, TLS and Unix sockets (`transport-tcp`), or a
//! backend of your own.
//!
//! Map of the crate:
//!
//! - [`protocol`] — the [`Protocol`] trait and [`ProtocolHandle`];
//! - [`transport`] — the [`Transport`] trait and [`TransportExt`];
//! - [`server`] — the [`Server`] trait and the [`ConnectionTracker`] backends
//!   build `wait_closed` on;
//! - [`address`] — the [`Address`] trait, [`create_server`], [`create_connection`];
//! - [`any`] — [`AnyAddress`], any backend's address behind one type (with
//!   [`AnyServer`] and [`AnyTransport`]), for code that picks its backend at
//!   run time;
//! - [`endpoint`] — [`Endpoint`], peer and local address info;
//! - [`flow`] — [`WriteBufferLimits`] and the [`FlowControl`] state machine;
//! - [`stream`] — [`TransportStream`], any connection as a tokio
//!   `AsyncRead + AsyncWrite`, and [`StreamListener`];
//! - `conformance` (feature `conformance`) — scenarios that any backend runs
//!   against itself to show it keeps these semantics;
//! - [`error`] — the [`enum@Error`] enum and its `std::io::ErrorKind` mapping.
//!
//! # Example
//!
//! An echo protocol, written once for every backend:
//!
//! ```
//! use bytes::Bytes;
//! use transport_api::{Protocol, SharedTransport};
//!
//! #[derive(Default)]
//! struct Echo(Option<SharedTransport>);
//!
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, transport: SharedTransport) {
//!         self.0 = Some(transport);
//!     }
//!     fn data_received(&mut self, data: Bytes) {
//!         if let Some(t) = &self.0 {
//!             let _ = t.write(data);
//!         }
//!     }
//! }
//! ```
#![warn(missing_docs, missing_debug_implementations)]

pub mod address;
pub mod any;
pub mod endpoint;
pub mod error;
pub mod flow;
pub mod protocol;
pub mod server;
pub mod stream;
pub mod transport;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use address::{create_connection, create_server, Address};
pub use any::{AnyAddress, AnyServer, AnyTransport};
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use flow::{FlowControl, FlowEvent, WriteBufferLimits, WriteWaiters};
pub use protocol::{boxed_factory, Protocol, ProtocolFactory, ProtocolHandle};
pub use server::{ConnectionToken, ConnectionTracker, Server};
pub use stream::{StreamListener, TransportStream};
pub use transport::{AbortGuard, AsAny, SharedTransport, Transport, TransportExt};
