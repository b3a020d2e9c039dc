//! Agents of one container that call each other through their container,
//! nested deeper and wider than the window of pending requests and the
//! limit of handlers: a chain (each agent calls the next and waits) and a
//! tree (each call makes two at once). The calls go over the container's
//! connection to itself, which carries only the container's own calls, so
//! neither bound holds them up there: the recursion completes, as in
//! aiomas. (Between two containers the window still bounds the depth: see
//! `ChannelOptions::max_pending_requests`.) And a peer cannot pass its
//! connection off as the container's own.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agentwire::rpc::{Proxy, Router};
use agentwire::{Container, ContainerOptions};

use crate::support::Backend;

/// Options at a window of `window` pending requests, two handlers per
/// connection and four queued requests, and no grace that could end a
/// wait by itself.
fn tight(backend: &Backend, window: usize) -> ContainerOptions {
    let options = backend.options().shutdown_grace(Duration::MAX);
    let channel = options
        .get_channel_options()
        .clone()
        .max_pending_requests(window)
        .max_concurrent_requests(2)
        .max_queued_requests(4);
    options.channel_options(channel)
}

/// A bound on what must end on its own: a hang detector, not a timing
/// claim.
async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// Where an agent is: its container (to connect through) and its URL,
/// both set once the agent is registered.
#[derive(Clone, Default)]
struct Me {
    home: Arc<OnceLock<Container>>,
    url: Arc<OnceLock<String>>,
}

impl Me {
    /// A proxy to the agent itself, through its container.
    async fn proxy(&self) -> Result<Proxy, String> {
        let home = self.home.get().ok_or("no home")?;
        let url = self.url.get().ok_or("no url")?;
        home.connect(url).await.map_err(|e| e.to_string())
    }
}

/// Methods that call the agent `me` (this agent, through its container):
/// `down(n)` is 0 at the bottom, else one more than `down(n - 1)`;
/// `tree(n)` is 1 at the bottom, else `tree(n - 1)` twice, both calls at
/// once, added.
fn recursive(me: &Me) -> Router {
    let (me, me2) = (me.clone(), me.clone());
    Router::new()
        .method("down", move |(n,): (u32,)| {
            let me = me.clone();
            async move {
                if n == 0 {
                    return Ok(0);
                }
                let below = me.proxy().await?.call::<_, u32>("down", (n - 1,)).await;
                Ok::<_, String>(below.map_err(|e| e.to_string())? + 1)
            }
        })
        .method("tree", move |(n,): (u32,)| {
            let me = me2.clone();
            async move {
                if n == 0 {
                    return Ok(1);
                }
                let proxy = me.proxy().await?;
                let (left, right) = tokio::join!(
                    proxy.call::<_, u64>("tree", (n - 1,)),
                    proxy.call::<_, u64>("tree", (n - 1,)),
                );
                let (left, right) = (left.map_err(|e| e.to_string())?, right);
                Ok::<_, String>(left + right.map_err(|e| e.to_string())?)
            }
        })
}

/// A chain 40 deep (five at once) and a tree of 127 calls in flight, at
/// windows of one and three pending requests and two handlers per
/// connection; called from the container itself and from another one.
/// Afterwards nothing is pending or running on the container's
/// connection to itself.
pub async fn nested_deeper_and_wider_than_the_window(backend: Backend) {
    const DEPTH: u32 = 40;
    const CHAINS: usize = 5;
    const TREE: u32 = 6;
    for window in [1, 3] {
        let options = tight(&backend, window);
        let (url_a, url_b) = (backend.url("a"), backend.url("b"));
        let a = Container::create_with(url_a.as_str(), options.clone());
        let a = a.await.expect("a starts");
        let b = Container::create_with(url_b.as_str(), options);
        let b = b.await.expect("b starts");
        let me = Me::default();
        let agent = a.register("Rec", recursive(&me)).expect("register");
        let _ = (me.home.set(a.clone()), me.url.set(agent.url().to_owned()));
        for (from, caller) in [("a itself", &a), ("b", &b)] {
            let proxy = caller.connect(agent.url()).await.expect("connect");
            let chains: Vec<_> = (0..CHAINS)
                .map(|_| {
                    let proxy = proxy.clone();
                    tokio::spawn(async move { proxy.call::<_, u32>("down", (DEPTH,)).await })
                })
                .collect();
            for chain in chains {
                let depth = ends("a chain", chain).await.expect("task");
                assert_eq!(depth.expect("down"), DEPTH, "window {window}, from {from}");
            }
            let leaves = ends("a tree", proxy.call::<_, u64>("tree", (TREE,))).await;
            assert_eq!(
                leaves.expect("tree"),
                1 << TREE,
                "window {window}, from {from}"
            );
        }
        let own = a.connect(agent.url()).await.expect("connect");
        let conn = own.connection();
        assert_eq!(conn.channel().pending_requests(), 0, "window {window}");
        assert_eq!(conn.running_handlers(), 0, "window {window}");
        ends("shutdown", a.shutdown()).await;
        ends("shutdown", b.shutdown()).await;
    }
}

/// A peer that calls the root method by which a container marks its
/// connection to itself, with a token of its own, is told no (and a
/// malformed call is an error reply); the connection serves on.
pub async fn a_peer_cannot_pass_for_the_container_itself(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let agent = a
        .register("Calc", crate::support::calc())
        .expect("register");
    let proxy = b.connect(agent.url()).await.expect("connect");
    let conn = proxy.connection();
    for guess in ["", "0123456789abcdef0123456789abcdef", "x"] {
        let answer = conn.call::<_, bool>("agentwire_loopback", (guess,)).await;
        assert!(!answer.expect("answered"), "guess {guess:?}");
    }
    let malformed = conn.call::<_, bool>("agentwire_loopback", (1, 2)).await;
    assert!(malformed.expect_err("bad arguments").is_remote());
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    // The container still reaches itself.
    let own = a.connect(agent.url()).await.expect("connect to itself");
    assert_eq!(own.call::<_, i64>("add", (2, 2)).await.expect("add"), 4);
    a.shutdown().await;
    b.shutdown().await;
}

/// [`nested_deeper_and_wider_than_the_window`] on the backends that
/// `on_both_runtimes` leaves out (Unix sockets, TLS, the wrapped backend,
/// MQTT), on one thread.
pub async fn nested_beyond_the_window_elsewhere(backend: Backend) {
    nested_deeper_and_wider_than_the_window(backend).await;
}
