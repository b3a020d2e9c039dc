//! Ending connections: close, abort, EOF, write after close, server close,
//! dropped handles.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;

use super::basic::pattern;
use super::{
    connect, ensure, serve, shut, step, Accepted, Backend, Event, Failure, Log, Outcome, Recorder,
};
use crate::{Address, Error, Server, Transport};

/// Checks that `log` ends with exactly one `connection_lost`, last.
fn lost_once_last(who: &str, log: &Log, expect: Option<Option<ErrorKind>>) -> Outcome {
    let events = log.events();
    ensure!(
        log.lost_count() == 1,
        "{who}: connection_lost called {} times: {log:?}",
        log.lost_count()
    );
    ensure!(
        matches!(events.last(), Some(Event::Lost(_))),
        "{who}: connection_lost is not the last event: {log:?}"
    );
    if let (Some(expected), Some(Event::Lost(got))) = (expect, events.last()) {
        ensure!(
            *got == expected,
            "{who}: connection_lost({got:?}), expected {expected:?} (the error: {})",
            log.lost_error().unwrap_or_else(|| "none".to_owned())
        );
    }
    ensure!(
        events.first() == Some(&Event::Made),
        "{who}: connection_made is not first: {log:?}"
    );
    Ok(())
}

pub(crate) async fn close_flushes<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    // Client closes after writing 1 MiB: the server gets all of it, then lost.
    let (t, log) = connect(&addr).await?;
    let data = pattern(1024 * 1024, 7);
    for chunk in data.chunks(64 * 1024) {
        step("write", t.write(Bytes::copy_from_slice(chunk)))?;
    }
    t.close();
    ensure!(t.is_closing(), "is_closing is false right after close");
    let server_log = accepted.wait_log(0).await?;
    server_log.wait_lost().await?;
    log.wait_lost().await?;
    ensure!(
        server_log.data() == data,
        "server got {} of {} bytes before connection_lost",
        server_log.data_len(),
        data.len()
    );
    lost_once_last("server", &server_log, Some(None))?;
    lost_once_last("client", &log, Some(None))?;

    // Server closes after writing: the client gets everything, then lost.
    let (_t, log) = connect(&addr).await?;
    let server_log = accepted.wait_log(1).await?;
    server_log
        .wait_for("connection_made", |ev| !ev.is_empty())
        .await?;
    let server_t = server_log.require_transport("server")?;
    for chunk in data.chunks(64 * 1024) {
        step(
            "server write",
            server_t.write(Bytes::copy_from_slice(chunk)),
        )?;
    }
    server_t.close();
    drop(server_t);
    log.wait_lost().await?;
    server_log.wait_lost().await?;
    ensure!(log.data() == data, "client got {} bytes", log.data_len());
    lost_once_last("client", &log, Some(None))?;
    lost_once_last("server", &server_log, Some(None))?;
    shut(&server).await
}

pub(crate) async fn abort<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    let server_log = accepted.wait_log(0).await?;
    step("write", t.write(Bytes::from_static(b"before abort")))?;
    server_log.wait_data(12).await?;
    t.abort();
    ensure!(t.is_closing(), "is_closing is false after abort");
    ensure!(
        t.write_buffer_size() == 0,
        "abort kept {} buffered bytes",
        t.write_buffer_size()
    );
    ensure!(
        matches!(t.write(Bytes::from_static(b"x")), Err(Error::Closed)),
        "write after abort did not fail with Closed"
    );
    log.wait_lost().await?;
    server_log.wait_lost().await?;
    lost_once_last("client", &log, Some(None))?;
    lost_once_last("server", &server_log, None)?;
    ensure!(
        server_log.data() == b"before abort",
        "server got {:?}",
        String::from_utf8_lossy(&server_log.data())
    );
    shut(&server).await
}

