//! Protocols that misbehave in their callbacks: they end their own
//! connection from `data_received`, write a lot from it, stop reading for
//! good, panic, or block their thread.
//!
//! Not in [`SCENARIOS`](super::SCENARIOS) (but for
//! [`panic_in_connection_made`] and [`close_while_peer_never_reads`],
//! contracts every backend keeps): the
//! blocking scenario needs a multi-thread runtime, and the panicking ones
//! print panic messages. Call them from a
//! `#[tokio::test(flavor = "multi_thread")]`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use bytes::Bytes;

use super::recorder::WAIT;
use super::{connect, ensure, shut, step, Backend, Event, Failure, Log, Outcome, Recorder};
use crate::{Address, Error, Protocol, SharedTransport, Transport};

/// What the server's protocol does on its first `data_received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnData {
    /// Calls `close` on its own transport.
    Close,
    /// Calls `abort` on its own transport.
    Abort,
    /// Drops the only handle to its transport.
    DropTransport,
    /// Writes 64 MiB, in 1 MiB chunks, then closes.
    Write64MiB,
}

/// 64 MiB.
const BIG: usize = 64 << 20;

struct Misbehaving {
    on_data: OnData,
    transport: Option<SharedTransport>,
    log: Log,
}

impl Protocol for Misbehaving {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        self.log.push(Event::Data(data));
        let Some(t) = &self.transport else { return };
        match self.on_data {
            OnData::Close => t.close(),
            OnData::Abort => t.abort(),
            OnData::DropTransport => self.transport = None,
            OnData::Write64MiB => {
                let chunk = Bytes::from(vec![0x5a; 1 << 20]);
                for _ in 0..BIG >> 20 {
                    let _ = t.write(chunk.clone());
                }
                t.close();
            }
        }
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.transport = None;
        self.log.push(Event::Lost(error.map(|e| e.kind())));
    }
}

/// The server's protocol does `on_data` from inside `data_received`: both
/// sides get `connection_lost` exactly once, the client gets everything
/// written before a close (64 MiB for [`OnData::Write64MiB`]), and
/// `wait_closed` returns.
pub async fn end_from_data_received<B: Backend>(backend: &B, on_data: OnData) -> Outcome {
    let server_log = Log::new();
    let sl = server_log.clone();
    let server = step(
        "create_server",
        backend
            .fresh_addr()
            .create_server(move || Misbehaving {
                on_data,
                transport: None,
                log: sl.clone(),
            })
            .await,
    )?;
    let (t, log) = connect(&backend.client_addr(&server)).await?;
    step("write", t.write(Bytes::from_static(b"go")))?;
    if on_data == OnData::Write64MiB {
        log.wait_data(BIG).await?;
    }
    drop(t);
    log.wait_lost().await?;
    server_log.wait_lost().await?;
    ensure!(
        log.lost_count() == 1 && server_log.lost_count() == 1,
        "connection_lost: client {} times, server {} times",
        log.lost_count(),
        server_log.lost_count()
    );
    if on_data == OnData::Write64MiB {
        ensure!(
            log.data_len() == BIG,
            "the client received {} of {BIG} bytes",
            log.data_len()
        );
    }
    shut(&server).await
}

/// The client pauses reading; the server writes a little and closes: the
/// server's close completes (its `connection_lost(None)` comes) and
/// `wait_closed` returns although the client reads nothing, as asyncio's
/// `close` completes once the data is handed off (to the kernel's buffers
/// on sockets, to the peer's inbox on local queues: up to the closing
/// side's high-water mark). Once the client reads again, however long it
/// waited, it gets what was sent, then `connection_lost(None)`.
///
/// In [`SCENARIOS`](super::SCENARIOS) as `close_while_peer_paused`.
pub async fn close_while_peer_never_reads<B: Backend>(backend: &B) -> Outcome {
    let accepted = super::Accepted::default();
    let (server, addr) = super::serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    t.pause_reading();
    step("write", t.write(Bytes::from_static(b"hello")))?;
    let server_log = accepted.wait_log(0).await?;
    server_log.wait_data(5).await?;
    let st = server_log.require_transport("server")?;
    step("server write", st.write(Bytes::from_static(b"unread")))?;
    st.close();
    drop(st);
    server_log.wait_lost().await?;
    ensure!(
        server_log.lost_error().is_none() && server_log.lost_count() == 1,
        "the server's close ended with {:?}",
        server_log.events()
    );
    shut(&server).await?;
    // A close is not a departure: however long the client stays paused
    // (longer than a backend's look at a paused peer), what was sent waits.
    tokio::time::sleep(super::PAUSED_LONG).await;
    ensure!(
        log.lost_count() == 0,
        "the paused client's connection ended before it read again: {:?}",
        log.events()
    );
    // Reading again, the client gets what was sent and the end.
    t.resume_reading();
    log.wait_lost().await?;
    ensure!(
        log.data() == b"unread",
        "the client got {:?} after resuming",
        log.data()
    );
    ensure!(
        log.lost_error().is_none(),
        "the client's connection ended with {:?}",
        log.lost_error()
    );
    Ok(())
}

