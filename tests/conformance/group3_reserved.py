"""group3_reserved.py - Autobahn group 3: RSV1-3 must be 0 when no extension was
negotiated (RFC 6455 5.2); any set bit fails the connection with 1002, on data and
control frames alike, also after valid traffic, and frames after the bad one are not
acted on."""
from harness import case, expect_echo, expect_fail
from wsproto import (OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, RSV1, RSV2, RSV3,
                     build_frame, close_payload)


@case("3.1", "text frame with RSV1 (no extension negotiated) -> close 1002, no echo")
def _c1(ctx):
    c = ctx.ws()
    c.send_frame(OP_TEXT, b"Hello, world!", rsv=RSV1)
    expect_fail(c, 1002)


def _after_valid(rsv, mode):
    """Valid text, then text with rsv, then a ping: the first is echoed, then 1002,
    and the ping after the bad frame gets no pong."""
    def run(ctx):
        c = ctx.ws()
        good = build_frame(OP_TEXT, b"Hello, world!")
        bad = build_frame(OP_TEXT, b"Hello, world!", rsv=rsv)
        ping = build_frame(OP_PING, b"after")
        if mode == "one-write":
            c.send_raw(good + bad + ping)
            expect_echo(c, OP_TEXT, b"Hello, world!")
        else:
            chop = 1 if mode == "octets" else None
            c.send_raw(good, chop=chop)
            expect_echo(c, OP_TEXT, b"Hello, world!")
            if not c.send_raw(bad, chop=chop):
                pass  # the server may hang up mid-frame; the close must still be there
            c.send_raw(ping, chop=chop)
        expect_fail(c, 1002)
    return run


case("3.2", "echo, then text with RSV2, then ping, in one write -> echo, close 1002, no pong")(
    _after_valid(RSV2, "one-write"))
case("3.3", "same with RSV1+RSV3, each frame sent after the previous answer")(
    _after_valid(RSV1 | RSV3, "frame-wise"))
case("3.4", "same with RSV1+RSV2, written in 1-byte chops")(
    _after_valid(RSV1 | RSV2, "octets"))


@case("3.5", "binary frame with RSV1+RSV3 -> close 1002")
def _c5(ctx):
    c = ctx.ws()
    c.send_frame(OP_BINARY, b"\x00\xff\xfe", rsv=RSV1 | RSV3)
    expect_fail(c, 1002)


@case("3.6", "ping with RSV1+RSV2 -> close 1002, no pong")
def _c6(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"Hello, world!", rsv=RSV1 | RSV2)
    expect_fail(c, 1002)


@case("3.7", "close 1000 with RSV1+RSV2+RSV3 -> close 1002 (not an echoed 1000)")
def _c7(ctx):
    c = ctx.ws()
    c.send_frame(OP_CLOSE, close_payload(1000), rsv=RSV1 | RSV2 | RSV3)
    expect_fail(c, 1002)


@case("3.8", "text frame with RSV3 only -> close 1002")
def _c8(ctx):
    c = ctx.ws()
    c.send_frame(OP_TEXT, b"x", rsv=RSV3)
    expect_fail(c, 1002)
