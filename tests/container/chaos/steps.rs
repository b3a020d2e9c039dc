//! The steps of a plan, run against a seed's world: each returns an error
//! naming what went wrong, and bounds every wait on the library.

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use agentwire::{
    AgentContext, AgentRef, ConnectOptions, Container, ContainerError, Proxy, RpcError,
};
use futures_util::future::join_all;

use super::agents::{calc, Wire, PLANNED};
use super::plan::{self, How, Method, Mode, Op, Retry, Rng, Then, PROBE};
use super::world::{lock, poll_once, within, Held, World};

impl<C: Wire> World<C> {
    /// Runs one step.
    pub async fn step(self: Arc<Self>, op: Op) -> Result<(), String> {
        match op {
            Op::Connect {
                from,
                to,
                aid,
                retry,
                give_up,
            } => self.connect(from, to, aid, retry, give_up).await,
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
                    let (method, mode) =
                        (plan::method(&mut rng, self.relays), plan::mode(&mut rng));
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
            Op::Shutdown { node, then, how } => self.shutdown(node, then, how).await,
            Op::Drop { node, then } => self.drop_node(node, then).await,
            Op::Start { node } => {
                let down = {
                    let n = self.node(node);
                    n.container
                        .as_ref()
                        .is_none_or(Container::<C>::is_shut_down)
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
        give_up: Option<Duration>,
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
        let give_up = match retry {
            Retry::Forever { give_up: after } => Some(give_up.map_or(after, |d| d.min(after))),
            _ => give_up,
        };
        let result = match give_up {
            Some(give_up) => match tokio::time::timeout(give_up, connect).await {
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
        source: &Container<C>,
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
    async fn call(&self, held: &Held<C>, method: Method, mode: Mode) -> Result<(), String> {
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
                    .map(AgentContext::<C>::me)
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

    /// Calls `method` through `proxy`: its answer (each method answers a
    /// number, or nothing: `None`), decoded as the type the method
    /// answers (bincode cannot decode into any other).
    async fn invoke(
        &self,
        proxy: &Proxy<C>,
        method: Method,
        me: Option<AgentRef>,
    ) -> Result<Option<i64>, RpcError> {
        let unsigned = |r: Result<u64, RpcError>| r.map(|v| i64::try_from(v).ok());
        match method {
            Method::Add(a, b) => proxy.call("add", (a, b)).await.map(Some),
            Method::Nap(ms) => unsigned(proxy.call("nap", (ms,)).await),
            Method::Boom => proxy.call("boom", ()).await.map(Some),
            Method::Relay { to, ms } => {
                let url = format!("{}/0", self.node(to).url);
                unsigned(proxy.call("relay", (url, ms)).await)
            }
            Method::Echo(v) => proxy.call("echo", (v,)).await.map(Some),
            Method::Fail => proxy.call("fail", ("chaos",)).await.map(|()| None),
            // (`call` makes it an `add` where there is no reference to
            // send; bincode would not read an `Option` as the reference.)
            Method::CallBack(ms) => match me {
                Some(me) => unsigned(proxy.call("call_back", (me, ms)).await),
                None => Ok(None),
            },
            Method::Missing => proxy.call("missing", ()).await.map(|()| None),
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

    /// After `container` (node `node`, generation `gen`) is shut down: it
    /// refuses connects and agents, and the pool's proxies from or to it
    /// fail.
    async fn after_shutdown(
        &self,
        container: &Container<C>,
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

    async fn shutdown(&self, node: usize, then: Then, how: How) -> Result<(), String> {
        let Some((container, gen)) = self.container(node) else {
            return Ok(());
        };
        let url = container.url().to_owned();
        let what = || format!("the shutdown ({how:?}) of {url}");
        match how {
            How::Plain => within(what, container.shutdown()).await?,
            How::AbandonedAfterOnePoll => {
                let _ = poll_once(&mut pin!(container.shutdown())).await;
                within(what, container.shutdown()).await?;
            }
            How::GivenUpAfter(d) => {
                let _ = tokio::time::timeout(d, container.shutdown()).await;
                within(what, container.shutdown()).await?;
            }
            How::Twice => {
                let other = tokio::spawn({
                    let container = container.clone();
                    async move { container.shutdown().await }
                });
                within(what, container.shutdown()).await?;
                within(what, other)
                    .await?
                    .map_err(|e| format!("{}: panicked: {e}", what()))?;
            }
            How::DroppedMidway => {
                let gone = self.held_with((node, gen));
                let _ = poll_once(&mut pin!(container.shutdown())).await;
                let taken = self.node(node).container.take();
                if !self.exclusive {
                    // The shutdown closes the server last, and nothing
                    // keeps a second container from starting under the
                    // name meanwhile: both would answer handshakes (the
                    // probe's connect reached the dying one: seed 38 on
                    // MQTT). The shutdown is finished first here.
                    within(what, container.shutdown()).await?;
                }
                drop((taken, container));
                self.stats.count("shutdowns dropped midway");
                self.recreate(node).await?;
                return self.calls_fail(gone).await;
            }
        }
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
                match within(what, proxy.call::<_, i64>("add", (1, 2))).await? {
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
        match within(what, proxy.call::<_, bool>("quit", ())).await? {
            Ok(true) if target.is_shut_down() => self.stats.count("quits answered"),
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
    async fn close_connection(&self, held: Held<C>, abort: bool) -> Result<(), String> {
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
fn check(method: Method, result: Result<Option<i64>, RpcError>) -> Result<(), String> {
    let expected = match method {
        Method::Add(a, b) => Some(a + b),
        Method::Echo(v) => Some(v),
        Method::Nap(ms) | Method::Relay { ms, .. } | Method::CallBack(ms) => i64::try_from(ms).ok(),
        Method::Boom | Method::Fail | Method::Missing => None,
    };
    let may_fail_remotely = matches!(
        method,
        Method::Boom | Method::Fail | Method::Missing | Method::Relay { .. } | Method::CallBack(_)
    );
    match result {
        Ok(value) if value == expected && expected.is_some() => Ok(()),
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
