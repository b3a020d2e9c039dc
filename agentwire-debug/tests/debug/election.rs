//! The README's ring election (the example `ring_election`, as a
//! function of its seed) replays over 20 runs, with N = 1 and with a
//! scenario that panics half way.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwire::clock::ExternalClock;
use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{assert_deterministic, check_determinism, Link, Sim, Trace};
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
            *lock(&self.leader) = Some(self.id);
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
            *lock(&self.leader) = Some(leader);
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
        .map(|p| match *lock(&p.leader) {
            Some(l) => format!("{}→{}", NAMES[p.id], NAMES[l]),
            None => format!("{}→?", NAMES[p.id]),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The example's run; `panic_at`: a second at which the scenario panics.
async fn run_election(seed: u64, panic_at: Option<u64>) -> Trace {
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
        let container = Container::create_with(format!("local://{name}"), options)
            .await
            .expect("starts");
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
        ring.push(
            p.container
                .register("Peer", p.router())
                .expect("registers")
                .url()
                .to_owned(),
        );
    }
    for p in &peers {
        let _ = p.ring.set(ring.clone());
    }
    let clock = sim.clock();
    let mut outcome = Vec::new();
    sim.run(async {
        peers[0].start();
        clock.sleep_until(Duration::from_secs(1)).await;
        outcome.push(leaders(&peers));
        assert!(panic_at != Some(1), "the scenario panics at 1 s");
        sim.partition([vec!["a", "b", "c"], vec!["d", "e"]]);
        peers[0].start();
        clock.sleep_until(Duration::from_secs(2)).await;
        outcome.push(leaders(&peers));
        sim.heal();
        peers[0].start();
        clock.sleep_until(Duration::from_secs(3)).await;
        outcome.push(leaders(&peers));
    })
    .await;
    for p in &peers {
        p.container.shutdown().await;
    }
    assert_eq!(
        outcome,
        [
            "a→e b→e c→e d→e e→e",
            "a→c b→c c→c d→e e→e",
            "a→e b→e c→e d→e e→e"
        ]
    );
    sim.trace()
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
