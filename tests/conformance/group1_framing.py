"""group1_framing.py - Autobahn group 1: text and binary frames of every length
encoding (7-bit, 16-bit, 64-bit boundaries), whole and chopped into small writes, plus
the frame-header errors a server must reject (unmasked client frame, 64-bit length
with the most significant bit set)."""
import random

from harness import case, expect_echo, expect_fail
from wsproto import OP_BINARY, OP_TEXT, build_frame

SIZES = [0, 125, 126, 127, 128, 65535, 65536]


def _payload(opcode, n, seed):
    if opcode == OP_TEXT:
        return b"*" * n
    rnd = random.Random(seed)
    return rnd.randbytes(n)


def _echo_case(cid, opcode, n, chop=None):
    kind = "text" if opcode == OP_TEXT else "binary"
    how = "" if chop is None else ", written in %d-byte chops" % chop

    @case(cid, "%s message of %d bytes echoed%s" % (kind, n, how))
    def run(ctx):
        c = ctx.ws()
        data = _payload(opcode, n, n)
        c.send_frame(opcode, data, chop=chop)
        expect_echo(c, opcode, data)
    return run


for _i, _n in enumerate(SIZES):
    _echo_case("1.1.%d" % (_i + 1), OP_TEXT, _n)
    _echo_case("1.2.%d" % (_i + 1), OP_BINARY, _n)
_echo_case("1.1.8", OP_TEXT, 65536, chop=997)
_echo_case("1.2.8", OP_BINARY, 65536, chop=997)
# Every header byte arrives on its own: the parser must resume at each position of the
# 7-, 16- and 64-bit length forms and of the mask key.
_echo_case("1.1.9", OP_TEXT, 125, chop=1)
_echo_case("1.1.10", OP_TEXT, 126, chop=1)
_echo_case("1.2.9", OP_BINARY, 128, chop=1)
_echo_case("1.2.10", OP_BINARY, 65536, chop=1)


@case("1.3.1", "unmasked text frame from the client -> close 1002 (RFC 6455 5.1)")
def _unmasked(ctx):
    c = ctx.ws()
    c.send_frame(OP_TEXT, b"hello", mask=False)
    expect_fail(c, 1002)


@case("1.3.2", "unmasked empty binary frame -> close 1002")
def _unmasked_empty(ctx):
    c = ctx.ws()
    c.send_frame(OP_BINARY, b"", mask=False)
    expect_fail(c, 1002)


@case("1.3.3", "64-bit length with the most significant bit set -> close 1002 (RFC 6455 5.2)")
def _msb(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_BINARY, b"", length=(1 << 63) | 5, length_form=64) + b"hello")
    expect_fail(c, 1002)


@case("1.3.4", "two messages in one TCP write are both echoed, in order")
def _two_in_one(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_TEXT, b"first") + build_frame(OP_BINARY, b"\x00second"))
    expect_echo(c, OP_TEXT, b"first")
    expect_echo(c, OP_BINARY, b"\x00second")
