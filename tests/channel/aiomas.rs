//! The JSON codec against aiomas 2.0.1: literal bytes as aiomas writes them,
//! and the real aiomas `JSON` codec run in Python.

use agentwire::channel::{Channel, ChannelOptions, Codec, Json, MessageKind};
use bytes::Bytes;
use serde_json::{json, Value};
use transport_api::{Address, Server, Transport};

use crate::support::{self, aiomas, frame, raw_connect};

#[test]
fn decodes_literal_aiomas_messages() {
    let msg = Json
        .decode_message(Bytes::from_static(
            br#"[0, 7, ["agents/0/add", [1, 2], {}]]"#,
        ))
        .expect("request");
    assert_eq!((msg.kind, msg.id), (MessageKind::Request, 7));
    let (path, args, kwargs): (String, Vec<i64>, serde_json::Map<String, Value>) =
        Json.decode_content(&msg.content).expect("content");
    assert_eq!(path, "agents/0/add");
    assert_eq!(args, [1, 2]);
    assert!(kwargs.is_empty());

    let msg = Json
        .decode_message(Bytes::from_static(b"[1, 7, 3]"))
        .expect("result");
    assert_eq!((msg.kind, msg.id), (MessageKind::Result, 7));
    assert_eq!(Json.decode_content::<i64>(&msg.content).expect("3"), 3);

    let text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n";
    let bytes = format!("[2, 8, {}]", serde_json::to_string(text).expect("json"));
    let msg = Json.decode_message(Bytes::from(bytes)).expect("exception");
    assert_eq!((msg.kind, msg.id), (MessageKind::Exception, 8));
    assert_eq!(
        Json.decode_content::<String>(&msg.content).expect("text"),
        text
    );
}

