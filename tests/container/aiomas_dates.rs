//! Dates and clocks between the real aiomas 2.0.1
//! (tests/aiomas/dates_peer.py) and our containers, with both codecs:
//! aiomas's `arrow` dates (its containers' first serializer) at the edges
//! (time zones, microseconds, years 1 and 9999, leap seconds, fractions
//! below a microsecond), both ways; our `ExternalClock` read by Python;
//! malformed dates are error replies that name them, never a lost
//! connection.
//!
//! (aiomas's own `ExternalClock.utcnow()` fails with the `arrow` 1.x that
//! pip installs for it, `replace(seconds=…)` being gone: its dates are
//! covered here through `AsyncioClock` and plain `arrow` values.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::{Codec, Json, MsgPack};
use agentwire::clock::chrono::NaiveDate;
use agentwire::clock::{Clock, ExternalClock};
use agentwire::rpc::{Date, Router};
use agentwire::{Container, ContainerOptions, RpcError};

use crate::support::aiomas::{self, free_port, lines, script, until_done};
use crate::support::error_chain;

/// The `Dates` agent of dates_peer.py, in Rust: `describe(d)` (the date as
/// we read it, RFC 3339 in UTC), `echo(d)`, `now()` (the container's clock).
fn dates<C: Codec>(clock: Arc<dyn Clock>) -> Router<C> {
    Router::new()
        .method("describe", |(d,): (Date,)| async move {
            Ok::<_, Infallible>(d.to_string())
        })
        .method(
            "echo",
            |(d,): (Date,)| async move { Ok::<_, Infallible>(d) },
        )
        .method("now", move |(): ()| {
            let now = Date(clock.utcnow());
            async move { Ok::<_, Infallible>(now) }
        })
}

fn date(text: &str) -> Date {
    Date(text.parse().expect("an RFC 3339 date"))
}

