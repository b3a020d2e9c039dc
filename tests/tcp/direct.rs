//! Direct writes: a write on an idle TCP or Unix connection goes to the
//! socket at once, and whatever the socket does not take queues for the
//! driver. These tests check that bytes keep their order and arrive once,
//! whichever path each write took: many writers on a multi-thread runtime
//! against a peer that sometimes reads slowly, and a direct write that the
//! socket only partly takes.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, UnixListener};
use transport_api::conformance::Recorder;
use transport_api::{Address, Transport, TransportExt};
use transport_tcp::{SocketTransport, TcpAddr};

use crate::support::{unix_path, within, WAIT};

/// Writing tasks.
const TASKS: u32 = 8;
/// Frames each task writes.
const FRAMES_PER_TASK: u32 = 400;

/// Frame `seq`: its number, its payload length and a payload that depends
/// on both, so that a frame that is cut, doubled or mixed with another does
/// not parse as the next one. Sizes go from a few bytes (copied together)
/// to more than the coalescing limit (queued as they are).
fn frame(seq: u32) -> Bytes {
    let len = match seq % 7 {
        0 => 9_000,
        1 => 2_000,
        2 => 5_000,
        _ => (seq % 300) as usize,
    };
    let mut buf = BytesMut::with_capacity(8 + len);
    buf.put_u32(seq);
    buf.put_u32(len as u32);
    buf.extend((0..len).map(|j| payload_byte(seq, j)));
    buf.freeze()
}

fn payload_byte(seq: u32, j: usize) -> u8 {
    (seq as usize).wrapping_mul(31).wrapping_add(j) as u8
}

