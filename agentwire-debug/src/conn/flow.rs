//! Flow control through the simulation, both ways.
//!
//! Out: frames the simulation holds (a slow or held link) count in the
//! writer's buffer with the backend's behind them. Past the backend's
//! high-water mark the writer is held back (`poll_write_ready` waits,
//! `write_if_ready` gives the chunk back, the protocol gets
//! `pause_writing`) until they drain to its low-water mark. The user's
//! protocol hears one pause/resume stream, merged from this and the
//! backend's own, delivered by the connection's driver.
//!
//! In: past the same high-water mark of frames on their way in, the
//! simulation pauses the backend's reading (so the peer's writer gets
//! backpressure) and resumes it at the low-water mark, unless the user
//! paused reading too.

use std::task::Waker;

use agentwire::api::{FlowEvent, SharedTransport, WriteBufferLimits};

use super::{ConnShared, ConnState, IN};

/// Wake-ups a change of flow asks for, done once the state's lock is
/// released.
#[must_use]
#[derive(Default)]
pub(super) struct FlowWake {
    writers: Vec<Waker>,
    driver: bool,
}

impl FlowWake {
    pub(super) fn run(self, conn: &ConnShared) {
        self.writers.into_iter().for_each(Waker::wake);
        if self.driver {
            conn.wake.notify_one();
        }
    }
}

impl ConnState {
    /// Re-evaluates the flow of held outgoing bytes after `out_bytes`
    /// changed; `inner` is the backend's buffer behind them.
    pub(super) fn update_held(&mut self, inner: usize) -> FlowWake {
        let event = self.held.update(self.held_buffered(inner));
        self.held_changed(event)
    }

    /// Installs new limits for the held bytes (the backend's), re-evaluated
    /// as after any change.
    pub(super) fn set_held_limits(&mut self, limits: WriteBufferLimits, inner: usize) -> FlowWake {
        let event = self.held.set_limits(limits, self.held_buffered(inner));
        self.held_changed(event)
    }

    /// What counts against the held bytes' limits: nothing once none is
    /// held (the backend's own flow control then decides alone).
    fn held_buffered(&self, inner: usize) -> usize {
        if self.out_bytes == 0 {
            0
        } else {
            self.out_bytes.saturating_add(inner)
        }
    }

    /// The wake-ups a transition of the held bytes' flow asks for.
    fn held_changed(&mut self, event: Option<FlowEvent>) -> FlowWake {
        match event {
            None => FlowWake::default(),
            Some(FlowEvent::Pause) => FlowWake {
                writers: Vec::new(),
                driver: true,
            },
            Some(FlowEvent::Resume) => FlowWake {
                writers: self.write_waiters.take(),
                driver: true,
            },
        }
    }

    /// Writing is over (closing, aborted, lost): nothing is held any more
    /// and every waiting writer must look again.
    pub(super) fn end_writes(&mut self) -> FlowWake {
        self.out_bytes = 0;
        let mut wake = self.update_held(0);
        wake.writers.extend(self.write_waiters.take());
        wake
    }

    /// The pause (`true`) or resume the user's protocol is to hear next,
    /// if its state changed: paused while the simulation holds too much or
    /// the backend paused us.
    pub(super) fn next_flow(&mut self) -> Option<bool> {
        ConnShared::flow_due(self).then(|| {
            self.told_paused = !self.told_paused;
            self.told_paused
        })
    }

    /// Pauses or resumes the backend's reading as the bytes on their way
    /// in pass the limits. Called with the state locked: a backend's
    /// `pause_reading`/`resume_reading` calls back into nothing.
    pub(super) fn steer_reading(&mut self, inner: Option<&SharedTransport>) {
        let Some(t) = inner else {
            return;
        };
        let limits = self.held.limits();
        if !self.in_paused && self.in_bytes > limits.high() {
            self.in_paused = true;
            t.pause_reading();
        } else if self.in_paused && self.in_bytes <= limits.low() {
            self.in_paused = false;
            if !self.user_paused {
                t.resume_reading();
            }
        }
    }
}

impl ConnShared {
    /// Delivers the user's next pause or resume, if one is due; returns
    /// whether it did (from the driver only, so they alternate). It takes
    /// the incoming direction's turn, as data and the end do, so nothing
    /// reaches the user after `connection_lost`; while another item has
    /// that turn it waits (its end wakes the driver).
    pub(super) fn deliver_flow(&self) -> bool {
        let next = {
            let mut s = self.state();
            if s.executing[IN] {
                return false;
            }
            let next = s.next_flow();
            s.executing[IN] = next.is_some();
            next
        };
        match next {
            Some(true) => self.user.pause(),
            Some(false) => self.user.resume(),
            None => return false,
        }
        self.state().executing[IN] = false;
        true
    }

    /// Whether the user is to hear a pause or resume.
    pub(super) fn flow_due(s: &ConnState) -> bool {
        !s.finished && (s.held.is_paused() || s.backend_paused) != s.told_paused
    }

    /// The backend paused or resumed our writing.
    pub(super) fn backend_flow(&self, paused: bool) {
        self.state().backend_paused = paused;
        self.wake.notify_one();
    }

    /// The user's protocol pauses or resumes reading.
    pub(super) fn set_user_reading(&self, reading: bool) {
        {
            let mut s = self.state();
            s.user_paused = !reading;
            if let Some(t) = self.inner() {
                if !reading {
                    t.pause_reading();
                } else if !s.in_paused {
                    t.resume_reading();
                }
            }
        }
        if reading {
            self.wake.notify_one();
        }
    }
}
