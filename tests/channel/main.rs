//! Channel tests: the same scenarios on local queues, TCP and Unix sockets;
//! bad input on each; property tests for framing and codecs; aiomas JSON
//! interoperability.

mod aiomas;
mod bad_input;
mod flow;
mod props;
mod scenarios;
mod support;

use agentwire::channel::{Channel, ChannelError, Request};

/// The scenarios of every backend, MQTT included (`$on`: `on_every_backend`
/// or `on_mqtt`).
macro_rules! everywhere {
    ($on:ident) => {
        $on!(
            scenarios::round_trip,
            scenarios::both_directions,
            scenarios::thousand_concurrent,
            scenarios::connection_loss,
            scenarios::client_close,
            scenarios::connect_retry,
            flow::bounded_queue,
            flow::write_backpressure,
            flow::refusal_flood,
            flow::close_with_a_peer_that_does_not_read,
            scenarios::cancelled_request,
            bad_input::truncated_frame,
            bad_input::oversized_header,
            bad_input::undecodable_payload,
            bad_input::unknown_message_type,
            bad_input::reply_for_unknown_id,
            bad_input::duplicate_reply,
            bad_input::second_concurrent_recv,
        );
    };
}

everywhere!(on_every_backend);

/// On local queues, where a reset reaches even a peer that does not read
/// (a socket peer would only see it once it reads again).
#[tokio::test]
async fn dropped_with_a_peer_that_does_not_read() {
    support::run(flow::dropped_with_a_peer_that_does_not_read(
        support::local(),
    ))
    .await;
}

/// The same scenarios through an MQTT broker (the embedded rumqttd): the
/// connection's bytes cross the broker as messages of their own, and bad
/// frames come through it as they are.
mod mqtt {
    use super::*;

    everywhere!(on_mqtt);
}

/// The same 1,000 requests on a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_multi_thread() {
    support::run(scenarios::thousand_concurrent(support::local())).await;
    support::run(scenarios::thousand_concurrent(support::tcp())).await;
}

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<Channel>();
    is::<Channel<agentwire::channel::Json>>();
    is::<Request>();
    is::<ChannelError>();
}