/// Reads `count` frames and checks that they are frames 0, 1, 2, … each
/// complete, then that the stream ends there. Reads slowly (small reads
/// with pauses) during the first half, so that the writer's socket fills
/// up and writes queue, then reads as fast as it can.
async fn check_frames(mut peer: impl AsyncRead + Unpin, count: u32) {
    let mut data = BytesMut::new();
    let mut chunk = vec![0; 256 * 1024];
    let mut next = 0u32;
    while next < count {
        let slow = next < count / 2;
        if slow {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let room = if slow { 16 * 1024 } else { chunk.len() };
        let n = within("frames", peer.read(&mut chunk[..room]))
            .await
            .unwrap();
        assert!(n > 0, "EOF after {next} of {count} frames");
        data.extend_from_slice(&chunk[..n]);
        while data.len() >= 8 {
            let seq = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
            assert_eq!(seq, next, "frame {next} expected, frame {seq} came");
            if data.len() < 8 + len {
                break;
            }
            let body = data.split_to(8 + len).split_off(8);
            assert_eq!(body, frame(seq).slice(8..), "frame {seq} damaged");
            next += 1;
        }
    }
    assert!(data.is_empty(), "{} bytes after the last frame", data.len());
}

/// `TASKS` tasks write frames through one transport; a lock hands out the
/// frame numbers, so the numbers are the order of the `write` calls, which
/// the bytes on the wire must follow. Half of the tasks ignore
/// backpressure (`write`), half wait for it (`write_if_ready`).
async fn many_writers(t: SocketTransport) {
    let t = Arc::new(t);
    let next = Arc::new(tokio::sync::Mutex::new(0u32));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (t, next) = (Arc::clone(&t), Arc::clone(&next));
        tasks.spawn(async move {
            for _ in 0..FRAMES_PER_TASK {
                let mut seq = next.lock().await;
                let mut data = frame(*seq);
                if task % 2 == 0 {
                    t.write(data).unwrap();
                } else {
                    while let Some(back) = t.write_if_ready(data).unwrap() {
                        data = back;
                        t.writable().await.unwrap();
                    }
                }
                *seq += 1;
                drop(seq);
                if task % 3 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(done) = within("writers", tasks.join_next()).await {
        done.unwrap();
    }
    // Everything written leaves before the connection closes.
    t.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_keep_order_over_tcp() {
    // A small receive buffer, so that the slow reader holds the writer back.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr: TcpAddr = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    let reader = tokio::spawn(check_frames(peer, TASKS * FRAMES_PER_TASK));
    many_writers(t).await;
    within("reader", reader).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_keep_order_over_unix() {
    let path = unix_path("direct-order");
    let listener = UnixListener::bind(&path).unwrap();
    let addr = transport_tcp::UnixAddr::new(&path).unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    let reader = tokio::spawn(check_frames(peer, TASKS * FRAMES_PER_TASK));
    many_writers(t).await;
    within("reader", reader).await.unwrap();
    let _ = std::fs::remove_file(&path);
}

/// Far more than a socket whose peer does not read takes at once.
const BIG: usize = 16 << 20;

fn big_byte(i: usize) -> u8 {
    (i ^ (i >> 11)) as u8
}

/// A blocking peer socket: it reads without letting the runtime run the
/// connection's driver.
trait BlockingPeer: std::io::Read {
    type Async: AsyncRead + Unpin;
    /// Makes a blocking read that waits too long fail, not hang.
    fn bound_reads(&self);
    fn into_async(self) -> Self::Async;
}

impl BlockingPeer for std::net::TcpStream {
    type Async = tokio::net::TcpStream;
    fn bound_reads(&self) {
        self.set_read_timeout(Some(WAIT)).unwrap();
    }
    fn into_async(self) -> Self::Async {
        self.set_nonblocking(true).unwrap();
        tokio::net::TcpStream::from_std(self).unwrap()
    }
}

impl BlockingPeer for std::os::unix::net::UnixStream {
    type Async = tokio::net::UnixStream;
    fn bound_reads(&self) {
        self.set_read_timeout(Some(WAIT)).unwrap();
    }
    fn into_async(self) -> Self::Async {
        self.set_nonblocking(true).unwrap();
        tokio::net::UnixStream::from_std(self).unwrap()
    }
}

/// On an idle connection whose peer does not read yet, one large write
/// goes to the socket directly and the socket takes only part of it: the
/// rest is queued. The peer then reads a little (making room in the
/// socket, while the driver has not run), and more writes follow: they
/// must queue behind the rest, not go to the socket before it. Once the
/// peer reads everything, every byte has arrived once, in order, then EOF.
async fn partly_taken(t: SocketTransport, mut peer: impl BlockingPeer) {
    peer.bound_reads();
    let big: Bytes = (0..BIG).map(big_byte).collect();
    t.write(big.clone()).unwrap();
    // No other task ran since the write (a current-thread runtime): what
    // the OS has not taken is what is buffered.
    let left = t.write_buffer_size();
    assert!(
        0 < left && left < BIG,
        "a direct write taken in part leaves part of it buffered: {left} of {BIG}"
    );
    // Half of what the OS took: there, without the driver.
    let first_len = (BIG - left).div_ceil(2);
    let mut first = vec![0; first_len];
    peer.read_exact(&mut first).unwrap();
    assert!(first[..] == big[..first_len], "the first bytes");
    // Let the freed room reach the writing socket.
    std::thread::sleep(Duration::from_millis(20));
    let tail: Vec<Bytes> = (0..100u32)
        .map(|i| Bytes::from(i.to_be_bytes().repeat(1 + i as usize % 3)))
        .collect();
    for chunk in &tail {
        t.write(chunk.clone()).unwrap();
    }
    t.close();
    let mut rest = Vec::new();
    within("all data and EOF", peer.into_async().read_to_end(&mut rest))
        .await
        .unwrap();
    let expected: Vec<u8> = std::iter::once(&big.slice(first_len..))
        .chain(&tail)
        .flatten()
        .copied()
        .collect();
    assert_eq!(rest.len(), expected.len(), "every byte, once");
    assert!(rest == expected, "in order");
}

#[tokio::test(flavor = "current_thread")]
async fn a_direct_write_taken_in_part_delivers_everything_over_tcp() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr: TcpAddr = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    partly_taken(t, peer).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_direct_write_taken_in_part_delivers_everything_over_unix() {
    let path = unix_path("direct-part");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let addr = transport_tcp::UnixAddr::new(&path).unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    partly_taken(t, peer).await;
    let _ = std::fs::remove_file(&path);
}
