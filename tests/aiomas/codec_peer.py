"""A real aiomas 2.0.1 peer for the codec interoperability tests.

    python codec_peer.py serve CODEC HOST PORT   # a Container (codec JSON or MsgPack)
                                                 # with one `Echo` agent (id "0");
                                                 # prints "READY tcp://HOST:PORT/0"
    python codec_peer.py call CODEC URL          # calls the agent at URL with ints,
                                                 # floats, strings, bytes, nested maps
                                                 # and NaN/Infinity; prints one
                                                 # "name repr(result)" line per call,
                                                 # then "DONE"
"""
import asyncio
import math
import sys

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import aiomas


def describe(value):
    """A value's repr with the types of its leaves, e.g. float('nan')."""
    if isinstance(value, float) and not math.isfinite(value):
        return "float('%s')" % value
    if isinstance(value, (list, tuple)):
        return '(%s)' % ', '.join(describe(v) for v in value)
    if isinstance(value, dict):
        return '{%s}' % ', '.join(
            '%r: %s' % (k, describe(v)) for k, v in sorted(value.items()))
    return '%s:%r' % (type(value).__name__, value)


class Echo(aiomas.Agent):
    @aiomas.expose
    def echo(self, value):
        return value

    @aiomas.expose
    def describe(self, value):
        return describe(value)

    @aiomas.expose
    def add(self, a, b):
        return a + b

    @aiomas.expose
    def fail(self, message):
        raise ValueError(message)


# (method, args, codecs that can carry them): JSON has no bytes.
CALLS = [
    ('add', (1, 2), 'JSON MsgPack'),
    ('add', (2.5, 0.25), 'JSON MsgPack'),
    ('echo', ('héllo ✓',), 'JSON MsgPack'),
    ('echo', (b'\x00\xffbytes',), 'MsgPack'),
    ('echo', ({'a': {'b': [1, -2.5, 'x', b'y', None, True]}, 'n': {}},), 'MsgPack'),
    ('echo', ({'a': {'b': [1, -2.5, 'x', None, True]}, 'n': {}},), 'JSON'),
    ('nan', (float('nan'), float('inf'), float('-inf')), 'JSON MsgPack'),
    ('value', (float('nan'),), 'JSON'),
    ('fail', ('boom ✓',), 'JSON MsgPack'),
    ('add', (20, 22), 'JSON MsgPack'),
]


async def serve(codec, host, port):
    container = await aiomas.Container.create(
        (host, int(port)), codec=getattr(aiomas, codec), as_coro=True)
    agent = Echo(container)
    print('READY', agent.addr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await container.shutdown(as_coro=True)


async def call(codec, url):
    container = await aiomas.Container.create(
        ('127.0.0.1', 0), codec=getattr(aiomas, codec), as_coro=True)
    try:
        proxy = await container.connect(url, timeout=5)
        for name, args, codecs in CALLS:
            if codec not in codecs.split():
                continue
            try:
                result = await getattr(proxy, name)(*args)
                print(name, describe(result), flush=True)
            except aiomas.RemoteException as e:
                last = e.remote_traceback.strip().splitlines()[-1]
                print(name, 'ERROR', last, flush=True)
        print('DONE', flush=True)
    finally:
        await container.shutdown(as_coro=True)


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    asyncio.run({'serve': serve, 'call': call}[cmd](*args))
