//! A fifth attack pass: races that need true concurrency (they run on a
//! multi-thread runtime as well): `shutdown` against a thousand `connect`s
//! and calls, concurrent first connects to one remote container, `create`
//! at an address whose previous container is still shutting down, and
//! proxies and connections used after their container went away.

use std::convert::Infallible;
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerError};

use crate::support::{calc, Backend};

async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// Both containers are shut down (twice each, at once) while a thousand
/// tasks connect and call from one to the other: every task ends with a
/// result or an error naming a lost connection or the shutdown, nothing
/// panics, and neither container accepts a connect afterwards.
pub async fn shutdown_races_a_thousand_connects(backend: Backend) {
    const TASKS: u64 = 1000;
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let agent = Router::new().method("echo", |(n,): (u64,)| async move {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(n)
    });
    let info = b.register("Echo", agent).expect("register");
    let back = a.register("Calc", calc()).expect("register");
    let url = info.url().to_owned();
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let (from, to) = if n % 2 == 0 {
            (a.clone(), url.clone())
        } else {
            (b.clone(), back.url().to_owned())
        };
        tasks.push(tokio::spawn(async move {
            match from.connect(&to).await {
                Ok(proxy) => {
                    let method = if n % 2 == 0 { "echo" } else { "add" };
                    let args = (n,);
                    let r = if n % 2 == 0 {
                        proxy.call::<_, u64>(method, args).await.map(|_| ())
                    } else {
                        proxy.call::<_, i64>(method, (1, 2)).await.map(|_| ())
                    };
                    if let Err(e) = r {
                        assert!(e.is_connection(), "{e:?}");
                    }
                }
                Err(ContainerError::ShutDown) => {}
                Err(ContainerError::Connect { source, .. }) => {
                    assert!(source.is_connection(), "{source:?}");
                }
                Err(other) => panic!("{other:?}"),
            }
        }));
    }
    tokio::task::yield_now().await;
    let shutdowns = [a.clone(), a.clone(), b.clone(), b.clone()]
        .map(|c| tokio::spawn(async move { c.shutdown().await }));
    for task in tasks {
        ends("a connect or call", task)
            .await
            .expect("no task panics");
    }
    for s in shutdowns {
        ends("a shutdown", s).await.expect("no shutdown panics");
    }
    assert!(matches!(
        a.connect(&url).await,
        Err(ContainerError::ShutDown)
    ));
    assert!(matches!(
        b.connect(back.url()).await,
        Err(ContainerError::ShutDown)
    ));
}

/// A hundred tasks connect to the same remote container at once, none
/// connected before: all get a proxy, all over one connection.
pub async fn concurrent_first_connects_share_one_connection(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let first = b.register("Calc", calc()).expect("register");
    let second = b.register("Calc", calc()).expect("register");
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let a = a.clone();
            let url = if n % 2 == 0 {
                first.url()
            } else {
                second.url()
            }
            .to_owned();
            tokio::spawn(async move { a.connect(&url).await })
        })
        .collect();
    let mut proxies = Vec::new();
    for task in tasks {
        proxies.push(
            ends("a connect", task)
                .await
                .expect("task")
                .expect("connect"),
        );
    }
    for p in &proxies {
        assert!(
            p.connection().ptr_eq(proxies[0].connection()),
            "one connection per remote container"
        );
    }
    assert_eq!(
        proxies[1].call::<_, i64>("add", (1, 2)).await.expect("add"),
        3
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// A container is created at the address of one that is shutting down
/// (its shutdown waits for a handler that never ends, on a connection it
/// aborts only after its grace period): the new one either starts, and then
/// works once the old shutdown is over, or fails with an error naming the
/// address in use. Never a panic or a hang.
pub async fn create_where_the_previous_container_shuts_down(backend: Backend) {
    for _ in 0..5 {
        let a = backend.container("a").await;
        let options = backend.options().shutdown_grace(Duration::from_millis(200));
        let b = Container::create_with(backend.url("b").as_str(), options.clone())
            .await
            .expect("b starts");
        let url = b.url().to_owned();
        let hold = Router::new().method("hold", |(): ()| async move {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(())
        });
        let info = b.register("Holder", hold).expect("register");
        let proxy = a.connect(info.url()).await.expect("connect");
        let held = tokio::spawn(async move { proxy.call::<_, ()>("hold", ()).await });
        let old = tokio::spawn({
            let b = b.clone();
            async move { b.shutdown().await }
        });
        let mut started = None;
        for _ in 0..1000 {
            match Container::create_with(url.as_str(), options.clone()).await {
                Ok(c) => {
                    started = Some(c);
                    break;
                }
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
                    tokio::task::yield_now().await;
                }
            }
        }
        ends("the old shutdown", old).await.expect("no panic");
        let held = ends("a held call", held).await.expect("no panic");
        assert!(held.is_err(), "{held:?}");
        let new = match started {
            Some(c) => c,
            None => Container::create_with(url.as_str(), options.clone())
                .await
                .expect("starts once the old one is gone"),
        };
        let info = new.register("Calc", calc()).expect("register");
        let proxy = ends("a connect", a.connect(info.url()))
            .await
            .expect("connect");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        new.shutdown().await;
        a.shutdown().await;
        drop(b);
    }
}

