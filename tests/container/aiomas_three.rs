//! Proxies among three parties with the real aiomas 2.0.1
//! (tests/aiomas/three_peer.py). aiomas sends an agent as its router path
//! over the connection it goes over, and only a container's own agents: a
//! proxy passed on to a third party is refused by the sender (aiomas raises
//! `SerializationError`; we return an encoding error naming the proxy), so
//! a path never reaches a container where it would name one of the wrong
//! agents. A proxy whose connection is gone fails its calls at once.

use std::sync::Mutex;
use std::time::Duration;

use agentwire::rpc::Proxy;
use agentwire::{agent, AgentContext, AgentRef, Container, RpcError};
use tokio::sync::Notify;

use crate::support::aiomas::{self, free_port, lines, next_line, script, until_done, Kill};

struct Pinger {
    ctx: AgentContext,
}

#[agent]
impl Pinger {
    #[expose]
    async fn ping(&self, n: i64) -> i64 {
        n + 1
    }

    #[expose]
    async fn me(&self) -> AgentRef {
        self.ctx.me()
    }
}

struct Relay;

#[agent]
impl Relay {
    #[expose]
    async fn call_back(&self, who: Proxy, n: i64) -> Result<i64, String> {
        who.call("ping", (n,)).await.map_err(|e| e.to_string())
    }

    /// Tries to send back a proxy it was given (which aiomas cannot).
    #[expose]
    async fn give(&self, who: Proxy) -> Proxy {
        who
    }

    #[expose]
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// Keeps the proxies it is given; `hold()` never returns.
struct Keeper {
    ctx: AgentContext,
    kept: Mutex<Vec<Proxy>>,
    holding: Notify,
}

#[agent]
impl Keeper {
    #[expose]
    async fn keep(&self, who: Proxy) -> Result<i64, String> {
        let answer = who.call("ping", (1,)).await.map_err(|e| e.to_string())?;
        self.kept.lock().expect("unpoisoned").push(who);
        Ok(answer)
    }

    #[expose]
    async fn me(&self) -> AgentRef {
        self.ctx.me()
    }

    #[expose]
    async fn hold(&self) {
        self.holding.notify_one();
        std::future::pending::<()>().await;
    }
}

/// A Python agent between two Rust containers: it calls R1's agent
/// through both kinds of proxy, cannot pass either on to R2 (aiomas
/// refuses in Python, R2 is never called), and passes its own agent,
/// which R2 calls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_agent_cannot_pass_on_a_proxy_to_a_rust_agent() {
    aiomas::venv().await;
    let r1 = Container::create("tcp://127.0.0.1:0").await.expect("R1");
    let r2 = Container::create("tcp://127.0.0.1:0").await.expect("R2");
    let pinger = r1
        .register_agent_with(|ctx| Pinger { ctx })
        .expect("register");
    let relay = r2.register_agent(Relay).expect("register");
    let mut child = script("three_peer.py", &["middle", pinger.url(), relay.url()]);
    let out = until_done(lines(&mut child), "three_peer.py").await;
    // aiomas refuses in Python: a proxy is no RPC service of its own.
    let refused = "err SerializationError Could not serialize object";
    let why = "No serializer found for type \"<class 'aiomas.rpc.Proxy'>\"";
    assert_eq!(out.len(), 8, "{out:?}");
    assert_eq!(out[..2], ["direct ok 2", "received ok 3"], "{out:?}");
    for (line, what) in out[2..4].iter().zip(["pass_connected", "pass_received"]) {
        let rest = line.strip_prefix(what).unwrap_or_default();
        assert!(
            rest.starts_with(&format!(" {refused}")) && rest.ends_with(why),
            "{what}: {line}"
        );
    }
    // R2 was not called, and it goes on; Python's own agent is called back.
    assert_eq!(out[4..6], ["after ok 7", "own ok 11"], "{out:?}");
    // A proxy as our result: an exception reply naming it, as aiomas's.
    assert!(
        out[6].starts_with("given_back err RemoteException ")
            && out[6].contains("a proxy (to \"agents/0\") cannot be sent"),
        "{out:?}"
    );
    assert_eq!(out[7], "still ok 4", "{out:?}");
    r1.shutdown().await;
    r2.shutdown().await;
}

