//! [`SocketServer`]: a listening socket and the task that accepts from it.
//!
//! One accept task per server takes connections off the listener and hands
//! each to a handler (which spawns the connection's driver, after a TLS
//! handshake where there is one). The listener lives in a slot that
//! [`close`](Server::close) empties synchronously: when `close` returns the
//! listening socket is closed (and a Unix socket file removed), so no later
//! connection attempt can reach it.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};
use transport_api::{Address, ConnectionToken, ConnectionTracker, Server};

use crate::TcpAddr;
#[cfg(unix)]
use crate::UnixAddr;

/// How long the accept loop waits after an error such as running out of file
/// descriptors, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A listening socket the accept loop can poll.
pub(crate) trait Listener: Send + 'static {
    /// An accepted connection.
    type Conn: Send + 'static;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Conn>>;
}

impl Listener for TcpListener {
    type Conn = TcpStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        TcpListener::poll_accept(self, cx).map_ok(|(stream, _)| stream)
    }
}

#[cfg(unix)]
impl Listener for UnixListener {
    type Conn = UnixStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        UnixListener::poll_accept(self, cx).map_ok(|(stream, _)| stream)
    }
}

/// The listener while the server serves, and the accept task's waker.
struct Slot<L> {
    listener: Option<L>,
    waker: Option<Waker>,
}

type SharedSlot<L> = Arc<Mutex<Slot<L>>>;

fn lock<L>(slot: &Mutex<Slot<L>>) -> MutexGuard<'_, Slot<L>> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// What `close` does beyond the bookkeeping: drop the listener, wake the
/// accept task, remove a socket file.
type CloseHook = Box<dyn FnOnce() + Send>;

struct Core {
    tracker: ConnectionTracker,
    serving: AtomicBool,
    on_close: Mutex<Option<CloseHook>>,
}

impl Core {
    fn close(&self) {
        self.serving.store(false, Ordering::SeqCst);
        let hook = self
            .on_close
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(hook) = hook {
            hook();
        }
        self.tracker.close();
    }
}

/// A server listening on a TCP, TLS or Unix socket (asyncio's `Server`),
/// generic over its address type: see [`TcpServer`], [`UnixServer`] and
/// `TlsServer`.
///
/// It serves until [`close`](Server::close) is called, like an asyncio server:
/// dropping the value does not stop it. `close` closes the listening socket
/// before it returns (a Unix server also removes its socket file);
/// [`wait_closed`](Server::wait_closed) then waits until every accepted
/// connection got `connection_lost`. Cheap to clone.
pub struct SocketServer<A> {
    core: Arc<Core>,
    addr: A,
}

/// A TCP server: [`SocketServer`] at a [`TcpAddr`].
pub type TcpServer = SocketServer<TcpAddr>;

/// A Unix domain socket server: [`SocketServer`] at a [`UnixAddr`].
#[cfg(unix)]
pub type UnixServer = SocketServer<UnixAddr>;

impl<A: Clone> Clone for SocketServer<A> {
    fn clone(&self) -> Self {
        SocketServer {
            core: Arc::clone(&self.core),
            addr: self.addr.clone(),
        }
    }
}

impl<A: fmt::Display> fmt::Debug for SocketServer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketServer")
            .field("addr", &format_args!("{}", self.addr))
            .field("serving", &self.core.serving.load(Ordering::SeqCst))
            .field("connections", &self.core.tracker.active())
            .finish()
    }
}

impl<A> SocketServer<A> {
    /// Starts serving `listener` at `addr` (the address with its real port):
    /// spawns the accept task, which calls `handle` for every accepted
    /// connection with a token that keeps the connection counted.
    /// `on_close` runs once, in `close`, after the listener is dropped.
    pub(crate) fn start<L, H>(
        runtime: &tokio::runtime::Handle,
        listener: L,
        addr: A,
        handle: H,
        on_close: Option<CloseHook>,
    ) -> Self
    where
        L: Listener,
        H: Fn(L::Conn, ConnectionToken) + Send + 'static,
    {
        let slot: SharedSlot<L> = Arc::new(Mutex::new(Slot {
            listener: Some(listener),
            waker: None,
        }));
        let close_slot = Arc::clone(&slot);
        let hook: CloseHook = Box::new(move || {
            let mut guard = lock(&close_slot);
            let listener = guard.listener.take();
            let waker = guard.waker.take();
            drop(guard);
            drop(listener);
            if let Some(w) = waker {
                w.wake();
            }
            if let Some(extra) = on_close {
                extra();
            }
        });
        let core = Arc::new(Core {
            tracker: ConnectionTracker::new(),
            serving: AtomicBool::new(true),
            on_close: Mutex::new(Some(hook)),
        });
        runtime.spawn(accept_loop(slot, core.tracker.clone(), handle));
        SocketServer { core, addr }
    }
}

/// Accepts until the listener is taken out of its slot by `close`.
async fn accept_loop<L, H>(slot: SharedSlot<L>, tracker: ConnectionTracker, handle: H)
where
    L: Listener,
    H: Fn(L::Conn, ConnectionToken),
{
    loop {
        let accepted = poll_fn(|cx| {
            let mut guard = lock(&slot);
            let slot = &mut *guard;
            let Some(listener) = &slot.listener else {
                return Poll::Ready(None);
            };
            match &mut slot.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            // Counted under the slot's lock: `close` empties the slot before
            // it closes the tracker, so `wait_closed` cannot return between
            // this accept and the count.
            listener
                .poll_accept(cx)
                .map(|res| Some(res.map(|conn| (conn, tracker.track()))))
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((conn, token))) => handle(conn, token),
            Some(Err(err)) => match err.kind() {
                // The peer gave up before we accepted: nothing to do.
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock => {}
                // Out of descriptors or memory: wait rather than spin.
                _ => {
                    tracing::warn!(error = %err, "accept failed; retrying in {ACCEPT_BACKOFF:?}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

#[async_trait]
impl<A> Server for SocketServer<A>
where
    A: Address<Server = SocketServer<A>>,
{
    type Addr = A;

    fn addr(&self) -> A {
        self.addr.clone()
    }

    fn close(&self) {
        self.core.close()
    }

    async fn wait_closed(&self) {
        self.core.tracker.wait_closed().await
    }

    fn is_serving(&self) -> bool {
        self.core.serving.load(Ordering::SeqCst)
    }
}
