"""group5_fragmentation.py - Autobahn group 5: fragmented messages (RFC 6455 5.4).
Fragments are reassembled and echoed as one message; control frames may sit between
fragments and are answered at once; control frames themselves must not be
fragmented; a continuation with nothing to continue, or a new data frame inside an
open fragmented message, fails the connection with 1002."""
import time

from harness import case, expect_echo, expect_fail, expect_pong
from wsproto import OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, build_frame


@case("5.1", "ping fragmented into 2 frames -> close 1002")
def _c1(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_PING, b"frag1", fin=False) + build_frame(OP_CONT, b"frag2"))
    expect_fail(c, 1002)


@case("5.2", "pong fragmented into 2 frames -> close 1002")
def _c2(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_PONG, b"frag1", fin=False) + build_frame(OP_CONT, b"frag2"))
    expect_fail(c, 1002)


def _two_fragments(opcode, mode):
    def run(ctx):
        c = ctx.ws()
        f1 = build_frame(opcode, b"fragment1", fin=False)
        f2 = build_frame(OP_CONT, b"fragment2")
        if mode == "one-write":
            c.send_raw(f1 + f2)
        elif mode == "octets":
            c.send_raw(f1 + f2, chop=1)
        else:  # frame-wise, with a pause: the server must keep the partial message
            c.send_raw(f1)
            time.sleep(0.1)
            c.send_raw(f2)
        expect_echo(c, opcode, b"fragment1fragment2")
    return run


case("5.3", "text in 2 fragments, one write -> echoed as one message")(_two_fragments(OP_TEXT, "one-write"))
case("5.4", "text in 2 fragments, sent frame by frame with a pause -> echoed")(_two_fragments(OP_TEXT, "frame-wise"))
case("5.5", "text in 2 fragments written in 1-byte chops -> echoed")(_two_fragments(OP_TEXT, "octets"))
case("5.3b", "binary in 2 fragments, one write -> echoed as one binary message")(_two_fragments(OP_BINARY, "one-write"))
case("5.5b", "binary in 2 fragments written in 1-byte chops -> echoed")(_two_fragments(OP_BINARY, "octets"))


def _ping_between(mode):
    def run(ctx):
        c = ctx.ws()
        f1 = build_frame(OP_TEXT, b"fragment1", fin=False)
        ping = build_frame(OP_PING, b"ping payload")
        f2 = build_frame(OP_CONT, b"fragment2")
        if mode == "frame-wise":
            # The pong must come while the message is still open.
            c.send_raw(f1 + ping)
            expect_pong(c, b"ping payload")
            c.send_raw(f2)
        else:
            c.send_raw(f1 + ping + f2, chop=1 if mode == "octets" else None)
            expect_pong(c, b"ping payload")
        expect_echo(c, OP_TEXT, b"fragment1fragment2")
    return run


case("5.6", "text in 2 fragments with a ping between, one write -> pong, then echo")(_ping_between("one-write"))
case("5.7", "same written in 1-byte chops -> pong, then echo")(_ping_between("octets"))
case("5.8", "same, pong arrives before the last fragment is sent")(_ping_between("frame-wise"))


def _bad_sequence(frames, chop=None, echoed=None):
    def run(ctx):
        c = ctx.ws()
        c.send_raw(b"".join(build_frame(*f[:2], fin=f[2]) for f in frames), chop=chop)
        if echoed is not None:
            expect_echo(c, OP_TEXT, echoed)
        expect_fail(c, 1002)
    return run


