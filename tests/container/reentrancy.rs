//! A fifth attack pass: handlers that turn on their own container. A
//! handler that shuts its container down or drops its last handle, one that
//! registers agents while calls to them are under way, agents that call
//! themselves through their container's proxy at the concurrency limit, and
//! recursion A→B→A→… deeper than that limit. Every scenario runs on local
//! queues and TCP, on a current-thread and on a multi-thread runtime; the
//! shutdown grace is `Duration::MAX`, so that a wait on anything that can
//! no longer happen is a hang (which the scenario deadline reports), not a
//! grace period running out.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};

use crate::support::{calc, local_pair, Backend};

/// Options that never give up on a peer by themselves, at a tight limit of
/// two handlers per connection.
fn patient(backend: &Backend) -> ContainerOptions {
    let options = backend.options().shutdown_grace(Duration::MAX);
    let channel = options
        .get_channel_options()
        .clone()
        .max_concurrent_requests(2)
        .max_queued_requests(4);
    options.channel_options(channel)
}

async fn container(backend: &Backend, name: &str) -> Container {
    Container::create_with(backend.url(name).as_str(), patient(backend))
        .await
        .expect("container starts")
}

/// A bound on what must end on its own: a hang detector, not a timing
/// claim.
async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// An agent whose `stop` shuts its own container down, notes that the
/// shutdown returned, and answers.
fn stopper(home: Arc<OnceLock<Container>>, returned: Arc<AtomicBool>) -> Router {
    Router::new().method("stop", move |(): ()| {
        let home = home.get().cloned();
        let returned = Arc::clone(&returned);
        async move {
            if let Some(home) = home {
                home.shutdown().await;
                returned.store(true, Ordering::SeqCst);
            }
            Ok::<_, Infallible>(true)
        }
    })
}

/// A handler calls `shutdown()` on its own container, from another
/// container and from the container itself (over its own connection to
/// itself): the call ends (answered or failed with a connection error),
/// the container is shut down, and `shutdown()` returns everywhere. Called
/// from another container, the handler's own `shutdown()` returns to it
/// (its connection is closed last, not under its feet).
pub async fn handler_shuts_down_its_own_container(backend: Backend) {
    for from_itself in [false, true] {
        let a = container(&backend, "a").await;
        let b = container(&backend, "b").await;
        let home = Arc::new(OnceLock::new());
        let returned = Arc::new(AtomicBool::new(false));
        let agent = b.register("Stopper", stopper(Arc::clone(&home), Arc::clone(&returned)));
        let agent = agent.expect("register");
        let _ = home.set(b.clone());
        let caller = if from_itself { &b } else { &a };
        let proxy = caller.connect(agent.url()).await.expect("connect");
        let result = ends("a handler's shutdown", proxy.call::<_, bool>("stop", ())).await;
        match result {
            Ok(answered) => assert!(answered),
            Err(e) => assert!(e.is_connection(), "{e:?}"),
        }
        assert!(b.is_shut_down());
        ends("a second shutdown", b.shutdown()).await;
        if !from_itself {
            assert!(
                returned.load(Ordering::SeqCst),
                "the handler's shutdown returned"
            );
        }
        let again = ends("a call after shutdown", proxy.call::<_, bool>("stop", ())).await;
        assert!(again.is_err(), "{again:?}");
        ends("the caller's shutdown", a.shutdown()).await;
    }
}

/// An agent that holds the only handle of its container and drops it when
/// called: at once (in the handler's first poll, on the connection's
/// driver) or after waiting once (in the connection's serving task).
fn dropper(home: Arc<Mutex<Option<Container>>>) -> Router {
    let later = Arc::clone(&home);
    Router::new()
        .method("drop_now", move |(): ()| {
            drop(home.lock().expect("unpoisoned").take());
            async move { Ok::<_, Infallible>(true) }
        })
        .method("drop_later", move |(): ()| {
            let home = Arc::clone(&later);
            async move {
                tokio::task::yield_now().await;
                drop(home.lock().expect("unpoisoned").take());
                tokio::task::yield_now().await;
                Ok::<_, Infallible>(true)
            }
        })
}

