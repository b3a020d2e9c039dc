//! Flow control scenarios, on every backend: the bounded queue of received
//! requests, write backpressure, and a flood of requests refused by a
//! channel that takes none.

use std::sync::Arc;

use agentwire::channel::{Bincode, Channel, ChannelError, ChannelOptions};
use tokio::sync::{mpsc, Notify};
use transport_api::{Address, Server};

use crate::support::{op, Op};

/// Received requests are bounded: at the queue limit the server stops
/// reading (the requests wait with the peer, none is refused), and once it
/// takes requests again every one is answered.
pub async fn bounded_queue<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const N: i64 = 50;
    let go = Arc::new(Notify::new());
    let server_go = Arc::clone(&go);
    let (side_tx, mut side_rx) = mpsc::channel(1);
    let server = Channel::start_server(
        &addr,
        move |ch: Channel| {
            let go = Arc::clone(&server_go);
            let side_tx = side_tx.clone();
            async move {
                let _ = side_tx.send(ch.clone()).await;
                go.notified().await;
                while let Ok(req) = ch.recv().await {
                    tokio::spawn(crate::support::handle(req));
                }
            }
        },
        ChannelOptions::new().max_queued_requests(2),
    )
    .await
    .expect("server starts");
    let ch = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let server_side: Channel = side_rx.recv().await.expect("server channel");
    let (tx, mut rx) = mpsc::channel::<Result<i64, ChannelError>>(N as usize);
    for n in 0..N {
        let (ch, tx) = (ch.clone(), tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(ch.request::<Op, i64>(&op("double", n)).await).await;
        });
    }
    while ch.pending_requests() < N as usize {
        tokio::task::yield_now().await;
    }
    // The requests reach the server (through a broker, that takes a
    // while): it queues two, holds the rest back, and answers nothing.
    let mut turns = 0;
    while turns < 100 || server_side.queued_requests() < 2 {
        if turns < 100 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        turns += 1;
        assert!(server_side.queued_requests() <= 2);
        assert!(rx.try_recv().is_err(), "nothing is answered or refused");
    }
    go.notify_one();
    let mut got = Vec::new();
    for _ in 0..N {
        got.push(rx.recv().await.expect("result").expect("answered"));
    }
    got.sort_unstable();
    assert_eq!(got, (0..N).map(|n| 2 * n).collect::<Vec<_>>());
    assert_eq!(server_side.held_requests(), 0);
    ch.close().await;
    server.close();
}

/// A peer that does not read: sending waits for the transport instead of
/// buffering without bound; once the peer reads, everything arrives.
pub async fn write_backpressure<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const N: usize = 64;
    const PAYLOAD: usize = 16 * 1024;
    let (view_tx, mut view_rx) = mpsc::channel(1);
    let server = addr
        .create_server(move || {
            let (raw, view) = crate::support::Raw::new(true);
            let _ = view_tx.try_send(view);
            raw
        })
        .await
        .expect("server starts");
    let ch: Channel<Bincode> = Channel::open_connection(&server.addr(), ChannelOptions::new())
        .await
        .expect("connects");
    let mut view = view_rx.recv().await.expect("server side");
    let payload = vec![1u8; PAYLOAD];
    for _ in 0..N {
        let (ch, payload) = (ch.clone(), payload.clone());
        tokio::spawn(async move { ch.request::<_, ()>(&payload).await });
    }
    while ch.pending_requests() < N {
        tokio::task::yield_now().await;
    }
    for _ in 0..200 {
        tokio::task::yield_now().await;
        let limit = transport_api::WriteBufferLimits::DEFAULT_HIGH + PAYLOAD + 64;
        assert!(
            ch.write_buffer_size() <= limit,
            "{}",
            ch.write_buffer_size()
        );
    }
    view.transport().expect("connected").resume_reading();
    let frame_len = {
        let mut buf = Vec::new();
        agentwire::channel::Codec::encode_message(
            &Bincode,
            agentwire::channel::MessageKind::Request,
            1,
            &payload,
            &mut buf,
        )
        .expect("encodes");
        buf.len() + 4
    };
    let got = view.received(N * frame_len).await;
    assert_eq!(got.len(), N * frame_len);
    ch.close().await;
    server.close();
}

