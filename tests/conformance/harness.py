"""harness.py - case registry, server processes and the expectations cases assert.

Owns: the @case decorator (id, title, which server options the case needs), starting
and stopping wsio-server instances (parsing 'listening on HOST:PORT' from stderr), the
per-case context (clients it opened are closed afterwards), and the expect_* helpers
that turn what the server did into a CaseFailure with 'expected' and 'got'.
Must not contain cases; those live in the group_*.py files.
"""
import os
import re
import signal
import subprocess
import tempfile
import time

import wsproto
from wsproto import OP_CLOSE, OP_PONG, PeerClosed, ServerViolation, Timeout

LISTEN_RE = re.compile(rb"listening on \S+:(\d+)")

CASES = []

# Named option sets; a case names the one it needs and the runner starts one server
# per set, on first use.
SERVER_OPTS = {
    "default": [],
    # 16 MiB messages echoed back: the send buffer must hold a whole echo.
    "big": ["--max-message-size", "16MiB", "--max-backpressure", "64MiB"],
    "maxconn": ["--max-connections", "2"],
    "hstimeout": ["--handshake-timeout", "1"],
    "ping": ["--ping-interval", "0.5", "--ping-timeout", "0.5"],
    # permessage-deflate (groups 12 and 13): default threshold, compress everything,
    # clients allowed to keep their context, and bigger messages.
    "deflate": ["--deflate"],
    "deflate1": ["--deflate", "--deflate-threshold", "1"],
    "deflatectx": ["--deflate", "--deflate-threshold", "1", "--deflate-client-context-takeover", "on"],
    # broadcasts compressed by each recipient's own compressor (for comparison)
    "deflatepc": ["--deflate", "--deflate-threshold", "1", "--deflate-shared-broadcast", "off"],
    "deflatebig": ["--deflate", "--deflate-threshold", "1", "--max-message-size", "16MiB",
                   "--max-backpressure", "64MiB"],
}


class CaseFailure(Exception):
    def __init__(self, expected, got):
        super().__init__("expected %s; got %s" % (expected, got))
        self.expected, self.got = expected, got


def case(cid, title, server="default", timeout=20):
    """Registers a case. timeout bounds the whole case (a safety net: every read has
    its own short deadline)."""
    def deco(fn):
        CASES.append({"id": cid, "title": title, "server": server, "fn": fn,
                      "timeout": timeout})
        return fn
    return deco