/// Python's dates as our agents read them and send them back; malformed
/// ones are error replies naming the text, and the connection goes on.
async fn python_dates_reach_our_agents<C: Codec>(codec: C, name: &str) {
    aiomas::venv().await;
    // A moment before the end of year 9999, with a fraction of a
    // microsecond: a date Python cannot hold to the nanosecond.
    let clock = Arc::new(ExternalClock::from_date(date("9999-12-31T23:59:59Z").0));
    clock
        .set_time(Duration::from_nanos(999_999_500))
        .expect("forward");
    let options = ContainerOptions::new()
        .codec(codec)
        .clock(clock.clone() as Arc<dyn Clock>);
    let c = Container::create_with("tcp://127.0.0.1:0", options)
        .await
        .expect("container");
    let agent = c
        .register("Dates", dates::<C>(clock as Arc<dyn Clock>))
        .expect("register");
    let mut child = script("dates_peer.py", &["call", name, agent.url()]);
    let rx = lines(&mut child);
    let out = until_done(rx, "dates_peer.py").await;
    let line = |key: &str| -> &str {
        out.iter()
            .find_map(|l| l.strip_prefix(key).and_then(|l| l.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name}: no {key:?} line in {out:?}"))
    };
    let expect = [
        ("clock", "ok 9999-12-31T23:59:59.999999+00:00"),
        ("utc", "ok 2016-01-01T00:00:00+00:00"),
        ("micro", "ok 2016-02-29T12:34:56.123456+00:00"),
        ("east", "ok 2016-01-01T00:00:00.000001+00:00"),
        ("pacific", "ok 2016-07-01T19:00:00+00:00"),
        ("first", "ok 0001-01-01T00:00:00+00:00"),
        ("last", "ok 9999-12-31T23:59:59.999999+00:00"),
        ("echo_micro", "ok 2016-02-29T15:34:56.123456+00:00 same"),
        ("echo_first", "ok 0001-01-01T00:00:00+00:00 same"),
        ("echo_last", "ok 9999-12-31T23:59:59.999999+00:00 same"),
        ("again", "ok 2016-01-01T00:00:00+00:00"),
    ];
    for (key, want) in expect {
        assert_eq!(line(key), want, "{name}: {key} in {out:?}");
    }
    assert!(
        line("now").starts_with("ok ") && line("now").ends_with("+00:00 same"),
        "{name}: {out:?}"
    );
    for (key, named) in [
        ("echo_before_first", "0000-12-31T19:00:00+00:00"),
        ("lmt", "1900-01-01T00:00:00+00:19:32"),
        ("garbage", "\"garbage\""),
        ("not_text", "42"),
        ("feb30", "2016-02-30T00:00:00+00:00"),
        ("long", "2016xxx"),
    ] {
        let got = line(key);
        assert!(
            got.starts_with("err RemoteException ") && got.contains(named),
            "{name}: {key}: an error reply naming {named:?}, got {:?}",
            got.get(..300)
        );
        // Named, not echoed: a megabyte of text is not sent back whole.
        assert!(got.len() < 1000, "{name}: {key}: {} bytes", got.len());
    }
    c.shutdown().await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_dates_reach_our_agents_json() {
    python_dates_reach_our_agents(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_dates_reach_our_agents_msgpack() {
    python_dates_reach_our_agents(MsgPack, "MsgPack").await;
}

/// Our dates as Python reads them: at most microseconds (Python's
/// `datetime` holds no more), so that the last nanoseconds of year 9999
/// stay in it; a leap second, which Python cannot hold, is refused before
/// it is sent, naming it; a malformed date from Python is a decode error
/// naming it. The connection goes on after each.
async fn our_dates_reach_python<C: Codec>(codec: C, name: &str) {
    aiomas::venv().await;
    let port = free_port().to_string();
    let mut child = script("dates_peer.py", &["serve", name, &port]);
    let rx = lines(&mut child);
    let url = aiomas::ready_url(rx, "dates_peer.py").await;
    let c = Container::create_with("tcp://127.0.0.1:0", ContainerOptions::new().codec(codec))
        .await
        .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    let wait = Duration::from_secs(20);
    let describe = |d: Date| {
        let proxy = proxy.clone();
        async move {
            tokio::time::timeout(wait, proxy.call::<_, String>("describe", (d,)))
                .await
                .expect("no hang")
        }
    };
    for (sent, read) in [
        // Rounded to microseconds, as arrow reads them, these were past
        // Python's last date.
        (
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59.999999+00:00",
        ),
        (
            "9999-12-31T23:59:59.9999995Z",
            "9999-12-31T23:59:59.999999+00:00",
        ),
        ("2016-01-01T00:00:00Z", "2016-01-01T00:00:00+00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
        (
            "2016-01-01T00:00:00.123456789Z",
            "2016-01-01T00:00:00.123456+00:00",
        ),
    ] {
        let got = describe(date(sent)).await;
        assert_eq!(
            got.map_err(|e| error_chain(&e)),
            Ok(read.to_owned()),
            "{name}: {sent}"
        );
    }
    let echoed: Date = proxy
        .call("echo", (date("9999-12-31T23:59:59.999999999Z"),))
        .await
        .expect("echo");
    assert_eq!(echoed, date("9999-12-31T23:59:59.999999Z"), "{name}");
    // Python's clock, and back.
    let now: Date = proxy.call("now", ()).await.expect("now");
    let again: Date = proxy.call("echo", (now,)).await.expect("echo now");
    assert_eq!(again, now, "{name}");

    // A leap second: no Python date holds one.
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .expect("a leap second")
        .and_utc();
    let err = describe(Date(leap)).await.expect_err("a leap second");
    assert!(matches!(err, RpcError::Encode { .. }), "{name}: {err:?}");
    let text = error_chain(&err);
    assert!(text.contains("2016-12-31T23:59:60.5"), "{name}: {text}");

    // Malformed dates from Python.
    let long = format!("2016{}", "x".repeat(1 << 20));
    for bad in ["garbage", "2016-02-30T00:00:00+00:00", &long] {
        let err = tokio::time::timeout(wait, proxy.call::<_, Date>("malformed", (bad,)))
            .await
            .expect("no hang")
            .expect_err("malformed");
        assert!(matches!(err, RpcError::Decode { .. }), "{name}: {err:?}");
        let text = error_chain(&err);
        assert!(
            text.contains(&bad[..bad.len().min(40)]),
            "{name}: {:?}",
            text.get(..300)
        );
        // Named, not echoed whole.
        assert!(text.len() < 2000, "{name}: {} bytes", text.len());
    }
    // The connection went on through all of it.
    let got = describe(date("2016-01-01T00:00:00Z")).await;
    assert_eq!(
        got.map_err(|e| error_chain(&e)),
        Ok("2016-01-01T00:00:00+00:00".to_owned()),
        "{name}"
    );
    c.shutdown().await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dates_reach_python_json() {
    our_dates_reach_python(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dates_reach_python_msgpack() {
    our_dates_reach_python(MsgPack, "MsgPack").await;
}

/// aiomas's `ExternalClock(utc_start, init_time)` and ours from the same
/// start: the same dates at the start and after the clocks are set, as
/// Python sends them to our agent. (aiomas's date is `utc_start` plus the
/// clock's time, `init_time` included.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_external_clock_dates_as_aiomas_does() {
    aiomas::venv().await;
    let c = Container::create("tcp://127.0.0.1:0")
        .await
        .expect("container");
    let agent = c
        .register("Dates", dates::<Json>(c.clock().clone()))
        .expect("register");
    let start = "2016-01-01T00:00:00+00:00";
    for (init, t) in [(0.0, 1.5), (10.0, 11.5), (86_400.0, 90_061.25)] {
        let (init_s, t_s) = (init.to_string(), t.to_string());
        let mut child = script(
            "dates_peer.py",
            &["clock", "JSON", agent.url(), start, &init_s, &t_s],
        );
        let out = until_done(lines(&mut child), "dates_peer.py").await;
        let ours = ExternalClock::from_date_at(date(start).0, Duration::from_secs_f64(init));
        let at_init = Date(ours.utcnow()).to_string();
        ours.set_time(Duration::from_secs_f64(t)).expect("forward");
        let at_t = Date(ours.utcnow()).to_string();
        assert_eq!(
            out,
            [format!("at_init {at_init}"), format!("at_t {at_t}")],
            "init_time {init}, set to {t}"
        );
    }
    c.shutdown().await;
}
