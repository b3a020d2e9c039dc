//! Data scenarios: echo, many connections, a large payload, peer info,
//! refused connections.

use std::io::ErrorKind;

use bytes::Bytes;

use super::{connect, ensure, serve, shut, step, Accepted, Backend, Failure, Outcome, Recorder};
use crate::{Address, Transport, TransportExt};

/// A deterministic pseudo-random byte pattern (xorshift), so corruption and
/// reordering cannot go unnoticed.
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// FNV-1a over `data`.
pub(crate) fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) async fn echo<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, log) = connect(&addr).await?;
    let mut sent = Vec::new();
    for i in 0..500u32 {
        let msg = format!("message {i}|");
        sent.extend_from_slice(msg.as_bytes());
        step("write", t.write(Bytes::from(msg)))?;
    }
    // The same again in batches, with an empty chunk and a large one among
    // them: writelines keeps the order of its chunks and of earlier writes.
    for batch in 0..10u32 {
        let mut chunks: Vec<Bytes> = (0..50u32)
            .map(|i| Bytes::from(format!("batch {batch} line {i}|")))
            .collect();
        chunks.insert(25, Bytes::new());
        chunks.push(Bytes::from(pattern(8 * 1024, u64::from(batch) + 1)));
        for c in &chunks {
            sent.extend_from_slice(c);
        }
        step("writelines", t.writelines(&chunks))?;
    }
    log.wait_data(sent.len()).await?;
    ensure!(log.data() == sent, "the echo differs from what was sent");
    t.close();
    ensure!(
        t.writelines(&[Bytes::from_static(b"late")]).is_err(),
        "writelines after close succeeded"
    );
    log.wait_lost().await?;
    shut(&server).await
}

pub(crate) async fn concurrent_connections<B: Backend>(backend: &B) -> Outcome {
    const N: usize = 100;
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        let (t, log) = connect(&addr).await?;
        clients.push((t, log));
    }
    // All connections are open at once; now every one sends.
    let payload = |i: usize| format!("client {i} says hello;").repeat(20);
    for (i, (t, _)) in clients.iter().enumerate() {
        step("write", t.write(Bytes::from(payload(i))))?;
    }
    for (i, (_, log)) in clients.iter().enumerate() {
        log.wait_data(payload(i).len()).await?;
        ensure!(
            log.data() == payload(i).as_bytes(),
            "connection {i} got another connection's data"
        );
    }
    ensure!(
        accepted.logs().len() == N,
        "server accepted {} connections, expected {N}",
        accepted.logs().len()
    );
    for (t, _) in &clients {
        t.close();
    }
    shut(&server).await
}

pub(crate) async fn large_payload<B: Backend>(backend: &B) -> Outcome {
    const SIZE: usize = 16 * 1024 * 1024;
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, _) = connect(&addr).await?;
    let data = Bytes::from(pattern(SIZE, 0x5eed));
    // Uneven chunk sizes, from 1 byte to 128 KiB.
    let mut offset = 0;
    let mut size = 1;
    while offset < SIZE {
        step("writable", t.writable().await)?;
        let end = (offset + size).min(SIZE);
        step("write", t.write(data.slice(offset..end)))?;
        offset = end;
        size = (size * 7 + 3) % (128 * 1024) + 1;
    }
    let server_log = accepted.wait_log(0).await?;
    server_log.wait_data(SIZE).await?;
    let got = server_log.data();
    ensure!(got.len() == SIZE, "received {} bytes of {SIZE}", got.len());
    ensure!(
        checksum(&got) == checksum(&data),
        "16 MiB payload arrived corrupted"
    );
    t.close();
    server_log.wait_lost().await?;
    shut(&server).await
}

pub(crate) async fn peer_info<B: Backend>(backend: &B) -> Outcome {
    let accepted = Accepted::default();
    let (server, addr) = serve(backend, &accepted).await?;
    let (t, _) = connect(&addr).await?;
    let server_log = accepted.wait_log(0).await?;
    server_log
        .wait_for("connection_made", |ev| !ev.is_empty())
        .await?;
    let server_t = server_log.require_transport("server")?;
    let (client_peer, client_local) = (t.peer_addr(), t.local_addr());
    ensure!(
        client_peer.is_some(),
        "client transport has no peer address"
    );
    ensure!(
        client_local.is_some(),
        "client transport has no local address"
    );
    ensure!(
        server_t.peer_addr() == client_local,
        "server sees peer {:?}, client says it is {:?}",
        server_t.peer_addr(),
        client_local
    );
    ensure!(
        server_t.local_addr() == client_peer,
        "server says it is {:?}, client sees peer {:?}",
        server_t.local_addr(),
        client_peer
    );
    t.close();
    shut(&server).await
}

pub(crate) async fn refused_connection<B: Backend>(backend: &B) -> Outcome {
    let addr = backend.refused_addr();
    match addr.create_connection(Recorder::default()).await {
        Ok(_) => Err(Failure::new(format!("connecting to {addr} succeeded"))),
        Err(e) => {
            ensure!(
                e.kind() == ErrorKind::ConnectionRefused,
                "connecting to {addr} failed with kind {:?} ({e}), expected ConnectionRefused",
                e.kind()
            );
            Ok(())
        }
    }
}
