"""group_handshake.py - the opening handshake (RFC 6455 4.1, 4.2) and plain HTTP.
A valid request gets 101 with the right Sec-WebSocket-Accept and no subprotocol or
extension the client did not ask for; each broken request gets its exact status: 400
with a short reason (missing/bad/duplicate key, missing Host, wrong Upgrade or
Connection, HTTP/1.0, missing version), 426 + 'Sec-WebSocket-Version: 13' for another
version, 405 for a non-GET, 404 for an unknown path, 431 for a head over
--max-header-size or with more than --max-headers headers, 503 over
--max-connections. /healthz answers 200 'ok'."""
import base64
import os
import time

from harness import (CaseFailure, case, check, expect_close, expect_echo, expect_eof,
                     http_exchange)
from wsproto import OP_TEXT, build_frame, check_101, new_key, request_head


def _expect_status(status, body_required=True, **req):
    def run(ctx):
        head, _ = request_head(**req)
        _, resp = http_exchange(ctx, head)
        check(resp.status == status, "HTTP %d" % status, resp.describe())
        if body_required:
            check(len(resp.body) > 0, "HTTP %d with a short text reason in the body" % status,
                  "an empty body")
        return resp
    return run


@case("H.1", "valid handshake -> 101, right Accept, no Sec-WebSocket-Protocol/Extensions")
def _h1(ctx):
    head, key = request_head()
    c, resp = http_exchange(ctx, head)
    problem = check_101(resp, key)
    check(problem is None, "a valid 101", problem)
    check(resp.header("Sec-WebSocket-Protocol") is None, "no Sec-WebSocket-Protocol (none asked)",
          "Sec-WebSocket-Protocol: %s" % resp.header("Sec-WebSocket-Protocol"))
    check(resp.header("Sec-WebSocket-Extensions") is None, "no Sec-WebSocket-Extensions (none asked)",
          "Sec-WebSocket-Extensions: %s" % resp.header("Sec-WebSocket-Extensions"))
    c.send_frame(OP_TEXT, b"after handshake")
    expect_echo(c, OP_TEXT, b"after handshake")


@case("H.2", "unknown subprotocols offered -> 101 that picks none of its own invention")
def _h2(ctx):
    offered = ["x-unknown-a", "x-unknown-b"]
    head, key = request_head(extra=[("Sec-WebSocket-Protocol", ", ".join(offered))])
    _, resp = http_exchange(ctx, head)
    problem = check_101(resp, key)
    check(problem is None, "a valid 101", problem)
    proto = resp.header("Sec-WebSocket-Protocol")
    check(proto is None or proto in offered, "no subprotocol, or one the client offered",
          "Sec-WebSocket-Protocol: %s" % proto)


@case("H.3", "header tokens are case-insensitive lists: 'Upgrade: WebSocket', "
             "'Connection: keep-alive, Upgrade', lowercase names -> 101")
def _h3(ctx):
    key = new_key()
    head = ("GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\n"
            "connection: keep-alive, Upgrade\r\nsec-websocket-key: %s\r\n"
            "sec-websocket-version: 13\r\n\r\n" % key).encode()
    _, resp = http_exchange(ctx, head)
    problem = check_101(resp, key)
    check(problem is None, "a valid 101", problem)


@case("H.4", "request head written in 1-byte chops -> 101")
def _h4(ctx):
    head, key = request_head()
    c = ctx.raw()
    c.send_raw(head, chop=1, delay=0.0005)
    resp = c.read_response()
    check(check_101(resp, key) is None, "a valid 101", check_101(resp, key))


@case("H.5", "a frame in the same write as the request head is processed after the 101")
def _h5(ctx):
    head, key = request_head()
    c = ctx.raw()
    c.send_raw(head + build_frame(OP_TEXT, b"early bird"))
    resp = c.read_response()
    check(check_101(resp, key) is None, "a valid 101", check_101(resp, key))
    expect_echo(c, OP_TEXT, b"early bird")


case("H.6", "missing Sec-WebSocket-Key -> 400")(_expect_status(400, omit=("sec-websocket-key",)))
case("H.7", "Sec-WebSocket-Key that is not base64 -> 400")(
    _expect_status(400, key="not base64 at all!!"))
case("H.8", "Sec-WebSocket-Key decoding to 15 bytes -> 400")(
    _expect_status(400, key=base64.b64encode(os.urandom(15)).decode()))
case("H.9", "Sec-WebSocket-Key decoding to 17 bytes -> 400")(
    _expect_status(400, key=base64.b64encode(os.urandom(17)).decode()))
