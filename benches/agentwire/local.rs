//! Local-queue scenarios against in-process baselines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use transport_local::LocalNetwork;

use crate::transfer::{runtime, transfer, Count};
use crate::{Scenario, ROUNDS};

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
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "local_bulk_64KiB",
            unit: "MiB/s",
            work: (BULK_TOTAL / (1024 * 1024)) as f64,
            measured: || oneway(BULK, BULK_TOTAL / BULK),
            baseline: duplex_baseline,
            baseline_name: "tokio::io::duplex, 64 KiB writes",
            floor: None,
            rounds: ROUNDS,
        },
    ]
}

/// `count` writes of `size` bytes over one local connection.
fn oneway(size: usize, count: usize) -> Duration {
    let lq = LocalNetwork::new().get_queue("bench").unwrap();
    transfer(lq, Bytes::from(vec![7u8; size]), count, Count::Bytes, 1)
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
