//! The debugging toolkit against real containers on local queues (and
//! TCP): simulated time, seeds, faults, rules, traces, pictures, the
//! determinism checker.

mod abuse;
mod bad_params;
#[path = "../../../transport-mqtt/tests/mqtt/brokers.rs"]
#[allow(dead_code)]
mod brokers;
mod check;
mod conformance;
mod edges;
mod election;
mod faults;
mod flow;
mod hostile;
mod latency;
mod lifecycle;
mod merged;
mod pictures;
mod readme;
mod replay;
mod rules;
mod seeds;
mod support;
mod tcp;
