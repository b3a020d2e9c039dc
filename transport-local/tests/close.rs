//! `close()` toward a peer that paused reading: the close completes once
//! what is unread fits in the closing side's high-water mark (as a
//! socket's close completes once the kernel's buffers took the data), and
//! waits beyond it (as a socket's does when those buffers are full), until
//! the peer reads enough or the closing side aborts. The case below the
//! mark is the conformance kit's `close_while_peer_paused`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use transport_api::conformance::{Accepted, Log, Recorder};
use transport_api::{Address, Server, SharedTransport, Transport};
use transport_local::{LocalNetwork, LocalQueueServer, LocalQueueTransport};

/// A hang detector, not a timing assertion.
const HANG: Duration = Duration::from_secs(10);

/// The server writes 25 chunks of 4 KiB: more than the default high-water
/// mark (64 KiB).
const CHUNK: usize = 4096;
const CHUNKS: usize = 25;
const TOTAL: usize = CHUNK * CHUNKS;

/// Lets every ready task run (current-thread runtime): enough rounds for
/// the drivers to deliver everything they can.
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

struct Setup {
    server: LocalQueueServer,
    client: LocalQueueTransport,
    client_log: Log,
    server_log: Log,
    server_transport: SharedTransport,
}

/// A paused client; the server has written [`TOTAL`] bytes to it.
async fn paused_client_and_a_server_that_wrote(name: &str) -> Setup {
    let lq = LocalNetwork::new().get_queue(name).unwrap();
    let accepted = Accepted::default();
    let server = lq.create_server(accepted.factory()).await.unwrap();
    let client_log = Log::new();
    let (client, _) = lq
        .create_connection(Recorder {
            start_paused: true,
            ..Recorder::new(&client_log)
        })
        .await
        .unwrap();
    let server_log = accepted.wait_log(0).await.unwrap();
    let server_transport = server_log.require_transport("server").unwrap();
    for _ in 0..CHUNKS {
        server_transport
            .write(Bytes::from(vec![7u8; CHUNK]))
            .unwrap();
    }
    Setup {
        server,
        client,
        client_log,
        server_log,
        server_transport,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn close_waits_while_more_than_the_high_water_mark_is_unread() {
    let s = paused_client_and_a_server_that_wrote("close-waits").await;
    let high = s.server_transport.write_buffer_limits().high();
    assert!(TOTAL > high);
    s.server_transport.close();
    drop(s.server_transport);
    settle().await;
    assert_eq!(
        s.server_log.lost_count(),
        0,
        "the close completed with {TOTAL} bytes unread: {:?}",
        s.server_log
    );
    // Reading again, the client takes it all, and both sides end.
    s.client.resume_reading();
    tokio::time::timeout(HANG, s.client_log.wait_lost())
        .await
        .expect("the client's connection ends")
        .unwrap();
    assert_eq!(s.client_log.data_len(), TOTAL);
    assert_eq!(s.client_log.lost_error(), None);
    assert_eq!(s.server_log.lost_count(), 1);
    assert_eq!(s.server_log.lost_error(), None);
    s.server.close();
    tokio::time::timeout(HANG, s.server.wait_closed())
        .await
        .expect("wait_closed returns");
}

/// A close that waits can still be cut short with `abort`: the paused
/// client sees a reset and none of the data.
#[tokio::test(flavor = "current_thread")]
async fn abort_ends_a_close_that_waits() {
    let s = paused_client_and_a_server_that_wrote("abort-waiting").await;
    s.server_transport.close();
    settle().await;
    assert_eq!(s.server_log.lost_count(), 0, "{:?}", s.server_log);
    s.server_transport.abort();
    drop(s.server_transport);
    tokio::time::timeout(HANG, s.client_log.wait_lost())
        .await
        .expect("the client's connection ends")
        .unwrap();
    assert_eq!(s.client_log.data_len(), 0);
    assert_eq!(
        s.client_log.events().last(),
        Some(&transport_api::conformance::Event::Lost(Some(
            ErrorKind::ConnectionReset
        )))
    );
    tokio::time::timeout(HANG, s.server_log.wait_lost())
        .await
        .expect("the server's connection ends")
        .unwrap();
    assert_eq!(s.server_log.lost_error(), None);
    s.server.close();
    tokio::time::timeout(HANG, s.server.wait_closed())
        .await
        .expect("wait_closed returns");
}
