//! A small world: containers named by letters, each with one `Calc` agent.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentwire::clock::ExternalClock;
use agentwire::container::AgentInfo;
use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{Link, Sim};
use transport_local::LocalNetwork;

pub struct World {
    pub containers: Vec<Container>,
    pub agents: Vec<AgentInfo>,
    /// How many times each agent's `echo` ran.
    pub echoes: Vec<Arc<AtomicUsize>>,
}

impl World {
    pub fn agent(&self, i: usize) -> &str {
        self.agents[i].url()
    }

    pub async fn shutdown(&self) {
        for c in &self.containers {
            c.shutdown().await;
        }
    }
}

pub fn sim(seed: u64, latency_ms: u64) -> Sim {
    Sim::builder()
        .seed(seed)
        .external_clock(ExternalClock::new())
        .default_link(Link::new().latency(Duration::from_millis(latency_ms)))
        .build()
}

pub fn calc(echoes: Arc<AtomicUsize>) -> Router {
    Router::new()
        .method("add", |(x, y): (i64, i64)| async move {
            Ok::<_, Infallible>(x + y)
        })
        .method("echo", move |(s,): (String,)| {
            let echoes = Arc::clone(&echoes);
            async move {
                echoes.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(s)
            }
        })
}

/// Containers `local://<name>` on a fresh network, each node `<name>`.
pub async fn world(sim: &Sim, names: &[&str]) -> World {
    let base = ContainerOptions::new().local_network(LocalNetwork::new());
    world_at(sim, names, |n| format!("local://{n}"), base).await
}

pub async fn world_at(
    sim: &Sim,
    names: &[&str],
    url: impl Fn(&str) -> String,
    base: ContainerOptions,
) -> World {
    let mut w = World {
        containers: Vec::new(),
        agents: Vec::new(),
        echoes: Vec::new(),
    };
    for name in names {
        let options = sim.node(*name).container_options(base.clone());
        let c = Container::create_with(url(name), options)
            .await
            .expect("container starts");
        let echoes = Arc::new(AtomicUsize::new(0));
        w.agents.push(
            c.register("Calc", calc(Arc::clone(&echoes)))
                .expect("registers"),
        );
        w.echoes.push(echoes);
        w.containers.push(c);
    }
    w
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
