#!/usr/bin/python3
"""Interop: wsio-server against the Python `websockets` library (Debian python3-websockets,
10.x, legacy asyncio client API).

Run: /usr/bin/python3 tests/interop/test_python_websockets.py
The server binary comes from $WSIO_SERVER (default <repo>/build/wsio-server); every server
is started on 127.0.0.1 with an ephemeral port, learned from its "listening on HOST:PORT"
stderr line, and stopped by PID. Prints one line per case, then "N passed, N failed" alone
on the last line; exits 0 only if every case passed.
"""

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time

import websockets
from websockets.exceptions import ConnectionClosed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_BIN = os.environ.get("WSIO_SERVER", os.path.join(REPO, "build", "wsio-server"))
LISTENING_RE = re.compile(r"listening on \S+:(\d+)")
KiB = 1024
MiB = 1024 * 1024
CASE_TIMEOUT_S = 20


class Server:
    """One wsio-server process; stderr is drained by a thread into a bounded tail."""

    def __init__(self, args=()):
        argv = [SERVER_BIN, "--host", "127.0.0.1", "--port", "0", *args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.tail = collections.deque(maxlen=200)
        self.port = None
        found = threading.Event()

        def drain():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.tail.append(line)
                if self.port is None:
                    m = LISTENING_RE.search(line)
                    if m:
                        self.port = int(m.group(1))
                        found.set()
            found.set()

        threading.Thread(target=drain, daemon=True).start()
        found.wait(10)
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"wsio-server did not print its listening line: {argv}\n"
                               + self.output())

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def output(self):
        return "\n".join(self.tail)

    def stop(self):
        """SIGTERM by PID, SIGKILL after 5 s; returns the exit status (None if it had died)."""
        if self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -signal.SIGKILL


def connect(url, **kw):
    """A websockets client with its keep-alive pings off (they would race our ping cases)."""
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    return websockets.connect(url, **kw)


