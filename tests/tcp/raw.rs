//! Our connections against raw OS sockets (tokio's `TcpStream` and
//! `UnixStream`) that half-close, close, close with data unread, read late,
//! and write after our `write_eof`, while our side pauses past the driver's
//! look at a paused peer. What was sent before a graceful end arrives, all
//! of it and in order, then EOF, then one `connection_lost`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use transport_api::conformance::{Accepted, Event, Log, Recorder};
use transport_api::{Address, Server};
use transport_tcp::{TcpAddr, UnixAddr};

use crate::support::{tcp0, unix_addr, within};

/// Longer than the driver's look at a paused peer (every 250 ms).
const PAUSED_LONG: Duration = Duration::from_millis(700);

/// A raw socket.
trait Raw: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Raw for T {}

type Connect<A> = fn(&A) -> Pin<Box<dyn Future<Output = Box<dyn Raw>> + Send>>;

fn tcp_peer(addr: &TcpAddr) -> Pin<Box<dyn Future<Output = Box<dyn Raw>> + Send>> {
    let at = addr.socket_addr().expect("a resolved address");
    Box::pin(async move {
        let s = tokio::net::TcpStream::connect(at).await.expect("connects");
        Box::new(s) as Box<dyn Raw>
    })
}

fn unix_peer(addr: &UnixAddr) -> Pin<Box<dyn Future<Output = Box<dyn Raw>> + Send>> {
    let path = addr.path().to_owned();
    Box::pin(async move {
        let s = tokio::net::UnixStream::connect(path)
            .await
            .expect("connects");
        Box::new(s) as Box<dyn Raw>
    })
}

/// Position-dependent bytes, so a lost or reordered chunk shows.
fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8) ^ ((i >> 11) as u8) ^ salt)
        .collect()
}

/// A server of `template` protocols at `addr` and a raw peer connected to
/// it, with the server side's log.
async fn accept<A>(
    addr: A,
    template: Recorder,
    connect: Connect<A>,
) -> (A::Server, Box<dyn Raw>, Log)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let accepted = Accepted::new(template);
    let server = addr
        .create_server(accepted.factory())
        .await
        .expect("serves");
    let peer = connect(&server.addr()).await;
    let log = within("accepted", accepted.wait_log(0))
        .await
        .expect("accepted");
    within("connection_made", log.wait_for("made", |ev| !ev.is_empty()))
        .await
        .expect("made");
    (server, peer, log)
}

/// `connection_made` first, one `connection_lost` last, at most one EOF
/// and no data after it.
fn well_ordered(log: &Log) {
    let ev = log.events();
    assert_eq!(ev.first(), Some(&Event::Made), "{log:?}");
    assert_eq!(log.lost_count(), 1, "{log:?}");
    assert!(matches!(ev.last(), Some(Event::Lost(_))), "{log:?}");
    let eof = ev.iter().position(|e| *e == Event::Eof);
    assert!(log.count(&Event::Eof) <= 1, "{log:?}");
    if let Some(at) = eof {
        assert!(
            !ev[at..].iter().any(|e| matches!(e, Event::Data(_))),
            "data after EOF: {log:?}"
        );
    }
}

