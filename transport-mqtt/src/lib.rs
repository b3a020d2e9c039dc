//! An MQTT broker backend for the `transport-api` traits: connections as
//! topic pairs through a real broker.
//!
//! A server at `mqtt://broker:port/<name>` listens on its broker for
//! handshakes under `<name>`; a client connects by publishing one and
//! waiting for the answer (no answer within the address's connect timeout
//! is `ConnectionRefused`), which it confirms; a server's connection whose
//! client never confirms (a handshake that someone else published, or a
//! client that left) ends with `TimedOut` after the connect timeout plus the
//! keep-alive, and so does a client's connection whose server does not
//! answer the confirmation (it died during the handshake, before the
//! client watched its last will). Everything after that travels as QoS 1
//! publishes to the peer's inbox topic with sequence numbers (so duplicates are
//! dropped and a loss ends the connection with an error), per-connection
//! receive windows (so a reader that stops reading holds up its writer and
//! nobody buffers without bound), and FIN/RST/EOF messages for `close`,
//! `abort` and `write_eof`. Each MQTT session has a last will; a peer whose
//! session dies, or a broker that goes away, ends the connections concerned
//! with an error. Protocols, channels, RPC and containers run on it
//! unchanged.
//!
//! | address | scheme | server | transport |
//! |---|---|---|---|
//! | [`MqttAddr`] | `mqtt://host:port/<name>`, `mqtts://…` | [`MqttServer`] | [`MqttTransport`] |
//!
//! Map of the crate (the module list below is a map of the code):
//!
//! - [`addr`]: [`MqttAddr`], parsing and printing the URLs, credentials and
//!   options;
//! - `wire` (private): the message header, kinds and topics;
//! - `session` (private): one MQTT client session (rumqttc), last wills,
//!   reconnection; its submodules: `event_loop` polls the MQTT client,
//!   `outbox` sends what the session owes without a task waiting for it
//!   (resets, refusals, unsubscriptions, its DISCONNECT), bounded, once the
//!   MQTT client's request queue has room,
//!   `suback` checks the broker's answer to the session's subscriptions,
//!   `table` holds its connections (indexed by peer, so that a duplicate
//!   SYN is found in O(1)), `routing` takes incoming messages to their
//!   connections;
//! - `conn` (private): a connection's shared state and its driver task,
//!   which owns the protocol and delivers every event;
//! - [`server`]: [`MqttServer`], and the [`Address`](transport_api::Address)
//!   implementation;
//! - [`transport`]: [`MqttTransport`], the writing end of a connection.
//!
//! # Bad input
//!
//! A message on our topics that is not ours (bad header, unknown
//! connection, wrong sequence, oversized) is dropped with a `tracing`
//! warning; other connections are unaffected. MQTT packets larger than
//! [`MAX_INCOMING_PACKET`] cannot be skipped by the MQTT client and end the
//! session, so give the broker a `max_packet_size` at or below it.
//!
//! # Refused subscriptions
//!
//! A session subscribes to its inbox and, for a server, to the server's
//! topic. A broker that refuses one of them (SUBACK return code 0x80,
//! typically its ACLs) makes `create_server` or `create_connection` fail
//! with an I/O error of kind `PermissionDenied` that names the topic
//! filter.
//!
//! # Runtime
//!
//! Sessions and connections run on the tokio runtime they were created on,
//! which needs its I/O and time drivers. Outside a runtime, `create_server`
//! and `create_connection` return
//! [`Error::NoRuntime`](transport_api::Error::NoRuntime).
#![warn(missing_docs, missing_debug_implementations)]

pub mod addr;
mod conn;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod server;
mod session;
pub mod transport;
mod wire;

pub use addr::MqttAddr;
pub use server::MqttServer;
pub use session::MAX_INCOMING_PACKET;
pub use transport::MqttTransport;
