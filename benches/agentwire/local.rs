//! Local-queue scenarios against in-process baselines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use transport_api::{
    create_connection, create_server, Protocol, SharedTransport, Transport, TransportExt,
};
use transport_local::LocalNetwork;

use crate::Scenario;

const SMALL: usize = 64;
const MESSAGES: usize = 400_000;
const BULK: usize = 64 * 1024;
const BULK_TOTAL: usize = 1024 * 1024 * 1024;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "local_oneway_64B",
            unit: "msg/s",
            work: MESSAGES as f64,
            measured: || oneway(SMALL, MESSAGES),
            baseline: mpsc_baseline,
            baseline_name: "tokio unbounded mpsc of 64 B Bytes",
        },
        Scenario {
            name: "local_bulk_64KiB",
            unit: "MiB/s",
            work: (BULK_TOTAL / (1024 * 1024)) as f64,
            measured: || oneway(BULK, BULK_TOTAL / BULK),
            baseline: duplex_baseline,
            baseline_name: "tokio::io::duplex, 64 KiB writes",
        },
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Counts bytes and reports when `expected` arrived.
struct Sink {
    received: usize,
    expected: usize,
    done: Option<oneshot::Sender<()>>,
    _transport: Option<SharedTransport>,
}

impl Protocol for Sink {
    fn connection_made(&mut self, transport: SharedTransport) {
        self._transport = Some(transport);
    }
    fn data_received(&mut self, data: Bytes) {
        self.received += data.len();
        if self.received >= self.expected {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

struct Quiet;
impl Protocol for Quiet {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, _: Bytes) {}
}

/// `count` writes of `size` bytes over one local connection, honouring the
/// write buffer's high-water mark; timed until the last byte is delivered.
fn oneway(size: usize, count: usize) -> Duration {
    runtime().block_on(async {
        let net = LocalNetwork::new();
        let lq = net.get_queue("bench").unwrap();
        let (tx, rx) = oneshot::channel();
        let slot = std::sync::Mutex::new(Some(tx));
        let expected = size * count;
        let _server = create_server(
            move || Sink {
                received: 0,
                expected,
                done: slot.lock().unwrap().take(),
                _transport: None,
            },
            &lq,
        )
        .await
        .unwrap();
        let (t, _) = create_connection(|| Quiet, &lq).await.unwrap();
        let msg = Bytes::from(vec![7u8; size]);
        let high = t.write_buffer_limits().high();
        let start = Instant::now();
        for _ in 0..count {
            if t.write_buffer_size() > high {
                t.writable().await.unwrap();
            }
            t.write(msg.clone()).unwrap();
        }
        rx.await.unwrap();
        start.elapsed()
    })
}

fn mpsc_baseline() -> Duration {
    runtime().block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let received = Arc::new(AtomicUsize::new(0));
        let msg = Bytes::from(vec![7u8; SMALL]);
        let start = Instant::now();
        let reader = {
            let received = received.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(b) = rx.recv().await {
                    n += b.len();
                    if n >= SMALL * MESSAGES {
                        break;
                    }
                }
                received.store(n, Ordering::Relaxed);
            })
        };
        for _ in 0..MESSAGES {
            tx.send(msg.clone()).unwrap();
        }
        reader.await.unwrap();
        assert_eq!(received.load(Ordering::Relaxed), SMALL * MESSAGES);
        start.elapsed()
    })
}

fn duplex_baseline() -> Duration {
    runtime().block_on(async {
        let (mut a, mut b) = tokio::io::duplex(BULK);
        let msg = vec![7u8; BULK];
        let start = Instant::now();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; BULK];
            let mut n = 0;
            while n < BULK_TOTAL {
                n += b.read(&mut buf).await.unwrap();
            }
        });
        for _ in 0..BULK_TOTAL / BULK {
            a.write_all(&msg).await.unwrap();
        }
        reader.await.unwrap();
        start.elapsed()
    })
}
