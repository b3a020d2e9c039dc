//! Direct writes: a write on an idle plain (TCP or Unix) connection handed
//! to the OS by the writer itself, as asyncio's selector transport does,
//! instead of waking the driver only to write it.
//!
//! # When
//!
//! A write goes straight to the socket, under the state lock, only when all
//! of these hold ([`DirectWrites::try_write`] checks the last four; the
//! state checks that writes are accepted before):
//!
//! - writes are accepted (no close, abort or `write_eof` yet);
//! - the stream allows it: plain TCP and Unix sockets, not TLS, whose
//!   session belongs to the driver;
//! - nothing is buffered: `buffered == 0`, which covers the queue, the
//!   coalescing tail and what the driver took but has not handed to the OS;
//! - the driver is not inside a protocol callback: replies written from
//!   `data_received` stay batched into the driver's next vectored write;
//! - the driver has taken the pending data since the last direct write
//!   (`armed`): of many writers in one scheduler tick, the first writes
//!   directly and the others are queued for one vectored write, instead of
//!   one system call each;
//! - writes are not coming in bursts (`bursting`): once the driver takes
//!   two or more queued writes at once, writes keep being queued, so that
//!   a steady flow of bursts (many callers each tick, as in pipelined RPC)
//!   leaves in one vectored write per burst rather than a direct write
//!   plus a vectored one. The driver taking a lone queued write ends it;
//!   rounds that take no queued write change nothing.
//!
//! What the socket does not take (all of it when it is full) is queued as
//! any write is, and the driver is woken to send it; an error other than
//! "would block" is left for the driver to meet on its own write, which
//! ends the connection through its usual path.
//!
//! # Why the byte order holds, also across threads
//!
//! The driver writes to the socket only what it took from the queue, and
//! `buffered` (changed under the lock only) counts those bytes until the
//! driver reports, under the lock, that the OS has them. So while a writer
//! holds the lock and sees `buffered == 0`, the driver has nothing unsent
//! and does not write until it takes more from the queue, which needs the
//! lock: a direct write can neither overlap nor overtake a driver write,
//! whichever threads they run on. Everything written after it queues behind
//! what the socket did not take. A close, an abort or a `write_eof` is
//! flagged under the lock too, so a direct write ends before the driver can
//! see the flag and shut the socket down. The driver may read the socket at
//! the same time: tokio keeps read and write readiness apart, and a direct
//! write registers no waker, so the driver's stay as they are.

use std::io;
use std::sync::Arc;

use super::stream::PlainIo;

/// The socket reference for direct writes and the rules for using it.
#[derive(Default)]
pub(crate) struct DirectWrites {
    /// `None` on TLS connections and once the connection finished (so that
    /// the driver's reference is the last and closes the socket).
    socket: Option<Arc<dyn PlainIo>>,
    /// The driver has taken the pending data since the last direct write.
    armed: bool,
    /// Writes queued (not all taken directly) since the driver last took
    /// the pending data, counted up to 2.
    queued: u8,
    /// The driver last took two or more queued writes at once.
    bursting: bool,
}

impl DirectWrites {
    pub(crate) fn new(socket: Option<Arc<dyn PlainIo>>) -> Self {
        DirectWrites {
            socket,
            ..DirectWrites::default()
        }
    }

    /// Whether direct writes are possible at all (a plain socket that is
    /// still in use).
    pub(crate) fn is_possible(&self) -> bool {
        self.socket.is_some()
    }

    /// Writes `data` to the socket if the connection is idle (`buffered`
    /// bytes are unsent, `delivering`: the driver is in a protocol
    /// callback) and returns how many bytes the socket took: 0 if it was
    /// not idle, or the socket was full or failed.
    #[inline]
    pub(crate) fn try_write(&mut self, data: &[u8], buffered: usize, delivering: bool) -> usize {
        if !self.armed || buffered != 0 || delivering || data.is_empty() {
            return 0;
        }
        let Some(socket) = &self.socket else {
            return 0;
        };
        self.armed = false;
        loop {
            match socket.try_write(data) {
                Ok(n) => return n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Would block: the driver waits for the socket. Any other
                // error: the driver meets it on its own write.
                Err(_) => return 0,
            }
        }
    }

    /// A write was queued, in all or in part.
    #[inline]
    pub(crate) fn queued(&mut self) {
        self.queued = self.queued.saturating_add(1).min(2);
    }

