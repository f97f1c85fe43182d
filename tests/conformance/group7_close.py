"""group7_close.py - Autobahn group 7: the closing handshake (RFC 6455 5.5.1, 7.1.5,
7.4). A client close is answered with a close echoing its code (an empty close with an
empty close), after which the server closes TCP itself; frames after a close are
ignored; close payloads must be empty or hold a valid sendable code (7.4.1/7.4.2) and a
UTF-8 reason of at most 123 bytes, otherwise the answer is close 1002."""
from harness import case, expect_close, expect_echo, expect_eof, expect_fail
from wsproto import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, build_frame,
                     close_payload)


@case("7.1.1", "echo, then close 1000 -> close 1000, then the server closes TCP")
def _c1(ctx):
    c = ctx.ws()
    c.send_frame(OP_TEXT, b"Hello World!")
    expect_echo(c, OP_TEXT, b"Hello World!")
    c.send_close(1000)
    expect_close(c, 1000)
    expect_eof(c, "the close handshake", timeout=1.0)


@case("7.1.2", "close sent twice -> one close back, the second is ignored")
def _c2(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_CLOSE, close_payload(1000)) * 2)
    expect_close(c, 1000)
    expect_eof(c, "one close")


@case("7.1.3", "close, then ping -> close back, no pong")
def _c3(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PING, b"ping"))
    expect_close(c, 1000)
    expect_eof(c, "close, with no pong")


@case("7.1.4", "close, then text -> close back, no echo")
def _c4(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"after"))
    expect_close(c, 1000)
    expect_eof(c, "close, with no echo")


@case("7.1.5", "fragment, close, continuation -> close back, no echo")
def _c5(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) +
               build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_CONT, b"fragment2"))
    expect_close(c, 1000)
    expect_eof(c, "close, with no echo")


@case("7.1.6", "256 KiB text, close, ping in one write -> echo, close, no pong")
def _c6(ctx):
    c = ctx.ws()
    big = b"BAsd7&jh23" * 26214 + b"1234"
    c.send_raw(build_frame(OP_TEXT, big) + build_frame(OP_CLOSE, close_payload(1000)) +
               build_frame(OP_PING, b"ping"))
    expect_echo(c, OP_TEXT, big)
    expect_close(c, 1000)
    expect_eof(c, "close, with no pong")


@case("7.3.1", "empty close -> empty close back, then TCP closed")
def _c31(ctx):
    c = ctx.ws()
    c.send_close(None)
    expect_close(c, None)
    expect_eof(c, "the close handshake", timeout=1.0)


@case("7.3.2", "close with a 1-byte payload -> close 1002")
def _c32(ctx):
    c = ctx.ws()
    c.send_frame(OP_CLOSE, b"\x03")
    expect_fail(c, 1002)


@case("7.3.3", "close 1000 without reason -> close 1000")
def _c33(ctx):
    c = ctx.ws()
    c.send_close(1000)
    expect_close(c, 1000)
    expect_eof(c, "close 1000")


@case("7.3.4", "close 1000 with reason 'Hello World!' -> close 1000")
def _c34(ctx):
    c = ctx.ws()
    c.send_close(1000, b"Hello World!")
    expect_close(c, 1000)
    expect_eof(c, "close 1000")


@case("7.3.5", "close 1000 with a 123-byte reason (125-byte payload) -> close 1000")
def _c35(ctx):
    c = ctx.ws()
    c.send_close(1000, b"*" * 123)
    expect_close(c, 1000)
    expect_eof(c, "close 1000")


@case("7.3.6", "close with a 124-byte reason (126-byte payload) -> close 1002")
def _c36(ctx):
    c = ctx.ws()
    c.send_close(1000, b"*" * 124)
    expect_fail(c, 1002)


@case("7.5.1", "close 1000 with a non-UTF-8 reason -> close 1002")
def _c51(ctx):
    c = ctx.ws()
    c.send_close(1000, bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"))
    expect_fail(c, 1002)


@case("7.5.2", "close 1000 with a truncated UTF-8 reason (ends in e2 82) -> close 1002")
def _c52(ctx):
    c = ctx.ws()
    c.send_close(1000, b"bye " + bytes.fromhex("e282"))
    expect_fail(c, 1002)


@case("7.5.3", "close 1000 with a multi-byte UTF-8 reason -> close 1000")
def _c53(ctx):
    c = ctx.ws()
    c.send_close(1000, "tschüß €".encode("utf-8"))
    expect_close(c, 1000)
    expect_eof(c, "close 1000")


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def _valid_code(code):
    def run(ctx):
        c = ctx.ws()
        c.send_close(code, b"reason")
        expect_close(c, code)
        expect_eof(c, "close %d" % code)
    return run


def _invalid_code(code):
    def run(ctx):
        c = ctx.ws()
        c.send_close(code)
        expect_fail(c, 1002)
    return run


for _i, _code in enumerate(VALID_CODES):
    case("7.7.%d" % (_i + 1), "close with valid code %d -> close %d echoed" % (_code, _code))(
        _valid_code(_code))
for _i, _code in enumerate(INVALID_CODES):
    case("7.9.%d" % (_i + 1), "close with code %d (may not be sent) -> close 1002" % _code)(
        _invalid_code(_code))


@case("7.10.1", "binary data after a close is ignored, and no frame follows our close")
def _c101(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_CLOSE, close_payload(1001)) + build_frame(OP_BINARY, b"\x00" * 200))
    expect_close(c, 1001)
    expect_eof(c, "close 1001")
