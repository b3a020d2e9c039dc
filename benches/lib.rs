//! agentwire's benchmark package: the benchmark itself is
//! `agentwire/main.rs` (`cargo bench --bench agentwire`); this library is
//! empty, so that `cargo test --workspace` builds nothing here.