    /// The driver took the pending data: the next write may go directly,
    /// unless writes come in bursts.
    pub(crate) fn driver_took(&mut self) {
        match self.queued {
            0 => {}
            1 => self.bursting = false,
            _ => self.bursting = true,
        }
        self.queued = 0;
        self.armed = !self.bursting;
    }

    /// The connection finished: no more direct writes. Returns the socket
    /// reference, for the caller to drop once it released the lock.
    pub(crate) fn finish(&mut self) -> Option<Arc<dyn PlainIo>> {
        self.armed = false;
        self.socket.take()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, PoisonError};
    use std::task::{Context, Poll, Wake, Waker};

    use bytes::Bytes;
    use tokio::io::ReadBuf;
    use transport_api::Error;

    use super::*;
    use crate::conn::{ConnInfo, Shared};

    /// A socket that takes what its script says (everything when the
    /// script is empty) and keeps what it took.
    #[derive(Default)]
    struct FakeSocket {
        script: Mutex<VecDeque<io::Result<usize>>>,
        taken: Mutex<Vec<u8>>,
        calls: AtomicUsize,
    }

    impl FakeSocket {
        fn with_script(script: impl IntoIterator<Item = io::Result<usize>>) -> Arc<Self> {
            Arc::new(FakeSocket {
                script: Mutex::new(script.into_iter().collect()),
                ..FakeSocket::default()
            })
        }

