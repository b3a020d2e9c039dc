//! Bad input from a peer, on every backend: each case closes that
//! connection with an error that says what was wrong, and the server's other
//! connections keep working.

use std::future::{poll_fn, Future};
use std::task::Poll;

use agentwire::channel::{Channel, ChannelError, ChannelOptions, Json};
use bytes::Bytes;
use transport_api::{Address, Server, Transport};

use crate::support::{frame, op, raw_connect, serve};

const MAX: usize = 1024;

/// Sends `bytes` on a raw connection to a JSON channel server (maximum frame
/// 1 KiB), optionally closes it, and checks the server's channel for that
/// connection ends with a connection loss whose cause passes `check`; a
/// channel opened before and one opened after keep working.
async fn bad_case<A>(
    addr: A,
    bytes: Bytes,
    close_after: bool,
    check: impl Fn(&ChannelError) -> bool,
) where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let options = ChannelOptions::new().codec(Json).max_frame_size(MAX);
    let (server, addr, mut errors) = serve(&addr, options.clone()).await;
    let before = Channel::open_connection(&addr, options.clone())
        .await
        .expect("connects");
    let n: i64 = before.request(&op("double", 1)).await.expect("reply");
    assert_eq!(n, 2);

    let (raw, mut view) = raw_connect(&addr).await;
    raw.write(bytes).expect("raw write");
    if close_after {
        raw.close();
    }
    let err = errors
        .recv()
        .await
        .expect("the bad connection's channel ends");
    assert!(err.is_connection_lost(), "{err:?}");
    let cause = err.lost_cause().expect("a cause");
    assert!(check(cause), "unexpected cause: {cause:?}");
    // The message names the problem.
    assert!(err.to_string().contains(&cause.to_string()));
    // The server closed the bad connection (or it closed itself).
    view.lost().await;

    let n: i64 = before.request(&op("double", 2)).await.expect("still works");
    assert_eq!(n, 4);
    let after = Channel::open_connection(&addr, options)
        .await
        .expect("connects");
    let n: i64 = after.request(&op("double", 3)).await.expect("works");
    assert_eq!(n, 6);
    before.close().await;
    after.close().await;
    server.close();
}

/// The connection ends in the middle of a frame.
pub async fn truncated_frame<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let mut bytes = 10u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"[0,");
    bad_case(addr, bytes.into(), true, |c| {
        matches!(
            c,
            ChannelError::TruncatedFrame {
                expected: 14,
                received: 7
            }
        )
    })
    .await;
}

/// A header claiming more than the maximum frame size (here 4 GiB - 1):
/// nothing is allocated for it and the connection is closed.
pub async fn oversized_header<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    bad_case(addr.clone(), Bytes::from_static(&[0xff; 4]), false, |c| {
        matches!(
            c,
            ChannelError::FrameTooLarge {
                size: 0xffff_ffff,
                max: MAX
            }
        )
    })
    .await;
    // One byte above the limit.
    let just_above = ((MAX + 1) as u32).to_be_bytes().to_vec();
    bad_case(addr, just_above.into(), false, |c| {
        let text = c.to_string();
        matches!(c, ChannelError::FrameTooLarge { size, max: MAX } if *size == MAX as u64 + 1)
            && text.contains("1025")
            && text.contains("1024")
    })
    .await;
}

/// A frame whose payload the codec cannot decode.
pub async fn undecodable_payload<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    bad_case(addr.clone(), frame(b"\x00garbage{"), false, |c| {
        matches!(c, ChannelError::Codec { codec: "json", .. })
    })
    .await;
    // Valid JSON, but not an envelope.
    bad_case(addr, frame(br#"{"type": 0}"#), false, |c| {
        matches!(c, ChannelError::Codec { codec: "json", .. })
    })
    .await;
}

/// A message type other than 0, 1, 2.
pub async fn unknown_message_type<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    bad_case(addr, frame(b"[7, 1, null]"), false, |c| {
        matches!(c, ChannelError::UnknownMessageType { kind: 7, id: 1 })
    })
    .await;
}

/// A reply for a request id that was never sent.
pub async fn reply_for_unknown_id<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    bad_case(addr, frame(b"[1, 99, null]"), false, |c| {
        matches!(c, ChannelError::UnknownRequestId { id: 99 })
    })
    .await;
}

