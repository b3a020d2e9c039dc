//! The checks at a seed's end: nothing left running, every connection
//! idle, every live container whole and reached; then everything shut
//! down, closed and freed.

use std::sync::atomic::Ordering;

use agentwire::Container;

use super::agents::Wire;
use super::plan::NODES;
use super::world::{eventually, lock, within, World};

impl<C: Wire> World<C> {
    /// The seed's end: every handler has ended and every connection is
    /// idle; each live container has its agents and is reached from the
    /// probe; then everything is shut down and freed.
    pub async fn finish(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut note = |r: Result<(), String>| {
            if let Err(e) = r {
                failures.push(e);
            }
        };
        note(
            eventually(|| {
                let n = self.alive.load(Ordering::SeqCst);
                (n > 0).then(|| format!("{n} handlers still running"))
            })
            .await,
        );
        note(eventually(|| self.busy_connection()).await);
        for i in 0..=NODES {
            let (container, classes, gen) = {
                let n = self.node(i);
                (n.container.clone(), n.classes.len(), n.generation)
            };
            let Some(container) = container.filter(|c| !c.is_shut_down()) else {
                continue;
            };
            if container.agent_count() != classes {
                note(Err(format!(
                    "{} has {} agents, not {classes}",
                    container.url(),
                    container.agent_count()
                )));
            }
            note(self.probe_reaches(i, gen).await);
        }
        // Everything is shut down, at once.
        let containers: Vec<Container<C>> = (0..=NODES)
            .filter_map(|i| self.node(i).container.take())
            .collect();
        let shutdowns: Vec<_> = containers
            .iter()
            .map(|c| {
                let c = c.clone();
                tokio::spawn(async move { c.shutdown().await })
            })
            .collect();
        for (c, s) in containers.iter().zip(shutdowns) {
            match within(|| format!("the final shutdown of {}", c.url()), s).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => note(Err(format!(
                    "the final shutdown of {} panicked: {e}",
                    c.url()
                ))),
                Err(e) => note(Err(e)),
            }
        }
        drop(containers);
        note(
            eventually(|| {
                let conns = lock(&self.conns);
                let open = conns.iter().filter(|c| !c.is_closed()).count();
                (open > 0)
                    .then(|| format!("{open} connections open after every container shut down"))
            })
            .await,
        );
        let held: Vec<_> = lock(&self.pool)
            .iter()
            .map(|h| (h.proxy.clone(), h.from, h.to))
            .collect();
        note(self.calls_fail(held).await);
        note(eventually(|| self.busy_connection()).await);
        lock(&self.pool).clear();
        lock(&self.conns).clear();
        lock(&self.hand_closed).clear();
        note(
            eventually(|| {
                let n = self.alive.load(Ordering::SeqCst);
                (n > 0).then(|| format!("{n} handlers still running after shutdown"))
            })
            .await,
        );
        note(
            eventually(|| {
                let workers = lock(&self.workers);
                let kept = workers.iter().filter(|w| w.strong_count() > 0).count();
                (kept > 0).then(|| format!("{kept} Worker agents not freed"))
            })
            .await,
        );
        note(
            eventually(|| {
                let contexts = lock(&self.contexts);
                let kept = contexts.iter().filter(|c| c.container().is_some()).count();
                (kept > 0).then(|| format!("{kept} agents' containers not freed"))
            })
            .await,
        );
        failures
    }

    /// A connection that is not idle, and how.
    fn busy_connection(&self) -> Option<String> {
        lock(&self.conns).iter().find_map(|c| {
            let ch = c.channel();
            let counts = (
                ch.pending_requests(),
                c.running_handlers(),
                ch.queued_requests(),
                ch.held_requests(),
            );
            (counts != (0, 0, 0, 0)).then(|| {
                format!(
                    "a connection (closed: {}) not idle: {} pending, {} running, {} queued, {} held",
                    c.is_closed(),
                    counts.0,
                    counts.1,
                    counts.2,
                    counts.3
                )
            })
        })
    }
}