        fn taken(&self) -> Vec<u8> {
            self.taken
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::Relaxed)
        }
    }

    impl PlainIo for FakeSocket {
        fn poll_read_ready(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
        fn try_read_bytes(&self, _: &mut bytes::BytesMut) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn try_read_buf(&self, _: &mut ReadBuf<'_>) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn poll_write_ready(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let step = self
                .script
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let n = step.unwrap_or(Ok(buf.len()))?.min(buf.len());
            self.taken
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn try_write_vectored(&self, _: &[io::IoSlice<'_>]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn shutdown_write(&self) -> io::Result<()> {
            Ok(())
        }
        fn prepare_abort(&self) {}
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection on `socket`, with the driver's side: its waker and
    /// what it takes from the shared state.
    struct Conn {
        shared: Shared,
        wakes: Arc<CountingWaker>,
        waker: Waker,
        out: VecDeque<Bytes>,
    }

    impl Conn {
        fn new(socket: &Arc<FakeSocket>) -> Self {
            let info = ConnInfo {
                kind: "tcp",
                peer: None,
                local: None,
                #[cfg(feature = "tls")]
                tls: None,
            };
            let socket = Arc::clone(socket) as Arc<dyn PlainIo>;
            let wakes = Arc::new(CountingWaker::default());
            Conn {
                shared: Shared::new(info, Some(socket)),
                waker: Waker::from(Arc::clone(&wakes)),
                wakes,
                out: VecDeque::new(),
            }
        }

        /// A driver round's first step.
        fn driver_takes(&mut self) {
            let mut cx = Context::from_waker(&self.waker);
            self.shared.take_pending(&mut cx, &mut self.out);
        }

        /// The driver sends everything it took.
        fn driver_sends_all(&mut self) -> Vec<u8> {
            let sent: Vec<u8> = self.out.drain(..).flatten().collect();
            self.shared.sent(sent.len());
            sent
        }

        fn wakes(&self) -> usize {
            self.wakes.0.load(Ordering::Relaxed)
        }
    }

    fn bytes(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn an_idle_connection_writes_directly_without_waking_the_driver() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        conn.driver_takes();
        conn.shared.write(bytes("ping")).ok();
        assert_eq!(socket.taken(), b"ping");
        assert_eq!(conn.shared.write_buffer_size(), 0);
        assert_eq!(conn.wakes(), 0);
    }

    #[test]
    fn until_the_driver_ran_the_next_writes_queue_for_one_vectored_write() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        // Before the driver's first round: queued.
        conn.shared.write(bytes("a")).ok();
        assert_eq!(socket.calls(), 0);
        conn.driver_takes();
        conn.driver_sends_all();
        conn.shared.write(bytes("b")).ok();
        conn.shared.write(bytes("c")).ok();
        conn.shared.write_if_ready(bytes("d")).ok();
        assert_eq!(socket.calls(), 1, "only the first write after a round");
        assert_eq!(socket.taken(), b"b");
        assert_eq!(conn.wakes(), 1, "the first queued write wakes the driver");
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"cd");
    }

    #[test]
    fn bursts_stay_batched_until_a_lone_write_comes() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        let burst = |conn: &mut Conn| {
            for _ in 0..3 {
                conn.shared.write(bytes("req")).ok();
            }
            conn.driver_takes();
            conn.driver_sends_all()
        };
        conn.driver_takes();
        burst(&mut conn);
        assert_eq!(socket.calls(), 1, "the first of the first burst");
        for _ in 0..3 {
            // Rounds that take nothing (reading replies) change nothing.
            conn.driver_takes();
            assert_eq!(burst(&mut conn), b"reqreqreq");
        }
        assert_eq!(socket.calls(), 1, "later bursts leave in one write each");
        conn.shared.write(bytes("lone")).ok();
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"lone");
        conn.driver_takes();
        conn.shared.write(bytes("direct")).ok();
        assert_eq!(socket.calls(), 2, "after a lone write, directly again");
        assert_eq!(socket.taken(), b"reqdirect");
    }

    #[test]
    fn nothing_goes_directly_while_anything_is_buffered() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        conn.shared.write(bytes("queued")).ok();
        conn.driver_takes();
        // Taken, not yet sent: still buffered.
        conn.shared.write(bytes("after")).ok();
        assert_eq!(socket.calls(), 0);
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"queuedafter");
        conn.driver_takes();
        conn.shared.write(bytes("idle")).ok();
        assert_eq!(socket.taken(), b"idle");
    }

    #[test]
    fn writes_from_a_protocol_callback_stay_batched() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        conn.driver_takes();
        conn.shared.delivering(|| {
            conn.shared.write(bytes("reply")).ok();
        });
        assert_eq!(socket.calls(), 0);
        assert_eq!(conn.wakes(), 0, "the driver takes it in its next round");
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"reply");
    }

    #[test]
    fn what_the_socket_does_not_take_is_queued_in_order() {
        let socket = FakeSocket::with_script([Ok(3)]);
        let mut conn = Conn::new(&socket);
        conn.driver_takes();
        conn.shared.write(bytes("abcdef")).ok();
        assert_eq!(socket.taken(), b"abc");
        assert_eq!(conn.shared.write_buffer_size(), 3);
        assert_eq!(conn.wakes(), 1);
        conn.shared.write(bytes("gh")).ok();
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"defgh");
        assert_eq!(conn.shared.write_buffer_size(), 0);
    }

    #[test]
    fn a_full_or_failing_socket_leaves_everything_to_the_driver() {
        let socket = FakeSocket::with_script([
            Err(io::ErrorKind::WouldBlock.into()),
            Err(io::ErrorKind::ConnectionReset.into()),
        ]);
        let mut conn = Conn::new(&socket);
        for (round, data) in ["full", "reset"].into_iter().enumerate() {
            conn.driver_takes();
            conn.shared.write(Bytes::from_static(data.as_bytes())).ok();
            assert_eq!(conn.wakes(), round + 1);
            conn.driver_takes();
            assert_eq!(conn.driver_sends_all(), data.as_bytes());
        }
        assert_eq!(socket.calls(), 2);
        assert!(socket.taken().is_empty());
    }

    #[test]
    fn an_interrupted_write_is_retried() {
        let socket = FakeSocket::with_script([Err(io::ErrorKind::Interrupted.into())]);
        let mut conn = Conn::new(&socket);
        conn.driver_takes();
        conn.shared.write(bytes("again")).ok();
        assert_eq!(socket.taken(), b"again");
        assert_eq!(socket.calls(), 2);
    }

    #[test]
    fn writelines_and_writes_after_close_never_go_directly() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        conn.driver_takes();
        conn.shared.write_all(&[bytes("x"), bytes("y")]).ok();
        assert_eq!(socket.calls(), 0);
        conn.driver_takes();
        assert_eq!(conn.driver_sends_all(), b"xy");
        conn.driver_takes();
        conn.shared.close();
        assert!(matches!(
            conn.shared.write(bytes("late")),
            Err(Error::Closed)
        ));
        assert_eq!(socket.calls(), 0);
    }

    #[test]
    fn a_finished_connection_lets_the_socket_go() {
        let socket = FakeSocket::with_script([]);
        let mut conn = Conn::new(&socket);
        assert_eq!(Arc::strong_count(&socket), 2);
        conn.driver_takes();
        conn.shared.finish();
        assert_eq!(Arc::strong_count(&socket), 1);
        let mut direct = DirectWrites::new(None);
        direct.driver_took();
        assert_eq!(direct.try_write(b"x", 0, false), 0);
        assert!(!direct.is_possible());
    }
}
