//! [`Sim`]: the simulated network — links, faults, rules, the seed, the
//! clock and the recorder — and [`Node`], one named endpoint of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use agentwire::clock::{Clock, ExternalClock};
use tokio::sync::watch;

use crate::conn::ConnShared;
use crate::event::{EventKind, MessageInfo};
use crate::node::Node;
use crate::recorder::{Hop, Recorder, Trace};
use crate::rng::SimRng;
use crate::rules::{Action, MessageView, Rule};
use crate::summary::Summarizer;
use crate::Link;
use crate::SimBuilder;

/// A wait on the simulation's clock ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// [`Sim::timeout`] ran out.
    #[error("timed out after {after:?} of simulated time")]
    Timeout {
        /// The timeout.
        after: Duration,
    },
}

/// An unordered pair of endpoint names.
pub(crate) type Pair = (String, String);

fn pair(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

pub(crate) struct SimState {
    pub(crate) rng: SimRng,
    pub(crate) default_link: Link,
    pub(crate) links: BTreeMap<Pair, Link>,
    pub(crate) held: BTreeSet<Pair>,
    pub(crate) refused: BTreeSet<Pair>,
    pub(crate) partition: Vec<BTreeSet<String>>,
    /// Shared with messages being judged (rules run unlocked).
    pub(crate) rules: Arc<Vec<Rule>>,
    /// Server URL -> node name.
    pub(crate) names: BTreeMap<String, String>,
    /// Node name -> its server's URL.
    pub(crate) urls: BTreeMap<String, String>,
    pub(crate) conns: BTreeMap<u64, Weak<ConnShared>>,
    pub(crate) next_conn: u64,
}

/// What the simulation decided for one message, before timing.
pub(crate) struct Verdict {
    pub(crate) partitioned: Option<String>,
    /// The rule that fired and its action, or the panic of a custom
    /// rule's closure.
    pub(crate) rule: Option<(String, Result<Action, String>)>,
    pub(crate) link: Link,
    pub(crate) jitter: Duration,
    pub(crate) held: bool,
}

pub(crate) struct SimInner {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) external: Option<ExternalClock>,
    pub(crate) recorder: Recorder,
    pub(crate) summarizer: Summarizer,
    pub(crate) framed: bool,
    pub(crate) max_frame: usize,
    pub(crate) state: Mutex<SimState>,
    pub(crate) faults: watch::Sender<u64>,
    pub(crate) activity: AtomicU64,
    pub(crate) next_msg: AtomicU64,
}

