//! LocalQueue: an in-process transport made of paired queues, with a registry
//! of named queues, for developing and debugging distributed algorithms
//! (aiomas's `local_queue` module, made safe for Rust).
//!
//! Its delivery order is deterministic: on a current-thread runtime the same
//! program produces the same sequence of `data_received` calls across all its
//! connections, every run. Nothing on the delivery path depends on hashing,
//! wall-clock time or randomness; each side's events come from one driver task
//! in a fixed priority order. On a multi-thread runtime it works too, ordered
//! per connection (as TCP is).
//!
//! Map of the crate:
//!
//! - [`network`] — [`LocalNetwork`], a registry of queues that tests can own,
//!   and the process-wide default behind [`get_queue`] / [`clear_queue_cache`];
//! - [`queue`] — [`LocalQueue`], the address type;
//! - [`server`] — [`LocalQueueServer`];
//! - [`transport`] — [`LocalQueueTransport`];
//! - `conn` (private): the shared state of one connection and its drivers.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> transport_api::Result<()> {
//! use bytes::Bytes;
//! use transport_api::{create_connection, create_server, Protocol, Server, SharedTransport};
//! use transport_local::LocalNetwork;
//!
//! struct Echo(Option<SharedTransport>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, t: SharedTransport) { self.0 = Some(t); }
//!     fn data_received(&mut self, data: Bytes) {
//!         if let Some(t) = &self.0 { let _ = t.write(data); }
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Client { got: Vec<u8>, done: bool }
//! impl Protocol for Client {
//!     fn connection_made(&mut self, _: SharedTransport) {}
//!     fn data_received(&mut self, data: Bytes) { self.got.extend_from_slice(&data); }
//!     fn connection_lost(&mut self, _: Option<transport_api::Error>) { self.done = true; }
//! }
//!
//! let net = LocalNetwork::new();
//! let lq = net.get_queue("echo")?;
//! let server = create_server(|| Echo(None), &lq).await?;
//! let (transport, client) = create_connection(Client::default, &lq).await?;
//! use transport_api::Transport;
//! transport.write(Bytes::from_static(b"hello"))?;
//! while client.with(|c| c.got.len()) < 5 { tokio::task::yield_now().await; }
//! assert_eq!(client.with(|c| c.got.clone()), b"hello");
//! transport.close();
//! server.close();
//! server.wait_closed().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs, missing_debug_implementations)]

mod conn;
pub mod network;
pub mod queue;
pub mod server;
pub mod transport;

pub use network::LocalNetwork;
pub use queue::{validate_queue_id, LocalQueue};
pub use server::LocalQueueServer;
pub use transport::LocalQueueTransport;

use transport_api::Result;

/// The queue named `id` in the process-wide [`LocalNetwork`]: the one
/// something still holds (a handle, or a server bound to it), or a new one.
///
/// # Errors
///
/// [`Error::InvalidAddress`](transport_api::Error::InvalidAddress) naming the
/// id if it is empty or contains `/`.
pub fn get_queue(id: &str) -> Result<LocalQueue> {
    LocalNetwork::global().get_queue(id)
}

/// Clears the process-wide queue registry (see
/// [`LocalNetwork::clear_queue_cache`]).
pub fn clear_queue_cache() {
    LocalNetwork::global().clear_queue_cache()
}
