"""Real aiomas 2.0.1 over TLS, for tests/container/aiomas_tls.rs.

DIR holds the test's certificates as DER files (`ca`, `server`, `client`,
`stranger`: a client certificate of another CA; `NAME.der` and
`NAME.key.der`); they are written out as PEM for Python's ssl module.
The SSL contexts are aiomas's own (`aiomas.util.make_ssl_server_context` /
`make_ssl_client_context`: TLS 1.2 only, ECDH+AESGCM, client certificates
required, host names checked) unless said otherwise. aiomas names a TLS
container's agents `tcp://HOST:PORT/ID`, as any TCP container's.

    python tls_peer.py serve CODEC DIR PORT
        A TLS container on 127.0.0.1:PORT with a `Calc` agent (`add`,
        `echo`, `fail`); prints "READY tcp://127.0.0.1:PORT/0".
    python tls_peer.py call CODEC DIR URL WHO [more]
        Connects to URL (tcp://...) presenting WHO's certificate (`client`,
        `stranger` or `none`; `stranger-tls13`, `none-tls13`: with Python's
        default client context instead of aiomas's, TLS 1.3), calls add(1, 2) and echo(...) and prints
        "ok connect", "ok add 3", "ok echo VALUE-AS-JSON", or
        "err STEP TYPE: MESSAGE" and stops; then "DONE". With `more`, then
        echo of 3 MiB ("ok big LENGTH"), 300 calls of add(i, 1) at once
        ("ok gather SUM") and call_back(pinger, 41), passing its own
        `Pinger` agent, which the agent at URL calls back ("ok callback
        42").
    python tls_peer.py plain CODEC URL
        The same without TLS (to a TLS port); prints as `call`.
    python tls_peer.py tls-to-plain CODEC DIR URL
        With TLS to a plain TCP port; prints as `call`.
    python tls_peer.py vanish WHEN DIR HOST PORT
        A TLS client (aiomas's context, the `client` certificate) that
        stops: WHEN = `handshake`: after the server's first flight (its
        certificate request), it prints "MID-HANDSHAKE"; WHEN = `frame`:
        handshake done, it writes a frame header announcing 100 bytes and
        10 of them, and prints "MID-FRAME". Then it waits to be killed.
"""
import asyncio
import base64
import json
import os
import socket
import ssl
import sys
import textwrap

import aiomas_compat  # noqa: F401  (patches asyncio for aiomas on Python 3.10+)
import aiomas

from peer import Calc  # the same agent as the plain peer's


def pem_files(directory, name):
    """NAME's certificate and key as PEM files; returns their paths."""
    paths = []
    for suffix, label in (('', 'CERTIFICATE'), ('.key', 'PRIVATE KEY')):
        der_path = os.path.join(directory, name + suffix + '.der')
        if not os.path.exists(der_path):
            paths.append(None)
            continue
        with open(der_path, 'rb') as f:
            text = base64.standard_b64encode(f.read()).decode()
        pem_path = os.path.join(directory, name + suffix + '.pem')
        with open(pem_path, 'w') as f:
            f.write('-----BEGIN %s-----\n%s\n-----END %s-----\n'
                    % (label, textwrap.fill(text, 64), label))
        paths.append(pem_path)
    return paths


def certs(directory, who='client'):
    """aiomas's SSL contexts (server, client) for WHO (`none`: a client
    context of the same kind without a certificate)."""
    ca, _ = pem_files(directory, 'ca')
    server_cert, server_key = pem_files(directory, 'server')
    server = aiomas.util.make_ssl_server_context(ca, server_cert, server_key)
    if who.endswith('-tls13'):
        # Python's default client context (TLS 1.3 where the server has it).
        client = ssl.create_default_context(cafile=ca)
        who = who[:-len('-tls13')]
        if who != 'none':
            client.load_cert_chain(*pem_files(directory, who))
    elif who == 'none':
        client = ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
        client.set_ciphers('ECDH+AESGCM')
        client.verify_mode = ssl.CERT_REQUIRED
        client.load_verify_locations(cafile=ca)
        client.check_hostname = True
    else:
        cert, key = pem_files(directory, who)
        client = aiomas.util.make_ssl_client_context(ca, cert, key)
    return server, client


def out(*words):
    print(*words, flush=True)


def oneline(exc):
    return ('%s: %s' % (type(exc).__name__, exc)).replace('\n', ' ')


async def serve(codec, directory, port):
    container = await aiomas.Container.create(
        ('127.0.0.1', int(port)), codec=getattr(aiomas, codec),
        ssl=certs(directory), as_coro=True)
    agent = Calc(container)
    out('READY', agent.addr)
    try:
        await asyncio.Event().wait()
    finally:
        await container.shutdown(as_coro=True)


class Pinger(aiomas.Agent):
    @aiomas.expose
    async def ping(self, n):
        await asyncio.sleep(0)
        return n + 1


async def calls(codec, url, ssl_contexts, extended=False):
    container = await aiomas.Container.create(
        ('127.0.0.1', 0), codec=getattr(aiomas, codec), ssl=ssl_contexts,
        as_coro=True)
    try:
        step = 'connect'
        try:
            proxy = await asyncio.wait_for(container.connect(url), 20)
            out('ok connect')
            step = 'add'
            out('ok add', json.dumps(await asyncio.wait_for(proxy.add(1, 2), 20)))
            step = 'echo'
            value = {'a': [1, 2.5, 'x', None, True], 'ü': 'é'}
            out('ok echo', json.dumps(
                await asyncio.wait_for(proxy.echo(value), 20), sort_keys=True,
                ensure_ascii=False))
            if extended:
                step = 'big'
                big = await asyncio.wait_for(proxy.echo('x' * (3 << 20)), 20)
                out('ok big', len(big))
                step = 'gather'
                sums = await asyncio.wait_for(asyncio.gather(
                    *(proxy.add(i, 1) for i in range(300))), 20)
                out('ok gather', sum(sums))
                step = 'callback'
                out('ok callback', await asyncio.wait_for(
                    proxy.call_back(Pinger(container), 41), 20))
        except Exception as e:
            out('err', step, oneline(e))
    finally:
        try:
            await asyncio.wait_for(container.shutdown(as_coro=True), 20)
        except Exception as e:
            out('err shutdown', oneline(e))
        out('DONE')


async def call(codec, directory, url, who, extended=''):
    await calls(codec, url, certs(directory, who), extended == 'more')


async def plain(codec, url):
    await calls(codec, url, None)


async def tls_to_plain(codec, directory, url):
    await calls(codec, url, certs(directory))


async def vanish(when, directory, host, port):
    _, client = certs(directory)
    if when == 'handshake':
        # Drive the handshake by hand: send the ClientHello, read the
        # server's first flight, and stop before answering it.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client.wrap_bio(incoming, outgoing, server_hostname=host)
        sock = socket.create_connection((host, int(port)))
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read())
        first = sock.recv(65536)
        out('MID-HANDSHAKE', len(first) > 0)
    else:
        reader, writer = await asyncio.open_connection(
            host, int(port), ssl=client)
        writer.write((100).to_bytes(4, 'big') + b'[0, 0, [ "')
        await writer.drain()
        out('MID-FRAME')
    # Wait to be killed (the test does it when it wants).
    await asyncio.Event().wait()


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    asyncio.run({
        'serve': serve, 'call': call, 'plain': plain,
        'tls-to-plain': tls_to_plain, 'vanish': vanish,
    }[cmd](*args))