impl SimInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mark that changes whenever this simulation does something (a
    /// frame sent or delivered, a connection made or lost, a fault) or
    /// the clock moves (another `Sim::run` on the same clock stepped it).
    pub(crate) fn activity_mark(&self) -> (u64, Duration) {
        (self.activity.load(Ordering::Relaxed), self.now())
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.time()
    }

    pub(crate) fn record(&self, kind: EventKind) {
        self.record_at(self.now(), kind);
    }

    pub(crate) fn record_at(&self, now: Duration, kind: EventKind) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        self.recorder.record(now, kind);
    }

    /// Records that a message entered the link (without building an
    /// [`EventKind`]: this is the hot path of a traced run).
    pub(crate) fn record_send(
        &self,
        now: Duration,
        hop: Hop<'_>,
        bytes: usize,
        info: Option<&MessageInfo>,
    ) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        self.recorder.record_send(now, hop, bytes, info);
    }

    /// Records that a message reached its receiver.
    pub(crate) fn record_deliver(&self, now: Duration, hop: Hop<'_>) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        self.recorder.record_deliver(now, hop);
    }

    pub(crate) fn faults(&self) -> watch::Receiver<u64> {
        self.faults.subscribe()
    }

    fn faults_changed(&self) {
        self.faults.send_modify(|v| *v += 1);
    }

    /// The node name of a server URL (the URL itself if no node serves it).
    pub(crate) fn name_of(&self, url: &str) -> String {
        self.lock()
            .names
            .get(url)
            .cloned()
            .unwrap_or_else(|| url.to_owned())
    }

    /// The server URL of a node, if it serves one.
    pub(crate) fn url_of(&self, name: &str) -> Option<String> {
        self.lock().urls.get(name).cloned()
    }

    pub(crate) fn register_server(&self, url: String, name: &str) {
        let mut s = self.lock();
        s.urls.insert(name.to_owned(), url.clone());
        s.names.insert(url, name.to_owned());
    }

    pub(crate) fn add_conn(&self, conn: &Arc<ConnShared>) -> u64 {
        let mut s = self.lock();
        s.next_conn += 1;
        let id = s.next_conn;
        s.conns.insert(id, Arc::downgrade(conn));
        id
    }

    pub(crate) fn remove_conn(&self, id: u64) {
        self.lock().conns.remove(&id);
    }

    pub(crate) fn next_msg(&self) -> u64 {
        self.next_msg.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Why a new connection from `a` to `b` is refused, if it is.
    pub(crate) fn refusal(&self, a: &str, b: &str) -> Option<String> {
        let s = self.lock();
        if s.refused.contains(&pair(a, b)) {
            return Some(format!(
                "the simulation refuses new connections between {a} and {b}"
            ));
        }
        partition_between(&s.partition, a, b)
    }

    pub(crate) fn is_held(&self, a: &str, b: &str) -> bool {
        let s = self.lock();
        !s.held.is_empty() && s.held.contains(&pair(a, b))
    }

    pub(crate) fn partitioned(&self, a: &str, b: &str) -> Option<String> {
        partition_between(&self.lock().partition, a, b)
    }

    /// Partition, rules (in order; the first that fires decides) and the
    /// link's timing with its jitter drawn, for one message.
    ///
    /// Rules run without the state locked: a custom rule may call back
    /// into the simulation (set a fault, add a rule) without a deadlock.
    pub(crate) fn judge(&self, view: &MessageView<'_>) -> Verdict {
        let mut s = self.lock();
        let partitioned = partition_between(&s.partition, view.from, view.to);
        let mut rule = None;
        if partitioned.is_none() && !s.rules.is_empty() {
            let rules = Arc::clone(&s.rules);
            drop(s);
            rule = self.apply_rules(&rules, view);
            s = self.lock();
        }
        let link = if s.links.is_empty() {
            s.default_link
        } else {
            s.links
                .get(&pair(view.from, view.to))
                .copied()
                .unwrap_or(s.default_link)
        };
        let held = !s.held.is_empty() && s.held.contains(&pair(view.from, view.to));
        let jitter_ns = u64::try_from(link.get_jitter().as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_ns > 0 {
            Duration::from_nanos(s.rng.below_or_eq(jitter_ns))
        } else {
            Duration::ZERO
        };
        Verdict {
            partitioned,
            rule,
            link,
            jitter,
            held,
        }
    }

    /// The first rule that fires on `view`, with its action (or its
    /// closure's panic); called with the state unlocked.
    fn apply_rules(
        &self,
        rules: &[Rule],
        view: &MessageView<'_>,
    ) -> Option<(String, Result<Action, String>)> {
        for r in rules {
            if !r.matches(view) {
                continue;
            }
            if r.needs_draw() && self.lock().rng.next_f64() >= r.get_probability() {
                continue;
            }
            match r.action_for(view) {
                Ok(None) => {}
                Ok(Some(action)) => return Some((r.name.clone(), Ok(action))),
                Err(panicked) => return Some((r.name.clone(), Err(panicked))),
            }
        }
        None
    }
}

fn partition_between(groups: &[BTreeSet<String>], a: &str, b: &str) -> Option<String> {
    if groups.is_empty() {
        return None;
    }
    let ga = groups.iter().position(|g| g.contains(a))?;
    let gb = groups.iter().position(|g| g.contains(b))?;
    (ga != gb).then(|| format!("partitioned: {}", describe(groups)))
}

fn describe(groups: &[BTreeSet<String>]) -> String {
    groups
        .iter()
        .map(|g| format!("{{{}}}", g.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A simulated network: the links between named endpoints ([`Node`]s),
/// their faults, the message [`Rule`]s, one seed for every random choice,
/// a clock, and a [`Recorder`] of everything that happens.
///
/// Nothing changes in the code under test: its addresses are wrapped
/// ([`Node::address`], or [`Node::container_options`] for containers), and
/// connections made through them go through the simulation, on any
/// backend. The connecting side's wrapper simulates both directions of a
/// connection; the listening side only names its endpoint. With no `Sim`
/// in use, nothing of this runs.
///
/// Cheap to clone; clones are the same simulation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use agentwire::clock::ExternalClock;
/// use agentwire::{Container, ContainerOptions, Router};
/// use agentwire_debug::{Link, Sim};
/// use transport_local::LocalNetwork;
///
/// let sim = Sim::builder()
///     .seed(7)
///     .external_clock(ExternalClock::new())
///     .default_link(Link::new().latency(Duration::from_millis(50)))
///     .build();
/// let net = LocalNetwork::new();
/// let base = ContainerOptions::new().local_network(net);
/// let a = Container::create_with("local://a", sim.node("a").container_options(base.clone())).await?;
/// let b = Container::create_with("local://b", sim.node("b").container_options(base)).await?;
/// let echo = b.register("Echo", Router::new()
///     .method("echo", |s: (String,)| async move { Ok::<_, std::convert::Infallible>(s.0) }))?;
/// let said: String = sim.run(async {
///     let proxy = a.connect(echo.url()).await.expect("connects");
///     proxy.call("echo", ("hi",)).await
/// }).await?;
/// assert_eq!(said, "hi");
/// // validate_aid and echo: two round trips of 2 x 50 ms, in simulated time.
/// assert_eq!(sim.clock().time(), Duration::from_millis(200));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<SimInner>,
}

impl Sim {
    /// A builder: seed 0, real time, JSON envelopes, instant links.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// A simulation with `seed` and the builder's other defaults.
    pub fn new(seed: u64) -> Sim {
        Sim::builder().seed(seed).build()
    }

    /// The endpoint named `name`.
    pub fn node(&self, name: impl Into<String>) -> Node {
        Node {
            sim: self.clone(),
            name: name.into().into(),
        }
    }

    /// The simulation's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    /// What was recorded so far.
    pub fn trace(&self) -> Trace {
        self.inner.recorder.trace()
    }

    fn fault(&self, fault: String) {
        self.inner.record(EventKind::Fault { fault });
        self.inner.faults_changed();
    }

    /// Sets the link between `a` and `b` (both directions).
    pub fn set_link(&self, a: &str, b: &str, link: Link) {
        self.inner.lock().links.insert(pair(a, b), link);
    }

    /// Sets the link of every pair without one of its own.
    pub fn set_default_link(&self, link: Link) {
        self.inner.lock().default_link = link;
    }

    /// Holds the link between `a` and `b`: messages wait (in order) until
    /// [`release`](Self::release).
    pub fn hold(&self, a: &str, b: &str) {
        self.inner.lock().held.insert(pair(a, b));
        self.fault(format!("hold {a} <-> {b}"));
    }

    /// Releases a held link: what waited is delivered now, in order.
    pub fn release(&self, a: &str, b: &str) {
        self.inner.lock().held.remove(&pair(a, b));
        self.fault(format!("release {a} <-> {b}"));
    }

    /// Splits the endpoints into groups that cannot reach each other.
    /// Messages on live connections across groups are lost (their callers
    /// wait, or time out); new connections across groups are refused with
    /// an error of kind `ConnectionRefused` whose cause names the
    /// partition. Endpoints in no group reach everyone. Replaces an
    /// earlier partition.
    pub fn partition<G, S>(&self, groups: G)
    where
        G: IntoIterator,
        G::Item: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let groups: Vec<BTreeSet<String>> = groups
            .into_iter()
            .map(|g| g.into_iter().map(Into::into).collect())
            .collect();
        let text = describe(&groups);
        self.inner.lock().partition = groups;
        self.fault(format!("partition {text}"));
    }

    /// Ends the partition.
    pub fn heal(&self) {
        self.inner.lock().partition.clear();
        self.fault("heal".to_owned());
    }

    /// Refuses new connections between `a` and `b` (until
    /// [`accept`](Self::accept)); live ones go on.
    pub fn refuse(&self, a: &str, b: &str) {
        self.inner.lock().refused.insert(pair(a, b));
        self.fault(format!("refuse {a} <-> {b}"));
    }

    /// Accepts new connections between `a` and `b` again.
    pub fn accept(&self, a: &str, b: &str) {
        self.inner.lock().refused.remove(&pair(a, b));
        self.fault(format!("accept {a} <-> {b}"));
    }

    /// Resets every live connection between `a` and `b`: both ends lose
    /// it with `ConnectionReset`, and what was in flight is gone.
    pub fn reset(&self, a: &str, b: &str) {
        let key = pair(a, b);
        let conns: Vec<Arc<ConnShared>> = self
            .inner
            .lock()
            .conns
            .values()
            .filter_map(Weak::upgrade)
            .filter(|c| pair(c.from(), c.to()) == key)
            .collect();
        self.fault(format!("reset {a} <-> {b} ({} connections)", conns.len()));
        for c in conns {
            c.reset();
        }
    }

    /// Adds a message rule (after the others: the first that fires wins).
    pub fn add_rule(&self, rule: Rule) {
        Arc::make_mut(&mut self.inner.lock().rules).push(rule);
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        self.inner.lock().rules = Arc::default();
    }

    /// Runs `fut` to completion; with an [`ExternalClock`], moves that
    /// clock forward to its next deadline whenever the runtime is idle
    /// (see [`crate::drive`]). Call it on a current-thread runtime for a
    /// deterministic run.
    ///
    /// # Panics
    ///
    /// With the panic of a clock callback (`Clock::call_at`/`call_in`)
    /// that panicked when this run moved the clock.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        match &self.inner.external {
            Some(clock) => crate::drive::run_advancing(clock.clone(), self.clone(), fut).await,
            None => fut.await,
        }
    }

    /// `fut`, or [`SimError::Timeout`] once `after` has passed on the
    /// simulation's clock.
    ///
    /// # Errors
    ///
    /// [`SimError::Timeout`] when time runs out first.
    pub async fn timeout<F: Future>(&self, after: Duration, fut: F) -> Result<F::Output, SimError> {
        let sleep = self.inner.clock.sleep(after);
        tokio::select! {
            biased;
            out = fut => Ok(out),
            _ = sleep => Err(SimError::Timeout { after }),
        }
    }
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("clock", &self.inner.clock)
            .field("events", &self.inner.recorder.len())
            .finish_non_exhaustive()
    }
}