/// A `three_peer.py serve` container; its base URL (without `/0`).
async fn python_container() -> (Kill, String) {
    let port = free_port().to_string();
    let mut child = script("three_peer.py", &["serve", &port]);
    let url = aiomas::ready_url(lines(&mut child), "three_peer.py").await;
    let base = url.strip_suffix("/0").expect("agent 0").to_owned();
    (child, base)
}

/// The mirror: our container between two Python containers. A proxy to
/// P1's agent (from `connect`, or from a reference P1 sent) cannot be
/// passed on to P2: an encoding error naming it, before anything is sent;
/// both connections go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_agent_cannot_pass_on_a_proxy_to_a_python_agent() {
    aiomas::venv().await;
    let (p1, base1) = python_container().await;
    let (p2, base2) = python_container().await;
    let r = Container::create("tcp://127.0.0.1:0").await.expect("R");
    let connected = r.connect(&format!("{base1}/0")).await.expect("P1");
    let received: Proxy = connected.call("me", ()).await.expect("me");
    assert_eq!(received.prefix(), "agents/0");
    assert_eq!(
        received.call::<_, i64>("ping", (2,)).await.expect("ping"),
        3
    );
    let relay = r.connect(&format!("{base2}/1")).await.expect("P2");
    for (what, proxy) in [("connected", &connected), ("received", &received)] {
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            relay.call::<_, i64>("call_back", (proxy, 5)),
        )
        .await
        .expect("no hang")
        .expect_err("a proxy is not sent on");
        assert!(matches!(err, RpcError::Encode { .. }), "{what}: {err:?}");
        let text = format!(
            "{err}: {}",
            std::error::Error::source(&err).map_or(String::new(), |s| s.to_string())
        );
        assert!(text.contains("cannot be sent"), "{what}: {text}");
        let named = proxy.url().unwrap_or(proxy.prefix());
        assert!(text.contains(named), "{what}: {named} in {text}");
    }
    assert_eq!(
        relay
            .call::<_, i64>("add", (3, 4))
            .await
            .expect("P2 goes on"),
        7
    );
    assert_eq!(
        received
            .call::<_, i64>("ping", (3,))
            .await
            .expect("P1 goes on"),
        4
    );
    r.shutdown().await;
    drop(p1);
    drop(p2);
}

/// Proxies whose connection is gone: ours to a Python agent whose process
/// died, and Python's to our agent when our container shuts down (with a
/// call in flight, and after): errors, at once, no hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_after_their_connection_is_gone() {
    aiomas::venv().await;
    let c = Container::create("tcp://127.0.0.1:0")
        .await
        .expect("container");
    let keeper = c
        .register_agent_with(|ctx| Keeper {
            ctx,
            kept: Mutex::new(Vec::new()),
            holding: Notify::new(),
        })
        .expect("register");

    // Ours, to a Python agent that dies.
    let mut child = script("three_peer.py", &["keep", keeper.url()]);
    let (_rx, line) = next_line(lines(&mut child), "three_peer.py").await;
    assert_eq!(line, "kept 2");
    let kept = keeper.kept.lock().expect("unpoisoned")[0].clone();
    assert_eq!(kept.call::<_, i64>("ping", (5,)).await.expect("alive"), 6);
    drop(child);
    let gone = tokio::time::timeout(Duration::from_secs(20), kept.call::<_, i64>("ping", (1,)))
        .await
        .expect("no hang");
    assert!(matches!(gone, Err(RpcError::Connection { .. })), "{gone:?}");

    // Python's, to our agent, while our container shuts down.
    let mut child = script("three_peer.py", &["hold", keeper.url()]);
    let (rx, line) = next_line(lines(&mut child), "three_peer.py").await;
    assert_eq!(line, "HOLDING");
    tokio::time::timeout(Duration::from_secs(20), keeper.holding.notified())
        .await
        .expect("hold() is called");
    c.shutdown().await;
    let out = until_done(rx, "three_peer.py").await;
    assert_eq!(
        out,
        [
            "hold err ConnectionResetError",
            "after err ConnectionResetError"
        ]
    );
    drop(child);
}
