"""wsproto.py - a raw RFC 6455 client for conformance testing.

Owns: building frames with any header bits (FIN, RSV, opcode, mask, length form,
declared length), sending bytes in arbitrary chops, reading and checking the server's
frames, and the HTTP/1.1 opening handshake. Standard library only. Every blocking call
has a deadline, so a silent server turns into a Timeout (a failed case), never a hang.

Must not know about cases or expectations: it reports what the server did; the
cases (via harness.py) decide whether that was right.
"""
import base64
import hashlib
import os
import select
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OP_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

# RSV bits as a 3-bit value: 4 = RSV1 (0x40), 2 = RSV2 (0x20), 1 = RSV3 (0x10).
RSV1, RSV2, RSV3 = 4, 2, 1

DEFAULT_TIMEOUT = 2.0


class PeerClosed(Exception):
    """The server closed the TCP connection (EOF or reset) before what we waited for."""


class Timeout(Exception):
    """Nothing (or not enough) arrived before the deadline."""


class ServerViolation(Exception):
    """The server sent bytes that break RFC 6455 (masked frame, RSV bits, ...)."""


def mask_bytes(data, key):
    """XORs data with the 4-byte key repeated (RFC 6455 5.3). Fast for megabytes:
    one big-integer XOR instead of a Python loop per byte."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None,
                length=None, length_form=None):
    """Returns the bytes of one frame.

    rsv: 3-bit value (RSV1=4, RSV2=2, RSV3=1). mask: False sends an unmasked frame
    (a client must not). length: the declared payload length when it must differ from
    len(payload) (e.g. a 64-bit length with the MSB set). length_form: 7, 16 or 64 to
    force an encoding; by default the minimal one."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if length_form is None:
        length_form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    if length_form == 7:
        head = struct.pack("!BB", b0, mbit | n)
    elif length_form == 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    if key is None:
        key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    """Close frame body: empty when code is None, else 2-byte code + reason."""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    if code is None:
        return reason
    return struct.pack("!H", code) + reason


class Frame:
    """One frame as read from the server, or (with frames > 1) an assembled message."""

    def __init__(self, fin, rsv, opcode, payload, masked=False, frames=1):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.payload, self.masked, self.frames = payload, masked, frames

    @property
    def is_control(self):
        return self.opcode >= 8

    @property
    def close_code(self):
        """The status code of a close frame, or None for an empty close."""
        if len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return bytes(self.payload[2:])

    def describe(self):
        name = OP_NAMES.get(self.opcode, "opcode 0x%X" % self.opcode)
        if self.opcode == OP_CLOSE:
            if not self.payload:
                return "close (empty)"
            if len(self.payload) == 1:
                return "close (1-byte payload)"
            return "close %d %r" % (self.close_code, self.close_reason[:40])
        p = bytes(self.payload)
        shown = p[:24]
        more = "..." if len(p) > 24 else ""
        return "%s (%d bytes) %r%s" % (name, len(p), shown, more)


class HttpResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # list of (name, value), as received
        self.body = body

    def header(self, name):
        """The first header named name (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def describe(self):
        return "HTTP %d %s (body %r)" % (self.status, self.reason, self.body[:60])


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2 item 5.4)."""
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def request_head(path="/echo", host="127.0.0.1", key=None, version="13",
                 method="GET", http="HTTP/1.1", extra=(), omit=()):
    """A WebSocket opening request head. extra: (name, value) pairs appended; omit: header
    names (lowercase) left out; a value of None in extra is skipped."""
    if key is None:
        key = new_key()
    base = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    lines = ["%s %s %s" % (method, path, http)]
    for k, v in base:
        if k.lower() in omit or v is None:
            continue
        lines.append("%s: %s" % (k, v))
    for k, v in extra:
        if v is not None:
            lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


