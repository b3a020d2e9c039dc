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
//! On local queues and TCP, on a current-thread and a two-worker runtime,
//! a fresh runtime per seed. `AGENTWIRE_CHAOS_SEEDS=500` runs seeds 0 to
//! 499 (`AGENTWIRE_CHAOS_FROM` moves the start); `AGENTWIRE_CHAOS_SEED=17`
//! runs seed 17 alone.

mod agents;
mod end;
mod plan;
mod steps;
mod world;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agents::{watch_panics, PanicSink};
use world::{within, Stats, World, BOUND};

/// Seeds run by default, per variant (the whole file stays well under ten
/// seconds).
const DEFAULT_SEEDS: u64 = 3;

fn env(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// The seeds to run, from the environment.
fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = env("AGENTWIRE_CHAOS_SEED") {
        return seed..seed + 1;
    }
    let from = env("AGENTWIRE_CHAOS_FROM").unwrap_or(0);
    from..from + env("AGENTWIRE_CHAOS_SEEDS").unwrap_or(DEFAULT_SEEDS)
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

/// Runs every seed on a fresh runtime; fails with the first seed that
/// breaks an invariant, its plan and how to run it alone.
fn run(variant: &str, tcp: bool, workers: usize) {
    let stats = Stats::default();
    for seed in seeds() {
        let sink: PanicSink = Arc::new(Mutex::new(Vec::new()));
        let rt = runtime(workers, &sink);
        watch_panics(Some(Arc::clone(&sink)));
        let mut failures = rt.block_on(run_seed(seed, tcp, &stats));
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
    eprintln!("chaos {variant}, seeds {:?}: {}", seeds(), stats.summary());
}

/// One seed: its plan's waves, then the checks at the end. The failures.
async fn run_seed(seed: u64, tcp: bool, stats: &Stats) -> Vec<String> {
    let plan = plan::plan(seed);
    let world = match World::new(tcp, &plan).await {
        Ok(world) => Arc::new(world),
        Err(e) => return vec![e],
    };
    let mut failures = Vec::new();
    let mut background = Vec::new();
    for (w, wave) in plan.waves.iter().enumerate() {
        let mut now = Vec::new();
        for (i, step) in wave.iter().enumerate() {
            let what = format!("wave {w} step {i} ({:?})", step.op);
            let task = tokio::spawn(Arc::clone(&world).step(step.op));
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
            "{} tasks still alive after {BOUND:?} at the end",
            metrics.num_alive_tasks()
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
    match tokio::time::timeout(BOUND * 6, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => failures.push(format!("{what}: {e}")),
        Ok(Err(e)) => failures.push(format!("{what}: panicked: {e}")),
        Err(_) => {
            abort.abort();
            failures.push(format!("{what}: hangs"));
        }
    }
}

#[test]
fn local_current_thread() {
    run("local_current_thread", false, 0);
}

#[test]
fn local_threads() {
    run("local_threads", false, 2);
}

#[test]
fn tcp_current_thread() {
    run("tcp_current_thread", true, 0);
}

#[test]
fn tcp_threads() {
    run("tcp_threads", true, 2);
}
