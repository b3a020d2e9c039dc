//! Any text as a container URL or an agent URL: resolving, creating and
//! connecting never panic, and every refusal names the input.

use std::time::Duration;

use agentwire::container::{Container, ContainerError, ContainerOptions};
use proptest::prelude::*;
use transport_local::LocalNetwork;
use transport_mqtt::MqttAddr;

/// Scheme prefixes to put in front of generated text: the known ones, some
/// near misses, and none.
const PREFIXES: &[&str] = &[
    "",
    "local://",
    "tcp://",
    "tls://",
    "ipc://",
    "ipc://[",
    "mqtt://",
    "mqtts://",
    "TCP://",
    "Local://",
    "IPC://[",
    "Tls://",
    "MQTT://",
    "tcp://[fe80::1%25",
    "local:/",
    "://",
    "local://a/",
    "ipc://[/tmp/x]/",
    "mqtt://127.0.0.1:1/",
];

/// Text that looks like a URL more often than arbitrary text would.
fn url_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PREFIXES),
        prop_oneof![
            "\\PC{0,24}",
            "[a-z0-9:/\\[\\]@%.?#_-]{0,24}",
            "[0-9.:]{0,10}(/[0-9]{0,22})?",
        ],
    )
        .prop_map(|(prefix, rest)| format!("{prefix}{rest}"))
}

/// A refusal names what it refused: an invalid address carries the input.
fn assert_names(url: &str, err: &ContainerError) -> Result<(), TestCaseError> {
    if let ContainerError::InvalidAddress { input, .. } = err {
        prop_assert!(
            url.contains(input.as_str()) || input.contains(url),
            "an invalid address names {input:?}, not the input {url:?}"
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `Schemes::resolve` and the MQTT address parser take any text.
    #[test]
    fn resolving_any_text_never_panics(url in url_text()) {
        let options = ContainerOptions::new().local_network(LocalNetwork::new());
        if let Err(err) = options.get_schemes().resolve(&url) {
            assert_names(&url, &err)?;
        }
        if let Ok(addr) = url.parse::<MqttAddr>() {
            // What parses prints as a URL that parses again to the same.
            let printed = addr.to_string();
            let again = printed.parse::<MqttAddr>();
            prop_assert!(again.is_ok(), "{printed:?} (from {url:?}) does not parse");
        }
    }

    /// Schemes are case-insensitive: with its scheme in any case, a URL
    /// resolves to what its lower-case form resolves to (or both are
    /// refused), and a refusal names the URL as given.
    #[test]
    fn the_case_of_a_scheme_does_not_matter(url in url_text(), mask in any::<u32>()) {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(());
        };
        let mixed: String = scheme
            .chars()
            .enumerate()
            .map(|(i, c)| if mask >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect();
        let mixed = format!("{mixed}://{rest}");
        let lower = format!("{}://{rest}", scheme.to_ascii_lowercase());
        let options = ContainerOptions::new().local_network(LocalNetwork::new());
        let schemes = options.get_schemes();
        match (schemes.resolve(&lower), schemes.resolve(&mixed)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (Err(_), Err(err)) => {
                if let ContainerError::InvalidAddress { input, .. } = &err {
                    prop_assert_eq!(input, &mixed);
                }
            }
            (a, b) => prop_assert!(false, "{lower:?} gave {a:?} but {mixed:?} gave {b:?}"),
        }
    }

    /// `connect` with any text as the agent URL returns (an error, here:
    /// nothing listens), with one attempt and no panic. Host names are
    /// left out (they would ask the resolver).
    #[test]
    fn connecting_to_any_text_returns(url in url_text()) {
        let lower = url.to_ascii_lowercase();
        prop_assume!(!lower.starts_with("tcp://") && !lower.starts_with("tls://") && !lower.contains("mqtt"));
        runtime().block_on(async {
            let net = LocalNetwork::new();
            let options = ContainerOptions::new().local_network(net);
            let c = Container::create_with("local://here", options)
                .await
                .expect("a container on a local queue");
            let attempt = tokio::time::timeout(
                Duration::from_secs(10),
                c.connect_with_timeout(&url, Some(Duration::ZERO)),
            )
            .await;
            c.shutdown().await;
            match attempt {
                Err(_) => prop_assert!(false, "connect({url:?}) did not return"),
                Ok(Ok(_)) => prop_assert!(false, "connect({url:?}) found an agent"),
                Ok(Err(err)) => assert_names(&url, &err)?,
            }
            Ok(())
        })?;
    }
}
