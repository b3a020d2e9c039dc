//! A peer that accepts connections and never answers: `connect` ends with
//! `NoAnswer` after the handshake timeout (it used to wait forever), lets
//! go of that connection, and the container goes on connecting elsewhere.

use std::io::ErrorKind;
use std::time::Duration;

use agentwire::{Container, ContainerError, ContainerOptions};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::support::calc;

/// Accepts one connection, reads what comes and answers nothing; returns
/// how many bytes it read before the connection ended.
async fn silent_server() -> (String, tokio::task::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("tcp://{}/0", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        let mut read = 0;
        while let Ok(n @ 1..) = socket.read(&mut buf).await {
            read += n;
        }
        read
    });
    (url, task)
}

#[tokio::test(flavor = "current_thread")]
async fn connect_to_a_peer_that_never_answers_times_out_and_lets_go() {
    let (url, server) = silent_server().await;
    let options = ContainerOptions::new().handshake_timeout(Some(Duration::from_millis(200)));
    let a = Container::create_with("tcp://127.0.0.1:0", options)
        .await
        .expect("container");
    let err = tokio::time::timeout(Duration::from_secs(20), a.connect(&url))
        .await
        .expect("connect ends")
        .expect_err("no answer");
    assert!(
        matches!(&err, ContainerError::NoAnswer { url: u, waited } if *u == url && *waited == Duration::from_millis(200)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(err.to_string().contains(&url), "{err}");
    // The connection is let go of: the silent server sees it end, after
    // the validate_aid request it never answered.
    let read = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("the connection ends")
        .expect("server task");
    assert!(read > 4, "a validate_aid frame arrived ({read} bytes)");
    // And the container connects elsewhere as before.
    let b = Container::create("tcp://127.0.0.1:0").await.expect("b");
    let agent = b.register("Calc", calc()).expect("register");
    let proxy = a.connect(agent.url()).await.expect("connects to b");
    assert_eq!(proxy.call::<_, i64>("add", (2, 3)).await.expect("add"), 5);
    a.shutdown().await;
    b.shutdown().await;
}

/// `handshake_timeout(None)` waits as aiomas does: still waiting when the
/// caller gives up.
#[tokio::test(flavor = "current_thread")]
async fn without_a_handshake_timeout_connect_waits() {
    let (url, _server) = silent_server().await;
    let a = Container::create_with(
        "tcp://127.0.0.1:0",
        ContainerOptions::new().handshake_timeout(None),
    )
    .await
    .expect("container");
    assert_eq!(a.options().get_handshake_timeout(), None);
    let waited = tokio::time::timeout(Duration::from_millis(300), a.connect(&url)).await;
    assert!(waited.is_err(), "still waiting: {waited:?}");
    assert_eq!(
        ContainerOptions::new().get_handshake_timeout(),
        Some(ContainerOptions::<agentwire::channel::Json>::DEFAULT_HANDSHAKE_TIMEOUT)
    );
    a.shutdown().await;
}
