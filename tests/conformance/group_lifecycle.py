"""group_lifecycle.py - what happens over time and across connections: the handshake
timeout, the keep-alive ping and its timeout, the close timeout, graceful shutdown on
SIGTERM/SIGINT (close 1001 to everyone, exit 0), and /broadcast fan-out."""
import signal
import socket
import time

from harness import (CaseFailure, case, check, expect_close, expect_echo, expect_eof,
                     expect_silence, next_event)
from wsproto import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, PeerClosed,
                     ServerViolation, Timeout, build_frame, open_ws, request_head)


def _closed_after(c, low, high):
    """Waits for the server to close TCP; returns seconds waited. Any bytes (e.g. an
    HTTP 408) may come first. Fails unless it closes between low and high seconds."""
    t0 = time.monotonic()
    try:
        c.wait_eof(high + 0.5)
    except Timeout:
        raise CaseFailure("TCP closed within %.1fs" % high, "still open after %.1fs" % (high + 0.5))
    dt = time.monotonic() - t0
    check(low <= dt <= high, "TCP closed after %.1f-%.1fs" % (low, high), "closed after %.2fs" % dt)
    return dt


@case("T.1", "--handshake-timeout 1: half a request head -> closed after ~1s", server="hstimeout")
def _t1(ctx):
    c = ctx.raw(timeout=4.0)
    c.send_raw(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
    _closed_after(c, 0.7, 2.5)


# The kernel holds a silent connection for one SYN-ACK retransmission (~1 s) before it
# can be accepted (TCP_DEFER_ACCEPT on the listener, src/net/net.c), then the timeout runs.
@case("T.2", "--handshake-timeout 1: a connection that sends nothing -> closed after ~1s + the deferred accept (~1s)",
      server="hstimeout")
def _t2(ctx):
    c = ctx.raw(timeout=6.0)
    _closed_after(c, 0.7, 4.0)


@case("T.3", "--handshake-timeout 1 does not apply after the 101: idle 1.8s, echo still works",
      server="hstimeout")
def _t3(ctx):
    c = ctx.ws()
    expect_silence(c, 1.8)
    c.send_frame(OP_TEXT, b"still open")
    expect_echo(c, OP_TEXT, b"still open")


@case("T.4", "--ping-interval 0.5 --ping-timeout 0.5: a silent client gets a ping, then is "
             "dropped", server="ping")
def _t4(ctx):
    c = ctx.ws(timeout=4.0)
    t0 = time.monotonic()
    ev = next_event(c, "a ping within 1.5s", timeout=1.5)
    check(ev.opcode == OP_PING, "a ping", ev.describe())
    t_ping = time.monotonic() - t0
    # After the ping, nothing but pings or one close may come, then TCP closed.
    deadline = t0 + t_ping + 2.5
    while True:
        try:
            ev = c.recv_event(max(0.0, deadline - time.monotonic()))
        except PeerClosed:
            break
        except Timeout:
            raise CaseFailure("connection dropped within 2.5s of the unanswered ping",
                              "still open after %.1fs" % (time.monotonic() - t0))
        except ServerViolation as e:
            raise CaseFailure("pings, a close, then TCP closed", str(e))
        if ev.opcode == OP_CLOSE:
            expect_eof(c, "the close for the ping timeout")
            break
        check(ev.opcode == OP_PING, "only pings before the drop", ev.describe())
    dt = time.monotonic() - t0 - t_ping
    check(dt >= 0.3, "dropped no earlier than ~--ping-timeout after the ping",
          "dropped %.2fs after it" % dt)


@case("T.5", "--ping-interval 0.5: a client that answers every ping stays open (3s)",
      server="ping")
def _t5(ctx):
    c = ctx.ws(timeout=4.0)
    pings = 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        try:
            ev = c.recv_event(max(0.0, end - time.monotonic()))
        except Timeout:
            break
        except (PeerClosed, ServerViolation) as e:
            raise CaseFailure("open for 3s while answering pings", "%s after %d pings" % (e, pings))
        check(ev.opcode == OP_PING, "only pings", ev.describe())
        pings += 1
        c.send_frame(OP_PONG, ev.payload)
    check(pings >= 3, "at least 3 pings in 3s at --ping-interval 0.5", "%d pings" % pings)
    c.send_frame(OP_TEXT, b"alive")
    # A ping may cross our message; skip pings until the echo.
    for _ in range(5):
        ev = next_event(c, "the echo of 'alive'")
        if ev.opcode != OP_PING:
            break
        c.send_frame(OP_PONG, ev.payload)
    check(ev.opcode == OP_TEXT and ev.payload == b"alive", "the echo of 'alive'", ev.describe())


@case("T.6", "--close-timeout 1: on SIGTERM a client that never answers the 1001 is dropped "
             "after ~1s (well before --shutdown-timeout 10)", timeout=20)
def _t6(ctx):
    s = ctx.start_server(["--close-timeout", "1", "--shutdown-timeout", "10"], "closetimeout")
    c = open_ws(s.host, s.port, timeout=4.0)
    ctx._clients.append(c)
    s.signal(signal.SIGTERM)
    expect_close(c, 1001)
    t0 = time.monotonic()
    _closed_after(c, 0.5, 2.5)
    rc = s.wait(3.0)
    check(rc == 0, "exit 0 once the last connection is gone", "exit %s after %.1fs" % (
        rc, time.monotonic() - t0) if rc is not None else "still running")


def _shutdown(sig):
    def run(ctx):
        s = ctx.start_server(["--shutdown-timeout", "5"], "shutdown")
        e = open_ws(s.host, s.port, "/echo")
        b = open_ws(s.host, s.port, "/broadcast")
        ctx._clients += [e, b]
        e.send_frame(OP_TEXT, b"before")
        expect_echo(e, OP_TEXT, b"before")
        s.signal(sig)
        for c in (e, b):
            expect_close(c, 1001)
        # No longer accepting: a new connection is refused or closed without 101.
        try:
            n = open_ws(s.host, s.port, timeout=1.0)
            n.close()
            raise CaseFailure("no new connection accepted after the signal", "a 101")
        except (ConnectionRefusedError, ConnectionResetError, PeerClosed, ServerViolation,
                Timeout, socket.timeout):
            pass
        # A well-behaved client answers the close and closes its end after the server's.
        for c in (e, b):
            c.send_close(1001)
            expect_eof(c, "the close handshake")
            c.close()
        t0 = time.monotonic()
        rc = s.wait(1.5)
        check(rc == 0, "exit 0 within 1.5s of the last close handshake (not at "
              "--shutdown-timeout 5)", "exit %s" % rc if rc is not None
              else "still running after %.1fs" % (time.monotonic() - t0))
    return run


case("S.1", "SIGTERM: /echo and /broadcast clients get close 1001, no new connections, "
            "exit 0")(_shutdown(signal.SIGTERM))
case("S.2", "SIGINT: same as SIGTERM")(_shutdown(signal.SIGINT))


def _tcp_state(c):
    """Linux TCP_INFO tcpi_state of our socket (7 = CLOSE, 8 = CLOSE_WAIT)."""
    return c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[0]


@case("T.7", "--close-timeout 1: after close 1002 a client that keeps its end open is "
             "released after ~1s (a late probe gets a reset)", timeout=10)
def _t7(ctx):
    s = ctx.start_server(["--close-timeout", "1"], "closetimeout")
    c = ctx.raw(server=s, timeout=4.0)
    head, key = request_head()
    c.send_raw(head)
    c.read_response()
    c.send_frame(OP_TEXT, b"x", mask=False)  # protocol error: the server closes
    expect_close(c, 1002)
    expect_eof(c, "close 1002")
    # Our end stays open and silent. Once the close timeout has passed the server must
    # have let go of the socket: data we send then is answered with a reset.
    time.sleep(2.2)
    reset = False
    for _ in range(2):
        try:
            c.sock.send(b"probe")
        except (BrokenPipeError, ConnectionResetError):
            reset = True
            break
        time.sleep(0.2)
    reset = reset or _tcp_state(c) == 7
    check(reset, "the server released the connection (reset on a probe) 2.2s after its close",
          "the connection is still held by the server (tcp state %d)" % _tcp_state(c))


@case("S.3", "SIGTERM with a client that never answers: exit 0 within --shutdown-timeout 1")
def _s3(ctx):
    s = ctx.start_server(["--shutdown-timeout", "1"], "shutdown")
    c = open_ws(s.host, s.port, timeout=4.0)
    ctx._clients.append(c)
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    expect_close(c, 1001)
    rc = s.wait(3.0)
    dt = time.monotonic() - t0
    check(rc == 0 and dt <= 2.5, "exit 0 within ~1s", "exit %s after %.1fs" % (rc, dt))
    expect_eof(c, "the shutdown", timeout=0.5)


@case("S.4", "SIGTERM with no connections: exit 0 at once")
def _s4(ctx):
    s = ctx.start_server([], "shutdown")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    rc = s.wait(2.0)
    check(rc == 0, "exit 0 within 2s", "exit %s after %.1fs" % (rc, time.monotonic() - t0))


@case("B.1", "/broadcast: a text message reaches every /broadcast client, sender included, "
             "and no /echo client")
def _b1(ctx):
    cs = [ctx.ws("/broadcast") for _ in range(3)]
    bystander = ctx.ws("/echo")
    time.sleep(0.05)
    cs[1].send_frame(OP_TEXT, b"hello all")
    for c in cs:
        expect_echo(c, OP_TEXT, b"hello all")
    expect_silence(bystander, 0.2)


@case("B.2", "/broadcast: binary and fragmented messages keep opcode and bytes; a departed "
             "client does not stop delivery")
def _b2(ctx):
    cs = [ctx.ws("/broadcast") for _ in range(3)]
    cs[2].send_close(1000)
    expect_close(cs[2], 1000)
    expect_eof(cs[2], "close 1000")
    cs[0].send_raw(build_frame(OP_BINARY, b"\x00\x01", fin=False) + build_frame(0, b"\xff"))
    for c in cs[:2]:
        expect_echo(c, OP_BINARY, b"\x00\x01\xff")
