"""A real aiomas 2.0.1 client driven line by line from stdin, for the
attack tests (tests/container/aiomas_hostile.rs).

    python driven.py CODEC          # CODEC: JSON or MsgPack
    python driven.py CODEC serve HOST PORT
    python driven.py CODEC serve unix PATH
                                    # a Container with one `Holder` agent
                                    # (`add(a, b)`, and `hold(n)`, which
                                    # never returns); prints
                                    # "READY tcp://HOST:PORT/0" (or
                                    # "READY ipc://[PATH]/0"), then
                                    # "HELD n" once n calls of `hold` wait

Reads one command a line and prints one answer line for each (after the
command is done), so a test can wait for what Python saw without sleeping:

    open HOST PORT      aiomas.rpc.open_connection to (HOST, PORT)
                        -> "ok open" | "err open TYPE"
    openunix PATH       the same to the Unix socket at PATH
    connect URL         aiomas.Container.connect(URL) (validate_aid included)
                        -> "ok connect" | "err connect TYPE"
    call PATH JSON      one call of PATH with the positional arguments JSON
                        on the open connection (after `connect`: the agent's
                        method PATH) -> "ok call VALUE-AS-JSON" | "err call TYPE"
    big PATH BYTES      one call of PATH with a string of BYTES 'x's
                        -> "ok big VALUE-AS-JSON" | "err big TYPE"
    gather PATH N       N calls of PATH(i, 1), i = 0..N-1, at once
                        -> "ok gather N SUM-OF-RESULTS" or
                           "err gather OK-COUNT TYPE=COUNT ..."
    callbacks N         after `connect`: N calls of callback(pinger, i) at
                        once, passing this container's `Pinger` agent,
                        whose ping(i) the Rust agent calls back
                        -> "ok callbacks N SUM"
    many HOST PORT N M  N connections at once, M calls of agents/0/add(i, 1)
                        on each at once, then all closed -> "ok many SUM"
    fire PATH N         N calls of PATH(i) sent without waiting for replies
                        -> "ok fire N" once written
    settle              waits for the fired calls
                        -> "settled TYPE=COUNT ..." (result, or exception type)
    closed              waits (at most 20 s) for the connection to be lost
                        -> "closed TYPE" | "err closed timeout"
    exit                ends the process at once, without closing anything
"""
import asyncio
import collections
import json
import os
import sys

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import aiomas


def kind(exc):
    return type(exc).__name__


