//! TCP, Unix domain socket and TLS specifics of `transport-tcp`, and the
//! conformance kit run on all three.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod addr;
mod conformance;
mod data;
mod errors;
mod support;
mod tls;