async def within(awaitable, timeout, what):
    """Awaits with a deadline; a timeout fails the case with `what` in the message."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


async def recv(ws, timeout=5):
    return await within(ws.recv(), timeout, "a message")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ascii_text(n):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
    raw = os.urandom(n)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


# ---------------------------------------------------------------------------------------
# cases; each takes the servers dict

async def case_text(s):
    async with connect(s["default"].url("/echo")) as ws:
        text = "hello wsio — héllo wörld ✓ 🎉"
        await ws.send(text)
        got = await recv(ws)
        check(isinstance(got, str), f"text echoed as {type(got).__name__}")
        check(got == text, f"echo {got!r} != {text!r}")


async def case_binary(s):
    async with connect(s["default"].url("/echo")) as ws:
        data = os.urandom(1000)
        await ws.send(data)
        got = await recv(ws)
        check(isinstance(got, bytes), f"binary echoed as {type(got).__name__}")
        check(got == data, "binary echo differs")


async def case_empty(s):
    async with connect(s["default"].url("/echo")) as ws:
        await ws.send("")
        got = await recv(ws)
        check(got == "" and isinstance(got, str), f"empty text echoed as {got!r}")
        await ws.send(b"")
        got = await recv(ws)
        check(got == b"" and isinstance(got, bytes), f"empty binary echoed as {got!r}")


def make_size_case(n):
    async def case(s):
        async with connect(s["default"].url("/echo")) as ws:
            data = os.urandom(n)
            await ws.send(data)
            got = await recv(ws)
            check(got == data, f"{n}-byte binary echo differs (got {len(got)} bytes)")
            text = ascii_text(n)
            await ws.send(text)
            got = await recv(ws)
            check(got == text, f"{n}-byte text echo differs (got {len(got)} chars)")
    return case


async def case_16mib(s):
    async with connect(s["big"].url("/echo"), max_size=32 * MiB) as ws:
        data = os.urandom(16 * MiB)
        await ws.send(data)
        got = await recv(ws, 15)
        check(isinstance(got, bytes), f"echoed as {type(got).__name__}")
        check(len(got) == len(data), f"echoed {len(got)} bytes, sent {len(data)}")
        check(got == data, "16 MiB echo differs")


async def case_fragmented(s):
    async with connect(s["default"].url("/echo")) as ws:
        await ws.send(["hel", "lo, ", "wor", "ld"])
        got = await recv(ws)
        check(got == "hello, world", f"fragmented text echoed as {got!r}")
        parts = [os.urandom(1000) for _ in range(50)]
        await ws.send(parts)
        got = await recv(ws)
        check(got == b"".join(parts), "fragmented binary echo differs")

        async def agen():
            for p in ("async ", "fragments"):
                await asyncio.sleep(0.01)
                yield p
        await ws.send(agen())
        got = await recv(ws)
        check(got == "async fragments", f"async-fragmented text echoed as {got!r}")


async def case_ping_pong(s):
    async with connect(s["default"].url("/echo")) as ws:
        for payload in (b"ping-payload-123", b"", os.urandom(125)):
            waiter = await ws.ping(payload)
            # The legacy client resolves a ping's waiter only on a pong with the same data.
            await within(waiter, 5, f"pong for ping {payload[:16].hex()}...")
        await ws.send("after pings")
        check(await recv(ws) == "after pings", "echo after pings failed")


def make_close_case(code):
    async def case(s):
        ws = await connect(s["default"].url("/echo"))
        try:
            await ws.send("before close")
            check(await recv(ws) == "before close", "echo before close failed")
            t0 = time.monotonic()
            await within(ws.close(code, "client says bye"), 5, "the close handshake")
            check(ws.close_code == code, f"server answered close {code} with {ws.close_code}")
            check(time.monotonic() - t0 < 3, "close handshake took over 3 s (server slow to end TCP)")
        finally:
            ws.transport.abort()
    return case


async def case_oversize(s):
    # The client's own limit is raised so that a 1009 can only come from the server.
    ws = await connect(s["default"].url("/echo"), max_size=4 * MiB)
    try:
        await ws.send(os.urandom(MiB + 1))
        try:
            got = await recv(ws)
            raise AssertionError(f"a {len(got)}-byte message was echoed instead of a close")
        except ConnectionClosed:
            pass
        await within(ws.wait_closed(), 5, "the server to close")
        rcvd = ws.close_rcvd
        check(rcvd is not None, f"no close frame from the server (close_code {ws.close_code})")
        check(rcvd.code == 1009, f"server close code {rcvd.code}, expected 1009")
    finally:
        await ws.close()


async def case_subprotocol(s):
    async with connect(s["default"].url("/echo"), subprotocols=["chat", "superchat"]) as ws:
        check(ws.subprotocol is None, f"server selected {ws.subprotocol!r}; /echo supports none")
        await ws.send("sub")
        check(await recv(ws) == "sub", "echo with offered subprotocols failed")


async def case_concurrent(s):
    n = 200

    async def one(i):
        async with connect(s["default"].url("/echo")) as ws:
            await ws.send(f"client-{i}")
            got = await recv(ws, 10)
            check(got == f"client-{i}", f"client {i} got {got!r}")

    await asyncio.gather(*(one(i) for i in range(n)))


async def case_broadcast(s):
    n, senders, per_sender = 200, 2, 20
    total = senders * per_sender
    clients = []
    try:
        for _ in range(0, n, 50):
            clients += await asyncio.gather(*(connect(s["default"].url("/broadcast"))
                                              for _ in range(50)))

        async def collect(ws):
            got = []
            while len(got) < total:
                got.append(await ws.recv())
            try:  # anything more would be a duplicate
                extra = await asyncio.wait_for(ws.recv(), 0.2)
                got.append(extra)
            except asyncio.TimeoutError:
                pass
            return got

        readers = [asyncio.ensure_future(collect(ws)) for ws in clients]
        for k in range(per_sender):
            for j in range(senders):
                await clients[j * 10].send(f"s{j}:{k}")
        done, pending = await asyncio.wait(readers, timeout=15)
        for r in pending:
            r.cancel()
        check(not pending, f"{len(pending)} of {n} clients did not receive all {total} messages")
        for i, r in enumerate(readers):
            got = r.result()
            check(len(got) == total, f"client {i} received {len(got)} messages, expected {total}")
            for j in range(senders):
                seq = [m for m in got if m.startswith(f"s{j}:")]
                check(seq == [f"s{j}:{k}" for k in range(per_sender)],
                      f"client {i}: sender {j} messages lost or out of order: {seq}")
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)


# ---- permessage-deflate (server "deflate": --deflate --deflate-threshold 1) ----------

def pmd_factory(**kw):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    return ClientPerMessageDeflateFactory(**kw)


def pmd_answer(ws):
    """The server's Sec-WebSocket-Extensions answer (the client accepted it)."""
    return ws.response_headers.get("Sec-WebSocket-Extensions", "")


