//! One simulated connection: the connecting side's wrapper around the
//! backend's transport ([`SimTransport`]) and protocol (`SimProtocol`),
//! which carries both directions through the simulation.
//!
//! Each direction is reassembled into frames; each frame is judged
//! (partition, rules, the link's latency, jitter and bandwidth) and gets a
//! due time. A frame due now, with nothing ahead of it, passes at once
//! (the fast path: no task hop); the others wait in the direction's queue
//! for the connection's driver task, which sleeps on the simulation's
//! clock until the head is due (and the link not held).
//!
//! Map: this file holds the state and `connect`; `admit` a frame's way in
//! and carrying items out; `control` the driver, close, abort, reset and
//! `connection_lost`; `flow` flow control both ways; `transport`
//! [`SimTransport`] and the protocol wrapper.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use agentwire::api::{
    Address, Error, FlowControl, Protocol, ProtocolHandle, Result, SharedTransport, WriteWaiters,
};
use bytes::Bytes;
use tokio::sync::Notify;

use crate::event::EventKind;
use crate::frames::Reassembler;
use crate::sim::{Sim, SimInner};

/// Client to server.
const OUT: usize = 0;
/// Server to client.
const IN: usize = 1;
/// Request paths remembered per direction, to label their replies.
const MAX_PATHS: usize = 4096;

/// The user's protocol, reached through its handle.
trait Deliver: Send + Sync {
    fn made(&self, t: SharedTransport);
    fn data(&self, d: Bytes);
    fn eof(&self) -> bool;
    fn lost(&self, e: Option<Error>);
    fn pause(&self);
    fn resume(&self);
}

impl<P: Protocol> Deliver for ProtocolHandle<P> {
    fn made(&self, t: SharedTransport) {
        self.with(|p| p.connection_made(t));
    }
    fn data(&self, d: Bytes) {
        self.with(|p| p.data_received(d));
    }
    fn eof(&self) -> bool {
        self.with(|p| p.eof_received())
    }
    fn lost(&self, e: Option<Error>) {
        self.with(|p| p.connection_lost(e));
    }
    fn pause(&self) {
        self.with(|p| p.pause_writing());
    }
    fn resume(&self) {
        self.with(|p| p.resume_writing());
    }
}

enum What {
    Frame {
        bytes: Bytes,
        msg: u64,
    },
    /// A half-close: out, the user's `write_eof`; in, the peer's.
    Eof,
    Close,
    Lost(Option<Error>),
}

struct Item {
    due: Duration,
    what: What,
}

#[derive(Default)]
struct ConnState {
    queues: [VecDeque<Item>; 2],
    /// Due time of the last frame queued per direction (order is kept).
    last: [Duration; 2],
    /// Until when the link is busy sending, per direction (bandwidth).
    busy: [Duration; 2],
    /// A frame a reorder rule holds back, per direction.
    stash: [Option<Item>; 2],
    /// Someone executes an item of this direction right now.
    executing: [bool; 2],
    /// Paths of requests sent per direction, by id, to label replies
    /// (the latest [`MAX_PATHS`]).
    paths: [VecDeque<(u64, String)>; 2],
    /// Bytes waiting in the outgoing queue.
    out_bytes: usize,
    /// Bytes waiting in the incoming queue.
    in_bytes: usize,
    /// The flow of the outgoing queue's bytes (with the backend's buffer
    /// behind them), under the backend's limits.
    held: FlowControl,
    /// The backend paused our writing.
    backend_paused: bool,
    /// What the user's protocol was last told: paused or not.
    told_paused: bool,
    /// Writers waiting in `poll_write_ready` for held bytes to drain.
    write_waiters: WriteWaiters,
    /// The user's protocol paused reading.
    user_paused: bool,
    /// The simulation paused the backend's reading (too much on its way in).
    in_paused: bool,
    /// The user half-closed: nothing more may be written.
    eof_written: bool,
    /// What ends the outgoing direction (a half-close, the close), waiting
    /// for the writes in flight: they came first.
    ends_waiting: Vec<What>,
    closing: bool,
    reset: bool,
    finished: bool,
}

pub(crate) struct ConnShared {
    id: OnceLock<u64>,
    from: Arc<str>,
    to: Arc<str>,
    to_url: String,
    sim: Arc<SimInner>,
    inner: OnceLock<SharedTransport>,
    user: Box<dyn Deliver>,
    rx: [Mutex<Reassembler>; 2],
    state: Mutex<ConnState>,
    wake: Notify,
    /// `write`s past their check whose frames are not in line yet.
    in_flight: AtomicUsize,
    /// A close, half-close or abort began: no more writes begin.
    ending: AtomicBool,
}

/// Connects `protocol` to `addr` from `node` through `sim`.
pub(crate) async fn connect<A: Address, P: Protocol>(
    addr: &A,
    node: &Arc<str>,
    sim: &Sim,
    protocol: P,
) -> Result<(SimTransport, ProtocolHandle<P>)> {
    let inner = &sim.inner;
    let to_url = addr.to_string();
    let to: Arc<str> = inner.name_of(&to_url).into();
    if let Some(reason) = inner.refusal(node, &to) {
        inner.record(EventKind::Refused {
            from: Arc::clone(node),
            to,
            reason: reason.clone(),
        });
        return Err(Error::ConnectionRefused {
            addr: to_url,
            source: Some(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                reason,
            )),
        });
    }
    let user = ProtocolHandle::new(protocol);
    let conn = Arc::new(ConnShared {
        id: OnceLock::new(),
        from: Arc::clone(node),
        to,
        to_url,
        sim: Arc::clone(inner),
        inner: OnceLock::new(),
        user: Box::new(user.clone()),
        rx: [
            Mutex::new(Reassembler::new(inner.framed, inner.max_frame)),
            Mutex::new(Reassembler::new(inner.framed, inner.max_frame)),
        ],
        state: Mutex::new(ConnState::default()),
        wake: Notify::new(),
        in_flight: AtomicUsize::new(0),
        ending: AtomicBool::new(false),
    });
    let owner = Arc::new(Owner(Arc::clone(&conn)));
    let wrapper = SimProtocol {
        conn: Arc::clone(&conn),
        owner: Some(Arc::clone(&owner)),
    };
    match addr.create_connection(wrapper).await {
        Ok(_) => Ok((
            SimTransport {
                conn,
                _owner: owner,
            },
            user,
        )),
        Err(e) => {
            inner.record(EventKind::Refused {
                from: Arc::clone(node),
                to: Arc::clone(&conn.to),
                reason: e.to_string(),
            });
            Err(e)
        }
    }
}

/// What the user holds of a connection: when the last [`SimTransport`]
/// is dropped, the connection closes (as every backend's does).
pub(crate) struct Owner(Arc<ConnShared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnShared {
    pub(crate) fn from(&self) -> &str {
        &self.from
    }

    pub(crate) fn to(&self) -> &str {
        &self.to
    }

    fn id(&self) -> u64 {
        self.id.get().copied().unwrap_or(0)
    }

    fn state(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    fn ends(&self, dir: usize) -> (Arc<str>, Arc<str>) {
        let (a, b) = (Arc::clone(&self.from), Arc::clone(&self.to));
        if dir == OUT {
            (a, b)
        } else {
            (b, a)
        }
    }

    fn inner(&self) -> Option<&SharedTransport> {
        self.inner.get()
    }
}

mod admit;
mod control;
mod flow;
mod transport;

use control::drive;
use transport::SimProtocol;
pub use transport::SimTransport;