pub(crate) async fn eof<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::new(Recorder {
        keep_open_on_eof: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    if !t.can_write_eof() {
        let err = t
            .write_eof()
            .err()
            .ok_or_else(|| Failure::new("write_eof succeeded where can_write_eof is false"))?;
        ensure!(
            err.kind() == ErrorKind::Unsupported,
            "write_eof failed with {err}, expected Unsupported"
        );
        step(
            "write after refused write_eof",
            t.write(Bytes::from_static(b"ok")),
        )?;
        accepted.wait_log(0).await?.wait_data(2).await?;
        t.close();
        return shut(&server).await;
    }
    // Half-close: the server sees the request, then EOF, and can still reply.
    step("write", t.write(Bytes::from_static(b"request")))?;
    step("write_eof", t.write_eof())?;
    ensure!(
        t.write(Bytes::from_static(b"late")).is_err(),
        "write after write_eof succeeded"
    );
    let server_log = accepted.wait_log(0).await?;
    server_log
        .wait_for("eof_received", |ev| ev.contains(&Event::Eof))
        .await?;
    ensure!(
        server_log.data() == b"request",
        "data before EOF incomplete"
    );
    let server_t = server_log
        .transport()
        .ok_or_else(|| Failure::new("server lost its transport after eof_received -> true"))?;
    step(
        "reply after EOF",
        server_t.write(Bytes::from_static(b"response")),
    )?;
    server_t.close();
    drop(server_t);
    log.wait_lost().await?;
    ensure!(log.data() == b"response", "client did not get the reply");
    lost_once_last("client", &log, Some(None))?;
    server_log.wait_lost().await?;
    lost_once_last("server", &server_log, None)?;

    // eof_received -> false closes the receiving side's transport.
    let closing = Accepted::default();
    let (server2, addr2) = serve(backend, &closing).await?;
    let (t, log) = connect(&addr2).await?;
    step("write_eof", t.write_eof())?;
    let server_log = closing.wait_log(0).await?;
    server_log.wait_lost().await?;
    log.wait_lost().await?;
    ensure!(
        server_log.count(&Event::Eof) == 1,
        "eof_received not called once: {server_log:?}"
    );
    lost_once_last("server", &server_log, Some(None))?;
    shut(&server).await?;
    shut(&server2).await
}

pub(crate) async fn write_after_close<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    t.close();
    t.close(); // idempotent
    match t.write(Bytes::from_static(b"late")) {
        Err(e) => ensure!(
            e.kind() == ErrorKind::BrokenPipe,
            "write after close failed with {e} (kind {:?}), expected BrokenPipe",
            e.kind()
        ),
        Ok(()) => return Err(Failure::new("write after close succeeded")),
    }
    log.wait_lost().await?;
    ensure!(
        t.write(Bytes::from_static(b"later")).is_err(),
        "write after connection_lost succeeded"
    );
    t.abort(); // harmless after the end
    lost_once_last("client", &log, Some(None))?;
    shut(&server).await
}

pub(crate) async fn server_close<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t1, _) = connect(&addr).await?;
    let (t2, _) = connect(&addr).await?;
    let first = accepted.wait_log(0).await?;
    accepted.wait_log(1).await?;
    server.close();
    ensure!(!server.is_serving(), "closed server still serving");
    match addr.create_connection(Recorder::default()).await {
        Ok(_) => return Err(Failure::new("a closed server accepted a connection")),
        Err(e) => ensure!(
            matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound),
            "connecting to a closed server failed with {e}, expected refused or not found"
        ),
    }
    // Established connections outlive close().
    step(
        "write after server close",
        t1.write(Bytes::from_static(b"still up")),
    )?;
    first.wait_data(8).await?;
    let early = tokio::time::timeout(Duration::from_millis(50), server.wait_closed()).await;
    ensure!(
        early.is_err(),
        "wait_closed returned while connections were open"
    );
    t1.close();
    t2.close();
    tokio::time::timeout(super::recorder::WAIT, server.wait_closed())
        .await
        .map_err(|_| Failure::new("wait_closed did not return after the connections closed"))?;
    for (i, log) in accepted.logs().iter().enumerate() {
        ensure!(
            log.lost_count() == 1,
            "wait_closed returned before connection {i} got connection_lost"
        );
    }
    Ok(())
}

pub(crate) async fn dropped_transport<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let log = Log::new();
    let client = Recorder {
        forget_transport: true,
        ..Recorder::new(&log)
    };
    let (t, _) = step("create_connection", addr.create_connection(client).await)?;
    step("write", t.write(Bytes::from_static(b"last words")))?;
    drop(t);
    let server_log = accepted.wait_log(0).await?;
    server_log.wait_lost().await?;
    log.wait_lost().await?;
    ensure!(
        server_log.data() == b"last words",
        "data written before the drop was lost"
    );
    lost_once_last("server", &server_log, None)?;
    lost_once_last("client", &log, Some(None))?;
    shut(&server).await
}

/// The server pauses reading before the client writes; the client writes,
/// then aborts: the server learns that the connection is lost although it
/// reads nothing more (a TCP reset waits behind the unread data: a backend
/// must look for it while paused, or a peer that floods and leaves keeps
/// the server's connection and its work alive). `connection_lost` comes
/// once, last, with or without an error.
///
/// Where an abort cannot be told from a close ([`Backend::ABORT_IS_SIGNALLED`]
/// is false), the server stays paused a while without losing anything, and
/// on reading again gets a prefix of what was written (the rest was
/// dropped unsent), then the end.
pub(crate) async fn abort_while_peer_paused<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    let server_log = accepted.wait_log(0).await?;
    let st = server_log.require_transport("server")?;
    st.pause_reading();
    let written = pattern(64 * 1024, 7);
    step("write", t.write(Bytes::from(written.clone())))?;
    t.abort();
    log.wait_lost().await?;
    if !B::ABORT_IS_SIGNALLED {
        tokio::time::sleep(super::PAUSED_LONG).await;
        ensure!(
            server_log.lost_count() == 0,
            "an abort that looks like a close ended the paused server: {:?}",
            server_log.events()
        );
        st.resume_reading();
    }
    drop(st);
    server_log.wait_lost().await?;
    let got = server_log.data();
    ensure!(
        written.starts_with(&got),
        "the server got {} bytes that are not a prefix of what was written",
        got.len()
    );
    lost_once_last("server", &server_log, None)?;
    shut(&server).await
}
