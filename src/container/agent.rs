//! Typed agents: the [`Agent`] trait that [`agent`](crate::agent) writes,
//! what an agent knows of itself ([`AgentContext`]), the handle that
//! registering returns ([`AgentHandle`]) and references to agents that
//! travel as arguments and results ([`AgentRef`]).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Weak};

use serde::{Serialize, Serializer};

use super::agents::Registry;
use super::container::Inner;
use super::{AgentInfo, Container, ContainerError};
use crate::channel::{Codec, Json};
use crate::clock::Clock;
use crate::rpc::{Proxy, Router};

/// A Rust type whose methods are an agent's RPC methods. Written by the
/// [`agent`](crate::agent) attribute; register one with
/// [`Container::register_agent`].
pub trait Agent: Send + Sync + Sized + 'static {
    /// The class name that `validate_aid` answers (the type's name).
    const CLASS_NAME: &'static str;

    /// The typed client of this agent.
    type Proxy<C: Codec>: From<Proxy<C>>;

    /// The agent's methods (and sub-services), routed to `this`.
    fn router<C: Codec>(this: Arc<Self>) -> Router<C>;
}

/// What an agent knows of itself (aiomas's `agent.addr`,
/// `agent.container`): its id and URL, its container and the container's
/// clock. [`Container::register_agent_with`] hands it to the function that
/// makes the agent, to keep in a field.
pub struct AgentContext<C: Codec = Json> {
    info: AgentInfo,
    home: u64,
    /// Weak: the container holds its agents.
    container: Weak<Inner<C>>,
    clock: Arc<dyn Clock>,
}

impl<C: Codec> Clone for AgentContext<C> {
    fn clone(&self) -> Self {
        AgentContext {
            info: self.info.clone(),
            home: self.home,
            container: Weak::clone(&self.container),
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<C: Codec> AgentContext<C> {
    pub(crate) fn new(
        info: AgentInfo,
        home: u64,
        container: Weak<Inner<C>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AgentContext {
            info,
            home,
            container,
            clock,
        }
    }

    /// The agent id (`"0"`, …).
    pub fn id(&self) -> &str {
        self.info.id()
    }

    /// The agent's URL (`tcp://127.0.0.1:5555/0`).
    pub fn url(&self) -> &str {
        self.info.url()
    }

    /// The agent's id, URL and class name.
    pub fn info(&self) -> &AgentInfo {
        &self.info
    }

    /// The container's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The container, while it exists.
    pub fn container(&self) -> Option<Container<C>> {
        self.container.upgrade().map(Container::from_inner)
    }

    /// Connects to the agent at `url` from this agent's container; see
    /// [`Container::connect`].
    ///
    /// # Errors
    ///
    /// As [`Container::connect`]; [`ContainerError::ShutDown`] if the
    /// container is gone.
    pub async fn connect(&self, url: &str) -> Result<Proxy<C>, ContainerError> {
        match self.container() {
            Some(container) => container.connect(url).await,
            None => Err(ContainerError::ShutDown),
        }
    }

    /// A reference to this agent, to pass as an argument or result: it
    /// arrives as a proxy that calls this agent back.
    pub fn me(&self) -> AgentRef {
        AgentRef {
            home: self.home,
            path: format!("agents/{}", self.info.id()),
            url: self.info.url().to_owned(),
        }
    }
}

impl<C: Codec> fmt::Debug for AgentContext<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentContext")
            .field("url", &self.info.url())
            .field("class_name", &self.info.class_name())
            .finish()
    }
}

/// A reference to an agent, sent as aiomas sends one:
/// `{"__type__": [typeid, "agents/<id>"]}`. The peer gets a proxy that
/// calls the agent back over the same connection (in Rust, a
/// [`Proxy`] or a typed `…Proxy`).
///
/// Only a container's own agents can be sent, over the connections of
/// that container (incoming or outgoing); anything else is an encoding
/// error naming the agent.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentRef {
    home: u64,
    path: String,
    url: String,
}

impl AgentRef {
    /// The agent's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AgentRef").field(&self.url).finish()
    }
}

impl Serialize for AgentRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::rpc::serialize_reference(self.home, &self.path, &self.url, serializer)
    }
}

/// A registered agent: the agent itself (`Deref`s to it) and its
/// [`AgentContext`]. Sent as an argument or result, it is a reference to
/// the agent ([`AgentRef`]).
pub struct AgentHandle<A, C: Codec = Json> {
    agent: Arc<A>,
    context: AgentContext<C>,
}

