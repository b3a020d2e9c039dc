//! A seed's world: its containers (at nodes that keep their URL across
//! restarts), the proxies it holds, the agents and connections it checks
//! at the end, and the helpers of the steps (`steps.rs`) and of those
//! checks (`end.rs`). Every wait on the library is bounded.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use agentwire::rpc::Connection;
use agentwire::{AgentContext, AgentHandle, Container, ContainerError, ContainerOptions, Proxy};

use super::agents::{calc, Wire};
use super::plan::{Plan, NODES, PROBE};
use crate::support::Backend;

/// The bound on anything that must end: a hang detector, not a timing
/// claim.
pub const BOUND: Duration = Duration::from_secs(10);

/// The bound on MQTT, where a connect to a container that is down waits
/// out the two-second handshake, and a relay to one holds a handler that
/// long: with one handler per connection, a flood's calls queue behind
/// several such relays.
pub const MQTT_BOUND: Duration = Duration::from_secs(60);

tokio::task_local! {
    /// The bound of the seed that runs (`BOUND` outside one).
    pub static SEED_BOUND: Duration;
}

/// The bound in force: the seed's, else `BOUND`.
pub fn bound() -> Duration {
    SEED_BOUND.try_with(|b| *b).unwrap_or(BOUND)
}

/// The most proxies the pool holds (more replace the oldest), and the most
/// connections kept for the checks at the end.
const POOL: usize = 16;
const CONNS: usize = 64;

/// `fut`, or an error saying that `what` hangs.
pub async fn within<T>(
    what: impl FnOnce() -> String,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    let bound = bound();
    tokio::time::timeout(bound, fut)
        .await
        .map_err(|_| format!("{} hangs (more than {bound:?})", what()))
}

