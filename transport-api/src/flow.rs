//! Write-buffer water marks and the pause/resume decisions built on them.

use std::task::Waker;

use crate::{Error, Result};

/// High- and low-water marks of a transport's write buffer, in bytes.
///
/// When the unsent bytes of a transport pass `high`, its protocol gets
/// [`pause_writing`](crate::Protocol::pause_writing); when they drop to `low`
/// or below, [`resume_writing`](crate::Protocol::resume_writing). The defaults
/// are asyncio's: 64 KiB and 16 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBufferLimits {
    high: usize,
    low: usize,
}

impl WriteBufferLimits {
    /// asyncio's default high-water mark.
    pub const DEFAULT_HIGH: usize = 64 * 1024;

    /// Limits with both marks given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `low > high`.
    ///
    /// ```
    /// use transport_api::WriteBufferLimits;
    /// let limits = WriteBufferLimits::new(1024, 256).unwrap();
    /// assert_eq!((limits.high(), limits.low()), (1024, 256));
    /// assert!(WriteBufferLimits::new(10, 20).is_err());
    /// ```
    pub fn new(high: usize, low: usize) -> Result<Self> {
        if low > high {
            return Err(Error::InvalidArgument(format!(
                "write buffer limits need low <= high, got high={high} low={low}"
            )));
        }
        Ok(WriteBufferLimits { high, low })
    }

    /// Limits with the given high-water mark and a low-water mark of a
    /// quarter of it (asyncio's rule).
    pub fn with_high(high: usize) -> Self {
        WriteBufferLimits {
            high,
            low: high / 4,
        }
    }

    /// The high-water mark.
    pub fn high(&self) -> usize {
        self.high
    }

    /// The low-water mark.
    pub fn low(&self) -> usize {
        self.low
    }
}

impl Default for WriteBufferLimits {
    fn default() -> Self {
        Self::with_high(Self::DEFAULT_HIGH)
    }
}

/// The pause/resume state machine of one transport's writing side.
///
/// Backends feed it the buffer size after each change and deliver the
/// transitions it reports to their protocol (from the driver task, never from
/// inside `write`).
#[derive(Debug, Clone, Default)]
pub struct FlowControl {
    limits: WriteBufferLimits,
    paused: bool,
}

/// A change of the writing state that the protocol must be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    /// Call [`Protocol::pause_writing`](crate::Protocol::pause_writing).
    Pause,
    /// Call [`Protocol::resume_writing`](crate::Protocol::resume_writing).
    Resume,
}

impl FlowControl {
    /// A state machine with the given limits, not paused.
    pub fn new(limits: WriteBufferLimits) -> Self {
        FlowControl {
            limits,
            paused: false,
        }
    }

    /// The current limits.
    pub fn limits(&self) -> WriteBufferLimits {
        self.limits
    }

    /// Whether the writer is paused (past the high mark, not yet back to low).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether a writer may write now: not paused and not above the high mark.
    pub fn can_write(&self, buffered: usize) -> bool {
        !self.paused && buffered <= self.limits.high
    }

    /// Re-evaluates the state for a buffer of `buffered` bytes and returns the
    /// transition, if any.
    pub fn update(&mut self, buffered: usize) -> Option<FlowEvent> {
        if !self.paused && buffered > self.limits.high {
            self.paused = true;
            Some(FlowEvent::Pause)
        } else if self.paused && buffered <= self.limits.low {
            self.paused = false;
            Some(FlowEvent::Resume)
        } else {
            None
        }
    }

    /// Installs new limits and re-evaluates with the current buffer size.
    pub fn set_limits(&mut self, limits: WriteBufferLimits, buffered: usize) -> Option<FlowEvent> {
        self.limits = limits;
        self.update(buffered)
    }
}

/// The tasks waiting in [`Transport::poll_write_ready`](crate::Transport::poll_write_ready)
/// for room in one write buffer. Each task is kept once (by
/// [`Waker::will_wake`]) and all are woken together: a transport shared by
/// several writers wakes every one of them, not only the last to wait.
#[derive(Debug, Default)]
pub struct WriteWaiters {
    wakers: Vec<Waker>,
}

impl WriteWaiters {
    /// Keeps `waker` until the next [`take`](Self::take), unless it is
    /// already kept.
    pub fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Every waiting task, to wake (after releasing any lock).
    pub fn take(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wakers)
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_above_high_and_resumes_at_low() {
        let mut fc = FlowControl::new(WriteBufferLimits::new(100, 20).expect("valid"));
        assert_eq!(fc.update(100), None);
        assert_eq!(fc.update(101), Some(FlowEvent::Pause));
        assert_eq!(fc.update(500), None);
        assert_eq!(fc.update(21), None);
        assert!(fc.is_paused());
        assert_eq!(fc.update(20), Some(FlowEvent::Resume));
        assert_eq!(fc.update(0), None);
    }
}
