//! Address and URL parsing: every parser takes any string without
//! panicking, its errors name the input, and what parses prints as a URL
//! that parses back to the same address.
#![no_main]

use std::sync::OnceLock;

use agentwire::container::Schemes;
use agentwire::mqtt::MqttAddr;
use agentwire::tcp::{Host, TcpAddr, TlsAddr, UnixAddr};
use agentwire::ContainerOptions;
use libfuzzer_sys::fuzz_target;
use transport_local::LocalNetwork;

fn schemes() -> &'static Schemes {
    static OPTIONS: OnceLock<ContainerOptions> = OnceLock::new();
    OPTIONS
        .get_or_init(|| ContainerOptions::new().local_network(LocalNetwork::new()))
        .get_schemes()
}

/// An error about `input` names it (in some form: errors quote it with
/// Rust's `{:?}` or print it as given).
fn names(err: &dyn std::fmt::Display, input: &str) {
    let text = err.to_string();
    let quoted = format!("{input:?}");
    let quoted = &quoted[1..quoted.len() - 1];
    assert!(
        text.contains(input) || text.contains(quoted),
        "error {text:?} does not name {input:?}"
    );
}

fn check<T, E>(input: &str, parse: impl Fn(&str) -> Result<T, E>, same: impl Fn(&T, &T) -> bool)
where
    T: std::fmt::Display + std::fmt::Debug,
    E: std::fmt::Display,
{
    match parse(input) {
        Ok(a) => {
            let printed = a.to_string();
            let b = parse(&printed).unwrap_or_else(|e| {
                panic!("{input:?} parsed to {a:?}, printed as {printed:?}, which fails: {e}")
            });
            assert!(same(&a, &b), "{input:?} -> {a:?} -> {printed:?} -> {b:?}");
            assert_eq!(
                b.to_string(),
                printed,
                "printing is not stable for {input:?}"
            );
        }
        Err(e) => names(&e, input),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check(input, |s| s.parse::<TcpAddr>(), |a, b| a == b);
    // `host:port` prints back as `host_port()`.
    match TcpAddr::from_host_port(input) {
        Ok(a) => {
            let printed = a.host_port();
            let b = TcpAddr::from_host_port(&printed)
                .unwrap_or_else(|e| panic!("{input:?} -> {printed:?}, which fails: {e}"));
            assert_eq!(a, b, "{input:?} -> {printed:?}");
            assert_eq!(b.to_string().parse::<TcpAddr>().ok(), Some(a));
        }
        Err(e) => names(&e, input),
    }
    check(input, Host::parse, |a, b| a == b);
    check(input, |s| s.parse::<UnixAddr>(), |a, b| a == b);
    check(
        input,
        |s| s.parse::<TlsAddr>(),
        |a, b| a.to_string() == b.to_string(),
    );
    check(input, |s| s.parse::<MqttAddr>(), |a, b| a == b);
    let net = LocalNetwork::new();
    match net.get_queue(input) {
        Ok(q) => {
            let printed = q.to_string();
            let back = schemes()
                .resolve(&printed)
                .unwrap_or_else(|e| panic!("queue {input:?} prints as {printed:?}: {e}"));
            assert_eq!(back.to_string(), printed);
        }
        Err(e) => names(&e, input),
    }
    match schemes().resolve(input) {
        Ok(a) => {
            let printed = a.to_string();
            let b = schemes()
                .resolve(&printed)
                .unwrap_or_else(|e| panic!("{input:?} -> {printed:?}, which fails: {e}"));
            assert_eq!(b.to_string(), printed, "{input:?}");
        }
        Err(e) => names(&e, input),
    }
});
