//! Container scenarios, generic over the backend.

use std::convert::Infallible;
use std::io::ErrorKind;
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerError, RpcError};
use tokio::sync::mpsc;

use crate::support::{calc, Backend};

pub async fn agents_and_urls(backend: Backend) {
    let c = backend.container("a").await;
    let url = c.url().to_owned();
    if let Backend::Tcp | Backend::Tls = backend {
        assert!(!url.ends_with(":0"), "the real port: {url}");
    }
    let first = c.register("Calc", calc()).expect("register");
    let second = c.register("Other", Router::new()).expect("register");
    assert_eq!((first.id(), second.id()), ("0", "1"));
    assert_eq!(first.url(), format!("{url}/0"));
    assert_eq!(second.url(), format!("{url}/1"));
    assert_eq!(second.class_name(), "Other");
    assert_eq!(c.agent_count(), 2);
    c.shutdown().await;
}

pub async fn connect_and_call(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    b.register("Nothing", Router::new()).expect("register");
    let calc = b.register("Calc", calc()).expect("register");
    let proxy = a.connect(calc.url()).await.expect("connect");
    assert_eq!(proxy.class_name(), Some("Calc"));
    assert_eq!(proxy.url(), Some(calc.url()));
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    let value = serde_json::json!({"a": [1, 2.5, "x", null, true]});
    let echoed: serde_json::Value = proxy.call("echo", (&value,)).await.expect("echo");
    assert_eq!(echoed, value);
    let err = proxy
        .call::<_, ()>("fail", ("boom",))
        .await
        .expect_err("fails");
    let message = err.remote_message().expect("remote").to_owned();
    assert!(
        message.contains("ValueError") && message.contains("boom"),
        "{message}"
    );
    let err = proxy
        .call::<_, ()>("nope", ())
        .await
        .expect_err("no method");
    assert!(err.is_remote(), "{err:?}");
    assert_eq!(proxy.call::<_, i64>("add", (2, 2)).await.expect("add"), 4);
    a.shutdown().await;
    b.shutdown().await;
}

pub async fn missing_agent(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    b.register("Calc", calc()).expect("register");
    for aid in ["1", "00", "x"] {
        let url = format!("{}/{aid}", b.url());
        let err = a.connect(&url).await.expect_err("no such agent");
        assert!(
            matches!(&err, ContainerError::AgentNotFound { aid: got, .. } if got == aid),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains(&url), "{err}");
    }
    // The connection is still good for an agent that exists.
    let proxy = a.connect(&format!("{}/0", b.url())).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 1)).await.expect("add"), 2);
    a.shutdown().await;
    b.shutdown().await;
}