case("H.10", "two Sec-WebSocket-Key headers -> 400")(
    _expect_status(400, extra=[("Sec-WebSocket-Key", new_key())]))
case("H.11", "missing Host -> 400")(_expect_status(400, omit=("host",)))
case("H.12", "'Upgrade: h2c' -> 400")(
    _expect_status(400, omit=("upgrade",), extra=[("Upgrade", "h2c")]))
case("H.13", "'Connection: keep-alive' without upgrade -> 400")(
    _expect_status(400, omit=("connection",), extra=[("Connection", "keep-alive")]))
case("H.14", "HTTP/1.0 request -> 400")(_expect_status(400, http="HTTP/1.0"))
case("H.15", "missing Sec-WebSocket-Version -> 400")(
    _expect_status(400, omit=("sec-websocket-version",)))


@case("H.16", "Sec-WebSocket-Version: 8 -> 426 with 'Sec-WebSocket-Version: 13'")
def _h16(ctx):
    resp = _expect_status(426, body_required=False, version="8")(ctx)
    versions = [v.strip() for h in resp.header_all("Sec-WebSocket-Version") for v in h.split(",")]
    check("13" in versions, "426 carrying 'Sec-WebSocket-Version: 13'",
          "Sec-WebSocket-Version: %s" % resp.header_all("Sec-WebSocket-Version"))


@case("H.17", "POST /echo -> 405")
def _h17(ctx):
    _expect_status(405, body_required=False, method="POST")(ctx)


@case("H.18", "405 carries 'Allow: GET' (RFC 9110 15.5.6 MUST)")
def _h18(ctx):
    resp = _expect_status(405, body_required=False, method="POST")(ctx)
    allow = resp.header("Allow") or ""
    check("GET" in [t.strip() for t in allow.split(",")], "an Allow header listing GET",
          "Allow: %r" % allow)


case("H.19", "WebSocket request for an unknown path -> 404")(
    _expect_status(404, body_required=False, path="/no-such-endpoint"))


@case("H.20", "plain GET of an unknown path -> 404")
def _h20(ctx):
    _, resp = http_exchange(ctx, b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(resp.status == 404, "HTTP 404", resp.describe())


@case("H.21", "GET /healthz -> 200 with body 'ok'")
def _h21(ctx):
    _, resp = http_exchange(ctx, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(resp.status == 200, "HTTP 200", resp.describe())
    check(resp.body.strip() == b"ok", "body 'ok'", repr(resp.body[:60]))


@case("H.22", "request head over 8 KiB (one 9000-byte header) -> 431")
def _h22(ctx):
    _expect_status(431, body_required=False, extra=[("X-Big", "a" * 9000)])(ctx)


@case("H.23", "request with 70 headers (> 64) -> 431")
def _h23(ctx):
    _expect_status(431, body_required=False,
                   extra=[("X-H%d" % i, "v") for i in range(65)])(ctx)


@case("H.24", "request with 60 headers and a 7000-byte head (under both limits) -> 101")
def _h24(ctx):
    extra = [("X-H%d" % i, "v" * 120) for i in range(55)]
    head, key = request_head(extra=extra)
    check(6500 < len(head) < 8000, "test head of 6.5-8 KB", len(head))
    _, resp = http_exchange(ctx, head)
    check(check_101(resp, key) is None, "a valid 101", check_101(resp, key) or "")


@case("H.25", "--max-connections 2: a 3rd handshake gets 503; after one leaves, a new one "
              "is accepted", server="maxconn")
def _h25(ctx):
    a = ctx.ws()
    b = ctx.ws()
    head, _ = request_head()
    _, resp = http_exchange(ctx, head)
    check(resp.status == 503, "HTTP 503 for the 3rd connection", resp.describe())
    # The first two still work.
    b.send_frame(OP_TEXT, b"still here")
    expect_echo(b, OP_TEXT, b"still here")
    a.send_close(1000)
    expect_close(a, 1000)
    expect_eof(a, "close 1000")
    a.close()
    deadline = time.monotonic() + 2.0
    last = None
    while time.monotonic() < deadline:
        head, key = request_head()
        c, resp = http_exchange(ctx, head)
        if resp.status == 101:
            c.send_frame(OP_TEXT, b"new one")
            expect_echo(c, OP_TEXT, b"new one")
            return
        last = resp.describe()
        c.close()
        time.sleep(0.1)
    raise CaseFailure("101 once a slot is free again", last)
