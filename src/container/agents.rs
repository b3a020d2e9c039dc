//! The agents of a container, [`AgentInfo`], and the container's root
//! service (`validate_aid`, `agents/<id>/<method>`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::loopback::{self, Tokens};
use crate::channel::Codec;
use crate::rpc::{Connection, Handler, Service};

/// A registered agent, as [`Container::register`](super::Container::register)
/// returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    id: String,
    url: String,
    class_name: String,
}

impl AgentInfo {
    pub(crate) fn new(url: String, id: String, class_name: String) -> Self {
        AgentInfo {
            id,
            url,
            class_name,
        }
    }

    /// The agent id: `"0"`, `"1"`, … in order of registration.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agent URL, `<container URL>/<id>` (`tcp://127.0.0.1:5555/0`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The class name (what `validate_aid` answers).
    pub fn class_name(&self) -> &str {
        &self.class_name
    }
}

struct Agent<C: Codec> {
    class_name: String,
    /// None: the id was reserved, but the agent was never made (its
    /// `make` panicked); the id is not given again, and nothing answers
    /// to it.
    service: Option<Arc<dyn Service<C>>>,
}

struct State<C: Codec> {
    agents: Vec<Agent<C>>,
    /// Connections accepted by the server or made by `connect`, for
    /// shutdown.
    live: Vec<Connection<C>>,
    /// `live`'s length at which closed connections are next forgotten:
    /// twice what was left the last time, so that keeping a connection
    /// costs O(1) amortised, not a look at every other one.
    prune_at: usize,
}

/// Closed connections are not looked for among fewer live ones than this.
pub(crate) const MIN_PRUNE_AT: usize = 64;

/// What the root service and the container share.
pub(crate) struct Registry<C: Codec> {
    state: Mutex<State<C>>,
    /// Turns true once the container is shut down (changed under the
    /// state's lock, so that nothing is added after it).
    shut_down: watch::Sender<bool>,
    /// Turns true once the shutdown's work is done (or abandoned).
    shut_down_done: watch::Sender<bool>,
    /// The token of the container's next connection to itself.
    pub(crate) loopback: Arc<Tokens>,
}

