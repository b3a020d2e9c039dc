//! A protocol that records its callbacks, for scenarios and tests.

use std::fmt;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use super::Failure;
use crate::{Error, Protocol, SharedTransport};

/// One protocol callback, as recorded by a [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `connection_made`.
    Made,
    /// `data_received`, with the bytes.
    Data(Bytes),
    /// `eof_received`.
    Eof,
    /// `connection_lost`, with the error's kind.
    Lost(Option<ErrorKind>),
    /// `pause_writing`.
    Pause,
    /// `resume_writing`.
    Resume,
}

#[derive(Default)]
struct LogInner {
    events: Mutex<Vec<Event>>,
    transport: Mutex<Option<SharedTransport>>,
    /// The text of the error `connection_lost` got, if any.
    lost_error: Mutex<Option<String>>,
    changed: Notify,
}

/// What one [`Recorder`] saw; clones share it.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<LogInner>,
}

/// How long a scenario waits for an expected event before failing.
pub const WAIT: Duration = Duration::from_secs(20);

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn events_guard(&self) -> MutexGuard<'_, Vec<Event>> {
        self.inner.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, event: Event) {
        self.events_guard().push(event);
        self.inner.changed.notify_waiters();
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events_guard().clone()
    }

    /// All data received so far, concatenated.
    pub fn data(&self) -> Vec<u8> {
        let events = self.events_guard();
        let mut out = Vec::new();
        for e in events.iter() {
            if let Event::Data(d) = e {
                out.extend_from_slice(d);
            }
        }
        out
    }

    /// Number of bytes received so far.
    pub fn data_len(&self) -> usize {
        self.events_guard()
            .iter()
            .map(|e| if let Event::Data(d) = e { d.len() } else { 0 })
            .sum()
    }

    /// How many times `event` was recorded.
    pub fn count(&self, event: &Event) -> usize {
        self.events_guard().iter().filter(|e| *e == event).count()
    }

    /// The text of the error `connection_lost` got (`None` for a clean
    /// close or before it came), for failure messages.
    pub fn lost_error(&self) -> Option<String> {
        self.inner
            .lost_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many `connection_lost` calls were recorded.
    pub fn lost_count(&self) -> usize {
        self.events_guard()
            .iter()
            .filter(|e| matches!(e, Event::Lost(_)))
            .count()
    }

    /// The transport from `connection_made`, while the connection lives.
    pub fn transport(&self) -> Option<SharedTransport> {
        self.inner
            .transport
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The transport from `connection_made`, or a failure saying `who` has
    /// none (no `connection_made` yet, or the connection is gone).
    ///
    /// # Errors
    ///
    /// A [`Failure`] naming `who`.
    pub fn require_transport(&self, who: &str) -> Result<SharedTransport, Failure> {
        self.transport()
            .ok_or_else(|| Failure::new(format!("{who} protocol has no transport")))
    }

    /// Waits until `cond` holds on the events, failing after [`WAIT`].
    ///
    /// # Errors
    ///
    /// A [`Failure`] naming `what` and listing the events seen.
    pub async fn wait_for(
        &self,
        what: &str,
        cond: impl Fn(&[Event]) -> bool,
    ) -> Result<(), Failure> {
        let wait = async {
            loop {
                let notified = self.inner.changed.notified();
                if cond(&self.events_guard()) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(WAIT, wait).await.map_err(|_| {
            Failure::new(format!(
                "timed out waiting for {what}; events: {}",
                summary(&self.events())
            ))
        })
    }

    /// Waits for `connection_lost`.
    ///
    /// # Errors
    ///
    /// A [`Failure`] after [`WAIT`].
    pub async fn wait_lost(&self) -> Result<(), Failure> {
        self.wait_for("connection_lost", |ev| {
            ev.iter().any(|e| matches!(e, Event::Lost(_)))
        })
        .await
    }

    /// Waits until at least `n` bytes were received.
    ///
    /// # Errors
    ///
    /// A [`Failure`] after [`WAIT`].
    pub async fn wait_data(&self, n: usize) -> Result<(), Failure> {
        self.wait_for(&format!("{n} bytes"), |ev| {
            ev.iter()
                .map(|e| if let Event::Data(d) = e { d.len() } else { 0 })
                .sum::<usize>()
                >= n
        })
        .await
    }
}

/// Events with data shortened to lengths, for failure messages.
fn summary(events: &[Event]) -> String {
    let parts: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Data(d) => format!("Data({} B)", d.len()),
            other => format!("{other:?}"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&summary(&self.events()))
    }
}

/// A protocol that records every callback into a [`Log`], keeps its
/// transport until `connection_lost`, and optionally echoes.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Where the events go.
    pub log: Log,
    /// Write every received chunk back.
    pub echo: bool,
    /// What `eof_received` returns.
    pub keep_open_on_eof: bool,
    /// Keep the transport handle (so the connection stays open).
    pub forget_transport: bool,
    /// Pause reading as soon as the connection is made.
    pub start_paused: bool,
}

impl Recorder {
    /// A recorder writing into `log`.
    pub fn new(log: &Log) -> Self {
        Recorder {
            log: log.clone(),
            ..Recorder::default()
        }
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: SharedTransport) {
        if self.start_paused {
            transport.pause_reading();
        }
        if !self.forget_transport {
            *self
                .log
                .inner
                .transport
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(transport);
        }
        self.log.push(Event::Made);
    }

    fn data_received(&mut self, data: Bytes) {
        if self.echo {
            if let Some(t) = self.log.transport() {
                let _ = t.write(data.clone());
            }
        }
        self.log.push(Event::Data(data));
    }

    fn eof_received(&mut self) -> bool {
        self.log.push(Event::Eof);
        self.keep_open_on_eof
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        if let Some(e) = &error {
            *self
                .log
                .inner
                .lost_error
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        self.log.push(Event::Lost(error.map(|e| e.kind())));
        self.log
            .inner
            .transport
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    fn pause_writing(&mut self) {
        self.log.push(Event::Pause);
    }

    fn resume_writing(&mut self) {
        self.log.push(Event::Resume);
    }
}

/// A server-side factory whose every connection records into a new [`Log`];
/// the logs are kept in order of connection.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    logs: Arc<Mutex<Vec<Log>>>,
    template: Recorder,
}

impl Accepted {
    /// Connections are handled by clones of `template` with fresh logs.
    pub fn new(template: Recorder) -> Self {
        Accepted {
            logs: Arc::default(),
            template,
        }
    }

    /// The protocol factory to pass to `create_server`.
    pub fn factory(&self) -> impl Fn() -> Recorder + Send + Sync + 'static {
        let this = self.clone();
        move || {
            let log = Log::new();
            this.logs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(log.clone());
            Recorder {
                log,
                ..this.template.clone()
            }
        }
    }

    /// The logs of the connections accepted so far.
    pub fn logs(&self) -> Vec<Log> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `n` connections were accepted, then returns the `i`-th log.
    ///
    /// # Errors
    ///
    /// A [`Failure`] after [`WAIT`].
    pub async fn wait_log(&self, i: usize) -> Result<Log, Failure> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(log) = self.logs().get(i) {
                return Ok(log.clone());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Failure::new(format!("connection {i} was never accepted")));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
