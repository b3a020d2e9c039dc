//! A seed's world (its containers, the proxies it holds, what it checks
//! at the end) and the steps of a plan run against it. A step returns an
//! error naming what went wrong; every wait on the library is bounded.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use agentwire::rpc::Connection;
use agentwire::{
    AgentContext, AgentHandle, AgentRef, ConnectOptions, Container, ContainerError,
    ContainerOptions, Proxy, RpcError,
};
use futures_util::future::join_all;
use serde_json::{json, Value};
use transport_local::LocalNetwork;

use super::agents::{Worker, PLANNED};
use super::plan::{self, Method, Mode, Op, Plan, Retry, Rng, Then, NODES, PROBE};
use crate::support::calc;

/// The bound on anything that must end: a hang detector, not a timing
/// claim.
pub const BOUND: Duration = Duration::from_secs(10);

/// The most proxies the pool holds (more replace the oldest), and the most
/// connections kept for the checks at the end.
const POOL: usize = 16;
const CONNS: usize = 64;

/// `fut`, or an error saying that `what` hangs.
pub async fn within<T>(
    what: impl FnOnce() -> String,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(BOUND, fut)
        .await
        .map_err(|_| format!("{} hangs (more than {BOUND:?})", what()))
}

/// Waits (bounded) until `idle` says nothing is left; its last complaint
/// otherwise.
async fn eventually(mut idle: impl FnMut() -> Option<String>) -> Result<(), String> {
    let waited = tokio::time::timeout(BOUND, async {
        while idle().is_some() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    match waited {
        Ok(()) => Ok(()),
        Err(_) => Err(idle().unwrap_or_default() + &format!(" (still, after {BOUND:?})")),
    }
}

/// Polls `fut` once.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A container's place: its URL (the same across restarts), the container
/// there now (a shut-down one is kept until it is replaced), its
/// generation (one more per container started there) and its agents'
/// class names by id.
struct Node {
    url: String,
    container: Option<Container>,
    generation: u64,
    classes: Vec<&'static str>,
    /// The context of agent 0, a `Worker`: references to it are sent.
    worker: Option<AgentContext>,
}

/// Node and generation.
type Origin = (usize, u64);

/// A proxy of the pool, with the containers it was made from and to.
#[derive(Clone)]
struct Held {
    proxy: Proxy,
    from: Origin,
    to: Origin,
}

pub struct World {
    options: ContainerOptions,
    /// `NODES` nodes, then the probe.
    nodes: Vec<Mutex<Node>>,
    pool: Mutex<Vec<Held>>,
    /// Connections of the proxies made, for the idle checks at the end.
    conns: Mutex<Vec<Connection>>,
    /// The typed agents' contexts: their containers must be freed at the
    /// end, and so must the agents.
    contexts: Mutex<Vec<AgentContext>>,
    workers: Mutex<Vec<Weak<Worker>>>,
    /// Connections closed by a step (not by a container's end).
    hand_closed: Mutex<Vec<Connection>>,
    /// Handlers running now.
    alive: Arc<AtomicUsize>,
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

impl World {
    /// The containers of `plan`: `NODES` and the probe, on local queues of
    /// a network of their own or on TCP.
    pub async fn new(tcp: bool, plan: &Plan) -> Result<Self, String> {
        let channel = agentwire::ChannelOptions::new()
            .codec(agentwire::channel::Json)
            .max_concurrent_requests(plan.max_concurrent)
            .max_pending_requests(plan.max_pending)
            .max_queued_requests(plan.max_queued);
        let options = ContainerOptions::new()
            .channel_options(channel)
            .shutdown_grace(plan.grace)
            .handshake_timeout(Some(BOUND / 2));
        let options = if tcp {
            options
        } else {
            options.local_network(LocalNetwork::new())
        };
        let mut world = World {
            options,
            nodes: Vec::new(),
            pool: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            contexts: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            hand_closed: Mutex::new(Vec::new()),
            alive: Arc::new(AtomicUsize::new(0)),
            stats: Stats::default(),
        };
        for i in 0..=NODES {
            // On TCP a port below the ephemeral range: one picked with port
            // 0 may be taken by another test's connection while the node
            // is down. Re-creation reuses the port of `container.url()`.
            let url = if tcp {
                format!("tcp://127.0.0.1:{}", crate::support::aiomas::free_port())
            } else {
                format!("local://chaos-{i}")
            };
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

    fn node(&self, i: usize) -> MutexGuard<'_, Node> {
        lock(&self.nodes[i])
    }

    /// The container at node `i` now, and its generation.
    fn container(&self, i: usize) -> Option<(Container, u64)> {
        let node = self.node(i);
        node.container.clone().map(|c| (c, node.generation))
    }

    /// A container at `url`; the address may still be in use for a while
    /// (a dropped container whose last handle a step still holds, a TCP
    /// listener closing), so `AddrInUse` is retried, bounded.
    async fn create(&self, url: &str) -> Result<Container, String> {
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
    fn add_worker(&self, container: &Container) -> Result<AgentHandle<Worker>, ContainerError> {
        let alive = Arc::clone(&self.alive);
        let worker = container.register_agent_with(|ctx| Worker::new(ctx, alive))?;
        lock(&self.contexts).push(worker.context().clone());
        lock(&self.workers).push(Arc::downgrade(worker.agent()));
        Ok(worker)
    }

    /// Registers a `Worker` (id 0) and a `Calc` (id 1); the classes and
    /// the worker's context.
    fn populate(&self, container: &Container) -> Result<(Vec<&'static str>, AgentContext), String> {
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
    fn keep(&self, proxy: Proxy, from: Origin, to: Origin) {
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
    fn pick(&self, pick: usize) -> Option<Held> {
        let pool = lock(&self.pool);
        let open: Vec<&Held> = pool
            .iter()
            .filter(|h| !h.proxy.connection().is_closed())
            .collect();
        if pick % 4 != 0 && !open.is_empty() {
            return Some(open[pick / 4 % open.len()].clone());
        }
        (!pool.is_empty()).then(|| pool[pick % pool.len()].clone())
    }

    /// Runs one step.
    pub async fn step(self: Arc<Self>, op: Op) -> Result<(), String> {
        match op {
            Op::Connect {
                from,
                to,
                aid,
                retry,
            } => self.connect(from, to, aid, retry).await,
            Op::Call { pick, method, mode } => match self.pick(pick) {
                Some(held) => self.call(&held, method, mode).await,
                None => Ok(()),
            },
            Op::Flood { pick, n, seed } => {
                let Some(held) = self.pick(pick) else {
                    return Ok(());
                };
                let mut rng = Rng::new(seed);
                let calls = (0..n).map(|_| {
                    let (method, mode) = (plan::method(&mut rng), plan::mode(&mut rng));
                    self.call(&held, method, mode)
                });
                self.stats.count("floods");
                join_all(calls).await.into_iter().collect()
            }
            Op::DropProxy { pick } => {
                let mut pool = lock(&self.pool);
                if !pool.is_empty() {
                    let i = pick % pool.len();
                    pool.remove(i);
                }
                Ok(())
            }
            Op::Register { node, typed } => self.register(node, typed),
            Op::Shutdown { node, then } => self.shutdown(node, then).await,
            Op::Drop { node, then } => self.drop_node(node, then).await,
            Op::Start { node } => {
                let down = {
                    let n = self.node(node);
                    n.container.as_ref().is_none_or(Container::is_shut_down)
                };
                if down {
                    self.recreate(node).await?;
                }
                Ok(())
            }
            Op::ConnectDuringShutdown { from, node, then } => {
                self.connect_during_shutdown(from, node, then).await
            }
            Op::Quit { node } => self.quit(node).await,
            Op::CloseConnection { pick, abort } => match self.pick(pick) {
                Some(held) => self.close_connection(held, abort).await,
                None => Ok(()),
            },
        }
    }

    async fn connect(
        &self,
        from: usize,
        to: usize,
        aid: usize,
        retry: Retry,
    ) -> Result<(), String> {
        let Some((source, from_gen)) = self.container(from) else {
            return Ok(());
        };
        let (base, to_gen) = {
            let n = self.node(to);
            (n.url.clone(), n.generation)
        };
        let url = format!("{base}/{aid}");
        let options = match retry {
            Retry::Default => ConnectOptions::new(),
            Retry::Once => ConnectOptions::new().timeout(Some(Duration::ZERO)),
            Retry::For(d) => ConnectOptions::new().timeout(Some(d)),
            Retry::Forever { .. } => ConnectOptions::new().timeout(None),
        };
        let connect = source.connect_with(&url, &options);
        let what = || format!("a connect from {} to {url} ({retry:?})", source.url());
        let result = match retry {
            Retry::Forever { give_up } => match tokio::time::timeout(give_up, connect).await {
                Ok(result) => result,
                Err(_) => {
                    self.stats.count("connects given up");
                    return Ok(());
                }
            },
            _ => within(what, connect).await?,
        };
        match result {
            Ok(proxy) => {
                self.stats.count("connects made");
                self.keep(proxy, (from, from_gen), (to, to_gen));
                Ok(())
            }
            Err(e) => self.connect_failed(&source, &url, e, true),
        }
    }

    /// Whether `e`, the failure of a connect from `source` to `url`, is one
    /// a connect may end with here.
    fn connect_failed(
        &self,
        source: &Container,
        url: &str,
        e: ContainerError,
        agent_may_be_missing: bool,
    ) -> Result<(), String> {
        self.stats.count(match &e {
            ContainerError::ShutDown => "connects failed (shut down)",
            ContainerError::Connect { .. } => "connects failed (connection)",
            ContainerError::AgentNotFound { .. } => "connects failed (no agent)",
            _ => "connects failed (other)",
        });
        match &e {
            ContainerError::ShutDown if source.is_shut_down() => Ok(()),
            ContainerError::Connect { source: cause, .. } if cause.is_connection() => Ok(()),
            ContainerError::AgentNotFound { .. } if agent_may_be_missing => Ok(()),
            _ => Err(format!(
                "a connect from {} (shut down: {}) to {url}: {e} ({e:?})",
                source.url(),
                source.is_shut_down()
            )),
        }
    }

    /// One call through `proxy`, its future awaited, dropped after one
    /// poll or given up on; what it returns is checked.
    async fn call(&self, held: &Held, method: Method, mode: Mode) -> Result<(), String> {
        let proxy = &held.proxy;
        let mut method = fit(method, proxy.class_name().unwrap_or("?"));
        // A reference to the caller's agent 0, if the container that made
        // the proxy is still the one at its node.
        let me = match method {
            Method::CallBack(_) => {
                let n = self.node(held.from.0);
                n.worker
                    .as_ref()
                    .filter(|_| n.generation == held.from.1)
                    .map(AgentContext::me)
            }
            _ => None,
        };
        if matches!(method, Method::CallBack(_)) && me.is_none() {
            method = Method::Add(8, 9);
        }
        let what = || format!("{method:?} through {proxy:?}");
        let fut = self.invoke(proxy, method, me);
        let result = match mode {
            Mode::Await => within(what, fut).await?,
            Mode::DropAfterOnePoll => {
                let mut fut = pin!(fut);
                match poll_once(&mut fut).await {
                    Poll::Ready(r) => r,
                    Poll::Pending => {
                        self.stats.count("calls dropped after one poll");
                        return Ok(());
                    }
                }
            }
            Mode::GiveUpAfter(d) => match tokio::time::timeout(d, fut).await {
                Ok(r) => r,
                Err(_) => {
                    self.stats.count("calls given up");
                    return Ok(());
                }
            },
        };
        self.stats.count(match &result {
            Ok(_) => "calls answered",
            Err(e) if e.is_connection() => "calls failed (connection)",
            Err(_) => "calls failed (remote)",
        });
        check(method, result).map_err(|e| what() + &e)
    }

    async fn invoke(
        &self,
        proxy: &Proxy,
        method: Method,
        me: Option<AgentRef>,
    ) -> Result<Value, RpcError> {
        match method {
            Method::Add(a, b) => proxy.call("add", (a, b)).await,
            Method::Nap(ms) => proxy.call("nap", (ms,)).await,
            Method::Boom => proxy.call("boom", ()).await,
            Method::Relay { to, ms } => {
                let url = format!("{}/0", self.node(to).url);
                proxy.call("relay", (url, ms)).await
            }
            Method::Echo(v) => proxy.call("echo", (v,)).await,
            Method::Fail => proxy.call("fail", ("chaos",)).await,
            Method::CallBack(ms) => proxy.call("call_back", (me, ms)).await,
            Method::Missing => proxy.call("missing", ()).await,
        }
    }

    /// Registers an agent at `node`, while calls run: it gets the next id.
    fn register(&self, node: usize, typed: bool) -> Result<(), String> {
        let mut n = self.node(node);
        let Some(container) = n.container.clone() else {
            return Ok(());
        };
        let expected = n.classes.len().to_string();
        let registered = if typed {
            self.add_worker(&container)
                .map(|w| (w.id().to_owned(), "Worker"))
        } else {
            container
                .register("Calc", calc())
                .map(|info| (info.id().to_owned(), "Calc"))
        };
        match registered {
            Ok((id, class)) if id == expected => {
                self.stats.count("agents registered during calls");
                n.classes.push(class);
                Ok(())
            }
            Ok((id, _)) => Err(format!(
                "an agent registered in {} got id {id}, not {expected}",
                n.url
            )),
            Err(ContainerError::ShutDown) if container.is_shut_down() => Ok(()),
            Err(e) => Err(format!("registering in {}: {e}", n.url)),
        }
    }

    /// The pool's proxies from or to `origin`.
    fn held_with(&self, origin: Origin) -> Vec<(Proxy, Origin, Origin)> {
        lock(&self.pool)
            .iter()
            .filter(|h| h.from == origin || h.to == origin)
            .map(|h| (h.proxy.clone(), h.from, h.to))
            .collect()
    }

    /// Calls through `proxies`, whose container (one end) is gone: each
    /// fails with a connection error.
    async fn calls_fail(&self, proxies: Vec<(Proxy, Origin, Origin)>) -> Result<(), String> {
        for (proxy, from, to) in proxies {
            let what =
                || format!("a call through {proxy:?} ({from:?} to {to:?}) after one end is gone");
            match within(what, proxy.call::<_, Value>("add", (1, 2))).await? {
                Err(e) if e.is_connection() => {}
                other => return Err(format!("{}: {other:?}", what())),
            }
        }
        Ok(())
    }

    /// After `container` (node `node`, generation `gen`) is shut down: it
    /// refuses connects and agents, and the pool's proxies from or to it
    /// fail.
    async fn after_shutdown(
        &self,
        container: &Container,
        node: usize,
        gen: u64,
    ) -> Result<(), String> {
        let url = format!("{}/0", container.url());
        match within(
            || format!("a connect from shut-down {url}"),
            container.connect(&url),
        )
        .await?
        {
            Err(ContainerError::ShutDown) => {}
            other => return Err(format!("a connect from shut-down {url}: {other:?}")),
        }
        match container.register("Calc", calc()) {
            Err(ContainerError::ShutDown) => {}
            other => return Err(format!("registering in shut-down {url}: {other:?}")),
        }
        self.calls_fail(self.held_with((node, gen))).await
    }

    async fn shutdown(&self, node: usize, then: Then) -> Result<(), String> {
        let Some((container, gen)) = self.container(node) else {
            return Ok(());
        };
        let url = container.url().to_owned();
        within(|| format!("the shutdown of {url}"), container.shutdown()).await?;
        self.stats.count("shutdowns");
        self.after_shutdown(&container, node, gen).await?;
        if then == Then::Recreate {
            drop(container);
            self.recreate(node).await?;
        }
        Ok(())
    }

    async fn drop_node(&self, node: usize, then: Then) -> Result<(), String> {
        let (container, gen) = {
            let mut n = self.node(node);
            let Some(container) = n.container.take() else {
                return Ok(());
            };
            (container, n.generation)
        };
        // Taken before anything else can connect at the URL.
        let gone = self.held_with((node, gen));
        drop(container);
        self.stats.count("containers dropped");
        if then == Then::Recreate {
            // Started there, the old container is gone (it no longer
            // holds the address): its connections are closed.
            self.recreate(node).await?;
            self.calls_fail(gone).await?;
        }
        Ok(())
    }

    /// Starts a container at node `node`'s URL with its two agents, and
    /// checks that the probe reaches it.
    async fn recreate(&self, node: usize) -> Result<(), String> {
        let url = self.node(node).url.clone();
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
    async fn probe_reaches(&self, node: usize, gen: u64) -> Result<(), String> {
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

    fn closed_by_hand(&self, conn: &Connection) -> bool {
        lock(&self.hand_closed).iter().any(|c| c.ptr_eq(conn))
    }

    /// `from` connects to node `node`'s agent 0 while that node shuts down.
    async fn connect_during_shutdown(
        &self,
        from: usize,
        node: usize,
        then: Then,
    ) -> Result<(), String> {
        let (Some((target, gen)), Some((source, _))) = (self.container(node), self.container(from))
        else {
            return Ok(());
        };
        let url = format!("{}/0", target.url());
        let shutdown = tokio::spawn({
            let target = target.clone();
            async move { target.shutdown().await }
        });
        let connected = within(
            || format!("a connect to shutting-down {url}"),
            source.connect(&url),
        )
        .await?;
        within(|| format!("the shutdown of {url}"), shutdown)
            .await?
            .map_err(|e| format!("the shutdown of {url} panicked: {e}"))?;
        self.stats.count("connects during a shutdown");
        match connected {
            Ok(proxy) => {
                self.stats.count("connects during a shutdown made");
                // Shut down since: the proxy is dead.
                let what = || format!("a call to shut-down {url}");
                match within(what, proxy.call::<_, Value>("add", (1, 2))).await? {
                    Err(e) if e.is_connection() => {}
                    other => return Err(format!("{}: {other:?}", what())),
                }
            }
            // Agent 0 is there as long as the container is.
            Err(e) => self.connect_failed(&source, &url, e, false)?,
        }
        self.after_shutdown(&target, node, gen).await?;
        if then == Then::Recreate {
            drop(target);
            self.recreate(node).await?;
        }
        Ok(())
    }

    /// The probe calls node `node`'s agent 0, whose handler shuts its own
    /// container down (the answer may come, or the connection end first).
    async fn quit(&self, node: usize) -> Result<(), String> {
        let Some((target, gen)) = self.container(node).filter(|(c, _)| !c.is_shut_down()) else {
            return Ok(());
        };
        let Some((probe, _)) = self.container(PROBE) else {
            return Err("the probe is gone".to_owned());
        };
        let url = format!("{}/0", target.url());
        let proxy = within(
            || format!("the probe's connect to {url}"),
            probe.connect(&url),
        )
        .await?
        .map_err(|e| format!("the probe's connect to live {url}: {e} ({e:?})"))?;
        let what = || format!("quit of {url}");
        match within(what, proxy.call::<_, Value>("quit", ())).await? {
            Ok(Value::Bool(true)) if target.is_shut_down() => self.stats.count("quits answered"),
            // (Perhaps closed by hand before the handler ran.)
            Err(e) if e.is_connection() => self.stats.count("quits unanswered"),
            other => {
                let down = target.is_shut_down();
                return Err(format!("{} (shut down: {down}): {other:?}", what()));
            }
        }
        // A second shutdown returns once the handler's connection is
        // closed too.
        within(
            || format!("the shutdown after quit of {url}"),
            target.shutdown(),
        )
        .await?;
        self.after_shutdown(&target, node, gen).await
    }

    /// Closes or aborts a proxy's connection by hand: calls through it
    /// fail, and a connect made now from the same container does not hand
    /// it out again.
    async fn close_connection(&self, held: Held, abort: bool) -> Result<(), String> {
        let conn = held.proxy.connection().clone();
        if abort {
            within(|| format!("aborting {conn:?}"), conn.abort()).await?;
        } else {
            within(|| format!("closing {conn:?}"), conn.close()).await?;
        }
        self.stats.count("connections closed by hand");
        lock(&self.hand_closed).push(conn.clone());
        self.calls_fail(vec![(held.proxy.clone(), held.from, held.to)])
            .await?;
        let (Some((source, gen)), Some(url)) = (self.container(held.from.0), held.proxy.url())
        else {
            return Ok(());
        };
        if gen != held.from.1 {
            return Ok(());
        }
        let to_gen = self.node(held.to.0).generation;
        match within(
            || format!("a connect to {url} after a close"),
            source.connect(url),
        )
        .await?
        {
            Ok(proxy) if proxy.connection().ptr_eq(&conn) => Err(format!(
                "a connect from {} to {url} handed out the connection closed by hand",
                source.url()
            )),
            Ok(proxy) => {
                self.keep(proxy, held.from, (held.to.0, to_gen));
                Ok(())
            }
            Err(e) => self.connect_failed(&source, url, e, true),
        }
    }

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
        let containers: Vec<Container> = (0..=NODES)
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

/// `method`, or `add` where the agent (of class `class`) has no such
/// method: a `Worker` has `add`, `nap`, `boom`, `relay`; a `Calc` `add`,
/// `echo`, `fail`; both lack `missing`.
fn fit(method: Method, class: &str) -> Method {
    let worker = class == "Worker";
    match method {
        Method::Nap(_) | Method::Boom | Method::Relay { .. } | Method::CallBack(_) if !worker => {
            Method::Add(4, 5)
        }
        Method::Echo(_) | Method::Fail if worker => Method::Add(6, 7),
        other => other,
    }
}

/// Whether `result` is what `method` may answer: its value, or a
/// connection error; a remote error only where the method fails (or may:
/// a relay).
fn check(method: Method, result: Result<Value, RpcError>) -> Result<(), String> {
    let expected = match method {
        Method::Add(a, b) => Some(json!(a + b)),
        Method::Nap(ms) => Some(json!(ms)),
        Method::Echo(v) => Some(json!(v)),
        Method::Relay { ms, .. } | Method::CallBack(ms) => Some(json!(ms)),
        Method::Boom | Method::Fail | Method::Missing => None,
    };
    let may_fail_remotely = matches!(
        method,
        Method::Boom | Method::Fail | Method::Missing | Method::Relay { .. } | Method::CallBack(_)
    );
    match result {
        Ok(value) if Some(&value) == expected.as_ref() => Ok(()),
        Err(e) if e.is_connection() => Ok(()),
        // A panic's reply names it.
        Err(e)
            if matches!(method, Method::Boom)
                && !e.remote_message().is_some_and(|m| m.contains(PLANNED)) =>
        {
            Err(format!(": a panic answered with {e:?}"))
        }
        Err(RpcError::Remote { .. }) if may_fail_remotely => Ok(()),
        other => Err(format!(": unexpected {other:?}")),
    }
}
