"""group13_deflate_params.py - Autobahn group 13: permessage-deflate under each parameter
combination a client may offer (context takeover either way, window bits with and
without values), checked twice: the 101 answers what RFC 7692 7.1 allows, and messages
compressed with exactly the agreed client parameters are echoed compressed within the
announced server window (the client inflates with that window). Also: several offers in
one header and in several header lines, declined offers (unknown, duplicate or bad
parameters), the server's own client_no_context_takeover (and its switch), and a topic
broadcast reaching deflate and plain clients at once."""
import random

from harness import case, CaseFailure, expect_message
from pmd import expect_zmessage, open_deflate, send_compressed
from wsproto import OP_BINARY, OP_TEXT

SIZES = [64, 1024, 8192, 65536]


def _data(size, seed):
    rnd = random.Random(seed)
    words = [b"alpha ", b"beta ", b"gamma ", b"delta ", b"\x00\x01\x02 "]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words)
    return bytes(out[:size])


def _params_case(offer, want):
    """want: the parameters the response must have, {name: value or True}, exactly."""
    def run(ctx):
        c, z = open_deflate(ctx, offer)
        if z.params != want:
            raise CaseFailure("response parameters %r" % want, repr(z.params))
        for i, size in enumerate(SIZES * 2):
            data = _data(size, i)
            op = OP_BINARY if i % 2 else OP_TEXT
            if op == OP_TEXT:
                data = data.replace(b"\x00\x01\x02", b"xyz")
            send_compressed(c, z, op, data, frag=4096 if size > 8192 else 0)
            expect_zmessage(c, z, op, data, compressed=True)
    return run


CNCT = {"client_no_context_takeover": True}
OFFERS = [
    ("permessage-deflate", dict(CNCT)),
    ("permessage-deflate; client_no_context_takeover", dict(CNCT)),
    ("permessage-deflate; server_no_context_takeover", dict(CNCT, server_no_context_takeover=True)),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     dict(CNCT, server_no_context_takeover=True)),
    ("permessage-deflate; client_max_window_bits", dict(CNCT)),
    ("permessage-deflate; client_max_window_bits=9", dict(CNCT, client_max_window_bits="9")),
    ("permessage-deflate; client_max_window_bits=15", dict(CNCT, client_max_window_bits="15")),
    ("permessage-deflate; server_max_window_bits=9", dict(CNCT, server_max_window_bits="9")),
    ("permessage-deflate; server_max_window_bits=8", dict(CNCT, server_max_window_bits="8")),
    ("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
     dict(CNCT, server_max_window_bits="12", client_max_window_bits="10")),
    ("permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
     dict(CNCT, server_max_window_bits="10", server_no_context_takeover=True)),
    ('permessage-deflate; client_max_window_bits="11"; server_max_window_bits="13"',
     dict(CNCT, client_max_window_bits="11", server_max_window_bits="13")),
]
for i, (offer, want) in enumerate(OFFERS):
    case("13.1.%d" % (i + 1), "offer '%s' -> echoes within the agreed parameters" % offer, server="deflate1")(
        _params_case(offer, want))

# The same offers with clients allowed to keep their context (as Node's ws by default).
CTX_OFFERS = [
    ("permessage-deflate", {}),
    ("permessage-deflate; client_no_context_takeover", dict(CNCT)),
    ("permessage-deflate; server_no_context_takeover", dict(server_no_context_takeover=True)),
    ("permessage-deflate; client_max_window_bits", {}),
    ("permessage-deflate; client_max_window_bits=10; server_max_window_bits=11",
     dict(client_max_window_bits="10", server_max_window_bits="11")),
]
for i, (offer, want) in enumerate(CTX_OFFERS):
    case("13.2.%d" % (i + 1), "client context takeover allowed: offer '%s'" % offer, server="deflatectx")(
        _params_case(offer, want))