_CONT_FIN = [(OP_CONT, b"non-continuation payload", True), (OP_TEXT, b"Hello, world!", True)]
_CONT_NOFIN = [(OP_CONT, b"non-continuation payload", False), (OP_TEXT, b"Hello, world!", True)]
case("5.9", "continuation (FIN) with nothing to continue -> close 1002, no echo")(_bad_sequence(_CONT_FIN))
case("5.10", "same written in 1-byte chops -> close 1002")(_bad_sequence(_CONT_FIN, chop=1))
case("5.11", "same written in 3-byte chops -> close 1002")(_bad_sequence(_CONT_FIN, chop=3))
case("5.12", "continuation (no FIN) with nothing to continue -> close 1002")(_bad_sequence(_CONT_NOFIN))
case("5.13", "same written in 1-byte chops -> close 1002")(_bad_sequence(_CONT_NOFIN, chop=1))
case("5.14", "same written in 3-byte chops -> close 1002")(_bad_sequence(_CONT_NOFIN, chop=3))
case("5.15", "fragmented text echoed, then a stray continuation (no FIN) -> echo, close 1002")(
    _bad_sequence([(OP_TEXT, b"fragment1", False), (OP_CONT, b"fragment2", True),
                   (OP_CONT, b"fragment3", False), (OP_TEXT, b"fragment4", True)],
                  echoed=b"fragment1fragment2"))
case("5.16", "continuation (no FIN), text (no FIN), continuation (FIN) -> close 1002")(
    _bad_sequence([(OP_CONT, b"fragment1", False), (OP_TEXT, b"fragment2", False),
                   (OP_CONT, b"fragment3", True)] * 2))
case("5.17", "continuation (FIN), text (no FIN), continuation (FIN) -> close 1002")(
    _bad_sequence([(OP_CONT, b"fragment1", True), (OP_TEXT, b"fragment2", False),
                   (OP_CONT, b"fragment3", True)] * 2))
case("5.18", "new text frame inside an open fragmented text -> close 1002, no echo")(
    _bad_sequence([(OP_TEXT, b"fragment1", False), (OP_TEXT, b"fragment2", True)]))


@case("5.18b", "new binary frame inside an open fragmented text -> close 1002")
def _c18b(ctx):
    _bad_sequence([(OP_TEXT, b"fragment1", False), (OP_BINARY, b"fragment2", True)])(ctx)


def _five_with_pings(chop):
    def run(ctx):
        c = ctx.ws()
        parts = [b"fragment%d" % i for i in range(1, 6)]
        ops = [OP_TEXT] + [OP_CONT] * 4

        def frag(i):
            return build_frame(ops[i], parts[i], fin=(i == 4))
        c.send_raw(frag(0) + frag(1) + build_frame(OP_PING, b"pongme 1!"), chop=chop)
        expect_pong(c, b"pongme 1!")
        time.sleep(0.1)
        c.send_raw(frag(2) + frag(3) + build_frame(OP_PING, b"pongme 2!"), chop=chop)
        expect_pong(c, b"pongme 2!")
        time.sleep(0.1)
        c.send_raw(frag(4), chop=chop)
        expect_echo(c, OP_TEXT, b"".join(parts))
    return run


case("5.19", "text in 5 fragments with 2 pings between (pauses) -> pongs at once, then echo")(_five_with_pings(None))
case("5.20", "same written in 1-byte chops")(_five_with_pings(1))


@case("5.21", "text in 100 one-byte fragments -> echoed as one message")
def _c21(ctx):
    c = ctx.ws()
    msg = bytes(range(0x20, 0x7F)) + b"abcde"
    frames = [build_frame(OP_TEXT if i == 0 else OP_CONT, msg[i:i + 1], fin=(i == len(msg) - 1))
              for i in range(len(msg))]
    c.send_raw(b"".join(frames))
    expect_echo(c, OP_TEXT, msg)


@case("5.22", "binary fragments with empty first and last frames -> echoed")
def _c22(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_BINARY, b"", fin=False) + build_frame(OP_CONT, b"\x00mid\xff", fin=False)
               + build_frame(OP_CONT, b"", fin=True))
    expect_echo(c, OP_BINARY, b"\x00mid\xff")


@case("5.23", "two fragmented messages back to back -> two echoes, in order")
def _c23(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_TEXT, b"a1", fin=False) + build_frame(OP_CONT, b"a2") +
               build_frame(OP_BINARY, b"b1", fin=False) + build_frame(OP_CONT, b"b2"))
    expect_echo(c, OP_TEXT, b"a1a2")
    expect_echo(c, OP_BINARY, b"b1b2")