/// A second `recv` while one is waiting gets `RecvBusy`; the waiting one
/// still gets the next request, and the connection is unaffected.
pub async fn second_concurrent_recv<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    // The first connection's server channel goes to the test; later ones
    // run the test service.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let first_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let (errors_tx, _errors) = tokio::sync::mpsc::channel(4);
    let server = Channel::start_server(
        &addr,
        move |ch: Channel| {
            let first = first_tx.lock().expect("not poisoned").take();
            let errors = errors_tx.clone();
            async move {
                match first {
                    Some(tx) => {
                        let _ = tx.send(ch).await;
                    }
                    None => crate::support::service(ch, errors).await,
                }
            }
        },
        ChannelOptions::new(),
    )
    .await
    .expect("server starts");
    let addr = server.addr();
    let peer = Channel::open_connection(&addr, ChannelOptions::new())
        .await
        .expect("connects");
    let ours: Channel = rx.recv().await.expect("server channel");

    let first = ours.recv();
    tokio::pin!(first);
    // Poll the first recv once: it is now waiting.
    let pending = poll_fn(|cx| Poll::Ready(first.as_mut().poll(cx).is_pending())).await;
    assert!(pending);
    let err = ours.recv().await.expect_err("second recv");
    assert!(matches!(err, ChannelError::RecvBusy), "{err:?}");
    assert_eq!(err.kind(), std::io::ErrorKind::Other);

    // The first one still works, and so does the connection.
    let asker = peer.clone();
    let asking = tokio::spawn(async move { asker.request::<_, i64>(&op("double", 21)).await });
    let request = first.await.expect("first recv gets the request");
    let (_, n): (String, i64) = request.content().expect("content");
    request.reply(&(n * 2)).await.expect("reply");
    assert_eq!(asking.await.expect("task").expect("reply"), 42);
    // After the first recv finished, recv is free again.
    let again = ours.recv();
    tokio::pin!(again);
    let pending = poll_fn(|cx| Poll::Ready(again.as_mut().poll(cx).is_pending())).await;
    assert!(pending);

    // Other connections of the server are unaffected.
    let other = Channel::open_connection(&addr, ChannelOptions::new())
        .await
        .expect("connects");
    let n: i64 = other.request(&op("double", 5)).await.expect("reply");
    assert_eq!(n, 10);
    other.close().await;
    peer.close().await;
    ours.close().await;
    server.close();
}

/// A peer answers each request twice, both replies in one write (so the
/// second arrives before the caller took the first): the first answers the
/// call, the second is discarded, and the connection goes on.
pub async fn duplicate_reply<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    use transport_api::{Protocol, SharedTransport};

    /// Answers every JSON request `[0, id, n]` with `[1, id, n]` and then
    /// `[1, id, -1]`.
    #[derive(Default)]
    struct Twice {
        transport: Option<SharedTransport>,
        input: Vec<u8>,
    }

    impl Protocol for Twice {
        fn connection_made(&mut self, transport: SharedTransport) {
            self.transport = Some(transport);
        }

        fn data_received(&mut self, data: Bytes) {
            self.input.extend_from_slice(&data);
            while self.input.len() >= 4 {
                let len = u32::from_be_bytes(self.input[..4].try_into().expect("4 bytes")) as usize;
                if self.input.len() < 4 + len {
                    return;
                }
                let payload: Vec<u8> = self.input.drain(..4 + len).skip(4).collect();
                let (kind, id, n): (u8, u64, i64) =
                    serde_json::from_slice(&payload).expect("a request");
                assert_eq!(kind, 0);
                let mut both = frame(format!("[1, {id}, {n}]").as_bytes()).to_vec();
                both.extend_from_slice(&frame(format!("[1, {id}, -1]").as_bytes()));
                let transport = self.transport.as_ref().expect("connected");
                transport.write(both.into()).expect("write");
            }
        }
    }

    let server = addr
        .create_server(Twice::default)
        .await
        .expect("raw server");
    let options = ChannelOptions::new().codec(Json);
    let channel = Channel::open_connection(&server.addr(), options)
        .await
        .expect("connects");
    for n in 1..=3i64 {
        let got: i64 = channel.request(&n).await.expect("the first reply");
        assert_eq!(got, n);
    }
    assert_eq!(channel.pending_requests(), 0);
    channel.close().await;
    server.close();
}
