//! transport-mqtt against real brokers: the conformance kit, bad input,
//! a broker going away, a peer dying.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acl;
#[allow(dead_code)] // shared with the root crate's tests, which use other parts
mod brokers;
mod conformance;
mod failures;
mod hold;
mod liveness;
mod outage;
mod rogue;
mod storms;
mod support;
mod tls;
mod tls_pki;

/// For `tls_pki`, which the root crate's tests share.
use ::rustls;
