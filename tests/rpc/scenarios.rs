//! RPC scenarios, generic over the backend.

use std::convert::Infallible;
use std::io::ErrorKind;
use std::sync::Arc;

use agentwire::channel::{Bincode, ChannelOptions, Json};
use agentwire::rpc::{self, Connection, Router, RpcError};
use futures_util::future::join_all;
use serde_json::json;
use tokio::sync::mpsc;
use transport_api::{Address, Server};

use crate::support::calc;

fn json() -> ChannelOptions<Json> {
    ChannelOptions::new().codec(Json)
}

/// Starts a `calc` server; returns it and its real address.
async fn serve<A>(addr: &A) -> (A::Server, A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let server = rpc::start_server(addr, Arc::new(calc::<Json>()), json(), |_| {})
        .await
        .expect("server starts");
    let real = server.addr();
    (server, real)
}

async fn client<A: Address>(addr: &A) -> Connection {
    Connection::open(addr, Arc::new(Router::<Json>::new()), json())
        .await
        .expect("connects")
}

fn remote(err: RpcError) -> (String, String) {
    match err {
        RpcError::Remote {
            origin, message, ..
        } => (origin, message),
        other => panic!("expected a remote error, got {other:?}"),
    }
}

pub async fn routing<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, addr) = serve(&addr).await;
    let conn = client(&addr).await;
    assert_eq!(conn.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    assert_eq!(
        conn.call::<_, String>("ping", ()).await.expect("ping"),
        "pong"
    );
    assert_eq!(
        conn.call::<_, i64>("math/deep/mul", (6, 7))
            .await
            .expect("mul"),
        42
    );
    let math = conn.proxy("math");
    assert_eq!(math.call::<_, i64>("neg", (5,)).await.expect("neg"), -5);
    assert_eq!(
        conn.proxy("math/deep/")
            .call::<_, i64>("mul", (2, 3))
            .await
            .expect("mul"),
        6
    );
    conn.close().await;
    server.close();
}

pub async fn remote_errors_keep_the_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, addr) = serve(&addr).await;
    let conn = client(&addr).await;
    let expect_remote = |r: Result<serde_json::Value, RpcError>, needles: &[&str]| {
        let err = r.expect_err("a remote error");
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(err.is_remote(), "{err:?}");
        let (origin, message) = remote(err);
        assert!(!origin.is_empty());
        for n in needles {
            assert!(message.contains(n), "{message:?} lacks {n:?}");
        }
    };
    expect_remote(conn.call("nope", ()).await, &["no such method", "nope"]);
    expect_remote(conn.call("math/nope", (1,)).await, &["math/nope"]);
    expect_remote(conn.call("math", (1,)).await, &["math"]);
    expect_remote(conn.call("add/x", (1,)).await, &["add/x"]);
    expect_remote(
        conn.call("add", ("one", 2)).await,
        &["bad arguments", "add"],
    );
    expect_remote(
        conn.call("add", (1,)).await,
        &["expected 2 positional arguments, got 1"],
    );
    expect_remote(
        conn.call("add", (1, 2, 3)).await,
        &["expected 2 positional arguments, got 3 or more"],
    );
    expect_remote(
        conn.call_with_kwargs("add", (1, 2), &json!({"c": 3})).await,
        &["unexpected keyword argument \"c\""],
    );
    expect_remote(conn.call("fail", ("boom",)).await, &["ValueError: boom"]);
    // A malformed request (not [path, args, kwargs]) through the channel.
    let err = conn
        .channel()
        .request::<_, serde_json::Value>(&42)
        .await
        .expect_err("malformed");
    assert!(err.to_string().contains("malformed RPC request"), "{err}");
    // Other shapes a peer may send: each an error reply naming the problem.
    for (content, says) in [
        (json!([123, [], {}]), "malformed RPC request"),
        (json!([]), "malformed RPC request"),
        (json!(["add"]), "bad arguments for \"add\""),
        (
            json!(["add", "not a list", {}]),
            "bad arguments for \"add\"",
        ),
        (json!(["add", [1, 2], []]), "bad arguments for \"add\""),
        (json!(["math/nope/deeper", [], {}]), "no such method"),
        (json!(["", [], {}]), "no such method"),
    ] {
        let err = conn
            .channel()
            .request::<_, serde_json::Value>(&content)
            .await
            .expect_err("an error reply");
        assert!(err.to_string().contains(says), "{content}: {err}");
    }
    // A result of the wrong type is a decode error, here.
    let err = conn
        .call::<_, String>("add", (1, 2))
        .await
        .expect_err("decode");
    assert!(matches!(err, RpcError::Decode { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    // Still usable.
    assert_eq!(conn.call::<_, i64>("add", (2, 2)).await.expect("add"), 4);
    conn.close().await;
    let err = conn
        .call::<_, i64>("add", (1, 2))
        .await
        .expect_err("closed");
    assert!(err.is_connection(), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    server.close();
}

pub async fn keyword_arguments<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, addr) = serve(&addr).await;
    let conn = client(&addr).await;
    let plain: String = conn.call("greet", ("bob",)).await.expect("greet");
    assert_eq!(plain, "hello bob.");
    let loud: String = conn
        .call_with_kwargs("greet", ("bob",), &json!({"punctuation": "!"}))
        .await
        .expect("greet");
    assert_eq!(loud, "hello bob!");
    conn.close().await;
    server.close();
}

pub async fn many_concurrent_calls<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, addr) = serve(&addr).await;
    let conn = client(&addr).await;
    let calls = (0..500i64).map(|i| {
        let conn = conn.clone();
        async move { (i, conn.call::<_, i64>("add", (i, 1000)).await) }
    });
    for (i, result) in join_all(calls).await {
        assert_eq!(result.expect("add"), i + 1000);
    }
    conn.close().await;
    server.close();
}

