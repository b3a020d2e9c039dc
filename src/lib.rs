//! agentwire: a transport layer with agent containers on top, modelled on the
//! Python library aiomas.
//!
//! This crate re-exports the transport traits ([`api`]) and backends
//! ([`local`], [`tcp`]); channels, RPC and containers build on them.
#![warn(missing_docs, missing_debug_implementations)]

pub mod channel;

pub use channel::{Channel, ChannelError, ChannelOptions};
pub use transport_api as api;
pub use transport_local as local;
pub use transport_tcp as tcp;