async def main(codec_name):
    codec = getattr(aiomas, codec_name)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    rpc = None
    agent = None
    container = None
    fired = []

    def out(*words):
        print(*words, flush=True)

    def send(path, args):
        if agent is not None:
            return getattr(agent, path)(*args)
        return rpc.channel.send((path, list(args), {}))

    while True:
        line = (await reader.readline()).decode()
        if not line:
            os._exit(0)
        cmd, *rest = line.split(' ', 2)
        rest = [r.strip() for r in rest]
        cmd = cmd.strip()
        if cmd == 'open':
            try:
                rpc = await aiomas.rpc.open_connection(
                    (rest[0], int(rest[1])), codec=codec)
                out('ok open')
            except Exception as e:
                out('err open', kind(e))
        elif cmd == 'openunix':
            try:
                rpc = await aiomas.rpc.open_connection(rest[0], codec=codec)
                out('ok open')
            except Exception as e:
                out('err open', kind(e))
        elif cmd == 'connect':
            try:
                if container is None:
                    container = await aiomas.Container.create(
                        ('127.0.0.1', 0), codec=codec, as_coro=True)
                    pinger = Pinger(container)
                agent = await container.connect(rest[0])
                out('ok connect')
            except Exception as e:
                out('err connect', kind(e))
        elif cmd == 'call':
            try:
                value = await send(rest[0], json.loads(rest[1]))
                out('ok call', json.dumps(value))
            except Exception as e:
                out('err call', kind(e))
        elif cmd == 'big':
            # big PATH BYTES: one call of PATH with a string of BYTES 'x's.
            try:
                value = await send(rest[0], ('x' * int(rest[1]),))
                out('ok big', json.dumps(value))
            except Exception as e:
                out('err big', kind(e))
        elif cmd == 'gather':
            n = int(rest[1])
            results = await asyncio.gather(
                *(send(rest[0], (i, 1)) for i in range(n)),
                return_exceptions=True)
            errors = collections.Counter(
                kind(r) for r in results if isinstance(r, BaseException))
            if not errors:
                out('ok gather', n, sum(results))
            else:
                ok = n - sum(errors.values())
                out('err gather', ok,
                    *('%s=%d' % kv for kv in sorted(errors.items())))
        elif cmd == 'callbacks':
            # N calls of callback(pinger, i) at once on the connected agent,
            # each of which calls pinger.ping(i) back.
            n = int(rest[0])
            results = await asyncio.gather(
                *(agent.callback(pinger, i) for i in range(n)),
                return_exceptions=True)
            errors = collections.Counter(
                kind(r) for r in results if isinstance(r, BaseException))
            if not errors:
                out('ok callbacks', n, sum(results))
            else:
                out('err callbacks',
                    *('%s=%d' % kv for kv in sorted(errors.items())))
        elif cmd == 'many':
            # many HOST PORT N M: N connections at once, M calls of
            # agents/0/add(i, 1) on each at once, then all closed.
            _, host, port, n, m = line.split()
            port, n, m = int(port), int(n), int(m)
            try:
                conns = await asyncio.gather(*(
                    aiomas.rpc.open_connection((host, port), codec=codec)
                    for _ in range(n)))
                sums = await asyncio.gather(*(
                    c.channel.send(('agents/0/add', [i, 1], {}))
                    for c in conns for i in range(m)))
                await asyncio.gather(*(c.close() for c in conns))
                out('ok many', sum(sums))
            except Exception as e:
                out('err many', kind(e))
        elif cmd == 'fire':
            n = int(rest[1])
            fired = [asyncio.ensure_future(send(rest[0], (i,)))
                     for i in range(n)]
            # Let the writer task put them on the socket.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            out('ok fire', n)
        elif cmd == 'settle':
            results = await asyncio.gather(*fired, return_exceptions=True)
            fired = []
            counts = collections.Counter(
                kind(r) if isinstance(r, BaseException) else 'result'
                for r in results)
            out('settled', *('%s=%d' % kv for kv in sorted(counts.items())))
        elif cmd == 'closed':
            channel = rpc.channel if rpc is not None else None
            try:
                for _ in range(2000):
                    if channel is not None and channel._exception is not None:
                        break
                    await asyncio.sleep(0.01)
                if channel is None or channel._exception is None:
                    out('err closed timeout')
                else:
                    out('closed', kind(channel._exception))
            except Exception as e:
                out('err closed', kind(e))
        elif cmd == 'exit':
            os._exit(0)
        else:
            out('err unknown', cmd)


class Pinger(aiomas.Agent):
    @aiomas.expose
    async def ping(self, n):
        await asyncio.sleep(0)
        return n + 1


class Holder(aiomas.Agent):
    held = 0

    @aiomas.expose
    def add(self, a, b):
        return a + b

    @aiomas.expose
    async def hold(self, n):
        Holder.held += 1
        print('HELD', Holder.held, flush=True)
        await asyncio.Event().wait()


async def serve(codec_name, host, port):
    addr = port if host == 'unix' else (host, int(port))
    container = await aiomas.Container.create(
        addr, codec=getattr(aiomas, codec_name), as_coro=True)
    agent = Holder(container)
    print('READY', agent.addr, flush=True)
    await asyncio.Event().wait()


if __name__ == '__main__':
    if sys.argv[2:3] == ['serve']:
        asyncio.run(serve(sys.argv[1], *sys.argv[3:]))
    else:
        asyncio.run(main(sys.argv[1]))
