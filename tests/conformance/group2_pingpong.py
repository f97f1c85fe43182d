"""group2_pingpong.py - Autobahn group 2: every ping is answered by a pong carrying
the same payload (RFC 6455 5.5.2, 5.5.3); a ping over 125 bytes fails the connection
(5.5); unsolicited pongs are ignored (5.5.3)."""
from harness import case, expect_echo, expect_fail, expect_pong, expect_silence
from wsproto import OP_PING, OP_PONG, OP_TEXT, build_frame

BINARY = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"


@case("2.1", "ping without payload -> pong without payload")
def _c1(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"")
    expect_pong(c, b"")


@case("2.2", "ping with a small text payload -> pong with the same payload")
def _c2(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"Hello, world!")
    expect_pong(c, b"Hello, world!")


@case("2.3", "ping with a binary payload -> pong with the same payload")
def _c3(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, BINARY)
    expect_pong(c, BINARY)


@case("2.4", "ping with a 125-byte payload -> pong with the same payload")
def _c4(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"\xfe" * 125)
    expect_pong(c, b"\xfe" * 125)


@case("2.5", "ping with a 126-byte payload -> close 1002, no pong")
def _c5(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"\xfe" * 126)
    expect_fail(c, 1002)


@case("2.6", "ping with a 125-byte payload written in 1-byte chops -> pong")
def _c6(ctx):
    c = ctx.ws()
    c.send_frame(OP_PING, b"\xfe" * 125, chop=1)
    expect_pong(c, b"\xfe" * 125)


@case("2.7", "unsolicited pong without payload is ignored (no reply, no close)")
def _c7(ctx):
    c = ctx.ws()
    c.send_frame(OP_PONG, b"")
    expect_silence(c, 0.3)
    c.send_frame(OP_TEXT, b"still open")
    expect_echo(c, OP_TEXT, b"still open")


@case("2.8", "unsolicited pong with payload is ignored")
def _c8(ctx):
    c = ctx.ws()
    c.send_frame(OP_PONG, b"unsolicited pong payload")
    expect_silence(c, 0.3)
    c.send_frame(OP_TEXT, b"still open")
    expect_echo(c, OP_TEXT, b"still open")


@case("2.9", "unsolicited pong then ping -> exactly the pong for that ping")
def _c9(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_PONG, b"unsolicited pong payload") +
               build_frame(OP_PING, b"ping payload"))
    expect_pong(c, b"ping payload")
    expect_silence(c, 0.2)


def _ten_pings(chop):
    def run(ctx):
        c = ctx.ws()
        data = b"".join(build_frame(OP_PING, b"payload-%d" % i) for i in range(10))
        c.send_raw(data, chop=chop)
        # RFC 6455 5.5.3 lets an endpoint answer only the latest of several pings;
        # wsio answers every ping, in order.
        for i in range(10):
            expect_pong(c, b"payload-%d" % i)
        expect_silence(c, 0.2)
    return run


case("2.10", "10 pings in one write -> 10 pongs with the same payloads, in order")(_ten_pings(None))
case("2.11", "10 pings written in 1-byte chops -> 10 pongs, in order")(_ten_pings(1))
