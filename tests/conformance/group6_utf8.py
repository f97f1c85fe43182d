"""group6_utf8.py - Autobahn group 6: text messages must be valid UTF-8 (RFC 6455 5.6,
8.1; RFC 3629). Valid text (multi-byte, U+10FFFF, noncharacters, U+FEFF) is echoed
byte for byte, also when fragments split code points; invalid text (overlongs,
surrogates, 5- and 6-byte forms, > U+10FFFF, lone continuation bytes, truncated
sequences, 0xFE/0xFF) fails the connection with 1007. wsio validates incrementally:
the 6.4.x cases check that 1007 comes as soon as the first impossible byte arrives,
before the rest of the message (or even of the frame) has been sent.

The expected outcome of every sequence is derived from Python's strict UTF-8 decoder
and cross-checked against a second, independent validator (utf8_dead_at) at import."""

from harness import case, check, expect_echo, expect_fail, expect_silence
from wsproto import OP_CONT, OP_TEXT, build_frame

KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")  # "κόσμε"
HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode("utf-8")


def utf8_dead_at(data):
    """Index of the first byte after which no continuation could make data valid UTF-8
    (the byte where a fail-fast validator must stop), or None. RFC 3629 table 4."""
    need, lo, hi = 0, 0x80, 0xBF
    for i, b in enumerate(data):
        if need == 0:
            if b < 0x80:
                continue
            if 0xC2 <= b <= 0xDF:
                need, lo, hi = 1, 0x80, 0xBF
            elif b == 0xE0:
                need, lo, hi = 2, 0xA0, 0xBF
            elif b == 0xED:
                need, lo, hi = 2, 0x80, 0x9F
            elif 0xE1 <= b <= 0xEF:
                need, lo, hi = 2, 0x80, 0xBF
            elif b == 0xF0:
                need, lo, hi = 3, 0x90, 0xBF
            elif 0xF1 <= b <= 0xF3:
                need, lo, hi = 3, 0x80, 0xBF
            elif b == 0xF4:
                need, lo, hi = 3, 0x80, 0x8F
            else:
                return i
        else:
            if not lo <= b <= hi:
                return i
            need, lo, hi = need - 1, 0x80, 0xBF
    return len(data) if need else None  # truncated: dead only at the end


def is_valid(data):
    try:
        data.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def _noncharacters():
    out = []
    for plane in range(17):
        for last in (0xFFFE, 0xFFFF):
            out.append(chr(plane * 0x10000 + last).encode("utf-8"))
    return out


# (section, title, [sequences]) - the Autobahn 6.5-6.23 layout (Markus Kuhn's
# UTF-8 decoder stress test).
SECTIONS = [
    ("6.5", "valid text", [KOSME, HELLO, "€ ∑ 𝄞 日本語".encode("utf-8"),
                           b"\x00embedded NUL\x00", h("f48fbfbf")]),
    ("6.6", "prefixes of 'κόσμε'", [KOSME[:i] for i in range(1, len(KOSME) + 1)]),
    ("6.7", "first sequence of each length", [h("00"), h("c280"), h("e0a080"), h("f0908080")]),
    ("6.8", "first 5- and 6-byte sequences", [h("f888808080"), h("fc8480808080")]),
    ("6.9", "last sequence of each length", [h("7f"), h("dfbf"), h("efbfbf"), h("f48fbfbf")]),
    ("6.10", "beyond U+10FFFF", [h("f7bfbfbf"), h("fbbfbfbfbf"), h("fdbfbfbfbfbf")]),
    ("6.11", "other boundaries", [h("ed9fbf"), h("ee8080"), h("efbfbd"), h("f48fbfbf"),
                                  h("f4908080")]),
    ("6.12", "unexpected continuation bytes", [h("80"), h("bf"), h("80bf"), h("80bf80"),
                                               h("80bf80bf"), h("80bf80bf80"),
                                               h("80bf80bf80bf"), bytes(range(0x80, 0xC0))]),
    ("6.13", "lonely start bytes followed by a space",
     [b"".join(bytes([b, 0x20]) for b in rng) for rng in
      (range(0xC0, 0xE0), range(0xE0, 0xF0), range(0xF0, 0xF8), range(0xF8, 0xFC),
       range(0xFC, 0xFE))]),
    ("6.14", "last continuation byte missing",
     [h(s) for s in ("c0", "e080", "f08080", "f8808080", "fc80808080",
                     "df", "efbf", "f7bfbf", "fbbfbfbf", "fdbfbfbfbf")] +
     [h("e282"), h("f09f98")]),
    ("6.15", "concatenated incomplete sequences",
     [h("c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf")]),
    ("6.16", "impossible bytes", [h("fe"), h("ff"), h("fefeffff")]),
    ("6.17", "overlong '/'", [h("c0af"), h("e080af"), h("f08080af"), h("f8808080af"),
                              h("fc80808080af")]),
    ("6.18", "maximum overlongs", [h("c1bf"), h("e09fbf"), h("f08fbfbf"), h("f887bfbfbf"),
                                   h("fc83bfbfbfbf")]),
    ("6.19", "overlong NUL", [h("c080"), h("e08080"), h("f0808080"), h("f880808080"),
                              h("fc8080808080")]),
    ("6.20", "single UTF-16 surrogates", [h(s) for s in ("eda080", "edadbf", "edae80", "edafbf",
                                                          "edb080", "edbe80", "edbfbf")]),
    ("6.21", "paired UTF-16 surrogates",
     [h(a + b) for a in ("eda080", "edadbf", "edae80", "edafbf") for b in ("edb080", "edbfbf")]),
    ("6.22", "noncharacters (valid)", _noncharacters() +
     ["".join(chr(c) for c in range(0xFDD0, 0xFDF0)).encode("utf-8")]),
    ("6.23", "other valid specials", [h("efbbbf"), h("efbfbd"), h("efbfb9"),
                                      b"\xef\xbb\xbfBOM then text"]),
]

