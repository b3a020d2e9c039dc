//! A TCP proxy in front of the broker that can hold back what the broker
//! sends (its PUBACKs and deliveries) while it passes on what the client
//! sends. A session behind it that publishes fills its in-flight window
//! (no PUBACK comes back) and then its MQTT client's request queue, and
//! stays that way until [`HoldingProxy::release`]: a full request queue
//! on purpose, with a live broker, without pausing it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// What the held connections share.
#[derive(Default)]
struct Seen {
    /// Every byte the broker sent while held (to look for a message in).
    bytes: Mutex<Vec<u8>>,
    changed: Notify,
}

/// The proxy; its connections forward normally once it is dropped.
pub struct HoldingProxy {
    /// The port to connect to instead of the broker's.
    pub port: u16,
    holding: watch::Sender<bool>,
    seen: Arc<Seen>,
}

impl HoldingProxy {
    /// A proxy to the broker at `127.0.0.1:broker`, not holding.
    pub async fn start(broker: u16) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let holding = watch::Sender::new(false);
        let seen = Arc::new(Seen::default());
        let (hold, seen2) = (holding.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", broker)).await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let (mut in_r, in_w) = inbound.into_split();
                let (up_r, mut up_w) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut in_r, &mut up_w).await;
                    let _ = up_w.shutdown().await;
                });
                tokio::spawn(broker_to_client(
                    up_r,
                    in_w,
                    hold.subscribe(),
                    Arc::clone(&seen2),
                ));
            }
        });
        HoldingProxy {
            port,
            holding,
            seen,
        }
    }

    /// Holds back everything the broker sends from now on.
    pub fn hold(&self) {
        self.seen.bytes.lock().expect("lock").clear();
        self.holding.send_replace(true);
    }

    /// Delivers what was held back, all at once, and forwards again.
    pub fn release(&self) {
        self.holding.send_replace(false);
    }

    /// Waits (bounded) until `pattern` is among the bytes held back.
    pub async fn wait_held(&self, pattern: &[u8], wait: Duration) {
        let found = tokio::time::timeout(wait, async {
            loop {
                let changed = self.seen.changed.notified();
                if contains(&self.seen.bytes.lock().expect("lock"), pattern) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(found.is_ok(), "the broker never sent the awaited message");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Forwards the broker's bytes to the client, keeping them while held.
async fn broker_to_client(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut holding: watch::Receiver<bool>,
    seen: Arc<Seen>,
) {
    let mut held = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Once the proxy is gone nothing holds any more.
    let mut proxy_gone = false;
    loop {
        let hold = !proxy_gone && *holding.borrow_and_update();
        if !hold && !held.is_empty() {
            if to.write_all(&held).await.is_err() {
                return;
            }
            held.clear();
        }
        tokio::select! {
            biased;
            changed = holding.changed(), if !proxy_gone => proxy_gone = changed.is_err(),
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if hold {
                    held.extend_from_slice(&buf[..n]);
                    seen.bytes.lock().expect("lock").extend_from_slice(&buf[..n]);
                    seen.changed.notify_waiters();
                } else if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = to.write_all(&held).await;
    let _ = to.shutdown().await;
}