/// Waits (bounded) until `idle` says nothing is left; its last complaint
/// otherwise.
pub(super) async fn eventually(mut idle: impl FnMut() -> Option<String>) -> Result<(), String> {
    let bound = bound();
    let waited = tokio::time::timeout(bound, async {
        while idle().is_some() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    match waited {
        Ok(()) => Ok(()),
        Err(_) => Err(idle().unwrap_or_default() + &format!(" (still, after {bound:?})")),
    }
}

/// Polls `fut` once.
pub(super) async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A container's place: its URL (the same across restarts), the container
/// there now (a shut-down one is kept until it is replaced), its
/// generation (one more per container started there) and its agents'
/// class names by id.
pub(super) struct Node<C: Wire> {
    pub(super) url: String,
    pub(super) container: Option<Container<C>>,
    pub(super) generation: u64,
    pub(super) classes: Vec<&'static str>,
    /// The context of agent 0, a `Worker`: references to it are sent.
    pub(super) worker: Option<AgentContext<C>>,
}

/// Node and generation.
pub(super) type Origin = (usize, u64);

/// A proxy of the pool, with the containers it was made from and to.
pub(super) struct Held<C: Wire> {
    pub(super) proxy: Proxy<C>,
    pub(super) from: Origin,
    pub(super) to: Origin,
}

/// A seed's containers, proxies and the checks' records, with codec `C`.
pub struct World<C: Wire> {
    /// Where the containers live (kept for its temporary directory).
    _backend: Backend,
    pub(super) options: ContainerOptions<C>,
    /// `NODES` nodes, then the probe.
    pub(super) nodes: Vec<Mutex<Node<C>>>,
    pub(super) pool: Mutex<Vec<Held<C>>>,
    /// Connections of the proxies made, for the idle checks at the end.
    pub(super) conns: Mutex<Vec<Connection<C>>>,
    /// The typed agents' contexts: their containers must be freed at the
    /// end, and so must the agents.
    pub(super) contexts: Mutex<Vec<AgentContext<C>>>,
    pub(super) workers: Mutex<Vec<Weak<C::Worker>>>,
    /// Connections closed by a step (not by a container's end).
    pub(super) hand_closed: Mutex<Vec<Connection<C>>>,
    /// Handlers running now.
    pub(super) alive: Arc<AtomicUsize>,
    /// Whether floods call `relay` (see `Plan::relays`).
    pub(super) relays: bool,
    /// Whether a container's address is its own until its server is
    /// closed (a second container there fails with `AddrInUse`): not on
    /// MQTT, where the name is free at `close` while the broker still
    /// delivers the old subscription's handshakes for a moment (and two
    /// servers under one name in two processes both answer).
    pub(super) exclusive: bool,
    /// How often each outcome was seen (for the summary of a run).
    pub stats: Stats,
}

/// Outcomes by name, counted.
#[derive(Default)]
pub struct Stats(Mutex<BTreeMap<&'static str, usize>>);

impl Stats {
    pub fn count(&self, what: &'static str) {
        *lock(&self.0).entry(what).or_default() += 1;
    }

    /// Adds `other`'s counts to these.
    pub fn add(&self, other: &Stats) {
        let theirs = lock(&other.0).clone();
        let mut ours = lock(&self.0);
        for (what, n) in theirs {
            *ours.entry(what).or_default() += n;
        }
    }

    pub fn summary(&self) -> String {
        let counts: Vec<String> = lock(&self.0)
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect();
        counts.join(", ")
    }
}

impl<C: Wire> World<C> {
    /// The containers of `plan`: `NODES` and the probe, on `backend`, with
    /// the codec `C`.
    pub async fn new(backend: Backend, plan: &Plan) -> Result<Self, String> {
        let channel = agentwire::ChannelOptions::new()
            .codec(C::CODEC)
            .max_concurrent_requests(plan.max_concurrent)
            .max_pending_requests(plan.max_pending)
            .max_queued_requests(plan.max_queued);
        let options = backend
            .options()
            .codec(C::CODEC)
            .channel_options(channel)
            .shutdown_grace(plan.grace)
            .handshake_timeout(Some(bound() / 2));
        let urls: Vec<String> = (0..=NODES)
            .map(|i| backend.restartable_url(&format!("chaos-{i}")))
            .collect();
        let exclusive = !matches!(backend, Backend::Mqtt(..));
        let mut world = World {
            _backend: backend,
            exclusive,
            options,
            nodes: Vec::new(),
            pool: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            contexts: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            hand_closed: Mutex::new(Vec::new()),
            alive: Arc::new(AtomicUsize::new(0)),
            relays: plan.relays,
            stats: Stats::default(),
        };
        // On TCP and TLS a port below the ephemeral range: one picked with
        // port 0 may be taken by another test's connection while the node
        // is down. Re-creation reuses the address of `container.url()`.
        for url in urls {
            let container = world.create(&url).await?;
            let (classes, worker) = world.populate(&container)?;
            world.nodes.push(Mutex::new(Node {
                url: container.url().to_owned(),
                container: Some(container),
                generation: 0,
                classes,
                worker: Some(worker),
            }));
        }
        Ok(world)
    }

    pub(super) fn node(&self, i: usize) -> MutexGuard<'_, Node<C>> {
        lock(&self.nodes[i])
    }

    /// The container at node `i` now, and its generation.
    pub(super) fn container(&self, i: usize) -> Option<(Container<C>, u64)> {
        let node = self.node(i);
        node.container.clone().map(|c| (c, node.generation))
    }

    /// A container at `url`; the address may still be in use for a while
    /// (a dropped container whose last handle a step still holds, a TCP
    /// listener closing), so `AddrInUse` is retried, bounded.
    pub(super) async fn create(&self, url: &str) -> Result<Container<C>, String> {
        let attempts = async {
            loop {
                match Container::create_with(url, self.options.clone()).await {
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    other => return other,
                }
            }
        };
        within(|| format!("creating {url}"), attempts)
            .await?
            .map_err(|e| format!("creating {url}: {e}"))
    }

    /// Registers a `Worker`, noting it for the checks at the end.
    pub(super) fn add_worker(
        &self,
        container: &Container<C>,
    ) -> Result<AgentHandle<C::Worker, C>, ContainerError> {
        let alive = Arc::clone(&self.alive);
        let worker = container.register_agent_with(|ctx| C::worker(ctx, alive))?;
        lock(&self.contexts).push(worker.context().clone());
        lock(&self.workers).push(Arc::downgrade(worker.agent()));
        Ok(worker)
    }

    /// Registers a `Worker` (id 0) and a `Calc` (id 1); the classes and
    /// the worker's context.
    pub(super) fn populate(
        &self,
        container: &Container<C>,
    ) -> Result<(Vec<&'static str>, AgentContext<C>), String> {
        let worker = self
            .add_worker(container)
            .map_err(|e| format!("registering a Worker in {}: {e}", container.url()))?;
        container
            .register("Calc", calc())
            .map_err(|e| format!("registering a Calc in {}: {e}", container.url()))?;
        Ok((vec!["Worker", "Calc"], worker.context().clone()))
    }

    /// Keeps `proxy` in the pool (dropping the oldest if full) and its
    /// connection for the checks at the end.
    pub(super) fn keep(&self, proxy: Proxy<C>, from: Origin, to: Origin) {
        {
            let mut conns = lock(&self.conns);
            let conn = proxy.connection();
            if conns.len() < CONNS && !conns.iter().any(|c| c.ptr_eq(conn)) {
                conns.push(conn.clone());
            }
        }
        let mut pool = lock(&self.pool);
        if pool.len() >= POOL {
            pool.remove(0);
        }
        pool.push(Held { proxy, from, to });
    }

    /// The pool's proxy number `pick`: three times in four among those
    /// whose connection is open (if any), else among all.
    pub(super) fn pick(&self, pick: usize) -> Option<Held<C>> {
        let pool = lock(&self.pool);
        let open: Vec<&Held<C>> = pool
            .iter()
            .filter(|h| !h.proxy.connection().is_closed())
            .collect();
        if pick % 4 != 0 && !open.is_empty() {
            return Some(open[pick / 4 % open.len()].clone());
        }
        (!pool.is_empty()).then(|| pool[pick % pool.len()].clone())
    }

    /// The pool's proxies from or to `origin`.
    pub(super) fn held_with(&self, origin: Origin) -> Vec<(Proxy<C>, Origin, Origin)> {
        lock(&self.pool)
            .iter()
            .filter(|h| h.from == origin || h.to == origin)
            .map(|h| (h.proxy.clone(), h.from, h.to))
            .collect()
    }

    /// Calls through `proxies`, whose container (one end) is gone: each
    /// fails with a connection error.
    pub(super) async fn calls_fail(
        &self,
        proxies: Vec<(Proxy<C>, Origin, Origin)>,
    ) -> Result<(), String> {
        for (proxy, from, to) in proxies {
            let what =
                || format!("a call through {proxy:?} ({from:?} to {to:?}) after one end is gone");
            match within(what, proxy.call::<_, i64>("add", (1, 2))).await? {
                Err(e) if e.is_connection() => {}
                other => return Err(format!("{}: {other:?}", what())),
            }
        }
        Ok(())
    }

    /// Starts a container at node `node`'s URL with its two agents, and
    /// checks that the probe reaches it.
    pub(super) async fn recreate(&self, node: usize) -> Result<(), String> {
        let (url, dropped) = {
            let n = self.node(node);
            let dropped = n.container.is_none().then(|| n.worker.clone()).flatten();
            (n.url.clone(), dropped)
        };
        if let Some(worker) = dropped.filter(|_| !self.exclusive) {
            // Another step may still hold a handle of the dropped container
            // (a relay's, say): it lives on, and nothing keeps a second
            // container from starting under its name meanwhile; both would
            // answer handshakes (a call through the old one's connection
            // was answered: seed 38 on MQTT). It is gone first here.
            eventually(|| {
                worker
                    .container()
                    .map(|_| format!("the dropped container at {url} still lives"))
            })
            .await?;
        }
        let container = self.create(&url).await?;
        self.stats.count("containers re-created");
        let (classes, worker) = self.populate(&container)?;
        let gen = {
            let mut n = self.node(node);
            n.generation += 1;
            n.container = Some(container);
            n.classes = classes;
            n.worker = Some(worker);
            n.generation
        };
        self.probe_reaches(node, gen).await
    }

    /// The probe connects to node `node`'s agent 0 and calls it (again,
    /// if a step closed that connection by hand meanwhile).
    pub(super) async fn probe_reaches(&self, node: usize, gen: u64) -> Result<(), String> {
        let Some((probe, _)) = self.container(PROBE) else {
            return Err("the probe is gone".to_owned());
        };
        let url = format!("{}/0", self.node(node).url);
        for _ in 0..3 {
            let proxy = within(
                || format!("the probe's connect to {url}"),
                probe.connect(&url),
            )
            .await?
            .map_err(|e| format!("the probe's connect to live {url}: {e} ({e:?})"))?;
            let call = proxy.call::<_, i64>("add", (2, 3));
            match within(|| format!("the probe's call to {url}"), call).await? {
                Ok(5) => {
                    self.keep(proxy, (PROBE, 0), (node, gen));
                    return Ok(());
                }
                Err(e) if e.is_connection() && self.closed_by_hand(proxy.connection()) => {}
                other => return Err(format!("the probe's call (2 + 3) to live {url}: {other:?}")),
            }
        }
        Err(format!(
            "the probe's connections to {url} closed by hand again and again"
        ))
    }

    pub(super) fn closed_by_hand(&self, conn: &Connection<C>) -> bool {
        lock(&self.hand_closed).iter().any(|c| c.ptr_eq(conn))
    }
}

impl<C: Wire> Clone for Held<C> {
    fn clone(&self) -> Self {
        Held {
            proxy: self.proxy.clone(),
            from: self.from,
            to: self.to,
        }
    }
}
