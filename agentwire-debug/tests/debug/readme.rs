//! The README's snippets of the debugging toolkit, compiled (and run where
//! they write no files): regions between `// README begin` and
//! `// README end`, which the root's `tests/container/readme.rs` checks
//! against the README, block for block.

use std::error::Error;
use std::time::Duration;

use agentwire::channel::MessageKind;
use agentwire::clock::ExternalClock;
use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{Sim, Trace};
use transport_local::LocalNetwork;

type Result<T = ()> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// "1. Build the world" and "2. Steer it", then a call across the world.
#[tokio::test(flavor = "current_thread")]
#[rustfmt::skip]
async fn build_and_steer_the_world() -> Result {
    // README begin
    use agentwire_debug::{Action, Link, Rule, Sim};

    let sim = Sim::builder()
        .seed(2026)
        .external_clock(ExternalClock::new())
        .default_link(Link::new().latency(ms(20)).jitter(ms(5)))
        .build();
    let base = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://a", sim.node("a").container_options(base.clone())).await?;
    let b = Container::create_with("local://b", sim.node("b").container_options(base)).await?;
    // README end

    let calc = b.register("Calc", Router::new().method("add", |(x, y): (i64, i64)| async move {
        Ok::<_, std::convert::Infallible>(x + y)
    }))?;
    let proxy = sim.run(a.connect(calc.url())).await?;
    let sum: i64 = sim.run(proxy.call("add", (1, 2))).await?;
    assert_eq!(sum, 3);

    // README begin
    sim.set_link("a", "b", Link::new().latency(ms(50)).bandwidth(1_000_000));
    sim.add_rule(Rule::new("lossy votes", Action::Drop).path("agents/0/vote").probability(0.2));
    sim.add_rule(Rule::new("echo twice", Action::Duplicate).from("a").kind(MessageKind::Request));
    sim.partition([vec!["a", "b", "c"], vec!["d", "e"]]);  // ... later: sim.heal()
    sim.hold("a", "b");                                     // ... later: sim.release("a", "b")
    sim.reset("a", "b");  sim.refuse("a", "c");  sim.accept("a", "c");
    // README end

    sim.release("a", "b");
    sim.heal();
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}

/// "3. Run it and look" (compiled only: it writes files where it runs).
#[allow(dead_code)]
#[rustfmt::skip]
async fn run_it_and_look(sim: Sim, scenario: fn() -> std::future::Ready<()>) -> Result {
    // README begin
    sim.run(scenario()).await;
    let trace = sim.trace();
    std::fs::write("run.jsonl", trace.to_json_lines())?;     // one JSON object per event
    std::fs::write("run.svg", agentwire_debug::to_svg(&trace))?;
    std::fs::write("run.mmd", agentwire_debug::to_mermaid(&trace))?;
    // README end
    Ok(())
}

/// A scenario for "4. Prove it replays": one call between two simulated
/// containers.
async fn run_election(seed: u64) -> Trace {
    let sim = crate::support::sim(seed, 1);
    let world = crate::support::world(&sim, &["a", "b"]).await;
    let sum: i64 = sim
        .run(async {
            let proxy = world.containers[0]
                .connect(world.agent(1))
                .await
                .expect("connects");
            proxy.call("add", (7, 1)).await.expect("answers")
        })
        .await;
    assert_eq!(sum, 8);
    world.shutdown().await;
    sim.trace()
}

// README begin
#[test]
fn election_is_reproducible() {
    agentwire_debug::assert_deterministic(20, || async { run_election(7).await });
}
// nondeterministic: run 3 diverged from run 0 at event index 41
//   run 0: #41 t=120ms send m17 c3 b -> c 44B request id=2 agents/0/elect ["agents/0/elect", [2], {}]
//   run 3: #41 t=120ms send m17 c4 d -> e 44B request id=0 agents/0/elect ["agents/0/elect", [3], {}]
// README end
