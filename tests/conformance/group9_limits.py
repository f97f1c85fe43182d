"""group9_limits.py - Autobahn group 9 (large messages) and wsio's message size limit.
With --max-message-size 16MiB, text and binary messages from 64 KiB to 16 MiB, whole,
fragmented (64 KiB and 1 MiB fragments) or written in small chops, are echoed intact;
1000 small messages pipelined in one write are echoed in order. With the default limit
(1 MiB) a message of exactly 1 MiB is echoed and one byte more fails the connection
with 1009 - also when the excess arrives in a later fragment, which must be caught
before the message's last fragment is sent."""
import random

from harness import case, expect_echo, expect_fail, expect_silence
from wsproto import OP_BINARY, OP_CONT, OP_TEXT, build_frame

KiB, MiB = 1024, 1024 * 1024
_rnd = random.Random(9)
_BIN = _rnd.randbytes(16 * MiB + 1)
_UNIT = b"The quick brown fox jumps over the lazy dog. \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80 "
_TXT = _UNIT * (16 * MiB // len(_UNIT) + 2)


def _data(opcode, n):
    if opcode == OP_BINARY:
        return _BIN[:n]
    d = _TXT[:n]
    # Cut at a code point boundary, then pad with ASCII to exactly n bytes.
    while True:
        try:
            d.decode("utf-8")
            break
        except UnicodeDecodeError:
            d = d[:-1]
    return d + b"x" * (n - len(d))


def _frames(opcode, data, frag):
    if frag is None:
        return build_frame(opcode, data)
    parts = [data[i:i + frag] for i in range(0, len(data), frag)] or [b""]
    return b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=(i == len(parts) - 1))
                    for i, p in enumerate(parts))


def _big(opcode, n, frag=None, chop=None):
    def run(ctx):
        c = ctx.ws(timeout=10.0)
        data = _data(opcode, n)
        c.send_raw(_frames(opcode, data, frag), chop=chop)
        expect_echo(c, opcode, data, timeout=15.0)
    return run


def _name(n):
    return "%d MiB" % (n // MiB) if n >= MiB else "%d KiB" % (n // KiB)


SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB]
for _g, _op, _kind in (("9.1", OP_TEXT, "text"), ("9.2", OP_BINARY, "binary")):
    for _i, _n in enumerate(SIZES):
        case("%s.%d" % (_g, _i + 1), "%s message of %s echoed intact" % (_kind, _name(_n)),
             server="big", timeout=40)(_big(_op, _n))

for _g, _op, _kind in (("9.3", OP_TEXT, "text"), ("9.4", OP_BINARY, "binary")):
    for _i, (_n, _f) in enumerate([(4 * MiB, 64 * KiB), (4 * MiB, 1 * MiB), (16 * MiB, 1 * MiB),
                                   (1 * MiB, 997)]):
        case("%s.%d" % (_g, _i + 1), "%s message of %s in %d-byte fragments echoed" % (
            _kind, _name(_n), _f), server="big", timeout=40)(_big(_op, _n, frag=_f))

case("9.5.1", "text message of 1 MiB written in 997-byte chops echoed", server="big",
     timeout=40)(_big(OP_TEXT, 1 * MiB, chop=997))
case("9.6.1", "binary message of 1 MiB written in 64-byte chops echoed", server="big",
     timeout=40)(_big(OP_BINARY, 1 * MiB, chop=64))


def _many(opcode, size, count=1000):
    def run(ctx):
        c = ctx.ws(timeout=10.0)
        msgs = [_data(opcode, size)[:size - 4] + b"%04d" % i if size >= 4 else b"%d" % (i % 10)
                for i in range(count)]
        c.send_raw(b"".join(build_frame(opcode, m) for m in msgs))
        for m in msgs:
            expect_echo(c, opcode, m, timeout=5.0)
    return run


case("9.7.1", "1000 text messages of 16 bytes pipelined -> 1000 echoes in order",
     server="big")(_many(OP_TEXT, 16))
case("9.8.1", "1000 binary messages of 4 KiB pipelined -> 1000 echoes in order",
     server="big")(_many(OP_BINARY, 4 * KiB))


# ---- the limit -----------------------------------------------------------------------

case("9.9.1", "text message of exactly 1 MiB (the default limit) echoed")(_big(OP_TEXT, MiB))
case("9.9.2", "binary message of exactly 1 MiB in 64 KiB fragments echoed")(
    _big(OP_BINARY, MiB, frag=64 * KiB))


def _too_big(opcode, n, frag=None):
    def run(ctx):
        c = ctx.ws(timeout=5.0)
        c.send_raw(_frames(opcode, _data(opcode, n), frag))  # may be cut short by the server
        expect_fail(c, 1009)
    return run


case("9.9.3", "text message of 1 MiB + 1 in one frame -> close 1009")(_too_big(OP_TEXT, MiB + 1))
case("9.9.4", "binary message of 1 MiB + 1 in one frame -> close 1009")(_too_big(OP_BINARY, MiB + 1))
case("9.9.5", "binary message of 1 MiB + 1 in 64 KiB fragments -> close 1009")(
    _too_big(OP_BINARY, MiB + 1, frag=64 * KiB))
case("9.9.6", "text message of 16 MiB + 1 with --max-message-size 16MiB -> close 1009",
     server="big", timeout=40)(_too_big(OP_TEXT, 16 * MiB + 1))


@case("9.9.7", "1 MiB fragment, then a 1-byte fragment (no FIN) -> 1009 before the message ends")
def _excess_later(ctx):
    c = ctx.ws(timeout=5.0)
    data = _data(OP_BINARY, MiB)
    c.send_raw(build_frame(OP_BINARY, data, fin=False))
    expect_silence(c, 0.3)  # at the limit, not over it
    c.send_raw(build_frame(OP_CONT, b"\x00", fin=False))
    expect_fail(c, 1009)


@case("9.9.8", "limit is per message: two messages of 1 MiB - 10 bytes each are both echoed")
def _per_message(ctx):
    c = ctx.ws(timeout=5.0)
    a = _data(OP_TEXT, MiB - 10)
    b = _data(OP_BINARY, MiB - 10)
    c.send_raw(_frames(OP_TEXT, a, 256 * KiB) + _frames(OP_BINARY, b, 256 * KiB))
    expect_echo(c, OP_TEXT, a, timeout=5.0)
    expect_echo(c, OP_BINARY, b, timeout=5.0)
