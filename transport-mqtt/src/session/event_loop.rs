//! The session's MQTT event loop: incoming publishes to the routing,
//! CONNACKs and SUBACKs to the session's `Status`, a lost broker to the
//! connections (and, for a server, a reconnection with backoff), a clean
//! disconnect drained to its end.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Event, EventLoop, Outgoing, Packet, SubscribeReasonCode};

use super::Session;

/// Polls the MQTT event loop until the session ends.
pub(super) async fn run(session: Arc<Session>, mut eventloop: EventLoop) {
    let mut backoff = Duration::from_millis(50);
    let mut ever_connected = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => session.dispatch(&p.topic, p.payload),
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(50);
                if ever_connected {
                    session.resubscribe();
                }
                ever_connected = true;
                session.status.send_modify(|s| s.connected = true);
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                    // Before `start` returns this is its error; later (a
                    // peer's will, a resubscription) only this says so.
                    tracing::warn!(
                        broker = %session.addr.broker_url(),
                        pkid = ack.pkid,
                        codes = ?ack.return_codes,
                        "the MQTT broker refused a subscription"
                    );
                }
                session.status.send_if_modified(|s| {
                    let first = s.first_suback.is_none();
                    if first {
                        s.first_suback = Some(ack.return_codes);
                    }
                    first
                });
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                // Read on until the broker closes the connection (bounded):
                // a socket closed with unread data is reset, and a broker
                // may take a reset for a lost client and publish our last
                // will, ending a peer's connection with an error after our
                // clean close.
                let drain = async { while eventloop.poll().await.is_ok() {} };
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                break;
            }
            Ok(_) => {}
            Err(err) => {
                session.status.send_modify(|s| s.connected = false);
                session.broker_lost(&err);
                if !(ever_connected && session.should_reconnect()) {
                    session
                        .status
                        .send_modify(|s| s.down = Some(err.to_string()));
                    break;
                }
                tracing::warn!(broker = %session.addr.broker_url(), "MQTT broker lost, reconnecting: {err}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    session.routes().ended = true;
    session.status.send_modify(|s| {
        s.down.get_or_insert_with(|| "disconnected".into());
    });
}
