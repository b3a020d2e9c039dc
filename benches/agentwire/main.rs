//! agentwire's benchmark: each scenario and its raw baseline, measured in the
//! same run on a current-thread runtime, several rounds each, interleaved;
//! and heap footprints, counted by the global allocator.
//!
//! ```sh
//! cargo bench --bench agentwire            # a table
//! cargo bench --bench agentwire -- --json  # one JSON object per line
//! cargo bench --bench agentwire -- =rpc_local_c1  # that row alone
//! cargo bench --bench agentwire -- local   # only scenarios whose name contains "local"
//! ```
//!
//! For a profiler, `AGENTWIRE_BENCH_ONLY=measured` (or `=baseline`) runs
//! one round of one side of the first scenario selected, prints its rate
//! and exits: `AGENTWIRE_BENCH_ONLY=measured valgrind --tool=callgrind
//! target/release/deps/agentwire-* =rpc_local_c1`.
//!
//! Progress goes to stderr; the table (or JSON) to stdout. A ratio is the
//! scenario's median rate over the baseline's median rate: 1.0 means as fast
//! as the raw baseline; a row with a floor is marked `BELOW` when its ratio
//! is under it. A `_bytes` row is a median of heap bytes (lower is better),
//! marked `OVER` above its ceiling.
//!
//! Modules: `local`, `tcp` (transport rates), `transfer` (their measured
//! side), `rpc` (agentwire RPC rows and their raw baselines), `mqtt` (RPC
//! through a broker against raw MQTT round trips), `tarpc_rows`
//! (tarpc on the same baselines), `traced` (the debugging toolkit's
//! simulated links and recorder against `rpc_local_c1`), `footprint` (the `_bytes` rows), `heap`
//! (the counting allocator), `report` (medians, table, JSON).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod footprint;
mod heap;
mod local;
mod mqtt;
mod report;
mod rpc;
mod tarpc_rows;
mod tcp;
mod traced;
mod transfer;

use std::time::Duration;

use report::{Measure, Row, Value};

/// Rounds per scenario (and per baseline), unless it says otherwise.
const ROUNDS: usize = 7;

/// A benchmark scenario: a name, a unit, and two ways to do the same work.
#[derive(Debug)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    /// Units of work per round (messages or MiB), for the rate.
    pub(crate) work: f64,
    pub(crate) measured: fn() -> Duration,
    pub(crate) baseline: fn() -> Duration,
    /// What the baseline is, for the table.
    pub(crate) baseline_name: &'static str,
    /// The least acceptable ratio, if any.
    pub(crate) floor: Option<f64>,
    /// Rounds of each side.
    pub(crate) rounds: usize,
}

/// A heap footprint: bytes per something, lower is better.
#[derive(Debug)]
pub(crate) struct Footprint {
    pub(crate) name: &'static str,
    /// One round: the bytes it found.
    pub(crate) measured: fn() -> f64,
    /// The most acceptable bytes.
    pub(crate) ceiling: f64,
    /// What is counted, for the table.
    pub(crate) what: &'static str,
    pub(crate) rounds: usize,
}

/// Either kind of row.
#[derive(Debug)]
enum Bench {
    Rate(Scenario),
    Bytes(Footprint),
}

impl Bench {
    fn name(&self) -> &'static str {
        match self {
            Bench::Rate(s) => s.name,
            Bench::Bytes(f) => f.name,
        }
    }

    fn run(&self) -> Row {
        match self {
            Bench::Rate(s) => rate(s),
            Bench::Bytes(f) => bytes(f),
        }
    }
}

fn rate(s: &Scenario) -> Row {
    eprintln!(
        "{}: {} rounds against {}",
        s.name, s.rounds, s.baseline_name
    );
    if let Ok(side) = std::env::var("AGENTWIRE_BENCH_ONLY") {
        let d = if side == "measured" {
            (s.measured)()
        } else {
            (s.baseline)()
        };
        eprintln!("{side}: {:.0}/s", s.work / d.as_secs_f64());
        std::process::exit(0);
    }
    // Warm up both paths once, then interleave so drift hits both alike.
    (s.measured)();
    (s.baseline)();
    let mut measured = Measure::default();
    let mut baseline = Measure::default();
    for round in 0..s.rounds {
        measured.add(s.work / (s.measured)().as_secs_f64());
        baseline.add(s.work / (s.baseline)().as_secs_f64());
        eprint!("  round {}/{}\r", round + 1, s.rounds);
    }
    eprintln!();
    Row {
        scenario: s.name,
        value: Value::Rate {
            unit: s.unit,
            rate: measured.median(),
            baseline: baseline.median(),
            baseline_name: s.baseline_name,
            floor: s.floor,
        },
    }
}

fn bytes(f: &Footprint) -> Row {
    eprintln!("{}: {} rounds, {}", f.name, f.rounds, f.what);
    let mut measured = Measure::default();
    for round in 0..f.rounds {
        measured.add((f.measured)());
        eprint!("  round {}/{}\r", round + 1, f.rounds);
    }
    eprintln!();
    Row {
        scenario: f.name,
        value: Value::Bytes {
            bytes: measured.median(),
            ceiling: f.ceiling,
            what: f.what,
        },
    }
}

/// Whether the row `name` is selected by `filter`: a part of its name, or
/// `=name` for that row alone.
fn matches(name: &str, filter: &str) -> bool {
    match filter.strip_prefix('=') {
        Some(exact) => name == exact,
        None => name.contains(filter),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    // `cargo bench` passes `--bench`; anything else not a flag filters.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();

    let benches: Vec<Bench> = local::scenarios()
        .into_iter()
        .chain(tcp::scenarios())
        .chain(rpc::scenarios())
        .chain(traced::scenarios())
        .chain(tarpc_rows::scenarios())
        .chain(mqtt::scenarios())
        .map(Bench::Rate)
        .chain(footprint::footprints().into_iter().map(Bench::Bytes))
        .filter(|b| filters.is_empty() || filters.iter().any(|f| matches(b.name(), f)))
        .collect();

    let rows: Vec<Row> = benches.iter().map(Bench::run).collect();
    if json {
        for row in &rows {
            println!("{}", row.json());
        }
    } else {
        report::print_table(&rows);
    }
}