/// Proxies, their connections and agent contexts used after their
/// container was shut down, or dropped: errors at once, never a hang or a
/// panic; closing and aborting such a connection returns.
pub async fn proxies_after_their_container_is_gone(backend: Backend) {
    for drop_it in [false, true] {
        let a = backend.container("a").await;
        let b = backend.container("b").await;
        let info = b.register("Calc", calc()).expect("register");
        let proxy = a.connect(info.url()).await.expect("connect");
        let own = a.register("Calc", calc()).expect("register");
        let to_self = a.connect(own.url()).await.expect("connect to itself");
        let typed = a
            .register_agent_with(|ctx| crate::reentrancy::Quitter { ctx })
            .expect("register");
        if drop_it {
            drop(a);
        } else {
            ends("shutdown", a.shutdown()).await;
        }
        for p in [&proxy, &to_self] {
            let err = ends("a call", p.call::<_, i64>("add", (1, 2))).await;
            assert!(err.expect_err("gone").is_connection());
            let conn = p.connection();
            assert!(
                conn.is_closed() || ends("a call", conn.call::<_, i64>("x", ())).await.is_err()
            );
            ends("close", conn.close()).await;
            ends("abort", conn.abort()).await;
            let sub = p.sub("inner");
            assert!(ends("a call", sub.call::<_, ()>("x", ())).await.is_err());
        }
        let from_agent = ends("an agent's connect", typed.context().connect(info.url())).await;
        assert!(
            matches!(from_agent, Err(ContainerError::ShutDown)),
            "{from_agent:?}"
        );
        assert_eq!(typed.context().container().is_none(), drop_it);
        ends("shutdown", b.shutdown()).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Containers, proxies and connections made on a runtime that is then
/// dropped (its tasks, the connections' drivers among them, are dropped
/// without ending their connections), used on another runtime: calls fail
/// at once, and closing, aborting and shutting down return instead of
/// waiting for a loss that no driver is left to report. (A container kept
/// in a `static` and used by two `#[tokio::test]`s is such a case.)
#[test]
fn connections_outlive_their_runtime() {
    for backend in [Backend::local(), Backend::Tcp] {
        let first = runtime();
        let (a, b, proxy) = first.block_on(async {
            let a = backend.container("a").await;
            let b = backend.container("b").await;
            let info = b.register("Calc", calc()).expect("register");
            let proxy = a.connect(info.url()).await.expect("connect");
            assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
            (a, b, proxy)
        });
        drop(first);
        let second = runtime();
        second.block_on(async {
            let err = ends("a call", proxy.call::<_, i64>("add", (1, 2))).await;
            assert!(err.expect_err("no driver").is_connection());
            let conn = proxy.connection();
            ends("close", conn.close()).await;
            ends("abort", conn.abort()).await;
            assert!(conn.channel().lost_error().is_some());
            ends("shutdown", a.shutdown()).await;
            ends("shutdown", b.shutdown()).await;
        });
    }
}

/// Hundreds of `connect`s given up on at arbitrary points (their futures
/// dropped after a few microseconds, or polled once), on four threads,
/// while the remote container is restarted at the same address: the
/// connection cache is never left locked or holding a dead connection, so
/// that a `connect` afterwards reaches the new container and its agents.
pub async fn connects_given_up_at_any_point(backend: Backend) {
    let a = backend.container("a").await;
    let mut b = backend.container("b").await;
    let url = b.url().to_owned();
    b.register("Calc", calc()).expect("register");
    let agent = format!("{url}/0");
    for round in 0..3u64 {
        let tasks: Vec<_> = (0..200u64)
            .map(|n| {
                let (a, agent) = (a.clone(), agent.clone());
                tokio::spawn(async move {
                    let give_up = Duration::from_micros((n * 7 + round) % 60);
                    if let Ok(Ok(p)) = tokio::time::timeout(give_up, a.connect(&agent)).await {
                        let call = p.call::<_, i64>("add", (1, 2));
                        let _ = tokio::time::timeout(give_up, call).await;
                    }
                })
            })
            .collect();
        if round > 0 {
            // The remote container restarts while the connects are under way.
            b.shutdown().await;
            b = loop {
                match Container::create_with(url.as_str(), backend.options()).await {
                    Ok(c) => break c,
                    Err(_) => tokio::task::yield_now().await,
                }
            };
            b.register("Calc", calc()).expect("register");
        }
        for t in tasks {
            ends("a connect given up", t).await.expect("no task panics");
        }
        let proxy = ends("a connect", a.connect(&agent))
            .await
            .expect("connects after the storm");
        let sum = ends("a call", proxy.call::<_, i64>("add", (1, 2))).await;
        assert_eq!(sum.expect("add"), 3, "round {round}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A peer that never reads, and says when its connection is lost.
struct DeafWitness {
    connected: tokio::sync::mpsc::UnboundedSender<transport_api::SharedTransport>,
    lost: tokio::sync::mpsc::UnboundedSender<()>,
}

impl transport_api::Protocol for DeafWitness {
    fn connection_made(&mut self, transport: transport_api::SharedTransport) {
        transport.pause_reading();
        let _ = self.connected.send(transport);
    }
    fn data_received(&mut self, _: bytes::Bytes) {}
    fn connection_lost(&mut self, _: Option<transport_api::Error>) {
        let _ = self.lost.send(());
    }
}

/// The first `shutdown()` is given up on (its future dropped) while a
/// peer that never reads holds a connection open: a second `shutdown()`
/// still returns only once that connection is closed (aborted after the
/// grace period), not at once with the work left undone.
pub async fn a_shutdown_given_up_on_is_finished_by_the_next(net: transport_local::LocalNetwork) {
    use crate::support::raw_peer::request_frame;
    use transport_api::{Address, Transport};

    let options = agentwire::ContainerOptions::new()
        .local_network(net.clone())
        .shutdown_grace(Duration::from_millis(100));
    let b = Container::create_with("local://b", options)
        .await
        .expect("b starts");
    // `mark` tells the test it ran: requests on one connection are
    // dispatched in order, so the answers to those before it are written.
    let (marked, mut marks) = tokio::sync::mpsc::unbounded_channel();
    let marker = Router::new()
        .method("mark", move |()| {
            let _ = marked.send(());
            async move { Ok::<_, Infallible>(()) }
        })
        // An answer larger than the high-water mark: a close cannot hand
        // it off to a peer that does not read, so the close waits.
        .method("big", |()| async {
            Ok::<_, Infallible>("x".repeat(256 << 10))
        });
    b.register("Marker", marker).expect("register");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (lost_tx, mut lost) = tokio::sync::mpsc::unbounded_channel();
    let witness = DeafWitness {
        connected: tx,
        lost: lost_tx,
    };
    let queue = net.get_queue("b").expect("queue");
    let (deaf, _) = queue.create_connection(witness).await.expect("connects");
    rx.recv().await.expect("connected");
    for id in 0..3 {
        let frame = request_frame(id, "validate_aid", &serde_json::json!(["0"]));
        deaf.write(frame).expect("writes");
    }
    deaf.write(request_frame(3, "agents/0/big", &serde_json::json!([])))
        .expect("writes");
    deaf.write(request_frame(4, "agents/0/mark", &serde_json::json!([])))
        .expect("writes");
    // The four answers are written (and never read).
    marks.recv().await.expect("marked");
    let given_up = tokio::time::timeout(Duration::from_millis(1), b.shutdown()).await;
    assert!(
        given_up.is_err(),
        "the first shutdown waits for the grace period"
    );
    ends("a second shutdown", b.shutdown()).await;
    // Aborted, not handed off: the peer, which reads nothing, learns of the
    // end (its own driver tells it, on whichever thread it runs).
    ends("the peer's connection_lost", lost.recv())
        .await
        .expect("the peer's connection is closed");
}

/// The last handle of a container is dropped while tasks on other threads
/// call its agents and it calls theirs: every call ends, answered or
/// failed with a connection error; none hangs.
pub async fn last_handle_dropped_during_calls(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let slow = Router::new().method("slow", |(n,): (u64,)| async move {
        for _ in 0..n % 5 {
            tokio::task::yield_now().await;
        }
        Ok::<_, Infallible>(n)
    });
    let in_b = b.register("Slow", slow).expect("register");
    let in_a = a.register("Calc", calc()).expect("register");
    let to_b = a.connect(in_b.url()).await.expect("connect");
    let to_a = b.connect(in_a.url()).await.expect("connect");
    let mut tasks = Vec::new();
    for n in 0..500u64 {
        let (to_a, to_b) = (to_a.clone(), to_b.clone());
        tasks.push(tokio::spawn(async move {
            let r = to_b.call::<_, u64>("slow", (n,)).await;
            if let Err(e) = r {
                assert!(e.is_connection(), "{e:?}");
            }
            let r = to_a.call::<_, i64>("add", (1, 2)).await;
            if let Err(e) = r {
                assert!(e.is_connection(), "{e:?}");
            }
        }));
    }
    tokio::task::yield_now().await;
    drop(b);
    for t in tasks {
        ends("a call to a dropped container", t)
            .await
            .expect("no task panics");
    }
    let after = ends("a call after", to_b.call::<_, u64>("slow", (1,))).await;
    assert!(after.expect_err("dropped").is_connection());
    drop(to_a);
    ends("shutdown", a.shutdown()).await;
}
