//! Subscribing to a session's own topics in one SUBSCRIBE, and reading
//! the broker's SUBACK for it: a refused topic filter (return code 0x80,
//! e.g. the broker's ACLs) is an error that names it, not a subscription
//! that silently never delivers.

use std::io;

use rumqttc::{QoS, SubscribeFilter, SubscribeReasonCode};
use transport_api::{Error, Result};

use crate::MqttAddr;

/// QoS 1 subscriptions to `topics`.
pub(super) fn subscribe_filters(topics: &[String]) -> Vec<SubscribeFilter> {
    topics
        .iter()
        .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce))
        .collect()
}

/// Checks the broker's SUBACK `codes` for the subscription to `topics`
/// (one code per topic, in order; a missing code counts as a refusal).
///
/// # Errors
///
/// An [`Error::Io`] of kind `PermissionDenied` that names every topic
/// filter the broker refused (return code 0x80: usually its ACLs).
pub(super) fn check_suback(
    addr: &MqttAddr,
    topics: &[String],
    codes: &[SubscribeReasonCode],
) -> Result<()> {
    let refused: Vec<String> = topics
        .iter()
        .enumerate()
        .filter(|&(i, _)| !matches!(codes.get(i), Some(SubscribeReasonCode::Success(_))))
        .map(|(_, t)| format!("{t:?}"))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let filters = if refused.len() == 1 {
        "filter"
    } else {
        "filters"
    };
    Err(Error::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "the MQTT broker at {} refused the subscription to topic {filters} {}",
            addr.broker_url(),
            refused.join(", ")
        ),
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn refused_filters_are_named() {
        let addr = MqttAddr::new("127.0.0.1", 1883, "srv").expect("valid");
        let topics = ["agentwire/in/s1".to_owned(), "agentwire/srv/srv".to_owned()];
        let granted = SubscribeReasonCode::Success(QoS::AtLeastOnce);
        let refused = SubscribeReasonCode::Failure;
        assert!(check_suback(&addr, &topics, &[granted, granted]).is_ok());
        // A lower QoS than asked for is still a subscription.
        let qos0 = SubscribeReasonCode::Success(QoS::AtMostOnce);
        assert!(check_suback(&addr, &topics, &[qos0, granted]).is_ok());

        let err = check_suback(&addr, &topics, &[granted, refused]).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(text.contains("\"agentwire/srv/srv\""), "{text}");
        assert!(!text.contains("agentwire/in/"), "{text}");
        assert!(text.contains("mqtt://127.0.0.1:1883"), "{text}");

        let text = check_suback(&addr, &topics, &[refused, refused])
            .expect_err("refused")
            .to_string();
        assert!(
            text.contains("filters \"agentwire/in/s1\", \"agentwire/srv/srv\""),
            "{text}"
        );
        // A SUBACK with too few codes answers nothing for the rest.
        let text = check_suback(&addr, &topics, &[granted])
            .expect_err("unanswered")
            .to_string();
        assert!(text.contains("agentwire/srv/srv"), "{text}");
    }
}