async fn shut<S: Server>(server: S) {
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

/// Our side received exactly `sent`.
fn got_all(log: &Log, sent: &[u8]) {
    assert!(
        log.data() == sent,
        "got {} of {} bytes: {log:?}",
        log.data_len(),
        sent.len()
    );
}

/// Our side's connection ends, well ordered and clean.
async fn ends_cleanly(log: &Log) {
    within("the end", log.wait_lost()).await.expect("lost");
    well_ordered(log);
    assert_eq!(log.events().last(), Some(&Event::Lost(None)), "{log:?}");
}

/// Our side ends cleanly after exactly `sent` and one EOF.
async fn ends_cleanly_with_all(log: &Log, sent: &[u8]) {
    ends_cleanly(log).await;
    got_all(log, sent);
    assert_eq!(log.count(&Event::Eof), 1, "{log:?}");
}

/// A paused server (with `keep_open_on_eof`, it keeps its side open
/// after the peer's EOF).
fn paused(keep_open_on_eof: bool) -> Recorder {
    Recorder {
        start_paused: true,
        keep_open_on_eof,
        ..Recorder::default()
    }
}

/// We stay paused past the driver's look at a paused peer: the
/// connection does not end meanwhile.
async fn stays_paused_past_a_look(log: &Log) {
    tokio::time::sleep(PAUSED_LONG).await;
    assert_eq!(log.lost_count(), 0, "ended while paused: {log:?}");
}

/// The peer reads until our end of the stream: exactly `expected`.
async fn peer_reads_all(peer: &mut Box<dyn Raw>, what: &str, expected: &[u8]) {
    let mut got = Vec::new();
    within(what, peer.read_to_end(&mut got))
        .await
        .expect("the peer reads");
    assert!(
        got == expected,
        "the peer got {} of {} bytes",
        got.len(),
        expected.len()
    );
}

/// The peer sends 200 KB and half-closes while we are paused past a look;
/// we resume, get it all and the EOF, keep our side open, reply with
/// 300 KB and close: the peer reads every byte of the reply, then EOF.
async fn half_closed_peer_gets_our_reply<A>(addr: A, connect: Connect<A>)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(addr, paused(true), connect).await;
    let sent = payload(200_000, 1);
    peer.write_all(&sent).await.expect("the peer writes");
    peer.shutdown().await.expect("the peer half-closes");
    stays_paused_past_a_look(&log).await;
    assert_eq!(log.data_len(), 0, "data while paused: {log:?}");
    let t = log.transport().expect("the server keeps its transport");
    t.resume_reading();
    within("EOF", log.wait_for("eof", |ev| ev.contains(&Event::Eof)))
        .await
        .expect("EOF");
    got_all(&log, &sent);
    let reply = payload(300_000, 2);
    t.write(Bytes::from(reply.clone()))
        .expect("writes after the peer's EOF");
    t.close();
    drop(t);
    peer_reads_all(&mut peer, "the reply", &reply).await;
    ends_cleanly(&log).await;
    shut(server).await;
}

#[tokio::test]
async fn a_half_closed_tcp_peer_gets_our_reply() {
    half_closed_peer_gets_our_reply(tcp0(), tcp_peer).await;
}

#[tokio::test]
async fn a_half_closed_unix_peer_gets_our_reply() {
    half_closed_peer_gets_our_reply(unix_addr("raw-half"), unix_peer).await;
}

/// We `write_eof` while paused; the peer reads our EOF, then writes
/// 200 KB and closes (both directions are then shut: a hang-up that is no
/// departure). Paused past a look, we resume and get all of it, the EOF,
/// and a clean end.
async fn peer_writes_after_our_eof<A>(addr: A, connect: Connect<A>)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(addr, paused(true), connect).await;
    let t = log.transport().expect("the server keeps its transport");
    t.write(Bytes::from_static(b"last words")).expect("writes");
    t.write_eof().expect("half-closes");
    peer_reads_all(&mut peer, "our EOF", b"last words").await;
    let sent = payload(200_000, 3);
    peer.write_all(&sent)
        .await
        .expect("the peer writes after our EOF");
    drop(peer);
    stays_paused_past_a_look(&log).await;
    t.resume_reading();
    drop(t);
    ends_cleanly_with_all(&log, &sent).await;
    shut(server).await;
}

#[tokio::test]
async fn a_tcp_peer_writes_after_our_eof() {
    peer_writes_after_our_eof(tcp0(), tcp_peer).await;
}

#[tokio::test]
async fn a_unix_peer_writes_after_our_eof() {
    peer_writes_after_our_eof(unix_addr("raw-after-eof"), unix_peer).await;
}

/// We write 2 MB and close at once; the peer reads nothing for longer than
/// a look, then reads to the end: every byte, in order.
async fn slow_peer_gets_our_backlog<A>(addr: A, connect: Connect<A>)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(addr, Recorder::default(), connect).await;
    let t = log.transport().expect("the server keeps its transport");
    let sent = payload(2 << 20, 4);
    for chunk in sent.chunks(300_000) {
        t.write(Bytes::copy_from_slice(chunk)).expect("writes");
    }
    t.close();
    drop(t);
    tokio::time::sleep(PAUSED_LONG).await;
    peer_reads_all(&mut peer, "our data", &sent).await;
    ends_cleanly(&log).await;
    shut(server).await;
}

#[tokio::test]
async fn a_slow_tcp_peer_gets_our_backlog() {
    slow_peer_gets_our_backlog(tcp0(), tcp_peer).await;
}

#[tokio::test]
async fn a_slow_unix_peer_gets_our_backlog() {
    slow_peer_gets_our_backlog(unix_addr("raw-slow"), unix_peer).await;
}

/// The peer writes 200 KB and closes both ways while we are paused past a
/// look (a Unix socket then says "hung up" at once, with the data unread):
/// a close, not a departure. On resume we get all of it, then EOF and a
/// clean end.
async fn closed_peer_keeps_its_data<A>(addr: A, connect: Connect<A>)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(addr, paused(false), connect).await;
    let sent = payload(200_000, 8);
    peer.write_all(&sent).await.expect("the peer writes");
    drop(peer);
    stays_paused_past_a_look(&log).await;
    log.transport()
        .expect("the server keeps its transport")
        .resume_reading();
    ends_cleanly_with_all(&log, &sent).await;
    shut(server).await;
}

