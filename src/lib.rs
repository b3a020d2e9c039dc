//! agentwire: a transport layer with agent containers on top, modelled on the
//! Python library aiomas.
//!
//! Map of the crate:
//!
//! - [`api`] — the transport traits (`transport-api`), re-exported;
//! - [`local`] — the deterministic in-process backend (`transport-local`);
//! - [`tcp`] — TCP, TLS and Unix domain sockets (`transport-tcp`);
//! - [`channel`] — length-prefixed frames, codecs (bincode, aiomas's JSON) and
//!   request/reply [`Channel`]s over any of them;
//! - [`clock`] — real time, or an [`ExternalClock`](clock::ExternalClock)
//!   set from outside, for co-simulation.
#![warn(missing_docs, missing_debug_implementations)]

pub mod channel;
pub mod clock;

pub use channel::{Channel, ChannelError, ChannelOptions};
pub use transport_api as api;
pub use transport_local as local;
pub use transport_tcp as tcp;
