//! A reader that paused while its peer left. A peer that closed after
//! writing is not gone: what it sent reaches the protocol when it reads
//! again, however long that takes (a Unix socket says "hung up" at once,
//! with the data still unread). A peer that left with our data unread
//! (a reset) is noticed while paused.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use transport_api::conformance::{Accepted, Event, Recorder};
use transport_api::{Address, Server};

use crate::support::{tcp0, unix_addr, within};

/// Longer than the driver's look at a paused peer (every 250 ms).
const PAUSED_LONG: Duration = Duration::from_millis(700);

/// What a raw peer sends before it closes: more than one read's worth.
fn payload() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

/// A server at `addr` whose protocols start paused; `write_and_close`
/// connects a raw peer to it that writes `payload()` and closes. The
/// server stays paused past a peer check, then reads: everything arrives,
/// then EOF and a clean end.
async fn closed_peer_keeps_its_data<A, F, Fut>(addr: A, write_and_close: F)
where
    A: Address,
    A::Server: Server<Addr = A>,
    F: FnOnce(A, Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let accepted = Accepted::new(Recorder {
        start_paused: true,
        ..Recorder::default()
    });
    let server = addr.create_server(accepted.factory()).await.unwrap();
    let sent = payload();
    write_and_close(server.addr(), sent.clone()).await;
    let log = within("accepted", accepted.wait_log(0)).await.unwrap();
    tokio::time::sleep(PAUSED_LONG).await;
    assert_eq!(
        log.lost_count(),
        0,
        "the paused connection ended before it read: {:?}",
        log.events()
    );
    log.transport().unwrap().resume_reading();
    within("the end", log.wait_lost()).await.unwrap();
    assert_eq!(log.data().len(), sent.len(), "bytes received");
    assert!(log.data() == sent, "the bytes differ from those sent");
    let events = log.events();
    assert_eq!(
        &events[events.len() - 2..],
        &[Event::Eof, Event::Lost(None)],
        "EOF, then a clean end"
    );
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn a_unix_peer_that_closed_keeps_its_data() {
    closed_peer_keeps_its_data(unix_addr("closed-peer"), |addr, data| async move {
        let mut peer = tokio::net::UnixStream::connect(addr.path()).await.unwrap();
        peer.write_all(&data).await.unwrap();
        // Dropped: closed both ways, which a Unix socket reports as a
        // hang-up while the data waits unread.
    })
    .await;
}

#[tokio::test]
async fn a_tcp_peer_that_closed_keeps_its_data() {
    closed_peer_keeps_its_data(tcp0(), |addr, data| async move {
        let mut peer = tokio::net::TcpStream::connect(addr.socket_addr().unwrap())
            .await
            .unwrap();
        peer.write_all(&data).await.unwrap();
    })
    .await;
}

/// A Unix peer that closes with our data unread resets the connection
/// (`ECONNRESET`): that is a departure, noticed while the server reads
/// nothing from it and writes nothing more.
#[tokio::test]
async fn a_unix_peer_that_left_our_data_unread_is_noticed_while_paused() {
    let accepted = Accepted::new(Recorder {
        start_paused: true,
        ..Recorder::default()
    });
    let server = unix_addr("left-unread")
        .create_server(accepted.factory())
        .await
        .unwrap();
    let peer = tokio::net::UnixStream::connect(server.addr().path())
        .await
        .unwrap();
    let log = within("accepted", accepted.wait_log(0)).await.unwrap();
    log.transport()
        .unwrap()
        .write(bytes::Bytes::from_static(b"never read"))
        .unwrap();
    // Once the reply is in the peer's socket, the peer leaves.
    within("reply in the peer's socket", peer.readable())
        .await
        .unwrap();
    drop(peer);
    within("the end while paused", log.wait_lost())
        .await
        .unwrap();
    assert!(
        log.lost_error().is_some(),
        "a reset, not a clean end: {:?}",
        log.events()
    );
    server.close();
    within("wait_closed", server.wait_closed()).await;
}