def make_deflate_case(factory_kw, want):
    """Echo through websockets' own compressor and decompressor with these parameters."""
    async def run(s):
        kw = {"compression": "deflate"} if factory_kw is None else {
            "compression": None, "extensions": [pmd_factory(**factory_kw)]}
        async with connect(s["deflate"].url("/echo"), max_size=4 * MiB, **kw) as ws:
            check(pmd_answer(ws) == want, f"answer {pmd_answer(ws)!r} != {want!r}")
            check(len(ws.extensions) == 1, f"extensions in use: {ws.extensions}")
            for n in (1, 200, 1024, 20000, 300 * KiB, 2 * MiB):
                text = ("wsio héllo " * (n // 12 + 1))[:n]
                await ws.send(text)
                got = await recv(ws, 10)
                check(got == text, f"{n}-char text echo differs")
                data = bytes(range(256)) * (n // 256) + os.urandom(n % 256)
                await ws.send(data)
                got = await recv(ws, 10)
                check(got == data, f"{len(data)}-byte binary echo differs")
    return run


async def case_deflate_bomb(s):
    """A client-compressed message inflating past --max-message-size (4 MiB here): 1009."""
    async with connect(s["deflate"].url("/echo"), compression="deflate", max_size=None) as ws:
        await ws.send(b"\0" * (8 * MiB))
        try:
            await within(ws.recv(), 5, "the close")
            raise AssertionError("a 8 MiB message was echoed")
        except ConnectionClosed as e:
            check(e.rcvd is not None and e.rcvd.code == 1009, f"closed with {e.rcvd}")


async def case_deflate_refused(s):
    async with connect(s["default"].url("/echo"), compression="deflate") as ws:
        check(pmd_answer(ws) == "" and not ws.extensions, "no compression without --deflate")
        await ws.send("x" * 5000)
        check(await recv(ws) == "x" * 5000, "echo")


DEFLATE_CASES = [
    ("deflate: default offer echoed compressed both ways",
     make_deflate_case(None, "permessage-deflate; client_no_context_takeover")),
    ("deflate: server_no_context_takeover",
     make_deflate_case({"server_no_context_takeover": True},
                       "permessage-deflate; server_no_context_takeover; client_no_context_takeover")),
    ("deflate: window bits 10/11",
     make_deflate_case({"server_max_window_bits": 10, "client_max_window_bits": 11},
                       "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; "
                       "client_max_window_bits=11")),
    ("deflate: client_no_context_takeover offered, no client_max_window_bits",
     make_deflate_case({"client_no_context_takeover": True, "client_max_window_bits": None},
                       "permessage-deflate; client_no_context_takeover")),
    ("deflate: 8 MiB of zeros compressed closes with 1009", case_deflate_bomb),
    ("deflate: refused without --deflate", case_deflate_refused),
]


CASES = [
    ("text echoed", case_text),
    ("binary echoed", case_binary),
    ("empty text and binary echoed", case_empty),
    *[(f"{n}-byte messages echoed", make_size_case(n)) for n in (125, 126, 65535, 65536)],
    ("16 MiB message echoed with --max-message-size 16MiB", case_16mib),
    ("fragmented sends echoed as one message", case_fragmented),
    ("ping with payload gets matching pong", case_ping_pong),
    ("close 4001 answered with 4001", make_close_case(4001)),
    ("close 1000 answered with 1000", make_close_case(1000)),
    ("1 MiB + 1 message closes with 1009", case_oversize),
    ("offered subprotocols: none selected, still works", case_subprotocol),
    ("200 concurrent connections round trip", case_concurrent),
    ("broadcast to 200 connections, nothing lost, in order", case_broadcast),
    *DEFLATE_CASES,
]


async def run_all(servers):
    passed = failed = 0
    for name, fn in CASES:
        t0 = time.monotonic()
        try:
            await within(fn(servers), CASE_TIMEOUT_S, "the whole case")
        except Exception as e:  # noqa: BLE001 - any failure of a case is reported
            failed += 1
            msg = str(e) or type(e).__name__
            print(f"FAIL {name}: {type(e).__name__}: {msg}", flush=True)
        else:
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.2f} s)", flush=True)
    return passed, failed


def main():
    if not os.path.exists(SERVER_BIN):
        print(f"FAIL setup: wsio-server binary not found at {SERVER_BIN} (build it or set WSIO_SERVER)")
        print("0 passed, 1 failed")
        return 1
    print(f"# websockets {websockets.__version__}, server {SERVER_BIN}", flush=True)
    servers = {}
    passed = failed = 0
    try:
        servers["default"] = Server()
        # The echo of a 16 MiB message is 16 MiB of send buffer: raise that cap too.
        servers["big"] = Server(["--max-message-size", "16MiB", "--max-backpressure", "64MiB"])
        servers["deflate"] = Server(["--deflate", "--deflate-threshold", "1", "--max-message-size", "4MiB",
                                     "--max-backpressure", "64MiB"])
        passed, failed = asyncio.run(run_all(servers))
    except Exception as e:  # noqa: BLE001 - a setup failure is one failed case
        failed += 1
        print(f"FAIL setup: {type(e).__name__}: {e}")
    finally:
        statuses = {k: (srv.stop(), srv) for k, srv in servers.items()}
    for key, (status, srv) in statuses.items():
        name = f"server '{key}' exits 0 on SIGTERM (no crash, no sanitizer report)"
        if status == 0:
            passed += 1
            print(f"PASS {name}")
        else:
            failed += 1
            how = "had died during the tests" if status is None else f"exit status {status}"
            print(f"FAIL {name}: {how}")
            for line in srv.output().splitlines():
                print(f"#   {line}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
