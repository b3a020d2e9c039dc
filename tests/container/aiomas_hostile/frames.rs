//! Odd requests and frames an aiomas-speaking peer can send: each is
//! answered, or closes only its own connection.

use super::*;

/// Request frames an aiomas-speaking peer could send that are not what
/// aiomas sends, to a MsgPack container: a path that is not UTF-8, a path
/// sent as bytes, odd paths, two requests with one id outstanding at once,
/// and `nil` keyword arguments. Each is answered (an error naming the
/// input, or both answers with that id); the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_msgpack_requests_are_answered() {
    let gauge = Arc::new(Gauge::default());
    let c = container(MsgPack, &gauge).await;
    let mut raw = Raw::connect(c.url()).await;
    let exception = |reply: &[u8], id: u8| -> String {
        assert_eq!(&reply[..3], &[0x93, 0x02, id], "an exception for {id}");
        MsgPack.decode_content::<String>(&reply[3..]).expect("text")
    };
    raw.send(&msgpack_request(1, b"agents/0/\xffadd")).await;
    let reply = raw.recv().await.expect("an answer");
    let text = exception(&reply, 1);
    assert!(text.contains("malformed RPC request"), "{text}");
    // The path as bin (Python bytes).
    let mut bin = msgpack_request(2, b"agents/0/add");
    bin[4] = 0xc4;
    raw.send(&bin).await;
    let reply = raw.recv().await.expect("an answer");
    let text = exception(&reply, 2);
    assert!(text.contains("malformed RPC request"), "{text}");
    for (id, path) in [
        (3u8, &b""[..]),
        (4, b"/"),
        (5, b"agents//add"),
        (6, b"agents/0/"),
        (7, b"agents/0//add"),
        (8, b"agents/00/add"),
        (9, b"agents/18446744073709551616/add"),
        (10, b"agents/-1/add"),
        (11, b"validate_aid/x"),
    ] {
        raw.send(&msgpack_request(id, path)).await;
        let reply = raw.recv().await.expect("an answer");
        let text = exception(&reply, id);
        assert!(text.contains("no such method"), "{path:?}: {text}");
    }
    // Two requests with the same id at once: both are answered.
    raw.send(&msgpack_request(12, b"agents/0/slow")).await;
    raw.send(&msgpack_request(12, b"agents/0/slow")).await;
    for _ in 0..2 {
        assert_eq!(raw.recv().await.expect("an answer"), [0x93, 0x01, 12, 3]);
    }
    // nil keyword arguments.
    let mut nil = msgpack_request(13, b"agents/0/add");
    *nil.last_mut().expect("kwargs") = 0xc0;
    raw.send(&nil).await;
    let reply = raw.recv().await.expect("an answer");
    assert!(reply[1] == 0x01 || reply[1] == 0x02, "{reply:?}");
    // Still served.
    raw.send(&msgpack_request(14, b"agents/0/add")).await;
    assert_eq!(raw.recv().await.expect("an answer"), [0x93, 0x01, 14, 3]);
    c.shutdown().await;
}

/// Frames that end the connection (with JSON): a negative, fractional or
/// too large id, a kind out of range, an empty frame, a length of 2^32-1,
/// a reply to an id never asked. Each closes that connection only, at once;
/// a peer connected before goes on being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_close_a_json_connection() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut good = Raw::connect(c.url()).await;
    for bad in [
        &br#"[0, -1, ["agents/0/add", [1, 2], {}]]"#[..],
        br#"[0, 1.5, ["agents/0/add", [1, 2], {}]]"#,
        br#"[0, 18446744073709551616, ["agents/0/add", [1, 2], {}]]"#,
        br#"[3, 1, ["agents/0/add", [1, 2], {}]]"#,
        br#"[-1, 1, ["agents/0/add", [1, 2], {}]]"#,
        br#"[0, 1]"#,
        br#"[0, 1, [], 4]"#,
        b"",
        br#"[1, 0, 3]"#,
        br#"[2, 7, "no such request"]"#,
    ] {
        let mut raw = Raw::connect(c.url()).await;
        raw.send(bad).await;
        assert_eq!(
            raw.recv().await,
            None,
            "closed after {}",
            String::from_utf8_lossy(bad)
        );
        good.send(br#"[0, 1, ["agents/0/add", [1, 2], {}]]"#).await;
        assert_eq!(good.recv().await.expect("served"), b"[1, 1, 3]");
    }
    // The largest id there is is answered.
    good.send(br#"[0, 18446744073709551615, ["agents/0/add", [1, 2], {}]]"#)
        .await;
    assert_eq!(
        good.recv().await.expect("served"),
        b"[1, 18446744073709551615, 3]"
    );
    let mut raw = Raw::connect(c.url()).await;
    {
        use tokio::io::AsyncWriteExt;
        raw.0.write_all(&[0xff; 4]).await.expect("write");
    }
    assert_eq!(raw.recv().await, None, "closed after a 4 GiB header");
    c.shutdown().await;
}

/// JSON that Python's `json` reads as the same request, written otherwise
/// than aiomas writes it (no spaces, newlines and tabs, escaped slashes and
/// letters in the path, a duplicate keyword): each is answered like the
/// plain request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_requests_in_other_spellings_are_answered() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut raw = Raw::connect(c.url()).await;
    for (id, request) in [
        (1, r#"[0,1,["agents/0/add",[1,2],{}]]"#),
        (
            2,
            "\n\t[ 0 ,\r\n 2 , [ \"agents/0/add\" , [ 1 , 2 ] , { } ] ]\n ",
        ),
        (3, r#"[0, 3, ["agents\/0\/add", [1, 2], {}]]"#),
        (4, r#"[0, 4, ["agents/0/\u0061dd", [1, 2], {}]]"#),
    ] {
        raw.send(request.as_bytes()).await;
        let reply = raw.recv().await.expect("an answer");
        let reply: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(reply[0], 1, "{request}: {reply}");
        assert_eq!(reply[1], id);
        assert_eq!(reply[2], 3);
    }
    c.shutdown().await;
}
