//! Request/reply scenarios, written once for every backend.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::{Channel, ChannelError, ChannelOptions, Json};
use futures_util::future::join_all;
use tokio::sync::{mpsc, Notify};
use transport_api::{Address, Server};

use crate::support::{op, serve};

/// Replies, remote errors, dropped requests and codec errors; the channel
/// stays usable after each.
pub async fn round_trip<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    for_codec(&addr, ChannelOptions::new()).await;
    for_codec(&addr, ChannelOptions::new().codec(Json)).await;
}

async fn for_codec<A, C>(addr: &A, options: ChannelOptions<C>)
where
    A: Address,
    A::Server: Server<Addr = A>,
    C: agentwire::channel::Codec,
{
    let (server, addr, _errors) = serve(addr, options.clone().max_frame_size(1 << 16)).await;
    let ch = Channel::open_connection(&addr, options.clone())
        .await
        .expect("connects");
    assert!(ch.peer_addr().is_some());

    let n: i64 = ch.request(&op("double", 21)).await.expect("reply");
    assert_eq!(n, 42);
    let s: String = ch.request(&op("text", 5)).await.expect("reply");
    assert_eq!(s, "n=5");

    let err = ch
        .request::<_, i64>(&op("fail", 7))
        .await
        .expect_err("fails");
    match &err {
        ChannelError::Remote { origin, message } => {
            assert!(message.contains("failing on purpose: 7"), "{message}");
            assert!(!origin.is_empty());
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    let err = ch
        .request::<_, i64>(&op("drop", 0))
        .await
        .expect_err("dropped");
    assert!(
        matches!(&err, ChannelError::Remote { message, .. } if message.contains("dropped without a reply")),
        "{err:?}"
    );

    // A reply of the wrong type is an error for that request only.
    let err = ch
        .request::<_, Vec<String>>(&op("double", 1))
        .await
        .expect_err("wrong type");
    assert!(matches!(err, ChannelError::Codec { .. }), "{err:?}");
    // A request the server cannot decode is answered with an exception.
    let err = ch
        .request::<_, i64>(&"not an op")
        .await
        .expect_err("bad op");
    assert!(matches!(err, ChannelError::Remote { .. }), "{err:?}");
    // A reply above the server's frame limit becomes an exception.
    let big: Vec<u8> = ch.request(&op("big", 1000)).await.expect("fits");
    assert_eq!(big.len(), 1000);
    let err = ch
        .request::<_, Vec<u8>>(&op("big", 100_000))
        .await
        .expect_err("too large for the server");
    assert!(
        matches!(&err, ChannelError::Remote { message, .. } if message.contains("exceeds the maximum frame size")),
        "{err:?}"
    );

    // Too large to send: refused locally, the channel goes on.
    let tiny = Channel::open_connection(&addr, options.clone().max_frame_size(64))
        .await
        .expect("connects");
    let err = tiny
        .request::<_, i64>(&("x".repeat(100), 1i64))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, ChannelError::FrameTooLarge { max: 64, size } if size > 64),
        "{err:?}"
    );
    let n: i64 = tiny.request(&op("double", 2)).await.expect("still works");
    assert_eq!(n, 4);

    let n: i64 = ch.request(&op("double", -3)).await.expect("still works");
    assert_eq!(n, -6);
    assert_eq!(ch.pending_requests(), 0);
    ch.close().await;
    tiny.close().await;
    server.close();
}

/// Both ends send requests over one connection, at the same time.
pub async fn both_directions<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (tx, mut rx) = mpsc::channel::<i64>(4);
    let server = Channel::start_server(
        &addr,
        move |ch: Channel| {
            let tx = tx.clone();
            async move {
                // Ask the client first, then serve it.
                let asked = ch.clone();
                let tx2 = tx.clone();
                tokio::spawn(async move {
                    let answer: i64 = asked
                        .request(&op("double", 50))
                        .await
                        .expect("client answers");
                    let _ = tx2.send(answer).await;
                });
                while let Ok(req) = ch.recv().await {
                    tokio::spawn(crate::support::handle(req));
                }
            }
        },
        ChannelOptions::new(),
    )
    .await
    .expect("server starts");
    let ch = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let serving = ch.clone();
    let client_service = tokio::spawn(async move {
        while let Ok(req) = serving.recv().await {
            tokio::spawn(crate::support::handle(req));
        }
    });
    let n: i64 = ch.request(&op("double", 4)).await.expect("server answers");
    assert_eq!(n, 8);
    assert_eq!(rx.recv().await, Some(100));
    ch.close().await;
    client_service.await.expect("service ends");
    server.close();
}