impl<C: Codec> Registry<C> {
    pub(crate) fn new() -> Self {
        Registry {
            state: Mutex::new(State {
                agents: Vec::new(),
                live: Vec::new(),
                prune_at: MIN_PRUNE_AT,
            }),
            shut_down: watch::Sender::new(false),
            shut_down_done: watch::Sender::new(false),
            loopback: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an agent; returns its id.
    pub(crate) fn add(&self, class_name: String, service: Arc<dyn Service<C>>) -> String {
        let mut state = self.lock();
        state.agents.push(Agent {
            class_name,
            service: Some(service),
        });
        (state.agents.len() - 1).to_string()
    }

    /// Adds an agent that serves nothing yet (see
    /// [`set_service`](Self::set_service)); returns its id.
    pub(crate) fn reserve(&self, class_name: String) -> String {
        self.add(class_name, Arc::new(crate::rpc::Router::<C>::new()))
    }

    /// Sets the service of the agent `aid`.
    pub(crate) fn set_service(&self, aid: &str, service: Arc<dyn Service<C>>) {
        self.put_service(aid, Some(service));
    }

    /// Gives up the agent `aid` that was reserved but never made: from now
    /// on it is unknown, as an id never given.
    pub(crate) fn vacate(&self, aid: &str) {
        self.put_service(aid, None);
    }

    fn put_service(&self, aid: &str, service: Option<Arc<dyn Service<C>>>) {
        let mut state = self.lock();
        if let Some(agent) = aid
            .parse::<usize>()
            .ok()
            .and_then(|i| state.agents.get_mut(i))
        {
            agent.service = service;
        }
    }

    /// The agent with id `aid` (canonical decimal only: `"0"`, not `"00"`).
    fn agent(&self, aid: &str) -> Option<(String, Arc<dyn Service<C>>)> {
        let index: usize = aid.parse().ok()?;
        if index.to_string() != aid {
            return None;
        }
        let state = self.lock();
        let agent = state.agents.get(index)?;
        let service = Arc::clone(agent.service.as_ref()?);
        Some((agent.class_name.clone(), service))
    }

    pub(crate) fn class_name(&self, aid: &str) -> Option<String> {
        self.agent(aid).map(|(class, _)| class)
    }

    pub(crate) fn agent_count(&self) -> usize {
        let state = self.lock();
        state.agents.iter().filter(|a| a.service.is_some()).count()
    }

    /// Keeps a connection (accepted, or made by `connect`) for shutdown,
    /// forgetting closed ones. Returns false (and keeps nothing) once shut
    /// down: checked under the lock that [`shut_down`](Self::shut_down)
    /// takes, so a connection is either kept before a shutdown takes them
    /// all, or refused.
    pub(crate) fn track(&self, conn: Connection<C>) -> bool {
        let mut state = self.lock();
        if self.is_shut_down() {
            return false;
        }
        if state.live.len() >= state.prune_at {
            state.live.retain(|c| !c.is_closed());
            state.prune_at = (2 * state.live.len()).max(MIN_PRUNE_AT);
        }
        state.live.push(conn);
        true
    }

    /// How many connections [`track`](Self::track) keeps now.
    #[cfg(test)]
    pub(crate) fn tracked_count(&self) -> usize {
        self.lock().live.len()
    }

    /// Every connection kept by [`track`](Self::track).
    pub(crate) fn take_tracked(&self) -> Vec<Connection<C>> {
        std::mem::take(&mut self.lock().live)
    }

    /// Marks the container shut down; false if it already was.
    pub(crate) fn shut_down(&self) -> bool {
        let _state = self.lock();
        !self.shut_down.send_replace(true)
    }

    /// Marks the shutdown's work done (see
    /// [`wait_shut_down_done`](Self::wait_shut_down_done)).
    pub(crate) fn shut_down_done(&self) {
        self.shut_down_done.send_replace(true);
    }

    /// Returns once the shutdown's work is done.
    pub(crate) async fn wait_shut_down_done(&self) {
        turned_true(&self.shut_down_done).await;
    }

    /// Returns once the container is shut down.
    pub(crate) async fn wait_shut_down(&self) {
        turned_true(&self.shut_down).await;
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        *self.shut_down.borrow()
    }
}

/// Returns once `flag` is true.
async fn turned_true(flag: &watch::Sender<bool>) {
    // The sender lives in the registry, which outlives the wait: the
    // receiver cannot see it dropped.
    let _ = flag.subscribe().wait_for(|set| *set).await;
}

/// The container's service: the root method `validate_aid(aid)` (the
/// agent's class name or null, as aiomas), `agents/<id>/<path>`, and the
/// root method by which the container marks its connection to itself
/// ([`loopback::METHOD`]).
pub(crate) struct RootService<C: Codec> {
    registry: Arc<Registry<C>>,
    validate_aid: Handler<C>,
    loopback: Handler<C>,
}

impl<C: Codec> RootService<C> {
    pub(crate) fn new(registry: Arc<Registry<C>>) -> Self {
        let reg = Arc::clone(&registry);
        let validate_aid = Handler::new(move |(aid,): (String,)| {
            let class = reg.class_name(&aid);
            async move { Ok::<_, Infallible>(class) }
        });
        let loopback = loopback::handler(Arc::clone(&registry.loopback));
        RootService {
            registry,
            validate_aid,
            loopback,
        }
    }
}

impl<C: Codec> Service<C> for RootService<C> {
    fn resolve(&self, path: &str) -> Option<Handler<C>> {
        if path == "validate_aid" {
            return Some(self.validate_aid.clone());
        }
        if path == loopback::METHOD {
            return Some(self.loopback.clone());
        }
        let (aid, rest) = path.strip_prefix("agents/")?.split_once('/')?;
        self.registry.agent(aid)?.1.resolve(rest)
    }
}