pub async fn one_connection_per_container(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let c = backend.container("c").await;
    let b0 = b.register("Calc", calc()).expect("register");
    let b1 = b.register("Calc", calc()).expect("register");
    let c0 = c.register("Calc", calc()).expect("register");
    let p0 = a.connect(b0.url()).await.expect("connect");
    let p1 = a.connect(b1.url()).await.expect("connect");
    let q0 = a.connect(c0.url()).await.expect("connect");
    assert!(p0.connection().ptr_eq(p1.connection()));
    assert!(!p0.connection().ptr_eq(q0.connection()));
    assert_eq!(p1.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    // A lost connection is made again.
    p0.connection().close().await;
    let p2 = a.connect(b0.url()).await.expect("reconnect");
    assert!(!p2.connection().ptr_eq(p0.connection()));
    assert_eq!(p2.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for x in [a, b, c] {
        x.shutdown().await;
    }
}

/// An agent of `b` that, when called, calls an agent of `a` back.
pub async fn agents_call_each_other(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let a_calc = a.register("Calc", calc()).expect("register");
    let b_handle = b.clone();
    let a_url = a_calc.url().to_owned();
    let relay = Router::new().method("sum3", move |(x, y, z): (i64, i64, i64)| {
        let b = b_handle.clone();
        let a_url = a_url.clone();
        async move {
            let back = b.connect(&a_url).await.map_err(|e| e.to_string())?;
            let xy: i64 = back.call("add", (x, y)).await.map_err(|e| e.to_string())?;
            back.call::<_, i64>("add", (xy, z))
                .await
                .map_err(|e| e.to_string())
        }
    });
    let relay = b.register("Relay", relay).expect("register");
    let proxy = a.connect(relay.url()).await.expect("connect");
    assert_eq!(
        proxy.call::<_, i64>("sum3", (1, 2, 3)).await.expect("sum3"),
        6
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// A router whose `hold` method reports that it started, then never
/// returns.
fn holding(started: mpsc::Sender<()>) -> Router {
    Router::new().method("hold", move |()| {
        let started = started.clone();
        async move {
            let _ = started.send(()).await;
            std::future::pending::<Result<(), Infallible>>().await
        }
    })
}

fn expect_connection_error(result: Result<(), RpcError>) {
    let err = result.expect_err("the call fails");
    assert!(err.is_connection(), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

pub async fn shutdown_fails_calls_in_flight(backend: Backend) {
    let a = backend.container("a").await;
    // Checked to be refused once shut down: a port no other test's
    // listener (or connection) takes meanwhile.
    let b = Container::create_with(backend.restartable_url("b").as_str(), backend.options())
        .await
        .expect("container starts");
    let (tx, mut started) = mpsc::channel(1);
    let agent = b.register("Holder", holding(tx)).expect("register");
    let proxy = a.connect(agent.url()).await.expect("connect");
    let call = tokio::spawn(async move { proxy.call::<_, ()>("hold", ()).await });
    started.recv().await.expect("the call is in flight");
    b.shutdown().await;
    expect_connection_error(call.await.expect("task"));
    assert!(b.is_shut_down());
    assert!(matches!(
        b.register("Late", Router::new()),
        Err(ContainerError::ShutDown)
    ));
    let err = b.connect(agent.url()).await.expect_err("shut down");
    assert!(matches!(err, ContainerError::ShutDown), "{err:?}");
    // Its server is gone: connecting to it now fails.
    let err = a.connect(agent.url()).await.expect_err("b is gone");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::NotFound
        ),
        "{err:?}"
    );
    b.shutdown().await; // idempotent
    a.shutdown().await;
}

pub async fn shutdown_of_the_caller(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let (tx, mut started) = mpsc::channel(1);
    let agent = b.register("Holder", holding(tx)).expect("register");
    let proxy = a.connect(agent.url()).await.expect("connect");
    let call = tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.call::<_, ()>("hold", ()).await }
    });
    started.recv().await.expect("the call is in flight");
    a.shutdown().await;
    expect_connection_error(call.await.expect("task"));
    expect_connection_error(proxy.call::<_, ()>("hold", ()).await);
    b.shutdown().await;
}

pub async fn connect_retries_until_the_container_exists(backend: Backend) {
    let a = backend.container("a").await;
    let b_url = match &backend {
        // TCP: a free port for the late container, below the ephemeral
        // range (no other test's listener or connection takes it while it
        // is checked to be refused).
        Backend::Tcp | Backend::Tls => backend.restartable_url("late"),
        _ => backend.url("late"),
    };
    // Once: refused.
    let err = a
        .connect(&format!("{b_url}/0"))
        .await
        .expect_err("nobody there");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::NotFound
        ),
        "{err:?}"
    );
    // With a retry timeout: waits for the container to appear.
    let connecting = tokio::spawn({
        let a = a.clone();
        let url = format!("{b_url}/0");
        async move {
            a.connect_with_timeout(&url, Some(Duration::from_secs(10)))
                .await
        }
    });
    let b = Container::create_with(b_url.as_str(), backend.options())
        .await
        .expect("late container starts");
    b.register("Calc", calc()).expect("register");
    let proxy = connecting.await.expect("task").expect("connects");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    a.shutdown().await;
    b.shutdown().await;
}
