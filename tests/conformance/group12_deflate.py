"""group12_deflate.py - Autobahn group 12 (permessage-deflate with the default offer):
compressed messages of many sizes, text and binary, in one frame or fragmented, sent in
one write or octet by octet, echoed back compressed and inflating to the same bytes;
plus what group 12 leaves implicit: the threshold, RSV1 misuse (RFC 7692 6.1), bad
DEFLATE data, invalid UTF-8 after inflating and a decompression bomb (1009 at the
message size limit, the server still serving)."""
import os
import random
import zlib

from harness import case, expect_fail, CaseFailure
from pmd import Deflate, expect_zmessage, open_deflate, send_compressed
from wsproto import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RSV1, RSV2, build_frame

SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072]
FRAGS = [0, 256, 1024, 4096]


def _payload(size, seed, text):
    """Compressible but not trivial: words from a small vocabulary, or bytes with runs."""
    rnd = random.Random(seed)
    if text:
        words = ["wsio", "deflate", "héllo", "κόσμε", "message", "frame", "window", "😀"]
        out = []
        n = 0
        while n < size:
            w = rnd.choice(words) + " "
            out.append(w)
            n += len(w.encode("utf-8"))
        # cut at a character boundary at or below size
        s = "".join(out).encode("utf-8")[:size].decode("utf-8", "ignore").encode("utf-8")
        return s
    return bytes(rnd.choice(b"abcd\x00\xff") for _ in range(size // 2)) + os.urandom(size - size // 2)


def _echo_case(size, frag, text, chop):
    def run(ctx):
        c, z = open_deflate(ctx)
        op = OP_TEXT if text else OP_BINARY
        for i in range(4):  # several messages: the server's context carries over
            data = _payload(size, size * 31 + frag + i, text)
            send_compressed(c, z, op, data, frag=frag, chop=chop)
            expect_zmessage(c, z, op, data, compressed=True)
    return run


n = 0
for si, size in enumerate(SIZES):
    for fi, frag in enumerate(FRAGS):
        if frag and frag >= size:
            continue
        n += 1
        text = (si + fi) % 2 == 0
        chop = 1 if size <= 256 and fi == 0 else None
        case("12.1.%d" % n, "%s messages of %d bytes compressed%s%s, echoed compressed" %
             ("text" if text else "binary", size, ", in %d-byte frames" % frag if frag else "",
              ", octet by octet" if chop else ""), server="deflatebig")(_echo_case(size, frag, text, chop))


@case("12.2.1", "4 KiB binary message compressed, in 1-byte frames, echoed", server="deflatebig", timeout=60)
def _c2_1(ctx):
    c, z = open_deflate(ctx)
    data = _payload(4096, 7, False)
    payload = z.compress(data)
    frames = [build_frame(OP_BINARY if i == 0 else OP_CONT, payload[i:i + 1], fin=i == len(payload) - 1,
                          rsv=RSV1 if i == 0 else 0) for i in range(len(payload))]
    c.send_raw(b"".join(frames))
    expect_zmessage(c, z, OP_BINARY, data, compressed=True)


@case("12.2.2", "8 MiB of text compressed echoed (big limits)", server="deflatebig", timeout=60)
def _c2_2(ctx):
    c, z = open_deflate(ctx)
    data = ("0123456789abcdef" * 65536 * 8).encode()
    send_compressed(c, z, OP_TEXT, data, frag=65536)
    expect_zmessage(c, z, OP_TEXT, data, compressed=True, timeout=30)


@case("12.2.3", "empty compressed message (RSV1, no payload) echoed as empty", server="deflate1")
def _c2_3(ctx):
    c, z = open_deflate(ctx)
    c.send_raw(build_frame(OP_TEXT, b"", rsv=RSV1))
    expect_zmessage(c, z, OP_TEXT, b"")
    send_compressed(c, z, OP_TEXT, "x" * 2000)
    expect_zmessage(c, z, OP_TEXT, "x" * 2000, compressed=True)


@case("12.2.4", "uncompressed messages on a deflate connection are echoed as well", server="deflate1")
def _c2_4(ctx):
    c, z = open_deflate(ctx)
    c.send_frame(OP_TEXT, b"plain")
    expect_zmessage(c, z, OP_TEXT, b"plain")
    send_compressed(c, z, OP_BINARY, b"\x01" * 3000)
    expect_zmessage(c, z, OP_BINARY, b"\x01" * 3000)
    c.send_frame(OP_BINARY, b"\x02" * 3000)
    expect_zmessage(c, z, OP_BINARY, b"\x02" * 3000)


@case("12.2.5", "default threshold 1 KiB: 1023 bytes go out uncompressed, 1024 compressed", server="deflate")
def _c2_5(ctx):
    c, z = open_deflate(ctx)
    for n, zz in ((100, False), (1023, False), (1024, True), (5000, True)):
        send_compressed(c, z, OP_TEXT, "a" * n)
        expect_zmessage(c, z, OP_TEXT, "a" * n, compressed=zz)


@case("12.2.6", "a compressed ping between fragments of a compressed message is answered", server="deflate1")
def _c2_6(ctx):
    c, z = open_deflate(ctx)
    data = b"fragmented " * 300
    p = z.compress(data)
    c.send_raw(build_frame(OP_TEXT, p[:10], fin=False, rsv=RSV1) + build_frame(OP_PING, b"hi") +
               build_frame(OP_CONT, p[10:]))
    ev = c.recv_event()
    if ev.opcode != 0xA or ev.payload != b"hi":
        raise CaseFailure("pong 'hi' first", ev.describe())
    expect_zmessage(c, z, OP_TEXT, data)


# ---- misuse -------------------------------------------------------------------------

@case("12.3.1", "RSV1 on a ping (deflate negotiated) -> close 1002", server="deflate1")
def _c3_1(ctx):
    c, z = open_deflate(ctx)
    c.send_frame(OP_PING, b"x", rsv=RSV1)
    expect_fail(c, 1002)


@case("12.3.2", "RSV1 on a continuation frame -> close 1002", server="deflate1")
def _c3_2(ctx):
    c, z = open_deflate(ctx)
    p = z.compress(b"hello world " * 200)
    c.send_raw(build_frame(OP_TEXT, p[:5], fin=False, rsv=RSV1) + build_frame(OP_CONT, p[5:], rsv=RSV1))
    expect_fail(c, 1002)


@case("12.3.3", "RSV2 on a data frame (only RSV1 is deflate's) -> close 1002", server="deflate1")
def _c3_3(ctx):
    c, z = open_deflate(ctx)
    c.send_frame(OP_TEXT, b"x", rsv=RSV2)
    expect_fail(c, 1002)


@case("12.3.4", "RSV1 on a server with --deflate whose client did not offer it -> close 1002",
      server="deflate")
def _c3_4(ctx):
    c, z = open_deflate(ctx, offer="x-webkit-deflate-frame", expect=False)
    c.send_frame(OP_TEXT, zlib.compress(b"x")[2:-4], rsv=RSV1)
    expect_fail(c, 1002)


@case("12.3.5", "RSV1 without --deflate (the offer was refused) -> close 1002", server="default")
def _c3_5(ctx):
    c, z = open_deflate(ctx, expect=False)
    c.send_frame(OP_TEXT, b"x", rsv=RSV1)
    expect_fail(c, 1002)


@case("12.3.6", "compressed payload that is not DEFLATE -> close 1007", server="deflate1")
def _c3_6(ctx):
    c, z = open_deflate(ctx)
    c.send_frame(OP_BINARY, b"\xff\xff\xff\xff garbage", rsv=RSV1)
    expect_fail(c, 1007)


@case("12.3.7", "compressed text that inflates to invalid UTF-8 -> close 1007", server="deflate1")
def _c3_7(ctx):
    c, z = open_deflate(ctx)
    send_compressed(c, z, OP_TEXT, b"valid start \xce\xba then \xff\xfe invalid" * 50)
    expect_fail(c, 1007)


@case("12.3.8", "compressed text ending inside a UTF-8 sequence -> close 1007", server="deflate1")
def _c3_8(ctx):
    c, z = open_deflate(ctx)
    send_compressed(c, z, OP_TEXT, b"abc" * 500 + b"\xce")
    expect_fail(c, 1007)


@case("12.3.9", "decompression bomb: ~256 KiB inflating to 256 MiB -> close 1009, server serves on",
      server="deflate1", timeout=60)
def _c3_9(ctx):
    c, z = open_deflate(ctx)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * (1 << 20)
    out = [comp.compress(chunk) for _ in range(256)]
    out.append(comp.flush(zlib.Z_SYNC_FLUSH))
    payload = b"".join(out)[:-4]
    if len(payload) > 512 * 1024:
        raise CaseFailure("a small bomb", "%d bytes" % len(payload))
    c.send_raw(build_frame(OP_BINARY, payload, rsv=RSV1))
    expect_fail(c, 1009)
    c2, z2 = open_deflate(ctx)
    send_compressed(c2, z2, OP_TEXT, "still here " * 100)
    expect_zmessage(c2, z2, OP_TEXT, "still here " * 100, compressed=True)


@case("12.3.10", "compressed message inflating to just over --max-message-size (1 MiB) -> 1009",
      server="deflate1")
def _c3_10(ctx):
    c, z = open_deflate(ctx)
    send_compressed(c, z, OP_BINARY, b"z" * (1024 * 1024 + 1))
    expect_fail(c, 1009)


@case("12.3.11", "compressed message inflating to exactly --max-message-size is echoed",
      server="deflate1", timeout=30)
def _c3_11(ctx):
    c, z = open_deflate(ctx)
    data = b"z" * (1024 * 1024)
    send_compressed(c, z, OP_BINARY, data, frag=1000)
    expect_zmessage(c, z, OP_BINARY, data, compressed=True)
