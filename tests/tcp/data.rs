//! Data over real sockets: echo on every kind, write coalescing, half-close,
//! abort, close while the peer is still sending, peer and local addresses.

use std::io::ErrorKind;

use bytes::Bytes;
use transport_api::conformance::{Accepted, Event, Log, Recorder};
use transport_api::{Address, Endpoint, Error, Server, Transport, TransportExt};

use crate::support::{client_config, pki, server_config, tcp0, tls_server_addr, unix_addr, within};

/// Echoes `n` messages of `size` bytes through a server at `addr` and
/// checks they come back whole and in order.
async fn echo_through<A: Address>(addr: A, client_addr: impl Fn(&A::Server) -> A) {
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let server = addr.create_server(accepted.factory()).await.unwrap();
    let log = Log::new();
    let (t, _) = client_addr(&server)
        .create_connection(Recorder::new(&log))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..2000u32 {
        let msg = Bytes::from(format!("{i:>6}:").repeat(1 + (i as usize % 50)));
        sent.extend_from_slice(&msg);
        t.write(msg).unwrap();
        if i % 100 == 0 {
            within("writable", t.writable()).await.unwrap();
        }
    }
    within("echo", log.wait_data(sent.len())).await.unwrap();
    assert_eq!(log.data(), sent);
    t.close();
    within("client lost", log.wait_lost()).await.unwrap();
    assert_eq!(log.events().last(), Some(&Event::Lost(None)));
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn echo_over_tcp() {
    echo_through(tcp0(), |s| s.addr()).await;
}

#[tokio::test]
async fn echo_over_unix() {
    echo_through(unix_addr("echo"), |s| s.addr()).await;
}

#[tokio::test]
async fn echo_over_tls() {
    echo_through(tls_server_addr(server_config(pki())), |s| {
        s.addr().with_client_config(client_config(pki()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_over_tcp_on_a_multi_thread_runtime() {
    echo_through(tcp0(), |s| s.addr()).await;
}

/// Many small writes made in one go leave as a few large sends: the peer
/// reads them in far fewer chunks than there were writes.
#[tokio::test(flavor = "current_thread")]
async fn small_writes_are_coalesced() {
    const N: usize = 10_000;
    let accepted = Accepted::default();
    let server = tcp0().create_server(accepted.factory()).await.unwrap();
    let (t, _) = server
        .addr()
        .create_connection(Recorder::default())
        .await
        .unwrap();
    let log = within("accept", accepted.wait_log(0)).await.unwrap();
    for i in 0..N {
        t.write(Bytes::from((i as u64).to_be_bytes().to_vec()))
            .unwrap();
    }
    // Nothing was sent yet: writes only buffer, the driver sends later.
    assert_eq!(t.write_buffer_size(), N * 8);
    within("data", log.wait_data(N * 8)).await.unwrap();
    let data = log.data();
    for (i, chunk) in data.chunks(8).enumerate() {
        assert_eq!(chunk, (i as u64).to_be_bytes());
    }
    let chunks = log
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Data(_)))
        .count();
    assert!(
        chunks <= 20,
        "{N} writes of 8 B arrived in {chunks} reads: not coalesced"
    );
    assert_eq!(t.write_buffer_size(), 0);
    t.close();
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

/// `write_eof` half-closes: the peer sees the data then EOF, keeps its side
/// open, replies, and the reply arrives.
async fn half_close<A: Address>(addr: A, client_addr: impl Fn(&A::Server) -> A) {
    let accepted = Accepted::new(Recorder {
        keep_open_on_eof: true,
        ..Recorder::default()
    });
    let server = addr.create_server(accepted.factory()).await.unwrap();
    let log = Log::new();
    let (t, _) = client_addr(&server)
        .create_connection(Recorder {
            keep_open_on_eof: true,
            ..Recorder::new(&log)
        })
        .await
        .unwrap();
    assert!(t.can_write_eof());
    t.write(Bytes::from_static(b"question")).unwrap();
    t.write_eof().unwrap();
    t.write_eof().unwrap(); // idempotent
    assert!(matches!(
        t.write(Bytes::from_static(b"x")),
        Err(Error::Closed)
    ));
    let server_log = within("accept", accepted.wait_log(0)).await.unwrap();
    within(
        "eof_received",
        server_log.wait_for("eof", |ev| ev.contains(&Event::Eof)),
    )
    .await
    .unwrap();
    assert_eq!(server_log.data(), b"question");
    let reply = server_log.transport().expect("server keeps its transport");
    reply.write(Bytes::from_static(b"answer")).unwrap();
    reply.write_eof().unwrap();
    drop(reply);
    // Both sides half-closed and kept open: nothing more can happen, so both
    // connections end cleanly.
    within("client lost", log.wait_lost()).await.unwrap();
    within("server lost", server_log.wait_lost()).await.unwrap();
    assert_eq!(log.data(), b"answer");
    for l in [&log, &server_log] {
        let ev = l.events();
        assert_eq!(ev.iter().filter(|e| **e == Event::Eof).count(), 1);
        assert_eq!(ev.last(), Some(&Event::Lost(None)), "{l:?}");
    }
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn write_eof_half_closes_tcp() {
    half_close(tcp0(), |s| s.addr()).await;
}

#[tokio::test]
async fn write_eof_half_closes_unix() {
    half_close(unix_addr("eof"), |s| s.addr()).await;
}

#[tokio::test]
async fn write_eof_half_closes_tls() {
    half_close(tls_server_addr(server_config(pki())), |s| {
        s.addr().with_client_config(client_config(pki()))
    })
    .await;
}

/// `abort` drops buffered data and resets the TCP connection: the peer's
/// `connection_lost` carries `ConnectionReset`.
#[tokio::test]
async fn abort_resets_the_peer() {
    let accepted = Accepted::default();
    let server = tcp0().create_server(accepted.factory()).await.unwrap();
    let log = Log::new();
    let (t, _) = server
        .addr()
        .create_connection(Recorder::new(&log))
        .await
        .unwrap();
    let server_log = within("accept", accepted.wait_log(0)).await.unwrap();
    t.write(Bytes::from(vec![7u8; 4 << 20])).unwrap();
    t.abort();
    assert_eq!(t.write_buffer_size(), 0);
    within("client lost", log.wait_lost()).await.unwrap();
    within("server lost", server_log.wait_lost()).await.unwrap();
    assert_eq!(log.events().last(), Some(&Event::Lost(None)));
    assert_eq!(
        server_log.events().last(),
        Some(&Event::Lost(Some(ErrorKind::ConnectionReset))),
        "{server_log:?}"
    );
    assert!(server_log.data_len() < 4 << 20, "aborted data was all sent");
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

/// Closing while the peer is still sending: everything we wrote still
/// arrives, then a clean end (unread data must not turn the close into a
/// reset that loses our last bytes).
#[tokio::test]
async fn close_while_the_peer_sends_delivers_everything() {
    let accepted = Accepted::default();
    let server = tcp0().create_server(accepted.factory()).await.unwrap();
    let log = Log::new();
    let (t, _) = server
        .addr()
        .create_connection(Recorder::new(&log))
        .await
        .unwrap();
    let server_log = within("accept", accepted.wait_log(0)).await.unwrap();
    let server_t = server_log.transport().unwrap();
    // The client floods the server while the server replies and closes.
    let flood = Bytes::from(vec![1u8; 64 * 1024]);
    for _ in 0..32 {
        t.write(flood.clone()).unwrap();
    }
    let reply: Vec<u8> = (0..2 << 20).map(|i: u32| (i % 251) as u8).collect();
    server_t.write(Bytes::from(reply.clone())).unwrap();
    server_t.close();
    drop(server_t);
    within("client lost", log.wait_lost()).await.unwrap();
    assert_eq!(log.data_len(), reply.len());
    assert!(log.data() == reply, "reply corrupted");
    assert_eq!(log.events().last(), Some(&Event::Lost(None)));
    within("server lost", server_log.wait_lost()).await.unwrap();
    assert_eq!(server_log.events().last(), Some(&Event::Lost(None)));
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn tcp_peer_and_local_addresses() {
    let accepted = Accepted::default();
    let server = tcp0().create_server(accepted.factory()).await.unwrap();
    let (t, _) = server
        .addr()
        .create_connection(Recorder::default())
        .await
        .unwrap();
    let server_t = within("accept", accepted.wait_log(0))
        .await
        .unwrap()
        .transport()
        .unwrap();
    let server_sa = server.addr().socket_addr().unwrap();
    assert_eq!(t.peer_addr(), Some(Endpoint::Socket(server_sa)));
    assert_eq!(server_t.local_addr(), Some(Endpoint::Socket(server_sa)));
    let client_local = t.local_addr().expect("local address");
    assert_eq!(server_t.peer_addr(), Some(client_local.clone()));
    assert!(client_local.to_string().starts_with("tcp://127.0.0.1:"));
    assert_eq!(t.kind(), "tcp");
    drop(server_t);
    t.close();
    server.close();
}

#[tokio::test]
async fn unix_peer_and_local_addresses() {
    let addr = unix_addr("names");
    let accepted = Accepted::default();
    let server = addr.create_server(accepted.factory()).await.unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    let server_t = within("accept", accepted.wait_log(0))
        .await
        .unwrap()
        .transport()
        .unwrap();
    let path = Endpoint::Unix(Some(addr.path().to_path_buf()));
    assert_eq!(t.peer_addr(), Some(path.clone()));
    assert_eq!(server_t.local_addr(), Some(path));
    // The client's socket has no name.
    assert_eq!(t.local_addr(), Some(Endpoint::Unix(None)));
    assert_eq!(server_t.peer_addr(), Some(Endpoint::Unix(None)));
    assert_eq!(t.kind(), "ipc");
    drop(server_t);
    t.close();
    server.close();
}

/// A paused reader stops reading the socket: the writer's buffer fills past
/// the high-water mark and it is told to pause; resuming drains it all.
#[tokio::test]
async fn pause_reading_applies_backpressure() {
    let accepted = Accepted::new(Recorder {
        start_paused: true,
        ..Recorder::default()
    });
    let server = unix_addr("pause")
        .create_server(accepted.factory())
        .await
        .unwrap();
    let log = Log::new();
    let (t, _) = server
        .addr()
        .create_connection(Recorder::new(&log))
        .await
        .unwrap();
    let chunk = Bytes::from(vec![9u8; 64 * 1024]);
    let mut sent = 0;
    // Write until told to wait; the socket buffers are finite.
    while futures_util::FutureExt::now_or_never(t.writable()).is_some() {
        t.write(chunk.clone()).unwrap();
        sent += chunk.len();
        assert!(sent < 256 << 20, "no backpressure");
        tokio::task::yield_now().await;
    }
    within(
        "pause_writing",
        log.wait_for("pause", |ev| ev.contains(&Event::Pause)),
    )
    .await
    .unwrap();
    let server_log = accepted.wait_log(0).await.unwrap();
    assert_eq!(server_log.data_len(), 0, "a paused reader got data");
    server_log.transport().unwrap().resume_reading();
    within("all data", server_log.wait_data(sent))
        .await
        .unwrap();
    within(
        "resume_writing",
        log.wait_for("resume", |ev| ev.contains(&Event::Resume)),
    )
    .await
    .unwrap();
    t.close();
    server.close();
    within("wait_closed", server.wait_closed()).await;
}
