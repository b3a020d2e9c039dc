"""Dates between real aiomas 2.0.1 and Rust, for
tests/container/aiomas_dates.rs. aiomas's containers send `arrow` dates
with their first serializer: `{"__type__": [0, str(date)]}`.

    python dates_peer.py serve CODEC PORT
        A container on 127.0.0.1:PORT with a `Dates` agent: `describe(d)`
        returns what Python read (`str(d)`, or the type's name if `d` is no
        date), `echo(d)` returns `d`, `now()` the container clock's
        `utcnow()` (aiomas's `AsyncioClock`), `malformed(text)` a date
        whose text is TEXT (which aiomas's own serializer never writes);
        prints "READY tcp://127.0.0.1:PORT/0".
    python dates_peer.py call CODEC URL
        Calls `now`, `describe` and `echo` of the Rust agent at URL with dates at
        the edges (time zones, microseconds, years 1 and 9999) and
        malformed dates; prints one line per call: "NAME ok VALUE" (for
        `echo`: "NAME ok STR(DATE) same|differs", whether it is the same
        point in time as the date sent) or "NAME err TYPE LAST-LINE" (for a
        remote error: the last line of its traceback); then "DONE".
    python dates_peer.py clock CODEC URL START INIT T
        A container whose clock is aiomas's `ExternalClock(START,
        init_time=INIT)`; sends its `utcnow()` to `describe` of the Rust
        agent at URL, sets the clock to T and sends it again; prints
        "at_init VALUE", "at_t VALUE" (what Rust read), then "DONE".
"""
import asyncio
import datetime
import sys

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import arrow_compat  # noqa: F401  (lets aiomas's ExternalClock run on arrow 0.14+)
import aiomas
import arrow


class Dates(aiomas.Agent):
    @aiomas.expose
    def describe(self, d):
        if isinstance(d, arrow.Arrow):
            return str(d)
        return type(d).__name__

    @aiomas.expose
    def echo(self, d):
        return d

    @aiomas.expose
    def now(self):
        return self.container.clock.utcnow()

    @aiomas.expose
    def malformed(self, text):
        return {'__type__': [0, text]}


async def serve(codec, port):
    container = await aiomas.Container.create(
        ('127.0.0.1', int(port)), codec=getattr(aiomas, codec), as_coro=True)
    agent = Dates(container)
    print('READY', agent.addr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await container.shutdown(as_coro=True)


def at(text, offset=None):
    """An arrow date; with OFFSET (seconds east of UTC), TEXT is the local
    time there (fixed offsets: no time zone database needed)."""
    if offset is None:
        return arrow.get(text)
    tz = datetime.timezone(datetime.timedelta(seconds=offset))
    return arrow.get(datetime.datetime.fromisoformat(text).replace(tzinfo=tz))


# (name, method, argument): each sent as aiomas sends it.
CALLS = [
    # The Rust container's clock: an ExternalClock a moment before the end
    # of year 9999, with a fraction of a microsecond.
    ('clock', 'now', None),
    ('utc', 'describe', at('2016-01-01T00:00:00+00:00')),
    ('micro', 'describe', at('2016-02-29T12:34:56.123456+00:00')),
    ('east', 'describe', at('2016-01-01T05:30:00.000001+05:30')),
    ('pacific', 'describe', at('2016-07-01T12:00:00', -7 * 3600)),
    ('first', 'describe', at('0001-01-01T00:00:00+00:00')),
    ('last', 'describe', at('9999-12-31T23:59:59.999999+00:00')),
    ('now', 'echo', arrow.utcnow()),
    ('echo_micro', 'echo', at('2016-02-29T12:34:56.123456-03:00')),
    ('echo_first', 'echo', at('0001-01-01T00:00:00+00:00')),
    ('echo_last', 'echo', at('9999-12-31T23:59:59.999999+00:00')),
    # Year 1 east of Greenwich is year 0 in UTC, which Python cannot hold.
    ('echo_before_first', 'echo', at('0001-01-01T00:00:00+05:00')),
    # Amsterdam's local mean time until 1937: an offset with seconds
    # (`+00:19:32`), which arrow writes but cannot read.
    ('lmt', 'describe', at('1900-01-01T00:00:00', 1172)),
    ('garbage', 'describe', {'__type__': [0, 'garbage']}),
    ('not_text', 'describe', {'__type__': [0, 42]}),
    ('feb30', 'describe', {'__type__': [0, '2016-02-30T00:00:00+00:00']}),
    ('long', 'describe', {'__type__': [0, '2016' + 'x' * (1 << 20)]}),
    ('again', 'describe', at('2016-01-01T00:00:00+00:00')),
]


async def call(codec, url):
    container = await aiomas.Container.create(
        ('127.0.0.1', 0), codec=getattr(aiomas, codec), as_coro=True)
    try:
        proxy = await container.connect(url, timeout=5)
        for name, method, arg in CALLS:
            try:
                args = () if arg is None else (arg,)
                value = await asyncio.wait_for(getattr(proxy, method)(*args), 20)
                if method == 'echo':
                    same = 'same' if value == arg else 'differs'
                    print(name, 'ok', str(value), same, flush=True)
                else:
                    print(name, 'ok', str(value), flush=True)
            except aiomas.RemoteException as e:
                last = e.remote_traceback.strip().splitlines()[-1]
                print(name, 'err RemoteException', last, flush=True)
            except Exception as e:
                print(name, 'err', type(e).__name__, e, flush=True)
        print('DONE', flush=True)
    finally:
        await container.shutdown(as_coro=True)


async def clock(codec, url, start, init, t):
    ext = aiomas.ExternalClock(start, init_time=float(init))
    container = await aiomas.Container.create(
        ('127.0.0.1', 0), codec=getattr(aiomas, codec), clock=ext,
        as_coro=True)
    try:
        proxy = await container.connect(url, timeout=5)
        print('at_init', await proxy.describe(container.clock.utcnow()),
              flush=True)
        ext.set_time(float(t))
        print('at_t', await proxy.describe(container.clock.utcnow()),
              flush=True)
        print('DONE', flush=True)
    finally:
        await container.shutdown(as_coro=True)


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    asyncio.run({'serve': serve, 'call': call, 'clock': clock}[cmd](*args))