pub async fn calls_both_ways<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (tx, mut rx) = mpsc::channel(1);
    let server_router: Router = Router::new().method("double", |(n,): (i64,)| async move {
        Ok::<_, Infallible>(n * 2)
    });
    let server = rpc::start_server(&addr, Arc::new(server_router), json(), move |conn| {
        let _ = tx.try_send(conn);
    })
    .await
    .expect("server starts");
    let client_router: Router =
        Router::new().method(
            "whoami",
            |()| async move { Ok::<_, Infallible>("the client") },
        );
    let conn = Connection::open(&server.addr(), Arc::new(client_router), json())
        .await
        .expect("connects");
    let back = rx
        .recv()
        .await
        .expect("the server's side of the connection");
    let (a, b) = tokio::join!(
        conn.call::<_, i64>("double", (21,)),
        back.call::<_, String>("whoami", ()),
    );
    assert_eq!(a.expect("client → server"), 42);
    assert_eq!(b.expect("server → client"), "the client");
    // The server's side does not serve the client's methods and vice versa.
    assert!(back
        .call::<_, i64>("double", (1,))
        .await
        .expect_err("no")
        .is_remote());
    conn.close().await;
    let err = back
        .call::<_, String>("whoami", ())
        .await
        .expect_err("closed");
    assert!(err.is_connection(), "{err:?}");
    server.close();
}

pub async fn bincode_codec<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let options = ChannelOptions::new().codec(Bincode);
    let server = rpc::start_server(&addr, Arc::new(calc::<Bincode>()), options.clone(), |_| {})
        .await
        .expect("server starts");
    let conn = Connection::open(&server.addr(), Arc::new(Router::<Bincode>::new()), options)
        .await
        .expect("connects");
    assert_eq!(conn.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    assert_eq!(
        conn.call::<_, i64>("math/deep/mul", (3, 4))
            .await
            .expect("mul"),
        12
    );
    let echoed: Vec<String> = conn
        .call("echo", (vec!["a".to_owned(), "b".to_owned()],))
        .await
        .expect("echo");
    assert_eq!(echoed, ["a", "b"]);
    let err = conn.call::<_, i64>("add", (1,)).await.expect_err("arity");
    assert!(err.is_remote(), "{err:?}");
    assert!(conn
        .call::<_, ()>("nope", ())
        .await
        .expect_err("path")
        .is_remote());
    assert_eq!(conn.call::<_, i64>("add", (2, 3)).await.expect("add"), 5);
    conn.close().await;
    server.close();
}