/// Where a protocol panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicIn {
    /// The server's `connection_made`.
    ServerMade,
    /// The server's `connection_lost`.
    ServerLost,
    /// The server's factory.
    Factory,
    /// The client's `connection_made`.
    ClientMade,
}

/// A recorder that panics in one callback.
struct Panicky {
    inner: Recorder,
    panic_in: Option<PanicIn>,
}

impl Protocol for Panicky {
    fn connection_made(&mut self, transport: SharedTransport) {
        if matches!(
            self.panic_in,
            Some(PanicIn::ServerMade | PanicIn::ClientMade)
        ) {
            panic!("connection_made panics on purpose");
        }
        self.inner.connection_made(transport)
    }
    fn data_received(&mut self, data: Bytes) {
        self.inner.data_received(data)
    }
    fn connection_lost(&mut self, error: Option<Error>) {
        self.inner.connection_lost(error);
        if self.panic_in == Some(PanicIn::ServerLost) {
            panic!("connection_lost panics on purpose");
        }
    }
}

/// The first connection's protocol panics in `panic_in`: the connecting
/// client gets an error or its connection ends (never a hang; for
/// [`PanicIn::ClientMade`], [`Error::ProtocolPanicked`]), the server
/// goes on serving (a second connection echoes), and `wait_closed` returns.
pub async fn panicking_protocol<B: Backend>(backend: &B, panic_in: PanicIn) -> Outcome {
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let server = step(
        "create_server",
        backend
            .fresh_addr()
            .create_server(move || {
                let first = c.fetch_add(1, Ordering::SeqCst) == 0;
                if first && panic_in == PanicIn::Factory {
                    panic!("the factory panics on purpose");
                }
                Panicky {
                    inner: Recorder {
                        echo: true,
                        ..Recorder::default()
                    },
                    panic_in: first
                        .then_some(panic_in)
                        .filter(|p| *p != PanicIn::ClientMade),
                }
            })
            .await,
    )?;
    let addr = backend.client_addr(&server);
    let log = Log::new();
    let client = Panicky {
        inner: Recorder::new(&log),
        panic_in: Some(panic_in).filter(|p| *p == PanicIn::ClientMade),
    };
    let connecting = {
        let addr = addr.clone();
        tokio::spawn(async move { addr.create_connection(client).await.map(|(t, _)| t) })
    };
    match tokio::time::timeout(WAIT, connecting).await {
        Err(_) => return Err(Failure::new("create_connection hung")),
        Ok(Err(e)) => {
            return Err(Failure::new(format!(
                "create_connection unwound into its caller: {e}"
            )))
        }
        Ok(Ok(Err(e))) => {
            if panic_in == PanicIn::ClientMade {
                client_panic_reported(&e)?;
            }
        }
        Ok(Ok(Ok(_))) if panic_in == PanicIn::ClientMade => {
            return Err(Failure::new(
                "create_connection succeeded although the client's connection_made panicked",
            ))
        }
        Ok(Ok(Ok(t))) => {
            if panic_in == PanicIn::ServerLost {
                t.close();
            }
            log.wait_lost().await?;
        }
    }
    let (t, second) = connect(&addr).await?;
    step("write", t.write(Bytes::from_static(b"still serving")))?;
    second.wait_data(13).await?;
    t.close();
    second.wait_lost().await?;
    shut(&server).await
}