/// A JSON channel server answers frames written as aiomas writes them, with
/// the bytes aiomas would write.
async fn speaks_aiomas_bytes<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let server = Channel::start_server(
        &addr,
        |ch: Channel<Json>| async move {
            while let Ok(req) = ch.recv().await {
                let (path, args, _kwargs): (String, Vec<Value>, Value) =
                    req.content().expect("aiomas request");
                let _ = match path.as_str() {
                    "agents/0/add" => {
                        let sum: i64 = args.iter().filter_map(Value::as_i64).sum();
                        req.reply(&sum).await
                    }
                    _ => req.fail(format!("ValueError: {path}")).await,
                };
            }
        },
        ChannelOptions::new().codec(Json),
    )
    .await
    .expect("server starts");
    let (raw, mut view) = raw_connect(&server.addr()).await;
    let mut wire = frame(br#"[0, 7, ["agents/0/add", [1, 2], {}]]"#).to_vec();
    wire.extend_from_slice(&frame(br#"[0, 8, ["agents/0/nope", [], {}]]"#));
    raw.write(wire.into()).expect("write");
    let mut expected = frame(b"[1, 7, 3]").to_vec();
    expected.extend_from_slice(&frame(br#"[2, 8, "ValueError: agents/0/nope"]"#));
    let got = view.received(expected.len()).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    raw.close();
    server.close();
}

#[tokio::test]
async fn speaks_aiomas_bytes_local() {
    support::run(speaks_aiomas_bytes(support::local())).await;
}

#[tokio::test]
async fn speaks_aiomas_bytes_tcp() {
    support::run(speaks_aiomas_bytes(support::tcp())).await;
}

/// Messages as (kind, id, content); keys in sorted order, as serde_json's
/// maps keep them, so the bytes can be compared too.
fn messages() -> Vec<(MessageKind, u64, Value)> {
    vec![
        (MessageKind::Request, 7, json!(["agents/0/add", [1, 2], {}])),
        (MessageKind::Request, 0, json!(["validate_aid", ["0"], {}])),
        (
            MessageKind::Request,
            12,
            json!(["agents/3/sub/echo", [{"a": [1, 2.5, "x", null, true]}], {"key": "v"}]),
        ),
        (MessageKind::Result, 7, json!(3)),
        (MessageKind::Result, 8, json!({"a": [1, 2.5, "x", null, true], "b": {}})),
        (MessageKind::Result, 9, json!(null)),
        (MessageKind::Result, 10, json!("héllo ✓ 😀 \u{7f} \"quoted\" \\ \n\t")),
        (MessageKind::Result, 11, json!(-12345678901234_i64)),
        (
            MessageKind::Exception,
            13,
            json!("Traceback (most recent call last):\n  File \"calc.py\", line 3, in fail\nValueError: boom\n"),
        ),
        (MessageKind::Request, u64::from(u32::MAX) + 1, json!(["x", [], {}])),
    ]
}

const SCRIPT: &str = r#"
import json, sys
import aiomas_compat  # patches asyncio for aiomas 2.0.1 on Python 3.10+
import aiomas
codec = aiomas.codecs.JSON()
job = json.loads(sys.stdin.read())
out = {
    "encoded": [codec.encode(tuple(m)).hex() for m in job["messages"]],
    "reencoded": [codec.encode(codec.decode(bytes.fromhex(h))).hex() for h in job["ours"]],
}
print(json.dumps(out))
"#;

/// Our encoding is the same JSON value, and for these messages the same
/// bytes, as aiomas 2.0.1's `JSON` codec writes; aiomas reads ours back to
/// the same message.
#[test]
fn encoding_matches_real_aiomas() {
    let messages = messages();
    let ours: Vec<Vec<u8>> = messages
        .iter()
        .map(|(kind, id, content)| {
            let mut buf = Vec::new();
            Json.encode_message(*kind, *id, content, &mut buf)
                .expect("encodes");
            buf
        })
        .collect();
    let job = json!({
        "messages": messages
            .iter()
            .map(|(kind, id, content)| json!([kind.code(), id, content]))
            .collect::<Vec<_>>(),
        "ours": ours.iter().map(|b| hex(b)).collect::<Vec<_>>(),
    });
    let out: Value =
        serde_json::from_str(&aiomas::run_script(SCRIPT, &job.to_string())).expect("json output");
    let theirs = strings(&out["encoded"]);
    let reencoded = strings(&out["reencoded"]);
    assert_eq!(theirs.len(), messages.len());
    for ((ours, theirs), back) in ours.iter().zip(&theirs).zip(&reencoded) {
        let theirs = unhex(theirs);
        let a: Value = serde_json::from_slice(ours).expect("ours is JSON");
        let b: Value = serde_json::from_slice(&theirs).expect("theirs is JSON");
        assert_eq!(a, b, "as JSON values");
        assert_eq!(
            String::from_utf8_lossy(ours),
            String::from_utf8_lossy(&theirs),
            "as bytes"
        );
        assert_eq!(
            &unhex(back),
            ours,
            "aiomas decodes ours to the same message"
        );
        // And we decode aiomas's bytes to the same message.
        let msg = Json.decode_message(Bytes::from(theirs)).expect("decodes");
        let content: Value = Json.decode_content(&msg.content).expect("content");
        assert_eq!(json!([msg.kind.code(), msg.id, content]), a);
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

const PEER_SCRIPT: &str = r#"
import asyncio, json, sys
import aiomas_compat  # patches asyncio for aiomas 2.0.1 on Python 3.10+
import aiomas

async def handle(channel):
    try:
        while True:
            req = await channel.recv()
            name, n = req.content
            if name == 'fail':
                await req.fail(ValueError('boom %d' % n))
            else:
                await req.reply([name, n * 2])
    except ConnectionError:
        pass

async def main():
    loop = asyncio.get_running_loop()
    server = await aiomas.channel.start_server(('127.0.0.1', 0), handle)
    print('PORT', server.sockets[0].getsockname()[1], flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    ch = await aiomas.channel.open_connection(('127.0.0.1', int(line.split()[1])))
    print('RESULT', json.dumps(await ch.send(['double', 21])), flush=True)
    try:
        await ch.send(['fail', 3])
        print('NOERROR', flush=True)
    except aiomas.RemoteException as e:
        print('REMOTE', json.dumps(e.remote_traceback), flush=True)
    await ch.close()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()

asyncio.run(main())
"#;

/// Over TCP with the real aiomas 2.0.1 channel, both ways: our client calls
/// an aiomas server, an aiomas client calls our server; results and remote
/// exceptions arrive on both sides.
#[tokio::test]
async fn talks_to_real_aiomas_over_tcp() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    use agentwire::channel::ChannelError;
    use transport_tcp::TcpAddr;

    let options = ChannelOptions::new().codec(Json);
    let (server, addr, _errors) = support::serve(&support::tcp(), options.clone()).await;

    let mut child = Command::new(aiomas::python())
        .current_dir(aiomas::fixtures_dir())
        .args(["-c", PEER_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("python answers in time")
            .expect("python is running")
    }

    // Our client, their server.
    let line = next(&mut lines).await;
    let port = line.strip_prefix("PORT ").expect("PORT line");
    let theirs: TcpAddr = format!("tcp://127.0.0.1:{port}").parse().expect("address");
    let ch = Channel::open_connection(&theirs, options.clone())
        .await
        .expect("connects to aiomas");
    let reply: (String, i64) = ch
        .request(&support::op("double", 21))
        .await
        .expect("aiomas replies");
    assert_eq!(reply, ("double".to_owned(), 42));
    let err = ch
        .request::<_, Value>(&support::op("fail", 3))
        .await
        .expect_err("aiomas raises");
    match &err {
        ChannelError::Remote { message, origin } => {
            assert!(message.contains("ValueError: boom 3"), "{message}");
            assert!(origin.contains("127.0.0.1"), "{origin}");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    ch.close().await;

    // Their client, our server.
    writeln!(stdin, "PORT {}", TcpAddr::port(&addr)).expect("write to python");
    stdin.flush().expect("flush");
    assert_eq!(next(&mut lines).await, "RESULT 42");
    let line = next(&mut lines).await;
    let traceback: String =
        serde_json::from_str(line.strip_prefix("REMOTE ").expect("REMOTE line")).expect("json");
    assert!(traceback.contains("failing on purpose: 3"), "{traceback}");

    drop(stdin);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("python exits");
    assert!(status.success());
    server.close();
}

const NON_FINITE_SCRIPT: &str = r#"
import json, math, sys
import aiomas_compat  # patches asyncio for aiomas 2.0.1 on Python 3.10+
import aiomas
codec = aiomas.codecs.JSON()
nan, inf = float('nan'), float('inf')
theirs = codec.encode((1, 5, [nan, inf, -inf, 'NaN', [1.5, nan], {'k': -inf, 'Infinity': 'x'}]))
kind, id, c = codec.decode(bytes.fromhex(sys.stdin.read().strip()))
ok = (kind, id) == (1, 5) and math.isnan(c[0]) and c[1] == inf and c[2] == -inf \
    and c[3] == 'NaN' and c[4][0] == 1.5 and math.isnan(c[4][1]) \
    and c[5] == {'k': -inf, 'Infinity': 'x'}
print(json.dumps({'theirs': theirs.hex(), 'ours_ok': ok}))
"#;

/// NaN, Infinity and -Infinity: we write the bytes aiomas's `JSON` codec
/// (Python's `json`) writes, aiomas reads ours, we read theirs, and the
/// words inside strings stay strings.
#[test]
fn non_finite_floats_match_real_aiomas() {
    type Content = (
        f64,
        f64,
        f64,
        String,
        (f64, f64),
        std::collections::BTreeMap<String, Value>,
    );
    let mut map = std::collections::BTreeMap::new();
    map.insert("Infinity".to_owned(), json!("x"));
    let ours = {
        // A map whose float value is non-finite: a struct does it.
        #[derive(serde::Serialize)]
        struct Map {
            k: f64,
            #[serde(rename = "Infinity")]
            infinity: &'static str,
        }
        let content = (
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            "NaN",
            (1.5, f64::NAN),
            Map {
                k: f64::NEG_INFINITY,
                infinity: "x",
            },
        );
        let mut buf = Vec::new();
        Json.encode_message(MessageKind::Result, 5, &content, &mut buf)
            .expect("encodes");
        buf
    };
    let out: Value = serde_json::from_str(&aiomas::run_script(NON_FINITE_SCRIPT, &hex(&ours)))
        .expect("json output");
    assert_eq!(out["ours_ok"], json!(true), "aiomas reads ours");
    let theirs = unhex(out["theirs"].as_str().expect("hex"));
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "the same bytes"
    );
    assert_eq!(
        String::from_utf8_lossy(&theirs),
        r#"[1, 5, [NaN, Infinity, -Infinity, "NaN", [1.5, NaN], {"k": -Infinity, "Infinity": "x"}]]"#
    );

    let msg = Json
        .decode_message(Bytes::from(theirs))
        .expect("the envelope decodes");
    // The map's values as f64 (a Value cannot hold -Infinity).
    let (a, b, c, s, (d, e), _): (f64, f64, f64, String, (f64, f64), serde::de::IgnoredAny) =
        Json.decode_content(&msg.content).expect("content");
    assert!(a.is_nan() && e.is_nan());
    assert_eq!(
        (b, c, s.as_str(), d),
        (f64::INFINITY, f64::NEG_INFINITY, "NaN", 1.5)
    );
    let err = Json
        .decode_content::<Content>(&msg.content)
        .expect_err("-Infinity in a Value");
    assert!(err.to_string().contains("-Infinity"), "{err}");
    let _ = map;
}