/// 1,000 concurrent requests on one channel, answered in reverse order:
/// each gets its own reply.
pub async fn thousand_concurrent<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const N: usize = 1000;
    let server = Channel::start_server(
        &addr,
        |ch: Channel| async move {
            let mut held = Vec::with_capacity(N);
            for _ in 0..N {
                held.push(ch.recv().await.expect("request"));
            }
            while let Some(req) = held.pop() {
                let n: i64 = req.content().expect("an i64");
                req.reply(&(n * 3 + 1)).await.expect("reply sent");
            }
            ch.closed().await;
        },
        ChannelOptions::new(),
    )
    .await
    .expect("server starts");
    let ch = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let calls = (0..N as i64).map(|n| {
        let ch = &ch;
        async move { (n, ch.request::<_, i64>(&n).await) }
    });
    for (n, reply) in join_all(calls).await {
        assert_eq!(reply.expect("reply"), n * 3 + 1, "request {n}");
    }
    assert_eq!(ch.pending_requests(), 0);
    ch.close().await;
    server.close();
}

/// The peer closes the connection: every pending request and a waiting
/// `recv` fail with a connection error, and later calls fail at once.
pub async fn connection_loss<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let server = Channel::start_server(
        &addr,
        |ch: Channel| async move {
            let mut held = Vec::new();
            for _ in 0..3 {
                held.push(ch.recv().await.expect("request"));
            }
            // Close with three requests unanswered.
            ch.close().await;
            drop(held);
        },
        ChannelOptions::new(),
    )
    .await
    .expect("server starts");
    let ch = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let receiver = ch.clone();
    let waiting_recv = tokio::spawn(async move { receiver.recv().await.map(|_| ()) });
    let calls = (0..3).map(|n| {
        let ch = &ch;
        async move { ch.request::<_, i64>(&op("double", n)).await }
    });
    for result in join_all(calls).await {
        let err = result.expect_err("connection lost");
        assert!(err.is_connection_lost(), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        assert_eq!(std::io::Error::from(err).kind(), ErrorKind::ConnectionReset);
    }
    let err = waiting_recv.await.expect("task").expect_err("recv fails");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    // Later calls fail the same way, at once.
    let err = ch
        .request::<_, i64>(&op("double", 1))
        .await
        .expect_err("lost");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(
        ch.recv().await.expect_err("lost").kind(),
        ErrorKind::ConnectionReset
    );
    assert!(ch.is_closed());
    server.close();
}

/// Our own `close()`: pending requests fail (cause: closed by this end), the
/// peer's `recv` ends, later calls fail at once.
pub async fn client_close<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, addr, mut errors) = serve(&addr, ChannelOptions::new()).await;
    let ch = Channel::open_connection(&addr, ChannelOptions::new())
        .await
        .expect("connects");
    let held = ch.clone();
    let pending = tokio::spawn(async move { held.request::<_, i64>(&op("hold", 0)).await });
    while ch.pending_requests() == 0 {
        tokio::task::yield_now().await;
    }
    ch.close().await;
    let err = pending.await.expect("task").expect_err("closed");
    assert!(
        matches!(err.lost_cause(), Some(ChannelError::Closed)),
        "{err:?}"
    );
    let err = ch
        .request::<_, i64>(&op("double", 1))
        .await
        .expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let server_side = errors.recv().await.expect("server channel ended");
    assert_eq!(server_side.kind(), ErrorKind::ConnectionReset);
    server.close();
}