#[tokio::test]
async fn a_tcp_peer_that_closed_keeps_its_data() {
    closed_peer_keeps_its_data(tcp0(), tcp_peer).await;
}

#[tokio::test]
async fn a_unix_peer_that_closed_keeps_its_data() {
    closed_peer_keeps_its_data(unix_addr("raw-closed"), unix_peer).await;
}

/// The peer writes 50 KB and closes without reading what we sent: a
/// reset. Whatever arrives is a prefix of what it sent, then exactly one
/// `connection_lost`, last; nothing hangs; while paused, the reset is
/// noticed without a resume.
async fn peer_closes_with_our_data_unread<A>(addr: A, connect: Connect<A>, paused: bool)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(
        addr,
        Recorder {
            start_paused: paused,
            ..Recorder::default()
        },
        connect,
    )
    .await;
    let t = log.transport().expect("the server keeps its transport");
    t.write(Bytes::from(payload(100_000, 5))).expect("writes");
    let sent = payload(50_000, 6);
    peer.write_all(&sent).await.expect("the peer writes");
    // Our data reaches the peer's socket before it leaves.
    let mut one = [0u8; 1];
    within("our data at the peer", peer.read_exact(&mut one))
        .await
        .expect("the peer has our data");
    drop(peer);
    if paused {
        // A reset is a departure: noticed while we read nothing.
        within("the end while paused", log.wait_lost())
            .await
            .expect("lost");
        assert!(log.lost_error().is_some(), "a reset: {log:?}");
        t.resume_reading();
    }
    drop(t);
    within("the end", log.wait_lost()).await.expect("lost");
    well_ordered(&log);
    assert!(
        sent.starts_with(&log.data()),
        "got {} bytes that are not a prefix of what was sent",
        log.data_len()
    );
    shut(server).await;
}

#[tokio::test]
async fn a_tcp_peer_that_closes_with_our_data_unread() {
    peer_closes_with_our_data_unread(tcp0(), tcp_peer, false).await;
    peer_closes_with_our_data_unread(tcp0(), tcp_peer, true).await;
}

#[tokio::test]
async fn a_unix_peer_that_closes_with_our_data_unread() {
    peer_closes_with_our_data_unread(unix_addr("raw-unread"), unix_peer, false).await;
    peer_closes_with_our_data_unread(unix_addr("raw-unread-p"), unix_peer, true).await;
}

/// The peer sends 20 KB (its FIN follows at once: it fits in our socket)
/// and closes gracefully while we are paused; we then write to it. On TCP
/// its socket answers with a reset, which our socket reports as `EPIPE`
/// because the FIN came first: a graceful close, so what it sent is still
/// ours to read, on resume, in order, then EOF and a clean end. A Unix
/// socket refuses the write itself (`EPIPE`), which ends the connection
/// with an error, as in asyncio: never a silent clean end with data lost.
async fn closed_peer_refuses_our_late_write<A>(addr: A, connect: Connect<A>, keeps_data: bool)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, mut peer, log) = accept(addr, paused(false), connect).await;
    let sent = payload(20_000, 7);
    peer.write_all(&sent).await.expect("the peer writes");
    drop(peer);
    // Its FIN reaches our socket before we write.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = log.transport().expect("the server keeps its transport");
    t.write(Bytes::from_static(b"too late")).expect("writes");
    tokio::time::sleep(PAUSED_LONG).await;
    if keeps_data {
        assert_eq!(log.lost_count(), 0, "ended while paused: {log:?}");
    }
    t.resume_reading();
    drop(t);
    if keeps_data {
        ends_cleanly_with_all(&log, &sent).await;
    } else {
        within("the end", log.wait_lost()).await.expect("lost");
        well_ordered(&log);
        assert!(sent.starts_with(&log.data()), "not a prefix: {log:?}");
        assert!(
            log.data() == sent || log.lost_error().is_some(),
            "data lost without an error: {log:?}"
        );
    }
    shut(server).await;
}

#[tokio::test]
async fn a_closed_tcp_peer_that_resets_our_late_write_keeps_its_data() {
    closed_peer_refuses_our_late_write(tcp0(), tcp_peer, true).await;
}

#[tokio::test]
async fn a_closed_unix_peer_that_refuses_our_late_write_ends_with_an_error() {
    closed_peer_refuses_our_late_write(unix_addr("raw-late"), unix_peer, false).await;
}