/// Checks that `create_connection`'s error reports the client's panic in
/// `connection_made`, with its message.
fn client_panic_reported(e: &Error) -> Outcome {
    match e {
        Error::ProtocolPanicked { callback, message }
            if *callback == "connection_made" && message.contains("on purpose") =>
        {
            Ok(())
        }
        other => Err(Failure::new(format!(
            "a panic in the client's connection_made gave {other:?}, \
             not ProtocolPanicked naming the panic"
        ))),
    }
}

/// The contract of a panic in `connection_made` (see
/// [`Protocol`]), on one server: with connection A
/// established, a client B whose `connection_made` panics gets
/// [`Error::ProtocolPanicked`] naming the panic from `create_connection`
/// (not the panic itself), and the server's side of B ends; a connection C
/// whose *server* protocol panics in `connection_made` is refused or ends
/// (never hangs); A echoes all along, and a new connection D works.
///
/// In [`SCENARIOS`](super::SCENARIOS) (as `panic_in_connection_made`): the
/// panic hook prints both panics.
pub async fn panic_in_connection_made<B: Backend>(backend: &B) -> Outcome {
    let accepted = super::Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let made = accepted.factory();
    let count = Arc::new(AtomicUsize::new(0));
    let server = step(
        "create_server",
        backend
            .fresh_addr()
            .create_server(move || Panicky {
                inner: made(),
                panic_in: (count.fetch_add(1, Ordering::SeqCst) == 2)
                    .then_some(PanicIn::ServerMade),
            })
            .await,
    )?;
    let addr = backend.client_addr(&server);
    let (a, a_log) = connect(&addr).await?;
    step("write", a.write(Bytes::from_static(b"A")))?;
    a_log.wait_data(1).await?;

    // B: the client's own connection_made panics.
    let b = Panicky {
        inner: Recorder::default(),
        panic_in: Some(PanicIn::ClientMade),
    };
    let connecting = {
        let addr = addr.clone();
        tokio::spawn(async move { addr.create_connection(b).await.map(drop) })
    };
    match tokio::time::timeout(WAIT, connecting).await {
        Err(_) => return Err(Failure::new("create_connection of B hung")),
        Ok(Err(e)) => {
            return Err(Failure::new(format!(
                "B's panic in connection_made unwound into the caller of create_connection: {e}"
            )))
        }
        Ok(Ok(Ok(()))) => {
            return Err(Failure::new(
                "create_connection of B succeeded although its connection_made panicked",
            ))
        }
        Ok(Ok(Err(e))) => client_panic_reported(&e)?,
    }
    let b_server = accepted.wait_log(1).await?;
    b_server.wait_lost().await?;
    ensure!(
        b_server.lost_count() == 1,
        "the server's side of B got connection_lost {} times",
        b_server.lost_count()
    );

    // C: the server's connection_made panics.
    let c_log = Log::new();
    match tokio::time::timeout(WAIT, addr.create_connection(Recorder::new(&c_log))).await {
        Err(_) => return Err(Failure::new("create_connection of C hung")),
        Ok(Err(_)) => {}
        Ok(Ok(_)) => c_log.wait_lost().await?,
    }

    // A is undisturbed, and the server still serves.
    step("write", a.write(Bytes::from_static(b"still here")))?;
    a_log.wait_data(11).await?;
    let (d, d_log) = connect(&addr).await?;
    step("write", d.write(Bytes::from_static(b"D")))?;
    d_log.wait_data(1).await?;
    for (t, log) in [(a, a_log), (d, d_log)] {
        t.close();
        log.wait_lost().await?;
        ensure!(
            log.lost_count() == 1 && log.lost_error().is_none(),
            "a healthy connection ended with {:?}",
            log.events()
        );
    }
    shut(&server).await
}

/// A protocol that blocks its thread in `data_received` until told to go
/// on, while another connection to the same server does a round trip.
struct Blocking {
    transport: Option<SharedTransport>,
    entered: mpsc::SyncSender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Protocol for Blocking {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, _: Bytes) {
        let _ = self.entered.try_send(());
        let release = self.release.lock().unwrap_or_else(|p| p.into_inner());
        let _ = release.recv_timeout(WAIT);
    }
}

