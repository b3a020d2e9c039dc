//! agentwire's benchmark: each scenario and its raw baseline, measured in the
//! same run on a current-thread runtime, several rounds each, interleaved.
//!
//! ```sh
//! cargo bench --bench agentwire            # a table
//! cargo bench --bench agentwire -- --json  # one JSON object per line
//! cargo bench --bench agentwire -- local   # only scenarios whose name contains "local"
//! ```
//!
//! Progress goes to stderr; the table (or JSON) to stdout. A ratio is the
//! scenario's median rate over the baseline's median rate: 1.0 means as fast
//! as the raw baseline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;
mod report;
mod tcp;
mod transfer;

use std::time::Duration;

use report::{Measure, Row};

/// Rounds per scenario (and per baseline).
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
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    // `cargo bench` passes `--bench`; anything else not a flag filters.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();

    let scenarios: Vec<Scenario> = local::scenarios()
        .into_iter()
        .chain(tcp::scenarios())
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
        .collect();

    let mut rows = Vec::new();
    for s in &scenarios {
        eprintln!("{}: {} rounds against {}", s.name, ROUNDS, s.baseline_name);
        // Warm up both paths once, then interleave so drift hits both alike.
        (s.measured)();
        (s.baseline)();
        let mut measured = Measure::default();
        let mut baseline = Measure::default();
        for round in 0..ROUNDS {
            measured.add(s.work / (s.measured)().as_secs_f64());
            baseline.add(s.work / (s.baseline)().as_secs_f64());
            eprint!("  round {}/{ROUNDS}\r", round + 1);
        }
        eprintln!();
        rows.push(Row {
            scenario: s.name,
            unit: s.unit,
            rate: measured.median(),
            baseline: baseline.median(),
            baseline_name: s.baseline_name,
        });
    }
    if json {
        for row in &rows {
            println!("{}", row.json());
        }
    } else {
        report::print_table(&rows);
    }
}
