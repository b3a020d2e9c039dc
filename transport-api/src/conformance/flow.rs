//! Flow control under a slow reader, and the stream adapter.

use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::basic::{checksum, pattern};
use super::{
    connect, ensure, serve, shut, step, Accepted, Backend, Event, Failure, Outcome, Recorder,
};
use crate::stream::{StreamListener, TransportStream};
use crate::{Address, Transport, TransportExt, WriteBufferLimits};

/// Whether the transport accepts a write right now (without waiting).
async fn ready_now(t: &impl Transport) -> Option<crate::Result<()>> {
    poll_fn(|cx| {
        Poll::Ready(match t.poll_write_ready(cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        })
    })
    .await
}

const CHUNK: usize = 64 * 1024;

/// Writes `data` while the transport accepts it without waiting (yielding
/// between writes so the backend can move data); returns the bytes written
/// and the largest write buffer seen, once writing would have to wait.
///
/// # Errors
///
/// A failure if 512 MiB go out without backpressure, or the buffer ever
/// passes the high-water mark by more than one write.
async fn fill_until_blocked(
    t: &impl Transport,
    data: &Bytes,
    limits: WriteBufferLimits,
) -> Result<(usize, usize), Failure> {
    const MAX: usize = 512 * 1024 * 1024;
    let mut sent = 0usize;
    let mut max_buffered = 0;
    loop {
        match ready_now(t).await {
            Some(r) => step("poll_write_ready", r)?,
            None => break,
        }
        ensure!(
            sent < MAX,
            "wrote {MAX} bytes to a paused reader without backpressure"
        );
        step("write", t.write(data.clone()))?;
        sent += data.len();
        max_buffered = max_buffered.max(t.write_buffer_size());
        tokio::task::yield_now().await;
    }
    ensure!(
        max_buffered <= limits.high() + data.len(),
        "buffered {max_buffered} bytes, more than high-water mark {} + one write",
        limits.high()
    );
    Ok((sent, max_buffered))
}

/// A connection to a fresh server whose reader starts paused, with write
/// buffer limits of 256 KiB / 64 KiB applied.
struct PausedReader<B: Backend> {
    accepted: Accepted,
    server: <B::Addr as Address>::Server,
    t: <B::Addr as Address>::Transport,
    log: super::Log,
    limits: WriteBufferLimits,
}

async fn paused_reader<B: Backend>(backend: &B) -> Result<PausedReader<B>, Failure> {
    let accepted = Accepted::new(Recorder {
        start_paused: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    let limits =
        WriteBufferLimits::new(256 * 1024, 64 * 1024).map_err(|e| Failure::new(e.to_string()))?;
    t.set_write_buffer_limits(limits);
    ensure!(t.write_buffer_limits() == limits, "limits were not applied");
    Ok(PausedReader {
        accepted,
        server,
        t,
        log,
        limits,
    })
}

/// Waits until the reader got `total` bytes, all of them copies of `data`.
async fn received_intact(reader: &super::Log, total: usize, data: &Bytes, how: &str) -> Outcome {
    reader.wait_data(total).await?;
    ensure!(
        reader.data_len() == total,
        "reader got {} bytes, {total} sent",
        reader.data_len()
    );
    let ok = reader
        .data()
        .chunks(CHUNK)
        .all(|c| checksum(c) == checksum(data));
    ensure!(ok, "data corrupted {how}");
    Ok(())
}

pub(crate) async fn pause_resume<B: Backend>(backend: &B) -> Outcome {
    let PausedReader {
        accepted,
        server,
        t,
        log,
        limits,
    } = paused_reader(backend).await?;
    let data = Bytes::from(pattern(CHUNK, 3));

    // Phase 1: the reader is paused; write while the transport accepts.
    let (sent, mut max_buffered) = fill_until_blocked(&t, &data, limits).await?;
    log.wait_for("pause_writing", |ev| ev.contains(&Event::Pause))
        .await?;

    // Phase 2: the reader resumes; writing honours writable() to the end.
    let server_log = accepted.wait_log(0).await?;
    let reader = server_log.require_transport("server")?;
    ensure!(!reader.is_reading(), "pause_reading did not stick");
    reader.resume_reading();
    let extra = 4 * 1024 * 1024;
    let mut more = 0;
    while more < extra {
        step("writable", t.writable().await)?;
        step("write", t.write(data.clone()))?;
        more += CHUNK;
        max_buffered = max_buffered.max(t.write_buffer_size());
    }
    received_intact(&server_log, sent + more, &data, "under flow control").await?;
    log.wait_for("resume_writing", |ev| ev.contains(&Event::Resume))
        .await?;
    ensure!(
        max_buffered <= limits.high() + CHUNK,
        "buffered {max_buffered} bytes, more than high-water mark {} + one write",
        limits.high()
    );
    let events = log.events();
    let flow: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Pause | Event::Resume))
        .collect();
    let alternates = flow.iter().enumerate().all(|(i, e)| {
        **e == if i % 2 == 0 {
            Event::Pause
        } else {
            Event::Resume
        }
    });
    ensure!(alternates, "pause/resume do not alternate: {flow:?}");
    t.close();
    drop(reader);
    shut(&server).await
}