# Guard the test data itself: both validators must agree on every sequence, and the
# cases the RFC is explicit about must land where expected.
for _sec, _t, _seqs in SECTIONS:
    for _s in _seqs:
        assert is_valid(_s) == (utf8_dead_at(_s) is None), (_sec, _s)
assert is_valid(h("f48fbfbf")) and not is_valid(h("f4908080")) and not is_valid(h("eda080"))


def _single(seq):
    def run(ctx):
        c = ctx.ws()
        c.send_frame(OP_TEXT, seq)
        if is_valid(seq):
            expect_echo(c, OP_TEXT, seq)
        else:
            expect_fail(c, 1007)
    return run


for _sec, _title, _seqs in SECTIONS:
    for _i, _s in enumerate(_seqs):
        _outcome = "echoed" if is_valid(_s) else "close 1007"
        _shown = _s.hex() if len(_s) <= 12 else _s[:10].hex() + "... (%d bytes)" % len(_s)
        case("%s.%d" % (_sec, _i + 1), "%s: %s -> %s" % (_title, _shown, _outcome))(_single(_s))


# ---- 6.1-6.3: empty and fragmented text ----------------------------------------

def _frames(parts, opcode=OP_TEXT):
    return b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=(i == len(parts) - 1))
                    for i, p in enumerate(parts))


def _fragmented(parts, chop=None):
    def run(ctx):
        c = ctx.ws()
        msg = b"".join(parts)
        c.send_raw(_frames(parts), chop=chop)
        if is_valid(msg):
            expect_echo(c, OP_TEXT, msg)
        else:
            expect_fail(c, 1007)
    return run


case("6.1.1", "empty text message -> empty text echoed")(_fragmented([b""]))
case("6.1.2", "empty text in 3 empty fragments -> empty text echoed")(_fragmented([b"", b"", b""]))
case("6.1.3", "3 fragments: empty, 'middle frame payload', empty -> echoed")(
    _fragmented([b"", b"middle frame payload", b""]))
case("6.2.1", "valid multi-byte text in 1 frame -> echoed")(_fragmented([HELLO]))
case("6.2.2", "valid text in 2 fragments split at a code point boundary -> echoed")(
    _fragmented([HELLO[:12], HELLO[12:]]))
case("6.2.3", "valid text in 1-byte fragments (splits inside code points) -> echoed")(
    _fragmented([HELLO[i:i + 1] for i in range(len(HELLO))]))
case("6.2.4", "'κόσμε' in 1-byte fragments -> echoed")(
    _fragmented([KOSME[i:i + 1] for i in range(len(KOSME))]))
case("6.2.5", "U+10FFFF and U+20AC split across fragments mid-sequence -> echoed")(
    _fragmented([h("f48f"), h("bfbfe2"), h("82"), h("ac")]))
_BAD = KOSME + h("eda080") + b"edited"
case("6.3.1", "'κόσμε' + surrogate U+D800 + 'edited' in 1 frame -> close 1007")(_fragmented([_BAD]))
case("6.3.2", "same in 1-byte fragments -> close 1007")(
    _fragmented([_BAD[i:i + 1] for i in range(len(_BAD))]))