/// A handler drops the last handle of its container: the call ends, the
/// container stops serving (a new connect fails), and a container started
/// again at the same address works.
pub async fn handler_drops_the_last_container_handle(backend: Backend) {
    for method in ["drop_now", "drop_later"] {
        let a = container(&backend, "a").await;
        let b = container(&backend, "b").await;
        let url = b.url().to_owned();
        let home = Arc::new(Mutex::new(None));
        let agent = b.register("Dropper", dropper(Arc::clone(&home)));
        let agent = agent.expect("register");
        let proxy = a.connect(agent.url()).await.expect("connect");
        *home.lock().expect("unpoisoned") = Some(b);
        let result = ends("a call whose handler drops its container", async {
            proxy.call::<_, bool>(method, ()).await
        })
        .await;
        match result {
            Ok(answered) => assert!(answered),
            Err(e) => assert!(e.is_connection(), "{method}: {e:?}"),
        }
        let again = ends(
            "a call to a dropped container",
            proxy.call::<_, bool>(method, ()),
        )
        .await;
        assert!(again.is_err(), "{method}: {again:?}");
        if let Backend::Local(_) = backend {
            // Nobody serves the address any more (a TCP port may be taken
            // by someone else meanwhile).
            let gone = ends("a connect to a dropped container", a.connect(agent.url())).await;
            assert!(gone.is_err(), "{method}: {gone:?}");
        }
        let b = ends("a restart", async {
            Container::create_with(url.as_str(), patient(&backend)).await
        })
        .await
        .expect("a container starts again at the same address");
        let info = b.register("Calc", calc()).expect("register");
        let proxy = ends("a connect", a.connect(info.url()))
            .await
            .expect("connect");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        ends("shutdown", b.shutdown()).await;
        ends("shutdown", a.shutdown()).await;
    }
}

/// Calls to an agent whose handler registers another agent each time, 200
/// at once: every new agent gets an id of its own and is reachable at once,
/// while the calls that made it are still under way.
pub async fn handlers_register_agents_while_called(backend: Backend) {
    const CALLS: usize = 200;
    let a = container(&backend, "a").await;
    let b = container(&backend, "b").await;
    let home = Arc::new(OnceLock::<Container>::new());
    let h = Arc::clone(&home);
    let spawner = Router::new().method("spawn", move |(n,): (i64,)| {
        let home = h.get().cloned();
        async move {
            let home = home.ok_or("no home")?;
            tokio::task::yield_now().await;
            let child = home
                .register(
                    "Child",
                    Router::new().method("n", move |(): ()| async move { Ok::<_, Infallible>(n) }),
                )
                .map_err(|e| e.to_string())?;
            // Reachable while this call is still under way.
            let me = home.connect(child.url()).await.map_err(|e| e.to_string())?;
            let got = me
                .call::<_, i64>("n", ())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((got, child.url().to_owned()))
        }
    });
    let agent = b.register("Spawner", spawner).expect("register");
    let _ = home.set(b.clone());
    let proxy = a.connect(agent.url()).await.expect("connect");
    let calls = (0..CALLS as i64).map(|n| {
        let proxy = proxy.clone();
        tokio::spawn(async move { proxy.call::<_, (i64, String)>("spawn", (n,)).await })
    });
    let calls: Vec<_> = calls.collect();
    let mut urls = std::collections::BTreeSet::new();
    for (n, call) in calls.into_iter().enumerate() {
        let (got, url) = ends("a spawn", call).await.expect("task").expect("spawn");
        assert_eq!(got, n as i64);
        assert!(urls.insert(url), "ids are unique");
    }
    assert_eq!(b.agent_count(), CALLS + 1);
    for (i, url) in urls.iter().enumerate().take(5) {
        let child = a.connect(url).await.expect("connect to a child");
        assert!(child.call::<_, i64>("n", ()).await.is_ok(), "child {i}");
    }
    ends("shutdown", b.shutdown()).await;
    ends("shutdown", a.shutdown()).await;
}

/// `down(n)`: 0 at the bottom, else one more than `down(n - 1)` of the
/// agent at `next` (connected to by URL through `home`).
fn recursive(home: Arc<OnceLock<Container>>, next: Arc<OnceLock<String>>) -> Router {
    Router::new().method("down", move |(n,): (u32,)| {
        let home = home.get().cloned();
        let next = next.get().cloned();
        async move {
            if n == 0 {
                return Ok(0);
            }
            let (home, next) = (home.ok_or("no home")?, next.ok_or("no next")?);
            let proxy = home.connect(&next).await.map_err(|e| e.to_string())?;
            let below = proxy
                .call::<_, u32>("down", (n - 1,))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(below + 1)
        }
    })
}

