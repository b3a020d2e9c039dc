//! RPC tests: routing, errors, concurrency and calls both ways, on local
//! queues, TCP and Unix sockets; aiomas's wire format.

mod limits;
mod scenarios;
mod support;
mod wire;

on_every_backend!(
    scenarios::routing,
    scenarios::remote_errors_keep_the_connection,
    scenarios::keyword_arguments,
    scenarios::many_concurrent_calls,
    scenarios::calls_both_ways,
    scenarios::bincode_codec,
    limits::ten_thousand_concurrent_calls,
    limits::flood_without_reading,
    limits::dropped_calls_are_forgotten,
    limits::panicking_handlers,
    limits::callbacks_at_the_limit,
);

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<agentwire::rpc::Connection>();
    is::<agentwire::rpc::Proxy>();
    is::<agentwire::rpc::Router>();
    is::<agentwire::rpc::RpcError>();
}