class Client:
    """One TCP connection to the server, with a receive buffer shared by the HTTP and
    frame readers (bytes that follow the 101 response stay for the frame reader)."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rx = bytearray()
        self.eof = False          # server closed (FIN or RST seen)
        self.reset = False        # it was an RST
        self.send_failed = False  # a send hit EPIPE/ECONNRESET
        self._msg = None          # (opcode, bytearray, frames, rsv) while assembling
        self.allowed_rsv = 0      # RSV bits a negotiated extension lets the server set
        self.response = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- raw bytes -------------------------------------------------------------

    def _recv_some(self, wait):
        """Reads what is there (waiting up to wait seconds) into rx. False on EOF."""
        if self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], max(0.0, wait))
        if not r:
            return True
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        except socket.timeout:
            return True
        if not data:
            self.eof = True
            return False
        self.rx += data
        return True

    def send_raw(self, data, chop=None, delay=None):
        """Sends data, split into chop-byte writes when chop is set (each its own TCP
        segment: TCP_NODELAY), sleeping delay seconds between writes (default: 1 ms for
        short chopped sends, so that the server really sees the pieces separately).
        While sending it keeps reading, so a large send never deadlocks against the
        server's own writes. Returns False when the server closed the connection
        before everything was sent."""
        data = bytes(data)
        if delay is None:
            delay = 0.001 if chop and len(data) <= 400 else 0.0
        step = chop or (256 * 1024)
        view = memoryview(data)
        deadline = time.monotonic() + max(self.timeout, 10.0)
        while view:
            now = time.monotonic()
            if now > deadline:
                raise Timeout("send stalled with %d bytes unsent" % len(view))
            r, w, _ = select.select([self.sock], [self.sock], [], deadline - now)
            if r and not self._recv_some(0):
                # EOF while we still have bytes to send: the server gave up on us.
                self.send_failed = True
                return False
            if not w:
                continue
            try:
                n = self.sock.send(view[:step])
            except (BrokenPipeError, ConnectionResetError):
                self.send_failed = True
                return False
            except (BlockingIOError, socket.timeout):
                continue
            view = view[n:]
            if chop and delay and view:
                time.sleep(delay)
        return True

    def send_frame(self, opcode, payload=b"", chop=None, delay=None, **kw):
        return self.send_raw(build_frame(opcode, payload, **kw), chop=chop, delay=delay)

    def send_text(self, text, **kw):
        return self.send_frame(OP_TEXT, text, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        return self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def _need(self, n, deadline):
        """Waits until rx holds n bytes. Raises PeerClosed or Timeout."""
        while len(self.rx) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("timed out waiting for data (%d of %d bytes)" % (len(self.rx), n))
            if not self._recv_some(min(left, 0.5)):
                if len(self.rx) < n:
                    raise PeerClosed("TCP closed by server" + (" (reset)" if self.reset else "")
                                     + (" with %d stray bytes" % len(self.rx) if self.rx else ""))

    # ---- frames ----------------------------------------------------------------

    def recv_frame(self, timeout=None):
        """Reads one frame as sent by the server. Raises ServerViolation for anything a
        server must not send (masked frame, RSV bits, reserved opcode, bad control)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._need(2, deadline)
        b0, b1 = self.rx[0], self.rx[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.rx[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.rx[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            pos += 4
        if n > (1 << 31):
            raise ServerViolation("server frame declares %d bytes" % n)
        self._need(pos + n, deadline)
        payload = bytes(self.rx[pos:pos + n])
        if masked:
            payload = mask_bytes(payload, bytes(self.rx[pos - 4:pos]))
        del self.rx[:pos + n]
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, masked)
        if masked:
            raise ServerViolation("server sent a masked frame (RFC 6455 5.1): " + f.describe())
        if f.rsv & ~self.allowed_rsv:
            raise ServerViolation("server set RSV bits %d: %s" % (f.rsv, f.describe()))
        if f.rsv and (f.opcode >= 8 or f.opcode == OP_CONT):
            raise ServerViolation("server set RSV bits %d on a control or continuation frame "
                                  "(RFC 7692 6.1): %s" % (f.rsv, f.describe()))
        if f.opcode not in OP_NAMES:
            raise ServerViolation("server used reserved opcode 0x%X" % f.opcode)
        if f.is_control and (not f.fin or len(payload) > 125):
            raise ServerViolation("server sent an invalid control frame: " + f.describe())
        return f

    def recv_event(self, timeout=None):
        """Returns the next event in wire order: a control frame as it arrives, or a data
        message (Frame with .frames = number of frames) once its last frame arrives."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.is_control:
                return f
            if f.opcode == OP_CONT:
                if self._msg is None:
                    raise ServerViolation("server sent a continuation frame with no message open")
                self._msg[1].extend(f.payload)
                self._msg[2] += 1
            else:
                if self._msg is not None:
                    raise ServerViolation("server started a new message inside a fragmented one")
                self._msg = [f.opcode, bytearray(f.payload), 1, f.rsv]
            if f.fin:
                op, data, count, rsv = self._msg
                self._msg = None
                return Frame(True, rsv, op, bytes(data), frames=count)

    def wait_eof(self, timeout=None):
        """Waits for the server to close TCP. Returns the bytes that arrived first
        (empty when nothing did). Raises Timeout when it stays open."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("TCP connection still open after %.1fs" %
                              (self.timeout if timeout is None else timeout))
            self._recv_some(min(left, 0.5))
        stray = bytes(self.rx)
        self.rx.clear()
        return stray

    # ---- HTTP ------------------------------------------------------------------

    def send_request(self, head):
        self.send_raw(head)

    def read_response(self, timeout=None, body=True):
        """Reads an HTTP/1.1 response head (and its Content-Length body). Bytes after it
        stay in rx."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n\r\n" not in self.rx:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no complete HTTP response head (got %r)" % bytes(self.rx[:80]))
            if not self._recv_some(min(left, 0.5)) and b"\r\n\r\n" not in self.rx:
                raise PeerClosed("TCP closed before a complete HTTP response (got %r)"
                                 % bytes(self.rx[:80]))
        end = self.rx.index(b"\r\n\r\n")
        head = bytes(self.rx[:end]).decode("latin-1")
        del self.rx[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ServerViolation("malformed status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                raise ServerViolation("malformed header line %r" % line)
            headers.append((k.strip(), v.strip()))
        resp = HttpResponse(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "",
                            headers, b"")
        cl = resp.header("Content-Length")
        te = (resp.header("Transfer-Encoding") or "").lower()
        if body and resp.status != 101 and "chunked" in te:
            resp.body = self._read_chunked(deadline)
        elif body and cl is not None and resp.status != 101:
            n = int(cl)
            try:
                self._need(n, deadline)
            except PeerClosed:
                n = len(self.rx)
            resp.body = bytes(self.rx[:n])
            del self.rx[:n]
        self.response = resp
        return resp

    def _read_line(self, deadline):
        while b"\r\n" not in self.rx:
            self._need(len(self.rx) + 1, deadline)
        i = self.rx.index(b"\r\n")
        line = bytes(self.rx[:i])
        del self.rx[:i + 2]
        return line

    def _read_chunked(self, deadline):
        body = bytearray()
        while True:
            size = int(self._read_line(deadline).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._read_line(deadline):  # trailers, then the empty line
                    pass
                return bytes(body)
            self._need(size + 2, deadline)
            body += self.rx[:size]
            del self.rx[:size + 2]

    def handshake(self, path="/echo", **kw):
        """Sends an opening handshake and reads the response. Checks nothing."""
        head, key = request_head(path, **kw)
        self.send_raw(head)
        resp = self.read_response()
        resp.key = key
        return resp


def open_ws(host, port, path="/echo", timeout=DEFAULT_TIMEOUT, **kw):
    """Connects and completes a handshake, checking the 101 response fully (RFC 6455
    4.2.2). Raises ServerViolation with the reason when the server refuses or errs."""
    c = Client(host, port, timeout)
    try:
        resp = c.handshake(path, **kw)
        problem = check_101(resp, resp.key)
        if problem:
            raise ServerViolation(problem)
    except BaseException:
        c.close()
        raise
    return c


def check_101(resp, key):
    """Returns what is wrong with a WebSocket 101 response, or None."""
    if resp.status != 101:
        return "expected 101, got " + resp.describe()
    up = resp.header("Upgrade")
    if up is None or up.lower() != "websocket":
        return "101 without 'Upgrade: websocket' (got %r)" % up
    conn = resp.header("Connection")
    if conn is None or "upgrade" not in [t.strip().lower() for t in conn.split(",")]:
        return "101 without 'Connection: Upgrade' (got %r)" % conn
    acc = resp.header("Sec-WebSocket-Accept")
    if acc != accept_for(key):
        return "wrong Sec-WebSocket-Accept %r (want %r)" % (acc, accept_for(key))
    return None