/// Agents that call themselves through their own container's proxy (by
/// URL), 20 levels deep and 20 such chains at once, at a limit of two
/// handlers per connection; and two agents in two containers calling each
/// other A→B→A→… the same way. All complete.
pub async fn recursion_deeper_than_the_limit(backend: Backend) {
    const DEPTH: u32 = 20;
    const CHAINS: usize = 20;
    let a = container(&backend, "a").await;
    let b = container(&backend, "b").await;
    let (home_a, home_b) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let (next_a, next_b) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let self_next = Arc::new(OnceLock::new());
    let in_a = a.register("Down", recursive(Arc::clone(&home_a), Arc::clone(&next_a)));
    let in_b = b.register("Down", recursive(Arc::clone(&home_b), Arc::clone(&next_b)));
    let selfish = a.register(
        "Self",
        recursive(Arc::clone(&home_a), Arc::clone(&self_next)),
    );
    let (in_a, in_b, selfish) = (
        in_a.expect("register"),
        in_b.expect("register"),
        selfish.expect("register"),
    );
    let _ = (home_a.set(a.clone()), home_b.set(b.clone()));
    let _ = next_a.set(in_b.url().to_owned());
    let _ = next_b.set(in_a.url().to_owned());
    let _ = self_next.set(selfish.url().to_owned());
    for start in [selfish.url(), in_a.url()] {
        let proxy = b.connect(start).await.expect("connect");
        let chains = (0..CHAINS).map(|_| {
            let proxy = proxy.clone();
            tokio::spawn(async move { proxy.call::<_, u32>("down", (DEPTH,)).await })
        });
        let chains: Vec<_> = chains.collect();
        for chain in chains {
            let depth = ends("a recursion", chain).await.expect("task");
            assert_eq!(depth.expect("down"), DEPTH, "from {start}");
        }
    }
    ends("shutdown", a.shutdown()).await;
    ends("shutdown", b.shutdown()).await;
}

/// Shuts its own container down when called.
pub(crate) struct Quitter {
    pub(crate) ctx: agentwire::AgentContext,
}

#[agentwire::agent]
impl Quitter {
    #[expose]
    async fn quit(&self) -> bool {
        if let Some(home) = self.ctx.container() {
            home.shutdown().await;
        }
        true
    }
}

/// Calls back the quitter it is given, over the connection it came on.
pub(crate) struct Caller;

#[agentwire::agent]
impl Caller {
    #[expose]
    async fn call_back(&self, who: QuitterProxy) -> Result<bool, String> {
        who.quit().await.map_err(|e| e.to_string())
    }
}

/// A handler that runs on a connection its container opened (the peer
/// calls back an agent reference passed over it) shuts that container
/// down: the call that passed the reference ends, the container is shut
/// down, and its shutdown returns.
pub async fn callback_shuts_down_the_caller(backend: Backend) {
    let a = container(&backend, "a").await;
    let b = container(&backend, "b").await;
    let caller = a.register_agent(Caller).expect("register");
    let quitter = b
        .register_agent_with(|ctx| Quitter { ctx })
        .expect("register");
    let proxy: CallerProxy = b.connect(caller.url()).await.expect("connect").into();
    let result = ends("a call whose callback shuts the caller down", async {
        proxy.call_back(quitter.reference()).await
    })
    .await;
    if let Err(e) = &result {
        assert!(e.is_connection(), "{e:?}");
    }
    assert!(b.is_shut_down());
    ends("shutdown", b.shutdown()).await;
    ends("shutdown", a.shutdown()).await;
}

/// A handler shuts its container down while another of the container's
/// connections is slow to close (a peer that never reads what it is sent):
/// the handler's own connection is closed only after its `shutdown()` has
/// returned, so the handler is not dropped in the middle of it (it used to
/// be, when its own connection ended before the slow one).
pub async fn handler_shutdown_returns_despite_a_slow_peer(net: transport_local::LocalNetwork) {
    use crate::support::raw_peer::{request_frame, Deaf};
    use transport_api::{Address, Transport};

    let options = ContainerOptions::new()
        .local_network(net.clone())
        .shutdown_grace(Duration::from_millis(100));
    let (a, b) = local_pair(options).await;
    let home = Arc::new(OnceLock::new());
    let returned = Arc::new(AtomicBool::new(false));
    let agent = b.register("Stopper", stopper(Arc::clone(&home), Arc::clone(&returned)));
    let agent = agent.expect("register");
    let _ = home.set(b.clone());
    // A peer that sends three calls and never reads the answers.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let queue = net.get_queue("b").expect("queue");
    let (deaf, _) = queue.create_connection(Deaf(tx)).await.expect("connects");
    rx.recv().await.expect("connected");
    for id in 0..3 {
        let frame = request_frame(id, "validate_aid", &serde_json::json!(["0"]));
        deaf.write(frame).expect("writes");
    }
    let proxy = a.connect(agent.url()).await.expect("connect");
    let result = ends("a handler's shutdown", proxy.call::<_, bool>("stop", ())).await;
    if let Err(e) = &result {
        assert!(e.is_connection(), "{e:?}");
    }
    ends("a second shutdown", b.shutdown()).await;
    assert!(
        returned.load(Ordering::SeqCst),
        "the handler's shutdown returned"
    );
    ends("shutdown", a.shutdown()).await;
}
