//! The debugging toolkit against real containers on local queues (and
//! TCP): simulated time, seeds, faults, rules, traces, pictures, the
//! determinism checker.

mod latency;
mod support;