class Server:
    """One wsio-server process on 127.0.0.1 and an ephemeral port."""

    def __init__(self, binary, opts, name):
        self.binary, self.opts, self.name = binary, list(opts), name
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.log = None

    def start(self, wait=5.0):
        self.log = tempfile.NamedTemporaryFile(prefix="wsio-conf-%s-" % self.name,
                                               suffix=".log", delete=False)
        argv = [self.binary, "--host", "127.0.0.1", "--port", "0"] + self.opts
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=env)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.read_log())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        rc = self.proc.poll()
        self.kill()
        raise RuntimeError("server %s did not start (%s): %s" % (
            " ".join(argv), "exit %s" % rc if rc is not None else "no 'listening on' line",
            self.log_tail()))

    def read_log(self):
        try:
            with open(self.log.name, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log_tail(self, n=1200):
        return self.read_log()[-n:].decode("utf-8", "replace").strip()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit status, or None when still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status after SIGTERM,
        or None when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if self.log is not None:
            self.log.close()
            try:
                os.unlink(self.log.name)
            except OSError:
                pass


class Context:
    """What a case gets: its server and helpers that open clients closed at the end."""

    def __init__(self, server, binary):
        self.server = server
        self.binary = binary
        self._clients = []
        self._servers = []

    @property
    def addr(self):
        return self.server.host, self.server.port

    def ws(self, path="/echo", timeout=wsproto.DEFAULT_TIMEOUT, **kw):
        """A client with a completed, checked handshake."""
        try:
            c = wsproto.open_ws(self.server.host, self.server.port, path, timeout, **kw)
        except (ServerViolation, PeerClosed, Timeout, OSError) as e:
            raise CaseFailure("a WebSocket handshake on %s" % path, str(e))
        self._clients.append(c)
        return c

    def raw(self, timeout=wsproto.DEFAULT_TIMEOUT, server=None):
        """A bare TCP client (no handshake yet)."""
        s = server or self.server
        c = wsproto.Client(s.host, s.port, timeout)
        self._clients.append(c)
        return c

    def start_server(self, opts, name="dedicated"):
        """A server of the case's own, killed after the case if still running."""
        s = Server(self.binary, opts, name)
        self._servers.append(s)
        return s.start()

    def finish(self):
        for c in self._clients:
            c.close()
        for s in self._servers:
            s.cleanup()


# ---- expectations ------------------------------------------------------------

def _got(fn, *args, **kw):
    """Runs a read and turns errors into a 'got' description (or returns the value)."""
    try:
        return fn(*args, **kw), None
    except Timeout as e:
        return None, "nothing (%s)" % e
    except PeerClosed as e:
        return None, str(e)
    except ServerViolation as e:
        return None, "a protocol violation by the server: %s" % e


def next_event(c, expected, timeout=None):
    ev, err = _got(c.recv_event, timeout)
    if err:
        raise CaseFailure(expected, err)
    return ev


def expect_message(c, opcode, payload, timeout=None):
    """The next event is a data message of this opcode with exactly this payload."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    what = "%s message of %d bytes echoed" % (wsproto.OP_NAMES[opcode], len(payload))
    ev = next_event(c, what, timeout)
    if ev.opcode != opcode:
        raise CaseFailure(what, ev.describe())
    if ev.payload != payload:
        idx = next((i for i, (a, b) in enumerate(zip(ev.payload, payload)) if a != b),
                   min(len(ev.payload), len(payload)))
        raise CaseFailure(what, "%d bytes, first difference at offset %d" % (len(ev.payload), idx))
    return ev


def expect_echo(c, opcode, payload, timeout=None):
    return expect_message(c, opcode, payload, timeout)


def expect_pong(c, payload, timeout=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    what = "pong with the ping's %d-byte payload" % len(payload)
    ev = next_event(c, what, timeout)
    if ev.opcode != OP_PONG or ev.payload != payload:
        raise CaseFailure(what, ev.describe())
    return ev


def expect_close(c, code, timeout=None, reason=None):
    """The next event is a close frame with this code (None: an empty close).
    reason, when given, must match too."""
    if code is None:
        what = "an empty close frame"
    else:
        what = "close %d" % code
    ev = next_event(c, what, timeout)
    if ev.opcode != OP_CLOSE:
        raise CaseFailure(what, ev.describe())
    if code is None:
        if ev.payload:
            raise CaseFailure(what, ev.describe())
    elif len(ev.payload) < 2 or ev.close_code != code:
        raise CaseFailure(what, ev.describe())
    if reason is not None and ev.close_reason != reason:
        raise CaseFailure("%s with reason %r" % (what, reason), ev.describe())
    try:
        ev.close_reason.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseFailure("%s with a UTF-8 reason" % what, ev.describe())
    return ev


def expect_eof(c, after="", timeout=None):
    """The server closes TCP with nothing more sent."""
    what = "TCP closed by the server" + (" after " + after if after else "")
    try:
        stray = c.wait_eof(timeout)
    except Timeout as e:
        raise CaseFailure(what, str(e))
    if stray:
        f = None
        try:
            c.rx[:] = stray
            c.eof = False
            f = c.recv_frame(0.1)
        except Exception:
            pass
        raise CaseFailure(what, "more bytes first: %s" % (f.describe() if f else repr(stray[:40])))


def expect_fail(c, code, timeout=None):
    """Fail the WebSocket Connection: a close frame with code, then TCP closed."""
    expect_close(c, code, timeout)
    expect_eof(c, "close %d" % code)


def expect_silence(c, duration):
    """Nothing at all arrives for duration seconds (and the connection stays open)."""
    ev, err = _got(c.recv_event, duration)
    if ev is not None:
        raise CaseFailure("nothing for %.1fs" % duration, ev.describe())
    if err and not err.startswith("nothing"):
        raise CaseFailure("nothing for %.1fs (connection open)" % duration, err)


def check(cond, expected, got):
    if not cond:
        raise CaseFailure(expected, got)


def http_exchange(ctx, head, timeout=None, server=None):
    """Sends a raw request head, returns (client, response)."""
    c = ctx.raw(server=server)
    c.send_raw(head)
    resp, err = _got(c.read_response, timeout)
    if err:
        raise CaseFailure("an HTTP response", err)
    return c, resp