/// One connection's callback blocks its worker thread; other connections
/// (to a second server on the same backend) keep working meanwhile.
pub async fn blocking_callback<B: Backend>(backend: &B) -> Outcome {
    let (entered_tx, entered_rx) = mpsc::sync_channel(1);
    let (release_tx, release_rx) = mpsc::channel();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let blocking = step(
        "create_server",
        backend
            .fresh_addr()
            .create_server(move || Blocking {
                transport: None,
                entered: entered_tx.clone(),
                release: Arc::clone(&release_rx),
            })
            .await,
    )?;
    let (bt, _blog) = connect(&backend.client_addr(&blocking)).await?;
    step("write", bt.write(Bytes::from_static(b"block")))?;
    let entered = tokio::task::spawn_blocking(move || entered_rx.recv_timeout(WAIT));
    ensure!(
        matches!(entered.await, Ok(Ok(()))),
        "the blocking callback never ran"
    );

    let accepted = super::Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let (echo, addr) = super::serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    step("write", t.write(Bytes::from_static(b"ping")))?;
    let round_trip = log.wait_data(4).await;
    let _ = release_tx.send(());
    round_trip?;
    t.close();
    bt.close();
    log.wait_lost().await?;
    shut(&echo).await?;
    shut(&blocking).await
}

/// The stream adapter used roughly: split into a reader task and a writer
/// task over an echo server, zero-length writes, shutdown twice, reads
/// after EOF, and a stream dropped in the middle of a write.
pub async fn stream_abuse<B: Backend>(backend: &B) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{StreamListener, TransportStream};

    let mut listener = step("bind", StreamListener::bind(&backend.fresh_addr()).await)?;
    let addr = backend.client_addr(listener.server());
    let echo = tokio::spawn(async move {
        while let Some(stream) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(stream);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });

    let stream = step("connect", TransportStream::connect(&addr).await)?;
    let (mut r, mut w) = tokio::io::split(stream);
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = data.clone();
    let len = data.len();
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; len];
        r.read_exact(&mut got).await.map(|_| (got, r))
    });
    let write = async {
        ensure!(
            matches!(w.write(&[]).await, Ok(0)),
            "a zero-length write did not return Ok(0)"
        );
        for chunk in data.chunks(7919) {
            w.write_all(chunk)
                .await
                .map_err(|e| Failure::new(format!("write: {e}")))?;
        }
        Ok(())
    };
    tokio::time::timeout(WAIT, write)
        .await
        .map_err(|_| Failure::new("writing hung"))??;
    let (got, mut r) = match tokio::time::timeout(WAIT, reader).await {
        Ok(Ok(Ok(done))) => done,
        other => return Err(Failure::new(format!("reading failed: {other:?}"))),
    };
    ensure!(got == expected, "read back different bytes");
    for what in ["shutdown", "second shutdown"] {
        w.shutdown()
            .await
            .map_err(|e| Failure::new(format!("{what}: {e}")))?;
    }
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let read = tokio::time::timeout(WAIT, r.read(&mut buf)).await;
        ensure!(
            matches!(read, Ok(Ok(0))),
            "a read after EOF did not return Ok(0): {read:?}"
        );
    }

    // Dropped mid-write: the writer gives up with data still to go.
    let mut stream = step("connect", TransportStream::connect(&addr).await)?;
    stream
        .transport()
        .set_write_buffer_limits(crate::WriteBufferLimits::with_high(1024));
    let big = vec![1u8; 8 << 20];
    // Polled until it waits for room, then dropped.
    tokio::select! {
        biased;
        _ = stream.write_all(&big) => {}
        () = std::future::ready(()) => {}
    }
    drop(stream);

    // The echo server is still fine.
    let mut again = step("connect", TransportStream::connect(&addr).await)?;
    let round_trip = async {
        again.write_all(b"ping").await?;
        let mut pong = [0u8; 4];
        again.read_exact(&mut pong).await.map(|_| pong)
    };
    match tokio::time::timeout(WAIT, round_trip).await {
        Ok(Ok(pong)) => ensure!(&pong == b"ping", "echoed {pong:?}"),
        other => return Err(Failure::new(format!("round trip failed: {other:?}"))),
    }
    drop(again);
    echo.abort();
    Ok(())
}
