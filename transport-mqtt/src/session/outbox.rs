//! [`Outbox`]: what a session owes its peers and the broker without a
//! task of its own waiting to send it: resets, refusals, unsubscriptions,
//! a resubscription after a reconnect, and the final DISCONNECT.
//!
//! They are sent at once when the MQTT client's request queue has room.
//! When it is full (a broker that is slow or gone, connections with much
//! to publish), they wait here, in order, and one task per session sends
//! them as room comes; it ends when the outbox is empty or the session's
//! event loop is gone. The DISCONNECT goes last, after every message the
//! session owes; a resubscription goes first (without it a server hears
//! nothing more).
//!
//! Bounded: at most [`MAX_PENDING`] messages wait. Past that the oldest
//! unsubscription goes first (harmless: at worst a will we no longer
//! watch reaches us), then the oldest message a peer provoked (a REFUSE,
//! the reset of a stray ACK: a flood of SYNs must not push out what our
//! own connections owe), then the oldest reset; each with a `tracing`
//! warning. Once the session disconnects, unsubscriptions are moot and
//! dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rumqttc::{AsyncClient, QoS};

use super::suback::subscribe_filters;

/// At most this many control messages wait per session.
pub(crate) const MAX_PENDING: usize = 1024;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// A message to a peer's inbox (QoS 1). `provoked`: sent because of
    /// what a peer sent (a REFUSE, the reset of a stray ACK), rather than
    /// owed by one of our connections.
    Publish {
        topic: String,
        payload: Bytes,
        provoked: bool,
    },
    /// Stop watching a topic (a peer's will, the server's topic).
    Unsubscribe(String),
}

impl Control {
    /// Which to drop first when the outbox is full: lower goes first.
    fn keep_rank(&self) -> u8 {
        match self {
            Control::Unsubscribe(_) => 0,
            Control::Publish { provoked: true, .. } => 1,
            Control::Publish { .. } => 2,
        }
    }
}

/// What waits, and whether a task sends it.
#[derive(Debug, Default)]
struct Pending {
    queue: VecDeque<Control>,
    /// The topics to subscribe to again after a reconnect (the latest).
    resubscribe: Option<Vec<String>>,
    disconnect: bool,
    /// A task is sending what waits.
    flushing: bool,
    /// The DISCONNECT is out, or the event loop is gone: nothing more
    /// will be sent.
    done: bool,
}

/// The next request for the flushing task.
enum Request {
    Control(Control),
    Resubscribe(Vec<String>),
    Disconnect,
}

impl Pending {
    fn is_idle(&self) -> bool {
        !self.flushing && self.queue.is_empty() && self.resubscribe.is_none() && !self.disconnect
    }

    /// Queues `control`; returns what had to make room for it.
    fn push(&mut self, control: Control) -> Option<Control> {
        let dropped = if self.queue.len() >= MAX_PENDING {
            let rank = self.queue.iter().map(Control::keep_rank).min();
            let at = self.queue.iter().position(|c| Some(c.keep_rank()) == rank);
            at.and_then(|i| self.queue.remove(i))
        } else {
            None
        };
        self.queue.push_back(control);
        dropped
    }

    fn next(&mut self) -> Option<Request> {
        if let Some(topics) = self.resubscribe.take() {
            return Some(Request::Resubscribe(topics));
        }
        if let Some(control) = self.queue.pop_front() {
            return Some(Request::Control(control));
        }
        if std::mem::take(&mut self.disconnect) {
            return Some(Request::Disconnect);
        }
        None
    }
}

/// A session's outbox (see the module docs).
#[derive(Debug)]
pub(crate) struct Outbox {
    client: AsyncClient,
    /// The session's id, for the logs.
    sid: String,
    pending: Mutex<Pending>,
}

