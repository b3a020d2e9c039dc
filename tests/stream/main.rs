//! The stream adapter: tokio-util's `Framed` with `LengthDelimitedCodec`,
//! unchanged, over local queues, TCP and Unix sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
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
    let dir = std::env::temp_dir().join(format!("aw-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = transport_tcp::UnixAddr::new(dir.join("framed.sock")).unwrap();
    framed_echo(addr, |s| s.addr()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