def _negotiate_case(offer, want):
    """offer: a header value or a list of lines; want: params dict, or None for no deflate."""
    def run(ctx):
        c, z = open_deflate(ctx, offer, expect=want is not None)
        if want is None:
            c.send_frame(OP_TEXT, b"plain")
            expect_message(c, OP_TEXT, b"plain")
            return
        if z.params != want:
            raise CaseFailure("response parameters %r" % want, repr(z.params))
        data = _data(3000, 1)
        send_compressed(c, z, OP_BINARY, data)
        expect_zmessage(c, z, OP_BINARY, data, compressed=True)
    return run


NEG = [
    ("two offers in one header, the first with an unknown parameter",
     "permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover",
     dict(CNCT, server_no_context_takeover=True)),
    ("two offers, the first acceptable wins",
     "permessage-deflate; server_max_window_bits=10, permessage-deflate", dict(CNCT, server_max_window_bits="10")),
    ("another extension first, then permessage-deflate",
     "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", dict(CNCT)),
    ("offers in several header lines (the first declined)",
     ["permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_no_context_takeover"],
     dict(CNCT, server_no_context_takeover=True)),
    ("other extension in the first line, deflate in the second",
     ["x-foo", "permessage-deflate"], dict(CNCT)),
    ("duplicate parameter -> declined", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     None),
    ("server_max_window_bits=7 -> declined", "permessage-deflate; server_max_window_bits=7", None),
    ("server_max_window_bits without a value -> declined", "permessage-deflate; server_max_window_bits", None),
    ("client_max_window_bits=16 -> declined", "permessage-deflate; client_max_window_bits=16", None),
    ("client_no_context_takeover with a value -> declined", "permessage-deflate; client_no_context_takeover=1",
     None),
    ("unknown parameter -> declined", "permessage-deflate; mystery", None),
    ("malformed element -> declined", "permessage-deflate;;", None),
    ("leading zero in window bits -> declined", "permessage-deflate; server_max_window_bits=010", None),
    ("only other extensions -> none", "x-webkit-deflate-frame", None),
    ("case-insensitive names", "Permessage-Deflate; Server_No_Context_Takeover",
     dict(CNCT, server_no_context_takeover=True)),
]
for i, (title, offer, want) in enumerate(NEG):
    case("13.3.%d" % (i + 1), title, server="deflate1")(_negotiate_case(offer, want))


@case("13.3.%d" % (len(NEG) + 1), "without --deflate every offer is refused", server="default")
def _no_deflate(ctx):
    _negotiate_case("permessage-deflate; client_max_window_bits", None)(ctx)


@case("13.4.1", "topic broadcast to deflate and plain clients at once: compressed once for deflate "
      "clients, uncompressed for the others", server="deflate1")
def _broadcast(ctx):
    a, za = open_deflate(ctx, path="/broadcast")
    b, zb = open_deflate(ctx, "permessage-deflate; server_no_context_takeover", path="/broadcast")
    p = ctx.ws("/broadcast")
    # a client whose announced server window is smaller than the shared compressor's
    s, zs = open_deflate(ctx, "permessage-deflate; server_max_window_bits=9", path="/broadcast")
    msgs = [_data(n, n) for n in (5000, 20, 70000, 5000)]
    # the sender also gets its own broadcasts
    for i, m in enumerate(msgs):
        send_compressed(a, za, OP_BINARY, m)
        for cl, z, want in ((a, za, True), (b, zb, True), (s, zs, None)):
            expect_zmessage(cl, z, OP_BINARY, m, compressed=want if len(m) > 1 else None)
        expect_message(p, OP_BINARY, m)
    # a direct echo on a broadcast recipient's own context still inflates right after
    for i in range(3):
        m = _data(4000, 100 + i)
        send_compressed(b, zb, OP_BINARY, m)
        for cl, z in ((a, za), (b, zb), (s, zs)):
            expect_zmessage(cl, z, OP_BINARY, m)
        expect_message(p, OP_BINARY, m)