impl<A, C: Codec> AgentHandle<A, C> {
    pub(crate) fn new(agent: Arc<A>, context: AgentContext<C>) -> Self {
        AgentHandle { agent, context }
    }

    /// The agent.
    pub fn agent(&self) -> &Arc<A> {
        &self.agent
    }

    /// Its id, URL, container and clock.
    pub fn context(&self) -> &AgentContext<C> {
        &self.context
    }

    /// The agent's URL.
    pub fn url(&self) -> &str {
        self.context.url()
    }

    /// The agent's id.
    pub fn id(&self) -> &str {
        self.context.id()
    }

    /// A reference to the agent, to pass as an argument or result.
    pub fn reference(&self) -> AgentRef {
        self.context.me()
    }
}

impl<A, C: Codec> Clone for AgentHandle<A, C> {
    fn clone(&self) -> Self {
        AgentHandle {
            agent: Arc::clone(&self.agent),
            context: self.context.clone(),
        }
    }
}

impl<A, C: Codec> Deref for AgentHandle<A, C> {
    type Target = A;
    fn deref(&self) -> &A {
        &self.agent
    }
}

impl<A, C: Codec> Serialize for AgentHandle<A, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.reference().serialize(serializer)
    }
}

impl<A, C: Codec> fmt::Debug for AgentHandle<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentHandle")
            .field("url", &self.context.url())
            .field("class_name", &self.context.info().class_name())
            .finish()
    }
}

impl<C: Codec> Container<C> {
    /// Registers a typed agent (a type with an [`agent`](crate::agent)
    /// `impl` block) under its class name; returns its handle, which
    /// derefs to the agent. Ids are given as by [`register`](Self::register).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use agentwire::{agent, Container};
    ///
    /// struct Calc;
    ///
    /// #[agent]
    /// impl Calc {
    ///     #[expose]
    ///     async fn add(&self, a: i64, b: i64) -> i64 {
    ///         a + b
    ///     }
    /// }
    ///
    /// let container = Container::create("local://calc-doc").await?;
    /// let calc = container.register_agent(Calc)?;
    /// let proxy: CalcProxy = container.connect(calc.url()).await?.into();
    /// assert_eq!(proxy.add(1, 2).await?, 3);
    /// container.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ContainerError::ShutDown`] after [`shutdown`](Self::shutdown).
    pub fn register_agent<A: Agent>(&self, agent: A) -> Result<AgentHandle<A, C>, ContainerError> {
        self.register_agent_with(|_| agent)
    }

    /// Registers the typed agent that `make` returns, given the agent's
    /// [`AgentContext`] (its id and URL, the container, the clock) to keep:
    /// aiomas's `Agent.__init__(self, container)`.
    ///
    /// # Errors
    ///
    /// [`ContainerError::ShutDown`] after [`shutdown`](Self::shutdown).
    pub fn register_agent_with<A: Agent>(
        &self,
        make: impl FnOnce(AgentContext<C>) -> A,
    ) -> Result<AgentHandle<A, C>, ContainerError> {
        if self.inner.registry.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let id = self.inner.registry.reserve(A::CLASS_NAME.to_owned());
        let info = AgentInfo::new(
            format!("{}/{id}", self.inner.url),
            id.clone(),
            A::CLASS_NAME.to_owned(),
        );
        let context = AgentContext::new(
            info,
            self.inner.wire.home,
            Arc::downgrade(&self.inner),
            Arc::clone(self.clock()),
        );
        // If `make` panics, the reserved id must not stay behind as an
        // agent that answers `validate_aid` and serves nothing.
        let vacate = VacateOnUnwind {
            registry: &self.inner.registry,
            id: &id,
        };
        let agent = Arc::new(make(context.clone()));
        std::mem::forget(vacate);
        self.inner
            .registry
            .set_service(&id, Arc::new(A::router::<C>(Arc::clone(&agent))));
        Ok(AgentHandle::new(agent, context))
    }
}

/// Vacates a reserved agent id when dropped, that is, when the agent's
/// `make` unwinds (it is forgotten once `make` returns).
struct VacateOnUnwind<'a, C: Codec> {
    registry: &'a Registry<C>,
    id: &'a str,
}

impl<C: Codec> Drop for VacateOnUnwind<'_, C> {
    fn drop(&mut self) {
        self.registry.vacate(self.id);
    }
}
