"""aiomas 2.0.1 agents for the typed-agent interoperability tests.

    python agents.py serve HOST PORT [json|msgpack]
        A container with a `Geometry` (id 0: `mid(a, b)` of two `Point`s,
        `later(date, days)`) and a `Hub` (id 1: `subscribe(who)` calls
        `who.ping(41)` and returns the answer); prints "READY
        tcp://HOST:PORT" once serving.
    python agents.py call URL [json|msgpack]
        Calls the Rust agents of the container at URL (a `Calc` at /0, a
        `Geometry` at /1, with JSON a `Hub` at /2) with positional and keyword
        arguments, passes its own `Pinger` agent to the Rust hub, and prints one JSON
        line per check: {"check": name, "ok": value} or {"check": name,
        "error": text}.

Both containers add the serializer of `Point` after aiomas's date
serializer (type ids: 0 date, 1 Point, 2 agents).
"""
import asyncio
import json
import math
import sys

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import aiomas
import arrow


@aiomas.codecs.serializable
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def codec_of(name):
    return {'json': aiomas.JSON, 'msgpack': aiomas.MsgPack}[name]


class Pinger(aiomas.Agent):
    @aiomas.expose
    def ping(self, n):
        return n + 1


class Hub(aiomas.Agent):
    @aiomas.expose
    async def subscribe(self, who):
        return await who.ping(41)


class Geometry(aiomas.Agent):
    @aiomas.expose
    def mid(self, a, b):
        return Point((a.x + b.x) / 2, (a.y + b.y) / 2)

    @aiomas.expose
    def later(self, date, days):
        return date.shift(days=days)


async def create(addr, codec):
    return await aiomas.Container.create(
        addr, codec=codec_of(codec), extra_serializers=[Point.__serializer__],
        as_coro=True)


async def serve(host, port, codec='json'):
    container = await create((host, int(port)), codec)
    Geometry(container)
    Hub(container)
    print('READY', container._base_url.rstrip('/'), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await container.shutdown(as_coro=True)


def plain(value):
    """JSON-printable, with NaN and infinities spelled out."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Point):
        return {'Point': [value.x, value.y]}
    if isinstance(value, bytes):
        return {'bytes': list(value)}
    if isinstance(value, arrow.Arrow):
        return {'date': str(value)}
    return value


async def check(name, coro):
    try:
        value = await coro
        line = {'check': name, 'ok': plain(value), 'type': type(value).__name__}
    except Exception as e:  # a remote error, printed for the test to read
        line = {'check': name, 'error': str(e)}
    print(json.dumps(line), flush=True)


async def call(url, codec='json'):
    container = await create(('127.0.0.1', 0), codec)
    pinger = Pinger(container)
    base = url.rstrip('/')
    try:
        calc = await container.connect(base + '/0', timeout=5)
        await check('add_int', calc.add(1, 2))
        await check('add_float', calc.add(2.5, 0.25))
        await check('add_kw', calc.add(b=2, a=40))
        await check('echo_kw', calc.echo(value={'a': [1, 2.5, 'x', None, True]}))
        await check('greet_omitted', calc.greet('Ada'))
        await check('greet_kw', calc.greet('Ada', greeting='Hi'))
        await check('unknown_kw', calc.greet('Ada', salutation='Yo'))
        await check('missing', calc.greet())
        await check('fail', calc.fail('boom'))
        geometry = await container.connect(base + '/1', timeout=5)
        await check('mid', geometry.mid(Point(0, 2), Point(4, 4)))
        await check('later', geometry.later(arrow.get('2016-01-01T00:00:00+00:00'), 2))
        if codec == 'json':
            hub = await container.connect(base + '/2', timeout=5)
            await check('subscribe_python_agent', hub.subscribe(pinger))
        # Last: a codec that cannot read them loses the connection.
        await check('add_nan', calc.add(float('nan'), 1))
        await check('add_inf', calc.add(float('inf'), 1))
        await check('add_ninf', calc.add(float('-inf'), 1.5))
    finally:
        await container.shutdown(as_coro=True)


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    asyncio.run({'serve': serve, 'call': call}[cmd](*args))
