//! The LocalQueue transport: registry, server, transport semantics,
//! deterministic delivery, flow control and multi-threaded use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod determinism;
mod flow;
mod registry;
mod semantics;
mod support;
mod threads;