/// A peer floods requests beyond the queue bound and does not read the
/// refusals: the server stops reading while its write buffer is full, so its
/// memory stays bounded; once the peer reads, every request is answered.
pub async fn refusal_flood<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    use agentwire::channel::{Codec, FrameDecoder};
    use transport_api::Transport;

    const N: u64 = 5000;
    let (tx, mut rx) = mpsc::channel(1);
    let server = Channel::start_server(
        &addr,
        move |ch: Channel| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ch).await;
            }
        },
        ChannelOptions::new().max_queued_requests(0),
    )
    .await
    .expect("server starts");
    let (raw, mut view) = crate::support::raw_connect_with(&server.addr(), true).await;
    let server_side: Channel = rx.recv().await.expect("server channel");
    for id in 0..N {
        let mut payload = Vec::new();
        Bincode
            .encode_message(
                agentwire::channel::MessageKind::Request,
                id,
                &op("double", 1),
                &mut payload,
            )
            .expect("encodes");
        raw.write(crate::support::frame(&payload))
            .expect("raw write");
        if id % 64 == 0 {
            tokio::task::yield_now().await;
        }
        let limit = transport_api::WriteBufferLimits::DEFAULT_HIGH + 4096;
        assert!(
            server_side.write_buffer_size() <= limit,
            "{}",
            server_side.write_buffer_size()
        );
    }
    view.transport().expect("connected").resume_reading();
    // Every request gets its refusal, in order.
    let mut decoder = FrameDecoder::new(1 << 20);
    let mut next_id = 0;
    let mut seen = 0;
    while next_id < N {
        let data = view.received(seen + 1).await;
        decoder.push(bytes::Bytes::copy_from_slice(&data[seen..]));
        seen = data.len();
        while let Some(frame) = decoder.next_frame().expect("valid frames") {
            let msg = Bincode.decode_message(frame).expect("a message");
            assert_eq!(msg.kind, agentwire::channel::MessageKind::Exception);
            assert_eq!(msg.id, next_id);
            next_id += 1;
        }
    }
    drop(server_side);
    raw.close();
    server.close();
}

/// A peer that never reads cannot make `close` wait for ever: once the
/// close grace is over the connection is aborted, `close` returns, and the
/// request stuck behind the unread data fails with a lost connection.
pub async fn close_with_a_peer_that_does_not_read<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    struct Deaf(std::sync::mpsc::Sender<transport_api::SharedTransport>);
    impl transport_api::Protocol for Deaf {
        fn connection_made(&mut self, t: transport_api::SharedTransport) {
            t.pause_reading();
            let _ = self.0.send(t);
        }
        fn data_received(&mut self, _: bytes::Bytes) {}
    }
    let (tx, _transports) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = transport_api::create_server(
        move || Deaf(tx.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        &addr,
    )
    .await
    .expect("server");
    let options = ChannelOptions::new().close_grace(std::time::Duration::from_millis(200));
    let ch = Channel::open_connection(&server.addr(), options)
        .await
        .expect("connects");
    // More than any socket buffer holds: it cannot all be flushed.
    let big = vec![7u8; 8 << 20];
    let stuck = tokio::spawn({
        let ch = ch.clone();
        async move { ch.request::<_, ()>(&big).await }
    });
    while ch.write_buffer_size() == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(std::time::Duration::from_secs(20), ch.close())
        .await
        .expect("close returns although the peer does not read");
    let err = stuck
        .await
        .expect("task")
        .expect_err("the request cannot be answered");
    assert!(err.is_connection_lost(), "{err:?}");
    server.close();
}

/// The same when the last handle is dropped instead: the connection does
/// not stay open (flushing for ever) behind a peer that does not read; it
/// is aborted after the close grace, and the peer sees it end (on a backend
/// where a reset reaches a peer that does not read).
pub async fn dropped_with_a_peer_that_does_not_read<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    struct Deaf(
        mpsc::UnboundedSender<()>,
        Option<transport_api::SharedTransport>,
    );
    impl transport_api::Protocol for Deaf {
        fn connection_made(&mut self, t: transport_api::SharedTransport) {
            t.pause_reading();
            self.1 = Some(t);
        }
        fn data_received(&mut self, _: bytes::Bytes) {}
        fn connection_lost(&mut self, _: Option<transport_api::Error>) {
            let _ = self.0.send(());
        }
    }
    let (lost_tx, mut lost) = mpsc::unbounded_channel();
    let server = transport_api::create_server(move || Deaf(lost_tx.clone(), None), &addr)
        .await
        .expect("server");
    let options = ChannelOptions::new().close_grace(std::time::Duration::from_millis(200));
    let ch = Channel::open_connection(&server.addr(), options)
        .await
        .expect("connects");
    let big = vec![7u8; 8 << 20];
    let stuck = tokio::spawn({
        let ch = ch.clone();
        async move { ch.request::<_, ()>(&big).await }
    });
    while ch.write_buffer_size() == 0 {
        tokio::task::yield_now().await;
    }
    stuck.abort();
    let _ = stuck.await;
    drop(ch);
    tokio::time::timeout(std::time::Duration::from_secs(20), lost.recv())
        .await
        .expect("the peer's connection ends")
        .expect("lost");
    server.close();
}
