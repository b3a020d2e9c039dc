//! The determinism checker: run a scenario several times on fresh
//! runtimes and compare the traces event by event.

use std::fmt;
use std::future::Future;

use crate::event::Event;
use crate::Trace;

/// The runtime each run of a scenario gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flavor {
    /// A fresh current-thread runtime per run (the deterministic setting).
    #[default]
    CurrentThread,
    /// A fresh multi-thread runtime with this many workers per run.
    MultiThread(usize),
}

/// Two runs of a scenario differed: where, and the two events side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The run that differed from run 0.
    pub run: usize,
    /// The index of the first event that differs.
    pub index: usize,
    /// Run 0's event there (`None`: run 0 had ended).
    pub first: Option<Box<Event>>,
    /// The other run's event there (`None`: it had ended).
    pub other: Option<Box<Event>>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Option<Box<Event>>| match e {
            Some(e) => e.to_string(),
            None => "(trace ended)".to_owned(),
        };
        write!(
            f,
            "nondeterministic: run {} diverged from run 0 at event index {}\n  run 0: {}\n  run {}: {}",
            self.run,
            self.index,
            show(&self.first),
            self.run,
            show(&self.other)
        )
    }
}

impl std::error::Error for Divergence {}

/// The first difference between two traces, if any.
pub fn first_divergence(a: &Trace, b: &Trace) -> Option<(usize, Option<Event>, Option<Event>)> {
    let n = a.events.len().max(b.events.len());
    (0..n).find_map(|i| {
        let (x, y) = (a.events.get(i), b.events.get(i));
        (x != y).then(|| (i, x.cloned(), y.cloned()))
    })
}

/// Runs `scenario` `runs` times, each on a fresh current-thread runtime,
/// and compares the traces; returns the trace (of run 0) if all are the
/// same, else the first divergence. The scenario always runs at least
/// once: `runs` of 0 or 1 compare nothing and return that run's trace.
/// A scenario that panics fails the check with its own panic (the runs
/// after it do not start).
///
/// # Errors
///
/// The [`Divergence`] of the first run that differs from run 0.
///
/// # Panics
///
/// If called from inside a tokio runtime (each run blocks on its own), or
/// if building a runtime fails.
pub fn check_determinism<F, Fut>(runs: usize, scenario: F) -> Result<Trace, Divergence>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Trace>,
{
    check_determinism_on(Flavor::CurrentThread, runs, scenario)
}

/// [`check_determinism`] on runtimes of the given flavor.
///
/// # Errors
///
/// As [`check_determinism`].
///
/// # Panics
///
/// As [`check_determinism`].
pub fn check_determinism_on<F, Fut>(
    flavor: Flavor,
    runs: usize,
    scenario: F,
) -> Result<Trace, Divergence>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Trace>,
{
    let run_once = || {
        let mut builder = match flavor {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread(workers) => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(workers.max(1));
                b
            }
        };
        #[allow(clippy::expect_used)]
        let rt = builder
            .enable_all()
            .build()
            .expect("a tokio runtime for the determinism checker");
        rt.block_on(scenario())
    };
    let first = run_once();
    for run in 1..runs {
        let other = run_once();
        if let Some((index, a, b)) = first_divergence(&first, &other) {
            return Err(Divergence {
                run,
                index,
                first: a.map(Box::new),
                other: b.map(Box::new),
            });
        }
    }
    Ok(first)
}

/// [`check_determinism`] for tests: the trace, or a panic that shows the
/// first divergence.
///
/// # Panics
///
/// When two runs differ (the message shows where), and as
/// [`check_determinism`].
#[track_caller]
pub fn assert_deterministic<F, Fut>(runs: usize, scenario: F) -> Trace
where
    F: Fn() -> Fut,
    Fut: Future<Output = Trace>,
{
    match check_determinism(runs, scenario) {
        Ok(trace) => trace,
        Err(d) => panic!("{d}"),
    }
}
