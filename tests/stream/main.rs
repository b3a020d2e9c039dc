//! The stream adapter: tokio-util's `Framed` with `LengthDelimitedCodec`,
//! unchanged, over local queues, TCP and Unix sockets; and what
//! `shutdown` means where the transport can half-close and where not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tcp/support.rs"]
#[allow(dead_code)]
mod tcp_support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use transport_api::{Address, Server, StreamListener, TransportStream};
use transport_local::LocalNetwork;

/// Frames of sizes 0..=4096 (and a few large ones), each filled with its index.
fn frames() -> Vec<Bytes> {
    (0..600u32)
        .map(|i| {
            let len = match i % 100 {
                99 => 256 * 1024,
                n => (n as usize * 41) % 4097,
            };
            Bytes::from(vec![(i % 251) as u8; len])
        })
        .collect()
}

/// Serves `server_addr` with a framed echo, connects through `client_addr`,
/// and checks every frame comes back whole and in order.
async fn framed_echo<A: Address>(server_addr: A, client_addr: impl Fn(&A::Server) -> A) {
    let mut listener = StreamListener::bind(&server_addr).await.unwrap();
    let addr = client_addr(listener.server());
    let client = TransportStream::connect(&addr).await.unwrap();
    let served = listener.accept().await.unwrap();

    let echo = tokio::spawn(async move {
        let mut framed = Framed::new(served, LengthDelimitedCodec::new());
        let mut count = 0;
        while let Some(frame) = framed.next().await {
            let frame = frame.unwrap();
            framed.send(frame.freeze()).await.unwrap();
            count += 1;
        }
        count
    });

    // Send and receive at once: with backpressure both ways, writing
    // everything before reading would (rightly) stall.
    let (mut sink, mut stream) = Framed::new(client, LengthDelimitedCodec::new()).split();
    let sent = frames();
    let (sink, got) = tokio::join!(
        async {
            for f in &sent {
                sink.feed(f.clone()).await.unwrap();
            }
            sink.flush().await.unwrap();
            sink
        },
        async {
            let mut got = Vec::new();
            while got.len() < sent.len() {
                let frame = stream.next().await.expect("echo ended early").unwrap();
                got.push(frame.freeze());
            }
            got
        }
    );
    assert_eq!(got.len(), sent.len());
    for (i, (a, b)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(a, b, "frame {i} differs");
    }
    let mut client = sink.reunite(stream).unwrap().into_inner();
    client.shutdown().await.unwrap();
    drop(client);
    assert_eq!(echo.await.unwrap(), sent.len());
    listener.close();
    listener.server().wait_closed().await;
}

#[tokio::test(flavor = "current_thread")]
async fn framed_length_delimited_over_local_queues() {
    let net = LocalNetwork::new();
    framed_echo(net.get_queue("framed").unwrap(), |s| s.addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_length_delimited_over_local_queues_multi_thread() {
    let net = LocalNetwork::new();
    framed_echo(net.get_queue("framed").unwrap(), |s| s.addr()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn framed_length_delimited_over_tcp() {
    let addr: transport_tcp::TcpAddr = "tcp://127.0.0.1:0".parse().unwrap();
    framed_echo(addr, |s| s.addr()).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "current_thread")]
async fn framed_length_delimited_over_unix_sockets() {
    framed_echo(tcp_support::unix_addr("stream-framed"), |s| s.addr()).await;
}

/// A client that writes a request, shuts down its writing and then reads
/// the answer, against a server that reads to EOF before answering. What
/// the client reads back.
async fn request_then_shutdown<A: Address>(server_addr: A) -> Vec<u8> {
    let mut listener = StreamListener::bind(&server_addr).await.unwrap();
    let addr = listener.server().addr();
    let mut client = TransportStream::connect(&addr).await.unwrap();
    let mut served = listener.accept().await.unwrap();
    let server = tokio::spawn(async move {
        let mut request = Vec::new();
        served.read_to_end(&mut request).await.unwrap();
        // Where the connection is closed already, this write fails: the
        // answer cannot arrive anyway.
        let wrote = served.write_all(b"answer to ").await.is_ok()
            && served.write_all(&request).await.is_ok();
        let _ = served.shutdown().await;
        (request, wrote)
    });
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    let (request, wrote) = server.await.unwrap();
    // The request arrives whole in both cases.
    assert_eq!(request, b"request");
    assert_eq!(wrote, !answer.is_empty());
    listener.close();
    answer
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_half_closes_a_tcp_stream() {
    let addr: transport_tcp::TcpAddr = "tcp://127.0.0.1:0".parse().unwrap();
    assert_eq!(request_then_shutdown(addr).await, b"answer to request");
}

#[cfg(unix)]
#[tokio::test(flavor = "current_thread")]
async fn shutdown_half_closes_a_unix_stream() {
    let addr = tcp_support::unix_addr("stream-half");
    assert_eq!(request_then_shutdown(addr).await, b"answer to request");
}

/// A local queue has no half-close (as in aiomas): `shutdown` closes the
/// connection, so the request still arrives whole, but nothing is read
/// after it, as `TransportStream` documents.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_closes_a_local_queue_stream() {
    let net = LocalNetwork::new();
    let answer = request_then_shutdown(net.get_queue("half").unwrap()).await;
    assert_eq!(answer, b"");
}
