//! Seeded lifecycle chaos: where the other container tests each try one
//! hand-picked interleaving, this one draws many from a seed. Three
//! containers and a probe, each with a typed `Worker` (answers at once,
//! naps, panics, relays a call to another container, the caller
//! included) and a `Calc`; then waves of steps, those of a wave at once
//! (some left running into later waves): connects (once, retrying for a
//! while, retrying without end and given up on), calls awaited, dropped
//! after one poll or given up on after a few milliseconds, floods, proxies
//! dropped, agents registered while calls run, containers shut down or
//! dropped (and re-created at their URL right after, or later), connects
//! to a container while it shuts down. Per seed the limits (handlers per
//! connection, pending and queued requests) and the shutdown grace
//! (down to none: `Duration::MAX`) are drawn too.
//!
//! Checked for every seed: no unplanned panic on the runtime's threads;
//! every wait on the library ends within a bound (a hang names the seed
//! and the step); every result is one its call may have (the value, a
//! connection error, a remote error only where the method fails); a
//! re-created container is reached from the probe; a shut-down
//! container refuses connects and agents, and calls through proxies from
//! or to it fail; at the end no handler runs, every connection is idle
//! (no pending, running, queued or held requests), each live container
//! has the agents registered in it and is reached, every connection is
//! closed after the final shutdowns, every container is freed and no task
//! is left on the runtime.
//!
//! Each variant (a test of its own, see `variants!` at the end) runs one
//! backend of support.rs's `Backend` with one codec, on a current-thread
//! or a two-worker runtime, a fresh runtime and backend per seed. By
//! default: JSON on local queues and TCP, both runtimes, three seeds each;
//! then one seed each, the codecs spread over the backends: bincode on
//! local queues, TLS and the `wrapped` backend (two workers) and Unix
//! sockets (current thread); MsgPack on TCP, TLS and MQTT through the
//! embedded rumqttd (current thread) and Unix sockets (two workers); JSON
//! on the `wrapped` backend (current thread). TLS is mutual, with the test
//! PKI. A seed on MQTT takes seconds (a connect to a container that is
//! down waits out MQTT's two-second handshake), so the other codecs on
//! MQTT are ignored by default, like one more variant per other backend
//! that gives it the codec it lacks above: these are for wide sweeps
//! (`--ignored`). On MQTT the hang bound is longer too (see `MQTT_BOUND`
//! in world.rs). `AGENTWIRE_CHAOS_SEEDS=500` runs seeds 0 to 499 on every
//! variant (`AGENTWIRE_CHAOS_FROM` moves the start);
//! `AGENTWIRE_CHAOS_SEED=17` runs seed 17 alone.

mod agents;
mod end;
mod plan;
mod steps;
mod world;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agents::{watch_panics, PanicSink, Wire};
use agentwire::channel::{Bincode, Json, MsgPack};
use world::{bound, within, Stats, World, BOUND, MQTT_BOUND, SEED_BOUND};

use crate::support::Backend;

/// Seeds run by default per variant on local queues and TCP with JSON
/// (the first four variants; the whole file stays well under ten seconds).
const DEFAULT_SEEDS: u64 = 3;
/// Seeds run by default per other variant not ignored (a few hundred
/// milliseconds each; the MQTT one a few seconds).
const FEW_SEEDS: u64 = 1;

