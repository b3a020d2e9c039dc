//! TCP-transport scenarios against raw `TcpStream` baselines on loopback.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use transport_tcp::TcpAddr;

use crate::transfer::{decode_all, runtime, transfer, Count};
use crate::{Scenario, ROUNDS};

const PAYLOAD: usize = 64;
const MESSAGES: usize = 400_000;
const BULK: usize = 64 * 1024;
const BULK_TOTAL: usize = 512 * 1024 * 1024;

/// Each TCP scenario runs against two raw baselines: the kernel's default
/// socket buffers (what a tokio user gets, and the baseline the floors are
/// set against), and a 128 KiB `SO_SNDBUF`, the fastest raw setting measured
/// on loopback (see [`TUNED_SNDBUF`]).
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "tcp_oneway_64B",
            unit: "msg/s",
            work: MESSAGES as f64,
            measured: framed_transport,
            baseline: || framed_raw(None),
            baseline_name: "raw TcpStream, BufWriter-batched framing",
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "tcp_bulk_64KiB",
            unit: "MiB/s",
            work: (BULK_TOTAL / (1024 * 1024)) as f64,
            measured: bulk_transport,
            baseline: || bulk_raw(None),
            baseline_name: "raw TcpStream, 64 KiB writes",
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "tcp_oneway_64B_tuned",
            unit: "msg/s",
            work: MESSAGES as f64,
            measured: framed_transport,
            baseline: || framed_raw(Some(TUNED_SNDBUF)),
            baseline_name: "the same, 128 KiB SO_SNDBUF",
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "tcp_oneway_64B_batched",
            unit: "msg/s",
            work: MESSAGES as f64,
            measured: framed_transport_batched,
            baseline: || framed_raw(Some(TUNED_SNDBUF)),
            baseline_name: "raw, 128 KiB SO_SNDBUF; 64 messages per writelines",
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "tcp_bulk_64KiB_tuned",
            unit: "MiB/s",
            work: (BULK_TOTAL / (1024 * 1024)) as f64,
            measured: bulk_transport,
            baseline: || bulk_raw(Some(TUNED_SNDBUF)),
            baseline_name: "the same, 128 KiB SO_SNDBUF",
            floor: None,
            rounds: ROUNDS,
        },
    ]
}

/// One length-prefixed message: a 4-byte big-endian length, 64 B payload.
/// Static, so handing it to `write` costs no reference count: the scenario
/// measures the transport, not `Bytes` bookkeeping (the raw baseline writes
/// the same bytes from a slice).
static MESSAGE: [u8; 4 + PAYLOAD] = {
    let mut m = [7u8; 4 + PAYLOAD];
    let len = (PAYLOAD as u32).to_be_bytes();
    m[0] = len[0];
    m[1] = len[1];
    m[2] = len[2];
    m[3] = len[3];
    m
};

fn message() -> Bytes {
    Bytes::from_static(&MESSAGE)
}

pub(crate) fn loopback() -> TcpAddr {
    "tcp://127.0.0.1:0".parse().unwrap()
}

fn framed_transport() -> Duration {
    transfer(loopback(), message(), MESSAGES, Count::Messages, 1)
}

/// The same messages, 64 per `writelines` call.
fn framed_transport_batched() -> Duration {
    transfer(loopback(), message(), MESSAGES, Count::Messages, 64)
}

fn bulk_transport() -> Duration {
    let chunk = Bytes::from(vec![7u8; BULK]);
    transfer(loopback(), chunk, BULK_TOTAL / BULK, Count::Bytes, 1)
}

/// The tuned baselines' send buffer. With the kernel's default (several MiB
/// on loopback once autotuned) a raw writer on a current-thread runtime runs
/// far ahead of its reader and the data goes cold in cache; with 128 KiB it
/// stays hot, which made raw bulk transfer about 3.5x and raw small messages
/// about 2x faster here. The transport gains nothing from it (measured), so
/// the `_tuned` rows compare it with the best raw stream we found.
const TUNED_SNDBUF: u32 = 128 * 1024;

/// A connected loopback pair of raw streams, TCP_NODELAY on both, with the
/// writer's send buffer set if asked.
pub(crate) async fn raw_pair(sndbuf: Option<u32>) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = sndbuf {
        socket.set_send_buffer_size(size).unwrap();
    }
    let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
    let (client, server) = (client.unwrap(), accepted.unwrap().0);
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

fn framed_raw(sndbuf: Option<u32>) -> Duration {
    runtime().block_on(async {
        let (client, mut server) = raw_pair(sndbuf).await;
        let msg = message();
        let start = Instant::now();
        let reader = tokio::spawn(async move {
            // The same decoding work as the transport's receiver.
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let mut messages = 0;
            while messages < MESSAGES {
                if server.read_buf(&mut buf).await.unwrap() == 0 {
                    break;
                }
                messages += decode_all(&mut buf);
            }
            messages
        });
        let mut w = BufWriter::with_capacity(64 * 1024, client);
        for _ in 0..MESSAGES {
            w.write_all(&msg).await.unwrap();
        }
        w.flush().await.unwrap();
        assert_eq!(reader.await.unwrap(), MESSAGES);
        start.elapsed()
    })
}

fn bulk_raw(sndbuf: Option<u32>) -> Duration {
    runtime().block_on(async {
        let (mut client, mut server) = raw_pair(sndbuf).await;
        let msg = vec![7u8; BULK];
        let start = Instant::now();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; BULK];
            let mut n = 0;
            while n < BULK_TOTAL {
                let r = server.read(&mut buf).await.unwrap();
                if r == 0 {
                    break;
                }
                n += r;
            }
            n
        });
        for _ in 0..BULK_TOTAL / BULK {
            client.write_all(&msg).await.unwrap();
        }
        assert_eq!(reader.await.unwrap(), BULK_TOTAL);
        start.elapsed()
    })
}
