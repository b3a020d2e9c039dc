//! A ring election (Chang and Roberts) among five containers on local
//! queues, with a partition in the middle, in simulated time; writes the
//! run's sequence diagram to `docs/ring-election.svg` (and Mermaid text to
//! `docs/ring-election.mmd`) and prints the trace.
//!
//! Each agent knows the ring and its id (0 to 4). `elect(c)` passes the
//! larger of `c` and its own id on to its successor; the agent that gets
//! its own id back is the leader and sends `leader(id)` around. A
//! successor that does not answer within 100 ms (or refuses the
//! connection) is skipped.
//!
//! Run it with `cargo run -p agentwire-debug --example ring_election`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwire::clock::ExternalClock;
use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{to_mermaid, to_svg, Link, Sim, Trace};
use transport_local::LocalNetwork;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

struct Peer {
    id: usize,
    container: Container,
    sim: Sim,
    ring: OnceLock<Vec<String>>,
    participant: AtomicBool,
    leader: Mutex<Option<usize>>,
}

impl Peer {
    /// Calls `method(value)` on the first successor that answers.
    async fn forward(self: Arc<Self>, method: &'static str, value: usize) {
        let Some(ring) = self.ring.get() else { return };
        for step in 1..ring.len() {
            let next = &ring[(self.id + step) % ring.len()];
            let attempt = async {
                let proxy = self.container.connect(next).await.ok()?;
                proxy.call::<_, ()>(method, (value,)).await.ok()
            };
            let answered = self.sim.timeout(Duration::from_millis(100), attempt).await;
            if let Ok(Some(())) = answered {
                return;
            }
        }
    }

    /// Starts an election: sends its own id on.
    fn start(self: &Arc<Self>) {
        self.participant.store(true, Ordering::SeqCst);
        tokio::spawn(Arc::clone(self).forward("elect", self.id));
    }

    fn elect(self: &Arc<Self>, candidate: usize) {
        let me = Arc::clone(self);
        if candidate == self.id {
            *self.leader.lock().expect("lock") = Some(self.id);
            self.participant.store(false, Ordering::SeqCst);
            tokio::spawn(me.forward("leader", candidate));
        } else if candidate > self.id {
            self.participant.store(true, Ordering::SeqCst);
            tokio::spawn(me.forward("elect", candidate));
        } else if !self.participant.swap(true, Ordering::SeqCst) {
            tokio::spawn(me.forward("elect", self.id));
        }
    }

    fn leader(self: &Arc<Self>, leader: usize) {
        self.participant.store(false, Ordering::SeqCst);
        if leader != self.id {
            *self.leader.lock().expect("lock") = Some(leader);
            tokio::spawn(Arc::clone(self).forward("leader", leader));
        }
    }

    fn router(self: &Arc<Self>) -> Router {
        let (e, l) = (Arc::clone(self), Arc::clone(self));
        Router::new()
            .method("elect", move |(c,): (usize,)| {
                e.elect(c);
                async { Ok::<_, Infallible>(()) }
            })
            .method("leader", move |(x,): (usize,)| {
                l.leader(x);
                async { Ok::<_, Infallible>(()) }
            })
    }
}

fn leaders(peers: &[Arc<Peer>]) -> String {
    peers
        .iter()
        .map(|p| match *p.leader.lock().expect("lock") {
            Some(l) => format!("{}→{}", NAMES[p.id], NAMES[l]),
            None => format!("{}→?", NAMES[p.id]),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The seed of the run whose picture is under `docs/`.
pub const SEED: u64 = 2026;

/// Runs the election with `seed`: three rounds (whole ring, split ring,
/// healed ring), calling `round(second, leaders)` after each, and returns
/// the trace.
///
/// # Errors
///
/// A container that does not start or register.
pub async fn election(
    seed: u64,
    mut round: impl FnMut(u64, &str),
) -> Result<Trace, Box<dyn std::error::Error>> {
    let sim = Sim::builder()
        .seed(seed)
        .external_clock(ExternalClock::new())
        .default_link(
            Link::new()
                .latency(Duration::from_millis(20))
                .jitter(Duration::from_millis(5)),
        )
        .build();
    let base = ContainerOptions::new().local_network(LocalNetwork::new());
    let mut peers = Vec::new();
    for (id, name) in NAMES.iter().enumerate() {
        let options = sim.node(*name).container_options(base.clone());
        let container = Container::create_with(format!("local://{name}"), options).await?;
        peers.push(Arc::new(Peer {
            id,
            container,
            sim: sim.clone(),
            ring: OnceLock::new(),
            participant: AtomicBool::new(false),
            leader: Mutex::new(None),
        }));
    }
    let mut ring = Vec::new();
    for p in &peers {
        ring.push(p.container.register("Peer", p.router())?.url().to_owned());
    }
    for p in &peers {
        let _ = p.ring.set(ring.clone());
    }
    let clock = sim.clock();
    sim.run(async {
        // Round 1: a starts an election; e (the largest id) wins.
        peers[0].start();
        clock.sleep_until(Duration::from_secs(1)).await;
        round(1, &leaders(&peers));

        // The ring splits: {a, b, c} | {d, e}. a starts again; c skips
        // the successors it cannot reach and wins its side.
        sim.partition([vec!["a", "b", "c"], vec!["d", "e"]]);
        peers[0].start();
        clock.sleep_until(Duration::from_secs(2)).await;
        round(2, &leaders(&peers));

        // Healed: one more round, and e leads everyone again.
        sim.heal();
        peers[0].start();
        clock.sleep_until(Duration::from_secs(3)).await;
        round(3, &leaders(&peers));
    })
    .await;
    for p in &peers {
        p.container.shutdown().await;
    }
    Ok(sim.trace())
}

/// Where the pictures go: the workspace's `docs/`.
pub fn docs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trace = election(SEED, |second, leaders| {
        println!("t={second}s   {leaders}");
    })
    .await?;
    print!("{trace}");
    let docs = docs_dir();
    std::fs::create_dir_all(&docs)?;
    std::fs::write(docs.join("ring-election.svg"), to_svg(&trace))?;
    std::fs::write(docs.join("ring-election.mmd"), to_mermaid(&trace))?;
    println!("wrote docs/ring-election.svg and docs/ring-election.mmd");
    Ok(())
}
