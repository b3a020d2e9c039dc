//! The measured side of every transport scenario, generic over the backend:
//! one connection, `count` writes of one message, timed until the receiving
//! protocol has them all.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::oneshot;
use transport_api::{
    create_connection, create_server, Address, Protocol, Server, SharedTransport, Transport,
    TransportExt,
};

/// A current-thread runtime with I/O and time, as every round uses.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the receiver counts towards its target.
#[derive(Clone, Copy)]
pub enum Count {
    /// Bytes, as they arrive.
    Bytes,
    /// Length-prefixed messages, decoded from the byte stream.
    Messages,
}

/// Counts bytes or decodes and counts length-prefixed messages, then reports
/// when `target` is reached.
struct Receiver {
    count: Count,
    buf: BytesMut,
    progress: usize,
    target: usize,
    done: Option<oneshot::Sender<()>>,
    _transport: Option<SharedTransport>,
}

impl Protocol for Receiver {
    fn connection_made(&mut self, transport: SharedTransport) {
        self._transport = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        match self.count {
            Count::Bytes => self.progress += data.len(),
            Count::Messages => {
                self.buf.extend_from_slice(&data);
                self.progress += decode_all(&mut self.buf);
            }
        }
        if self.progress >= self.target {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

/// Drops every complete length-prefixed message at the front of `buf` and
/// returns how many there were (the baselines decode with it too).
pub fn decode_all(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while buf.len() >= 4 {
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if buf.len() < 4 + len {
            break;
        }
        buf.advance(4 + len);
        n += 1;
    }
    n
}

/// The client side: writes only.
struct Quiet;

impl Protocol for Quiet {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, _: Bytes) {}
}

/// Serves `addr`, connects to the server's address, and writes `msg`
/// `count` times, `batch` messages per call (`write` for 1, `writelines`
/// otherwise), honouring the high-water mark; timed until the receiver has
/// counted everything.
pub fn transfer<A: Address>(
    addr: A,
    msg: Bytes,
    count: usize,
    counting: Count,
    batch: usize,
) -> Duration
where
    A::Server: Server<Addr = A>,
{
    runtime().block_on(async {
        let (tx, rx) = oneshot::channel();
        let slot = std::sync::Mutex::new(Some(tx));
        let target = match counting {
            Count::Bytes => msg.len() * count,
            Count::Messages => count,
        };
        let server = create_server(
            move || Receiver {
                count: counting,
                buf: BytesMut::with_capacity(64 * 1024),
                progress: 0,
                target,
                done: slot.lock().unwrap().take(),
                _transport: None,
            },
            &addr,
        )
        .await
        .unwrap();
        let (t, _) = create_connection(|| Quiet, &server.addr()).await.unwrap();
        let high = t.write_buffer_limits().high();
        let lines = vec![msg.clone(); batch];
        let start = Instant::now();
        let mut left = count;
        while left > 0 {
            if t.write_buffer_size() > high {
                t.writable().await.unwrap();
            }
            if batch == 1 {
                t.write(msg.clone()).unwrap();
                left -= 1;
            } else {
                let n = batch.min(left);
                t.writelines(&lines[..n]).unwrap();
                left -= n;
            }
        }
        rx.await.unwrap();
        let elapsed = start.elapsed();
        t.close();
        server.close();
        server.wait_closed().await;
        elapsed
    })
}
