//! TCP, TLS and Unix domain socket backends for the `transport-api` traits.
//!
//! A protocol written once against [`transport_api::Protocol`] runs unchanged
//! over these real sockets, as it does over local queues:
//!
//! | address | scheme | server | transport |
//! |---|---|---|---|
//! | [`TcpAddr`] | `tcp://host:port` | [`TcpServer`] | [`SocketTransport`] |
//! | [`UnixAddr`] | `ipc://[/path/to.sock]` | [`UnixServer`] | [`SocketTransport`] |
//! | `TlsAddr` (feature `tls`) | `tls://host:port` | `TlsServer` | [`SocketTransport`] |
//!
//! Map of the crate (the module list below is a map of the code):
//!
//! - [`tcp_addr`]: [`TcpAddr`] and [`Host`], parsing and printing `tcp://` URLs;
//! - [`tcp`]: connecting and listening over TCP (TCP_NODELAY on by default);
//! - [`unix`]: [`UnixAddr`] (`ipc://[path]`), connecting and listening on Unix
//!   domain sockets, and the socket-file rules (a stale socket is replaced, any
//!   other file is left alone, the server removes its socket when closed);
//! - `tls` (feature `tls`, on by default): `TlsAddr`, TLS over TCP with rustls
//!   (ring provider), and builders for server and client configurations
//!   including mutual TLS;
//! - [`server`]: [`SocketServer`], the accept loop shared by every kind;
//! - [`transport`]: [`SocketTransport`], the writing end of a connection;
//! - `conn` (private): a connection's shared state and its driver task, which
//!   owns the socket and the protocol and delivers every event.
//!
//! # How a connection runs
//!
//! Each connection has one driver task. It owns the socket and the protocol
//! and is the only caller of protocol callbacks. [`Transport::write`] appends
//! to a shared buffer (small writes are copied together, large ones queued
//! without copying) and wakes the driver; the driver hands everything pending
//! to the OS in as few vectored writes as it can, so many small writes leave
//! as few syscalls. It reads into a buffer sized by what the reads bring
//! (8 KiB at first, up to 64 KiB under load) and hands out its filled part
//! as [`bytes::Bytes`] chunks. Buffers that a burst made large are released
//! when the connection goes quiet: an idle connection keeps at most an 8 KiB
//! read buffer and a 4 KiB write buffer.
//!
//! [`Transport::write`]: transport_api::Transport::write
//!
//! # Runtime
//!
//! Servers and connections run on the tokio runtime they were created on,
//! which needs its I/O and time drivers (`Builder::enable_all`, as
//! `#[tokio::main]` and `#[tokio::test]` have): time bounds TLS handshakes
//! and the lingering after a close. Outside a runtime, `create_server` and
//! `create_connection` return [`Error::NoRuntime`](transport_api::Error::NoRuntime).
//! Unix domain sockets exist on Unix platforms only.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> transport_api::Result<()> {
//! use bytes::Bytes;
//! use transport_api::{create_connection, create_server, Protocol, Server, SharedTransport, Transport};
//! use transport_tcp::TcpAddr;
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
//! struct Client { got: Vec<u8> }
//! impl Protocol for Client {
//!     fn connection_made(&mut self, _: SharedTransport) {}
//!     fn data_received(&mut self, data: Bytes) { self.got.extend_from_slice(&data); }
//! }
//!
//! let addr: TcpAddr = "tcp://127.0.0.1:0".parse()?;
//! let server = create_server(|| Echo(None), &addr).await?;
//! let (transport, client) = create_connection(Client::default, &server.addr()).await?;
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
pub mod server;
pub mod tcp;
pub mod tcp_addr;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
#[cfg(unix)]
pub mod unix;

#[cfg(unix)]
pub use server::UnixServer;
pub use server::{SocketServer, TcpServer};
pub use tcp_addr::{Host, TcpAddr};
#[cfg(feature = "tls")]
pub use tls::{TlsAddr, TlsServer};
pub use transport::SocketTransport;
#[cfg(unix)]
pub use unix::UnixAddr;
