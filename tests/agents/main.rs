//! Typed agents: `#[agent]` impl blocks, their typed clients, parameters
//! by name, agent contexts and sub-services; agent references and custom
//! `__type__` types between Rust containers; and both with the real aiomas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aiomas;
mod auction;
mod refs;
mod support;
mod typed;