# ---- 6.4: fail fast ---------------------------------------------------------------

def _fail_fast_fragments(parts):
    """Sends fragment after fragment, and after the fragment that holds the first
    impossible byte expects 1007 without sending the rest."""
    msg = b"".join(parts)
    dead = utf8_dead_at(msg)
    assert dead is not None and dead < len(msg)

    def run(ctx):
        c = ctx.ws()
        sent = 0
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            c.send_raw(build_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=last))
            sent += len(p)
            if sent > dead:
                check(not last, "test data with fragments after the bad byte", "none")
                expect_fail(c, 1007, timeout=1.0)
                return
            # Before the bad byte nothing may come back yet.
            expect_silence(c, 0.1)
    return run


def _fail_fast_chops(payload, cut_points):
    """One text frame (FIN) whose bytes go out in pieces; after the piece holding the
    first impossible byte, 1007 must arrive before the rest of the frame is sent."""
    dead = utf8_dead_at(payload)
    assert dead is not None and dead < len(payload)

    def run(ctx):
        c = ctx.ws()
        frame = build_frame(OP_TEXT, payload)
        head = len(frame) - len(payload)
        bounds = [0] + [head + p for p in cut_points] + [len(frame)]
        for a, b in zip(bounds, bounds[1:]):
            c.send_raw(frame[a:b])
            if b - head > dead:
                check(b < len(frame), "test data with bytes after the bad one", "none")
                expect_fail(c, 1007, timeout=1.0)
                return
            expect_silence(c, 0.1)
    return run


# Autobahn 6.4.1: the 2nd of 3 fragments holds U+110000 (f4 90 80 80).
case("6.4.1", "3 fragments, 2nd holds f4 90 80 80 -> close 1007 before the 3rd is sent")(
    _fail_fast_fragments([KOSME, h("f4908080"), b"edited"]))
# 6.4.2: the 1st fragment ends in f4, the 2nd is the single byte 90 that kills it.
case("6.4.2", "fragment ends in f4, next fragment is 90 -> close 1007 before the rest")(
    _fail_fast_fragments([KOSME + h("f4"), h("90"), h("8080") + b"edited"]))
# 6.4.3/6.4.4: the same inside ONE frame, sent in 3 chops: fail-fast mid-frame.
case("6.4.3", "1 frame in 3 chops, 2nd chop holds f4 90 80 80 -> 1007 before the 3rd chop")(
    _fail_fast_chops(KOSME + h("f4908080") + b"edited", [len(KOSME), len(KOSME) + 4]))
case("6.4.4", "1 frame in 3 chops, 2nd chop is the byte 90 after f4 -> 1007 before the 3rd")(
    _fail_fast_chops(KOSME + h("f4908080") + b"edited", [len(KOSME) + 1, len(KOSME) + 2]))
case("6.4.5", "first fragment (no FIN) holds an overlong c0 af -> 1007 before any more is sent")(
    _fail_fast_fragments([b"abc" + h("c0af") + b"def", b"more", b"end"]))
case("6.4.6", "1-byte fragments of 'κόσμε' + surrogate: 1007 right after the a0 byte")(
    _fail_fast_fragments([_BAD[i:i + 1] for i in range(len(_BAD))]))
case("6.4.7", "surrogate ed a0 split across fragments -> 1007 before the rest is sent")(
    _fail_fast_fragments([b"ok " + h("ed"), h("a0") + b"tail", b"end"]))


@case("6.4.8", "truncated sequence at a fragment end is not an error until FIN: e2 82 | ac")
def _trunc_ok(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_TEXT, b"price " + h("e282"), fin=False))
    expect_silence(c, 0.2)  # incomplete, not invalid: no close yet
    c.send_raw(build_frame(OP_CONT, h("ac")))
    expect_echo(c, OP_TEXT, b"price " + h("e282ac"))


@case("6.4.9", "truncated sequence at the FIN fragment: e2 82 | FIN -> close 1007")
def _trunc_fin(ctx):
    c = ctx.ws()
    c.send_raw(build_frame(OP_TEXT, b"price ", fin=False) + build_frame(OP_CONT, h("e282")))
    expect_fail(c, 1007)


@case("6.4.10", "binary messages are not UTF-8 checked: ff fe c0 af echoed")
def _binary_any(ctx):
    from wsproto import OP_BINARY
    c = ctx.ws()
    c.send_frame(OP_BINARY, h("fffec0afeda080"))
    expect_echo(c, OP_BINARY, h("fffec0afeda080"))