fn env(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// The seeds to run, from the environment (`default` of them if it
/// says nothing).
fn seeds(default: u64) -> std::ops::Range<u64> {
    if let Some(seed) = env("AGENTWIRE_CHAOS_SEED") {
        return seed..seed + 1;
    }
    let from = env("AGENTWIRE_CHAOS_FROM").unwrap_or(0);
    from..from + env("AGENTWIRE_CHAOS_SEEDS").unwrap_or(default)
}

/// A runtime whose threads note their unplanned panics in `sink`: a
/// current-thread one for `workers == 0`.
fn runtime(workers: usize, sink: &PanicSink) -> tokio::runtime::Runtime {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let sink = Arc::clone(sink);
    builder
        .enable_all()
        .on_thread_start(move || watch_panics(Some(Arc::clone(&sink))))
        .build()
        .expect("a runtime")
}

/// Runs every seed on a fresh runtime, on a fresh `backend()` with codec
/// `C`; fails with the first seed that breaks an invariant, its plan and
/// how to run it alone.
fn run<C: Wire>(variant: &str, backend: fn() -> Backend, workers: usize, default_seeds: u64) {
    let stats = Stats::default();
    for seed in seeds(default_seeds) {
        let sink: PanicSink = Arc::new(Mutex::new(Vec::new()));
        let rt = runtime(workers, &sink);
        watch_panics(Some(Arc::clone(&sink)));
        let made = backend();
        let bound = if matches!(made, Backend::Mqtt(..)) {
            MQTT_BOUND
        } else {
            BOUND
        };
        let seed_run = SEED_BOUND.scope(bound, run_seed::<C>(seed, made, &stats));
        let mut failures = rt.block_on(seed_run);
        watch_panics(None);
        drop(rt);
        failures.extend(
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(..)
                .map(|p| format!("an unplanned panic: {p}")),
        );
        if !failures.is_empty() {
            let plan = plan::plan(seed);
            let waves: Vec<String> = plan
                .waves
                .iter()
                .enumerate()
                .map(|(w, steps)| {
                    let steps: Vec<String> = steps.iter().map(|s| format!("    {s:?}")).collect();
                    format!("  wave {w}:\n{}", steps.join("\n"))
                })
                .collect();
            panic!(
                "chaos seed {seed} on {variant} failed:\n- {}\n\
                 options: grace {:?}, {} handlers, {} pending, {} queued per connection\n{}\n\
                 run it alone: AGENTWIRE_CHAOS_SEED={seed} cargo test --test container chaos::{variant}",
                failures.join("\n- "),
                plan.grace,
                plan.max_concurrent,
                plan.max_pending,
                plan.max_queued,
                waves.join("\n"),
            );
        }
    }
    // Shown with `--nocapture`: what the seeds did.
    eprintln!(
        "chaos {variant}, seeds {:?}: {}",
        seeds(default_seeds),
        stats.summary()
    );
}

/// One seed: its plan's waves, then the checks at the end. The failures.
async fn run_seed<C: Wire>(seed: u64, backend: Backend, stats: &Stats) -> Vec<String> {
    let plan = plan::plan(seed);
    let world = match World::<C>::new(backend, &plan).await {
        Ok(world) => Arc::new(world),
        Err(e) => return vec![e],
    };
    let mut failures = Vec::new();
    let mut background = Vec::new();
    for (w, wave) in plan.waves.iter().enumerate() {
        let mut now = Vec::new();
        for (i, step) in wave.iter().enumerate() {
            let what = format!("wave {w} step {i} ({:?})", step.op);
            let task = tokio::spawn(SEED_BOUND.scope(bound(), Arc::clone(&world).step(step.op)));
            if step.background {
                background.push((what, task));
            } else {
                now.push((what, task));
            }
        }
        for (what, task) in now {
            join(&mut failures, what, task).await;
        }
        if !failures.is_empty() {
            break;
        }
    }
    for (what, task) in background {
        join(&mut failures, what, task).await;
    }
    failures.extend(world.finish().await);
    stats.add(&world.stats);
    drop(world);
    // Nothing is left running: no task that nothing owns.
    let metrics = tokio::runtime::Handle::current().metrics();
    let idle = async {
        while metrics.num_alive_tasks() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    if within(|| "the runtime's last tasks".to_owned(), idle)
        .await
        .is_err()
    {
        failures.push(format!(
            "{} tasks still alive after {:?} at the end",
            metrics.num_alive_tasks(),
            bound()
        ));
    }
    failures
}

/// Awaits a step's task (each of its waits is bounded; this bound is the
/// last resort), noting how it failed.
async fn join(
    failures: &mut Vec<String>,
    what: String,
    task: tokio::task::JoinHandle<Result<(), String>>,
) {
    let abort = task.abort_handle();
    match tokio::time::timeout(bound() * 6, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => failures.push(format!("{what}: {e}")),
        Ok(Err(e)) => failures.push(format!("{what}: panicked: {e}")),
        Err(_) => {
            abort.abort();
            failures.push(format!("{what}: hangs"));
        }
    }
}

/// The variants: a test each, `name: backend, codec, worker threads (0:
/// a current-thread runtime), seeds by default`; those marked `sweep` are
/// ignored by default (run them with `--ignored` and
/// `AGENTWIRE_CHAOS_SEEDS`).
macro_rules! variants {
    ($($(#[$sweep:ident])? $name:ident: $backend:expr, $codec:ty, $workers:expr, $seeds:expr;)*) => {$(
        #[test]
        $(#[ignore = concat!("a ", stringify!($sweep), " variant: run it with AGENTWIRE_CHAOS_SEEDS")])?
        fn $name() {
            run::<$codec>(stringify!($name), || $backend, $workers, $seeds);
        }
    )*};
}

variants! {
    local_current_thread: Backend::local(), Json, 0, DEFAULT_SEEDS;
    local_threads: Backend::local(), Json, 2, DEFAULT_SEEDS;
    tcp_current_thread: Backend::Tcp, Json, 0, DEFAULT_SEEDS;
    tcp_threads: Backend::Tcp, Json, 2, DEFAULT_SEEDS;
    local_bincode_threads: Backend::local(), Bincode, 2, FEW_SEEDS;
    tcp_msgpack_current_thread: Backend::Tcp, MsgPack, 0, FEW_SEEDS;
    unix_bincode_current_thread: Backend::unix(), Bincode, 0, FEW_SEEDS;
    unix_msgpack_threads: Backend::unix(), MsgPack, 2, FEW_SEEDS;
    tls_msgpack_current_thread: Backend::Tls, MsgPack, 0, FEW_SEEDS;
    tls_bincode_threads: Backend::Tls, Bincode, 2, FEW_SEEDS;
    wrapped_json_current_thread: Backend::wrapped(), Json, 0, FEW_SEEDS;
    wrapped_bincode_threads: Backend::wrapped(), Bincode, 2, FEW_SEEDS;
    mqtt_msgpack_current_thread: Backend::mqtt(), MsgPack, 0, FEW_SEEDS;
    #[sweep] mqtt_json_threads: Backend::mqtt(), Json, 2, FEW_SEEDS;
    #[sweep] mqtt_bincode_threads: Backend::mqtt(), Bincode, 2, FEW_SEEDS;
    #[sweep] local_msgpack_current_thread: Backend::local(), MsgPack, 0, FEW_SEEDS;
    #[sweep] tcp_bincode_threads: Backend::Tcp, Bincode, 2, FEW_SEEDS;
    #[sweep] unix_json_threads: Backend::unix(), Json, 2, FEW_SEEDS;
    #[sweep] tls_json_current_thread: Backend::Tls, Json, 0, FEW_SEEDS;
    #[sweep] wrapped_msgpack_threads: Backend::wrapped(), MsgPack, 2, FEW_SEEDS;
}