pub(crate) async fn write_if_ready<B: Backend>(backend: &B) -> Outcome {
    const MAX: usize = 512 * 1024 * 1024;
    let PausedReader {
        accepted,
        server,
        t,
        limits,
        ..
    } = paused_reader(backend).await?;
    let data = Bytes::from(pattern(CHUNK, 7));

    // The reader is paused: write_if_ready takes data until backpressure,
    // then gives the chunk back untouched, and never lets the buffer pass
    // the high-water mark by more than one write.
    let mut sent = 0usize;
    let refused = loop {
        ensure!(
            sent < MAX,
            "write_if_ready took {MAX} bytes for a paused reader"
        );
        match step("write_if_ready", t.write_if_ready(data.clone()))? {
            None => sent += CHUNK,
            Some(back) => break back,
        }
        ensure!(
            t.write_buffer_size() <= limits.high() + CHUNK,
            "write_if_ready buffered {} bytes, more than high-water mark {} + one write",
            t.write_buffer_size(),
            limits.high()
        );
        tokio::task::yield_now().await;
    };
    ensure!(
        refused == data,
        "write_if_ready did not give the refused chunk back untouched"
    );
    ensure!(sent > 0, "write_if_ready refused the first write");
    // A backend may refuse more eagerly than poll_write_ready, but never
    // accept while it would wait.
    if ready_now(&t).await.is_none() {
        ensure!(
            step("write_if_ready", t.write_if_ready(data.clone()))?.is_some(),
            "write_if_ready accepted a write while poll_write_ready waits"
        );
    }

    // The reader resumes: once writable, write_if_ready takes data again,
    // and everything written arrives intact.
    let server_log = accepted.wait_log(0).await?;
    let reader = server_log.require_transport("server")?;
    reader.resume_reading();
    loop {
        step("writable", t.writable().await)?;
        if step("write_if_ready", t.write_if_ready(data.clone()))?.is_none() {
            sent += CHUNK;
            break;
        }
        tokio::task::yield_now().await;
    }
    received_intact(&server_log, sent, &data, "through write_if_ready").await?;

    // Closing: refused with Closed, like write.
    t.close();
    ensure!(
        t.write_if_ready(data.clone()).is_err(),
        "write_if_ready accepted data after close"
    );
    drop(reader);
    shut(&server).await
}

pub(crate) async fn blocked_writer_released<B: Backend>(backend: &B) -> Outcome {
    let PausedReader {
        accepted,
        server,
        t,
        limits,
        ..
    } = paused_reader(backend).await?;
    let reader = accepted.wait_log(0).await?.require_transport("server")?;
    // Neither side reads, and the reader has sent something the writer will
    // never take: the reader's close cannot complete by delivering it.
    t.pause_reading();
    step("reader write", reader.write(Bytes::from_static(b"unread")))?;
    fill_until_blocked(&t, &Bytes::from(pattern(CHUNK, 5)), limits).await?;

    // The waiting writer runs in a task of its own, so only the transport's
    // own wake-up can release it.
    let waiting = t.clone();
    let blocked = tokio::spawn(async move { waiting.writable().await });
    tokio::task::yield_now().await;
    ensure!(
        !blocked.is_finished(),
        "writable() did not wait above the high-water mark"
    );
    reader.close();
    let released = tokio::time::timeout(super::recorder::WAIT, blocked).await;
    ensure!(
        released.is_ok(),
        "a writer waiting in writable() was never released after the peer closed"
    );
    t.abort();
    drop(reader);
    shut(&server).await
}

pub(crate) async fn stream_adapter<B: Backend>(backend: &B) -> Outcome {
    let addr = backend.fresh_addr();
    let mut listener = step("StreamListener::bind", StreamListener::bind(&addr).await)?;
    let addr = backend.client_addr(listener.server());
    let mut client = step(
        "TransportStream::connect",
        TransportStream::connect(&addr).await,
    )?;
    let mut served = listener
        .accept()
        .await
        .ok_or_else(|| Failure::new("no stream accepted"))?;

    // 1 MiB each way through the AsyncRead/AsyncWrite impls, concurrently:
    // the client writes and reads the echo at the same time (its halves
    // split), the server echoes in small reads.
    let data = pattern(1024 * 1024, 11);
    let (mut rd, mut wr) = tokio::io::split(&mut client);
    let (written, back, echoed) = tokio::join!(
        async {
            wr.write_all(&data)
                .await
                .map_err(|e| Failure::new(format!("write_all: {e}")))
        },
        async {
            let mut back = vec![0u8; data.len()];
            rd.read_exact(&mut back)
                .await
                .map_err(|e| Failure::new(format!("read_exact of the echo: {e}")))?;
            Ok::<_, Failure>(back)
        },
        async {
            let mut buf = vec![0u8; 8 * 1024];
            let mut total = 0;
            while total < data.len() {
                let n = served
                    .read(&mut buf)
                    .await
                    .map_err(|e| Failure::new(format!("server read: {e}")))?;
                ensure!(n > 0, "server saw EOF after {total} bytes");
                total += n;
                served
                    .write_all(&buf[..n])
                    .await
                    .map_err(|e| Failure::new(format!("server write: {e}")))?;
            }
            Ok::<_, Failure>(total)
        }
    );
    written?;
    let back = back?;
    let total = echoed?;
    ensure!(
        total == data.len(),
        "server read {total} of {} bytes",
        data.len()
    );
    ensure!(back == data, "echo through the stream adapter differs");

    // Shutting the client down ends the server's reads: EOF, or the end of
    // the connection on transports without half-close.
    client
        .shutdown()
        .await
        .map_err(|e| Failure::new(format!("shutdown: {e}")))?;
    let mut rest = Vec::new();
    let end = served.read_to_end(&mut rest).await;
    ensure!(
        rest.is_empty(),
        "server read {} bytes after the client shut down",
        rest.len()
    );
    if client.transport().can_write_eof() {
        ensure!(end.is_ok(), "read after a half-close failed: {end:?}");
    }
    drop(client);
    drop(served);
    listener.close();
    let server = listener.server();
    shut(server).await
}
