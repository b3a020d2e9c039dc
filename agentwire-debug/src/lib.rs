//! agentwire's debugging toolkit: see and steer every message of a
//! distributed algorithm, on local queues or any other backend, without
//! changing the code under test.
//!
//! - **Simulated links**: latency (fixed plus seeded jitter), bandwidth,
//!   and faults — hold/release, partition/heal, reset, refuse — between
//!   named endpoints ([`Node`]s) of a [`Sim`], timed by its clock: real
//!   time, or an `ExternalClock` that [`Sim::run`] moves forward whenever
//!   every task waits (simulated time: no wall time passes).
//! - **Message rules** ([`Rule`]): drop, delay, duplicate or reorder
//!   channel/RPC messages matched by endpoints, path and kind, with a
//!   seeded probability or by a closure.
//! - **Traces** ([`Recorder`], [`Trace`]): every event with a sequence
//!   number and the clock's time, as JSON Lines and `tracing` events.
//! - **Pictures** ([`render`]): a trace as an SVG sequence diagram or
//!   Mermaid text.
//! - **A determinism checker** ([`check_determinism`]): N runs on fresh
//!   current-thread runtimes, the first divergence named.
//!
//! One seed drives every random choice: same program, same seed, same
//! trace. With no `Sim` in use, none of this is on any data path:
//! simulation wraps addresses ([`SimAddress`]), it does not hook into the
//! backends.
//!
//! Map of the crate:
//!
//! - [`sim`] — [`Sim`], [`SimError`]; [`builder`] — [`SimBuilder`];
//!   [`node`] — [`Node`], a named endpoint (and its container options);
//! - [`address`] — [`SimAddress`], [`SimServer`];
//! - `conn` (private) — one simulated connection: [`SimTransport`] and the
//!   protocol wrapper, the per-connection driver;
//! - [`link`] — [`Link`]; [`rules`] — [`Rule`], [`Action`], [`MessageView`];
//! - [`event`] — [`Event`], [`EventKind`], [`MessageInfo`];
//! - [`recorder`] — [`Recorder`], [`Trace`] (JSON Lines);
//! - [`render`] — [`to_svg`], [`to_mermaid`];
//! - [`check`] — [`check_determinism`], [`assert_deterministic`],
//!   [`Divergence`];
//! - [`drive`] — how simulated time moves when all is idle;
//! - [`rng`] — [`SimRng`], the seeded generator;
//! - `frames`, `summary` (private) — frame reassembly; reading envelopes
//!   with the channel's `Codec`.
#![warn(missing_docs, missing_debug_implementations)]

pub mod address;
pub mod builder;
pub mod check;
mod conn;
pub mod drive;
pub mod event;
mod frames;
pub mod link;
pub mod node;
pub mod recorder;
pub mod render;
pub mod rng;
pub mod rules;
pub mod sim;
mod summary;

pub use address::{SimAddress, SimServer};
pub use builder::SimBuilder;
pub use check::{
    assert_deterministic, check_determinism, check_determinism_on, Divergence, Flavor,
};
pub use conn::SimTransport;
pub use event::{Event, EventKind, MessageInfo};
pub use link::Link;
pub use node::Node;
pub use recorder::{Recorder, Trace};
pub use render::{mermaid::to_mermaid, svg::to_svg};
pub use rng::SimRng;
pub use rules::{Action, MessageView, Rule};
pub use sim::{Sim, SimError};