/// Connecting: one attempt by default; retries until the timeout; forever
/// with `None`.
pub async fn connect_retry<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    // An address nobody serves: start a server, note its address, close it.
    let (server, addr, _) = serve(&addr, ChannelOptions::new()).await;
    server.close();
    server.wait_closed().await;

    let refused =
        |e: &ChannelError| matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound);
    let err = Channel::open_connection(&addr, ChannelOptions::new())
        .await
        .expect_err("nobody listens");
    assert!(refused(&err), "{err:?}");
    assert!(matches!(err, ChannelError::Transport(_)), "{err:?}");

    let options = ChannelOptions::new()
        .connect_timeout(Some(Duration::from_millis(150)))
        .retry_interval(Duration::from_millis(10), Duration::from_millis(40));
    let started = tokio::time::Instant::now();
    let err = Channel::open_connection(&addr, options)
        .await
        .expect_err("still nobody");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(refused(&err), "{err:?}");
    assert!(
        matches!(err, ChannelError::ConnectTimeout { .. }),
        "{err:?}"
    );

    // A retry interval too long for any clock is no panic: the timeout
    // still ends the attempts.
    let options = ChannelOptions::new()
        .connect_timeout(Some(Duration::from_millis(50)))
        .retry_interval(Duration::MAX, Duration::MAX);
    let err = Channel::open_connection(&addr, options)
        .await
        .expect_err("still nobody");
    assert!(
        matches!(err, ChannelError::ConnectTimeout { .. }),
        "{err:?}"
    );

    // The server comes up while the client retries.
    for timeout in [Some(Duration::from_secs(20)), None] {
        let go = Arc::new(Notify::new());
        let later = {
            let (addr, go) = (addr.clone(), Arc::clone(&go));
            tokio::spawn(async move {
                go.notified().await;
                tokio::time::sleep(Duration::from_millis(60)).await;
                serve(&addr, ChannelOptions::new()).await
            })
        };
        let options = ChannelOptions::new()
            .connect_timeout(timeout)
            .retry_interval(Duration::from_millis(5), Duration::from_millis(20));
        go.notify_one();
        let ch = Channel::open_connection(&addr, options)
            .await
            .expect("connects once the server is up");
        let n: i64 = ch.request(&op("double", 8)).await.expect("reply");
        assert_eq!(n, 16);
        ch.close().await;
        let (server, _, _) = later.await.expect("server task");
        server.close();
        server.wait_closed().await;
    }
}

/// Cancel safety: a request whose future is dropped after it was sent gets
/// its late reply discarded (not treated as a reply to an unknown id), and
/// the channel goes on.
pub async fn cancelled_request<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (got_tx, mut got_rx) = mpsc::channel(1);
    let answer = Arc::new(Notify::new());
    let server_answer = Arc::clone(&answer);
    let server = Channel::start_server(
        &addr,
        move |ch: Channel| {
            let (got_tx, answer) = (got_tx.clone(), Arc::clone(&server_answer));
            async move {
                // Hold the first request until told, then answer it.
                let first = ch.recv().await.expect("first request");
                let _ = got_tx.send(()).await;
                answer.notified().await;
                first.reply(&1i64).await.expect("late reply sent");
                while let Ok(req) = ch.recv().await {
                    tokio::spawn(crate::support::handle(req));
                }
            }
        },
        ChannelOptions::new(),
    )
    .await
    .expect("server starts");
    let ch = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let abandoned = {
        let ch = ch.clone();
        tokio::spawn(async move { ch.request::<_, i64>(&op("double", 1)).await })
    };
    got_rx.recv().await.expect("the server has the request");
    abandoned.abort();
    assert!(abandoned.await.expect_err("aborted").is_cancelled());
    answer.notify_one();
    // The late reply is discarded; the channel still works.
    let n: i64 = ch.request(&op("double", 10)).await.expect("works");
    assert_eq!(n, 20);
    assert!(!ch.is_closed());
    assert_eq!(ch.pending_requests(), 0, "the late reply cleared its entry");
    ch.close().await;
    server.close();
}
