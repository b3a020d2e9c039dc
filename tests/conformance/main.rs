//! The conformance kit, run against every backend in this repository and
//! against a backend defined here, outside the crates, through the public API,
//! and against each of them behind the type-erased `AnyAddress`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod erased;
mod integrity;
mod local;
mod sockets;
#[path = "../tcp/support.rs"]
#[allow(dead_code)]
mod tcp_support;
mod wrapped;
