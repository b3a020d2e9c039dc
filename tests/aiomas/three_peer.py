"""Proxies among three parties with real aiomas 2.0.1, for
tests/container/aiomas_three.rs. aiomas sends an agent as its router path
(`{"__type__": [typeid, "agents/0"]}`) over the connection it goes over,
and only a container's own agents: a proxy is no RPC service, so passing
one on raises `SerializationError` in the sender.

    python three_peer.py serve PORT
        A container on 127.0.0.1:PORT with a `Pinger` (agent 0: `ping(n)`
        returns n + 1, `me()` returns the agent itself) and a `Relay`
        (agent 1: `call_back(who, n)` returns `who.ping(n)`, `give(who)`
        returns the proxy `who` (which aiomas cannot send), `add(a, b)`);
        prints "READY tcp://127.0.0.1:PORT/0".
    python three_peer.py middle R1_URL R2_URL
        Between two Rust containers: R1_URL is a `Pinger` (`ping`, `me`),
        R2_URL a `Relay` (`call_back`, `give`, `add`). Calls R1's pinger
        through the proxy of `connect` and through the one `me()` returns,
        tries to pass each on to R2's relay, then passes its own `Pinger`
        (to `call_back`, and to `give`, which tries to send it back); prints
        one line per step: "STEP ok VALUE" or "STEP err TYPE MESSAGE";
        then "DONE".
    python three_peer.py keep URL
        Gives its own `Pinger` to the Rust `Keeper` at URL (`keep(who)`
        calls `who.ping(1)` and keeps `who`), prints "kept VALUE", then
        waits to be killed.
    python three_peer.py hold URL
        Gets a proxy to the Rust `Keeper` at URL from its `me()`, prints
        "HOLDING", and calls its `hold()` (which never returns); once the
        call ends (the Rust container shuts down), calls `hold()` again
        through the same proxy; prints "hold err TYPE" and "after err
        TYPE" (a hang shows as TimeoutError after 20 s); then "DONE".
"""
import asyncio
import sys

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import aiomas


class Pinger(aiomas.Agent):
    @aiomas.expose
    def ping(self, n):
        return n + 1

    @aiomas.expose
    def me(self):
        return self


class Relay(aiomas.Agent):
    @aiomas.expose
    async def call_back(self, who, n):
        return await who.ping(n)

    @aiomas.expose
    def give(self, who):
        return who

    @aiomas.expose
    def add(self, a, b):
        return a + b


def out(*words):
    print(*words, flush=True)


async def step(name, coro_fn):
    try:
        value = await asyncio.wait_for(coro_fn(), 20)
        out(name, 'ok', value)
    except Exception as e:
        if isinstance(e, aiomas.RemoteException):
            text = e.remote_traceback.strip().splitlines()[-1]
        else:
            text = str(e).replace('\n', ' ')
        out(name, 'err', type(e).__name__, text)


async def serve(port):
    container = await aiomas.Container.create(
        ('127.0.0.1', int(port)), as_coro=True)
    pinger = Pinger(container)
    Relay(container)
    out('READY', pinger.addr)
    try:
        await asyncio.Event().wait()
    finally:
        await container.shutdown(as_coro=True)


async def middle(r1_url, r2_url):
    container = await aiomas.Container.create(('127.0.0.1', 0), as_coro=True)
    mine = Pinger(container)
    try:
        connected = await container.connect(r1_url, timeout=5)
        await step('direct', lambda: connected.ping(1))
        received = await connected.me()
        await step('received', lambda: received.ping(2))
        relay = await container.connect(r2_url, timeout=5)
        await step('pass_connected', lambda: relay.call_back(connected, 5))
        await step('pass_received', lambda: relay.call_back(received, 5))
        await step('after', lambda: relay.add(3, 4))
        await step('own', lambda: relay.call_back(mine, 10))
        await step('given_back', lambda: relay.give(mine))
        await step('still', lambda: received.ping(3))
        out('DONE')
    finally:
        await container.shutdown(as_coro=True)


async def keep(url):
    container = await aiomas.Container.create(('127.0.0.1', 0), as_coro=True)
    mine = Pinger(container)
    keeper = await container.connect(url, timeout=5)
    out('kept', await keeper.keep(mine))
    await asyncio.Event().wait()


async def hold(url):
    container = await aiomas.Container.create(('127.0.0.1', 0), as_coro=True)
    try:
        keeper = await container.connect(url, timeout=5)
        received = await keeper.me()
        out('HOLDING')
        for name, call in (('hold', received.hold), ('after', received.hold)):
            try:
                await asyncio.wait_for(call(), 20)
                out(name, 'ok')
            except Exception as e:
                out(name, 'err', type(e).__name__)
        out('DONE')
    finally:
        await container.shutdown(as_coro=True)


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    asyncio.run({'serve': serve, 'middle': middle, 'keep': keep,
                 'hold': hold}[cmd](*args))
