#!/usr/bin/env python3
"""Writes seed inputs for the codec and rpc targets into fuzz/corpus/<target>/.

Valid requests of every codec (JSON as aiomas writes it, MsgPack, bincode)
for the methods the rpc target serves; run from the repository root.
"""
import json
import os
import struct


def mp(v):
    """A small MessagePack encoder (enough for seeds)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, (list, tuple)):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def varint(n):
    if n <= 250:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfb" + struct.pack("<H", n)
    if n < 1 << 32:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def bc(v):
    """bincode 2 standard config, for the types the seeds use."""
    if isinstance(v, bool):
        return bytes([int(v)])
    if isinstance(v, int):
        return varint((v << 1) if v >= 0 else ((-v) << 1) - 1)
    if isinstance(v, float):
        return struct.pack("<d", v)
    if isinstance(v, str):
        b = v.encode()
        return varint(len(b)) + b
    if isinstance(v, list):
        return varint(len(v)) + b"".join(bc(x) for x in v)
    if isinstance(v, tuple):
        return b"".join(bc(x) for x in v)
    if isinstance(v, dict):
        return varint(len(v)) + b"".join(bc(k) + bc(x) for k, x in v.items())
    raise TypeError(v)


DATE = {"__type__": [0, "2016-01-01T00:00:00+00:00"]}
POINT = {"__type__": [1, {"x": 1.5, "y": -2.0}]}
REQUESTS = [
    ["agents/0/add", [1, 2], {}],
    ["agents/0/add", [1], {"b": 2}],
    ["agents/0/echo", [{"a": [1, "x", None, True, 1.5]}], {}],
    ["agents/0/greet", ["bob"], {}],
    ["agents/0/greet", ["bob", "hi", 3], {}],
    ["agents/0/greet", [], {"name": "bob", "n": 2}],
    ["agents/0/when", [DATE], {}],
    ["agents/0/floats", [1.5, [2.0, 3.0], {"a": 1.0}], {}],
    ["agents/0/point", [POINT, "abc"], {}],
    ["agents/0/fail", ["why"], {}],
    ["agents/0/peer", [{"__type__": [2, "agents/0"]}], {}],
    ["agents/0/sync_one", [[-1, 7, True, "c"]], {}],
    ["agents/1/plain", [1, "x"], {}],
    ["agents/1/kw", [1], {"a": 2, "b": 3}],
    ["validate_aid", ["0"], {}],
    ["nope", [], {}],
]
# Typed bincode contents (no self-description: each as the method reads it).
BINCODE = [
    ("agents/0/add", [1, 2], {}),
    ("agents/0/greet", ["bob", "hi", 3], {}),
    ("agents/0/fail", ["why"], {}),
    ("agents/1/plain", [1, "x"], {}),
    ("agents/1/kw", [1], {"a": 2}),
    ("validate_aid", ["0"], {}),
]


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def write(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for i, req in enumerate(REQUESTS):
        j = json.dumps([0, i + 1, req]).encode()
        m = mp([0, i + 1, req])
        write("codec", f"json-{i}", b"\x00" + j)
        write("codec", f"msgpack-{i}", b"\x01" + m)
        # rpc: mode byte (codec | 4 = framed payloads), chunk size, then
        # one-byte-length-prefixed payloads (255: the rest).
        write("rpc", f"json-{i}", b"\x04\xff\xff" + j)
        write("rpc", f"msgpack-{i}", b"\x05\xff\xff" + m)
        write("rpc", f"json-raw-{i}", b"\x00\x07" + frame(j) + frame(j))
    for i, req in enumerate(BINCODE):
        b = b"\x00" + varint(i + 1) + bc(req)
        write("codec", f"bincode-{i}", b"\x02" + b)
        write("rpc", f"bincode-{i}", b"\x06\xff\xff" + b)
    for i, reply in enumerate([[1, 1, 3], [2, 1, "boom"], [1, 2, [1.5, None]]]):
        write("codec", f"json-reply-{i}", b"\x00" + json.dumps(reply).encode())
        write("codec", f"msgpack-reply-{i}", b"\x01" + mp(reply))
    write("codec", "json-nan", b"\x00" + b'[1, 1, [NaN, -Infinity, {"a": Infinity}, "NaN"]]')


main()