impl Outbox {
    pub(crate) fn new(client: AsyncClient, sid: String) -> Arc<Outbox> {
        Arc::new(Outbox {
            client,
            sid,
            pending: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `control` now if there is room, or once there is.
    pub(crate) fn send(self: &Arc<Self>, control: Control) {
        let mut pending = self.lock();
        if pending.done {
            return;
        }
        if pending.is_idle() && self.try_send(&control) {
            return;
        }
        if let Some(dropped) = pending.push(control) {
            match dropped {
                Control::Unsubscribe(topic) => tracing::debug!(
                    sid = %self.sid,
                    topic,
                    "the MQTT request queue is full: an unsubscription is dropped"
                ),
                Control::Publish { topic, .. } => tracing::warn!(
                    sid = %self.sid,
                    topic,
                    "{MAX_PENDING} control messages wait for room in the MQTT request \
                     queue: the oldest is dropped"
                ),
            }
        }
        self.flush_later(&mut pending);
    }

    /// Subscribes to `topics` again (after a reconnect), before anything
    /// else that waits.
    pub(crate) fn resubscribe(self: &Arc<Self>, topics: Vec<String>) {
        let mut pending = self.lock();
        if pending.done {
            return;
        }
        if pending.is_idle()
            && self
                .client
                .try_subscribe_many(subscribe_filters(&topics))
                .is_ok()
        {
            return;
        }
        pending.resubscribe = Some(topics);
        self.flush_later(&mut pending);
    }

    /// Disconnects (cleanly: no last will) once everything owed is out;
    /// what is only an unsubscription is not sent any more.
    pub(crate) fn disconnect(self: &Arc<Self>) {
        let mut pending = self.lock();
        if pending.done || pending.disconnect {
            return;
        }
        pending
            .queue
            .retain(|c| !matches!(c, Control::Unsubscribe(_)));
        pending.resubscribe = None;
        if pending.is_idle() && self.client.try_disconnect().is_ok() {
            pending.done = true;
            return;
        }
        tracing::debug!(sid = %self.sid, "the MQTT request queue is full: the disconnect waits");
        pending.disconnect = true;
        self.flush_later(&mut pending);
    }

    /// Puts `control` in the MQTT client's request queue if there is room.
    fn try_send(&self, control: &Control) -> bool {
        match control {
            Control::Publish { topic, payload, .. } => self
                .client
                .try_publish(topic.clone(), QoS::AtLeastOnce, false, payload.to_vec())
                .is_ok(),
            Control::Unsubscribe(topic) => self.client.try_unsubscribe(topic.clone()).is_ok(),
        }
    }

    /// Starts the task that sends what waits, unless it runs. Outside a
    /// runtime (a session dropped with its runtime) nothing can be sent:
    /// what waits stays until the outbox is used again from a runtime.
    fn flush_later(self: &Arc<Self>, pending: &mut Pending) {
        if pending.flushing {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        pending.flushing = true;
        runtime.spawn(Arc::clone(self).flush());
    }

    /// Sends what waits, each request when the MQTT client's queue has
    /// room; ends when nothing waits, or when the event loop is gone.
    async fn flush(self: Arc<Self>) {
        loop {
            let next = {
                let mut pending = self.lock();
                match pending.next() {
                    Some(next) => next,
                    None => {
                        pending.flushing = false;
                        return;
                    }
                }
            };
            let disconnect = matches!(next, Request::Disconnect);
            let sent = match next {
                Request::Control(Control::Publish { topic, payload, .. }) => {
                    self.client
                        .publish_bytes(topic, QoS::AtLeastOnce, false, payload)
                        .await
                }
                Request::Control(Control::Unsubscribe(topic)) => {
                    self.client.unsubscribe(topic).await
                }
                Request::Resubscribe(topics) => {
                    self.client.subscribe_many(subscribe_filters(&topics)).await
                }
                Request::Disconnect => self.client.disconnect().await,
            };
            if sent.is_err() || disconnect {
                // The event loop is gone, or will be once it has sent the
                // DISCONNECT: nothing more will reach the broker.
                let mut pending = self.lock();
                *pending = Pending {
                    done: true,
                    ..Pending::default()
                };
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn publish(n: usize, provoked: bool) -> Control {
        Control::Publish {
            topic: format!("agentwire/in/s{n}"),
            payload: Bytes::new(),
            provoked,
        }
    }

    #[test]
    fn a_full_outbox_drops_unsubscriptions_then_provoked_then_the_oldest() {
        let mut p = Pending::default();
        p.push(publish(0, false));
        p.push(Control::Unsubscribe("w0".into()));
        p.push(publish(1, true));
        for n in 2..MAX_PENDING - 1 {
            assert_eq!(p.push(publish(n, n % 2 == 0)), None);
        }
        assert_eq!(p.queue.len(), MAX_PENDING);
        // Full: the unsubscription goes first, then refusals oldest first.
        assert_eq!(
            p.push(publish(9000, true)),
            Some(Control::Unsubscribe("w0".into()))
        );
        assert_eq!(p.push(publish(9001, true)), Some(publish(1, true)));
        assert_eq!(p.push(publish(9002, false)), Some(publish(2, true)));
        assert_eq!(p.queue.len(), MAX_PENDING);
        // Only resets left: the oldest goes.
        p.queue.retain(|c| c.keep_rank() == 2);
        while p.queue.len() < MAX_PENDING {
            p.push(publish(7, false));
        }
        assert_eq!(p.push(publish(8, false)), Some(publish(0, false)));
        assert_eq!(p.queue.len(), MAX_PENDING);
    }

    #[test]
    fn the_resubscription_goes_first_and_the_disconnect_last() {
        let mut p = Pending::default();
        p.push(publish(1, false));
        p.disconnect = true;
        p.resubscribe = Some(vec!["t".into()]);
        assert!(matches!(p.next(), Some(Request::Resubscribe(_))));
        assert!(matches!(p.next(), Some(Request::Control(_))));
        assert!(matches!(p.next(), Some(Request::Disconnect)));
        assert!(p.next().is_none());
    }
}
