//! The README's ring election (the example `ring_election`, as a
//! function of its seed) replays over 20 runs, with N = 1 and with a
//! scenario that panics half way; the pictures under `docs/` are the
//! example's run.

use agentwire_debug::{assert_deterministic, check_determinism, to_mermaid, to_svg, Trace};

#[allow(dead_code)] // its `main` writes the pictures
#[path = "../../examples/ring_election.rs"]
mod example;

/// The example's run; `panic_at`: a second at which the scenario panics.
async fn run_election(seed: u64, panic_at: Option<u64>) -> Trace {
    let mut outcome = Vec::new();
    let trace = example::election(seed, |second, leaders| {
        assert!(
            panic_at != Some(second),
            "the scenario panics at {second} s"
        );
        outcome.push(leaders.to_owned());
    })
    .await
    .expect("the election runs");
    assert_eq!(
        outcome,
        [
            "a→e b→e c→e d→e e→e",
            "a→c b→c c→c d→e e→e",
            "a→e b→e c→e d→e e→e"
        ]
    );
    trace
}

/// `docs/ring-election.{svg,mmd}` are what the example writes: a change
/// to the toolkit that changes them shows here, not in a stale picture.
#[test]
fn the_pictures_under_docs_are_the_examples_run() {
    let trace = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run_election(example::SEED, None));
    let docs = example::docs_dir();
    for (file, made) in [
        ("ring-election.mmd", to_mermaid(&trace)),
        ("ring-election.svg", to_svg(&trace)),
    ] {
        let committed = std::fs::read_to_string(docs.join(file)).expect("committed picture");
        assert!(
            committed == made,
            "docs/{file} is stale: run `cargo run -p agentwire-debug --example ring_election`"
        );
    }
}

#[test]
fn the_readme_election_replays_over_20_runs() {
    let trace = assert_deterministic(20, || run_election(7, None));
    crate::lifecycle::assert_well_formed(&trace);
    let one = check_determinism(1, || run_election(7, None)).expect("one run");
    assert_eq!(one, trace);
}

#[test]
fn an_election_that_panics_fails_the_check_with_its_panic() {
    let out = std::panic::catch_unwind(|| check_determinism(3, || run_election(7, Some(1))));
    let panic = out.expect_err("the scenario's panic reaches the caller");
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(text.contains("the scenario panics at 1 s"), "{text}");
}
