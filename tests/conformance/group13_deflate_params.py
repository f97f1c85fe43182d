"""group13_deflate_params.py - Autobahn group 13: permessage-deflate under each parameter
combination a client may offer (context takeover either way, window bits with and
without values), checked twice: the 101 answers what RFC 7692 7.1 allows, and messages
compressed with exactly the agreed client parameters are echoed compressed within the
announced server window (the client inflates with that window). Also: several offers in
one header and in several header lines, declined offers (unknown, duplicate or bad
parameters), the server's own client_no_context_takeover (and its switch), and a topic
broadcast reaching deflate and plain clients at once."""
import random
import re

from harness import case, check, CaseFailure, expect_message, http_exchange, next_event
from pmd import expect_zmessage, open_deflate, send_compressed
from wsproto import OP_BINARY, OP_TEXT, RSV1

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
        for cl, z, want in ((a, za, True), (b, zb, True), (s, zs, True)):
            expect_zmessage(cl, z, OP_BINARY, m, compressed=want if len(m) > 1 else None)
        expect_message(p, OP_BINARY, m)
    # a direct echo on a broadcast recipient's own context still inflates right after
    for i in range(3):
        m = _data(4000, 100 + i)
        send_compressed(b, zb, OP_BINARY, m)
        for cl, z in ((a, za), (b, zb), (s, zs)):
            expect_zmessage(cl, z, OP_BINARY, m)
        expect_message(p, OP_BINARY, m)


def _metric(ctx, name):
    """The value of a counter in the server's /metrics."""
    c, resp = http_exchange(ctx, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    c.close()
    for line in resp.body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise CaseFailure("%s in /metrics" % name, "absent")


COMPRESSIONS = "wsio_deflate_compressions_total"
# Announced server windows of the recipients: 8 and 9 compress alike (zlib), so five
# window sizes make four groups.
WINDOWS = (8, 9, 10, 10, 12, 15, 15)


def _open_windows(ctx, path):
    out = []
    for bits in WINDOWS:
        offer = "permessage-deflate" if bits == 15 else "permessage-deflate; server_max_window_bits=%d" % bits
        out.append(open_deflate(ctx, offer, path=path))
    return out


def _topic_windows(shared):
    def run(ctx):
        clients = _open_windows(ctx, "/broadcast")
        p = ctx.ws("/broadcast")
        m = _data(40000, 7)
        before = _metric(ctx, COMPRESSIONS)
        p.send_frame(OP_BINARY, m)
        for c, z in clients:
            expect_zmessage(c, z, OP_BINARY, m, compressed=True)
        expect_message(p, OP_BINARY, m)
        got = _metric(ctx, COMPRESSIONS) - before
        want = 4 if shared else len(WINDOWS)
        if got != want:
            raise CaseFailure("%d compressions for one broadcast to %d deflate clients"
                              % (want, len(WINDOWS)), got)
    return run


case("13.4.2", "topic broadcast to clients of 8- to 15-bit windows: compressed once per window "
     "size, each inflates within its own window", server="deflate1")(_topic_windows(True))
case("13.4.3", "--deflate-shared-broadcast off: the same broadcast compressed once per recipient",
     server="deflatepc")(_topic_windows(False))


SIO = "/socket.io/?EIO=4&transport=websocket"


def _sio_open(ctx, offer):
    """A Socket.IO client on the websocket transport, connected to "/" and in room r."""
    c, z = open_deflate(ctx, offer, path=SIO)
    ev = next_event(c, "the Engine.IO open packet")
    data = z.inflate(ev.payload) if ev.rsv & RSV1 else ev.payload
    check(data.startswith(b"0{"), "the Engine.IO open packet", repr(data[:40]))
    c.send_text("40")
    ev = next_event(c, "the Socket.IO CONNECT answer")
    data = z.inflate(ev.payload) if ev.rsv & RSV1 else ev.payload
    check(data.startswith(b"40{"), "40{...}", repr(data[:40]))
    c.send_text('42["join","r"]')
    return c, z


def _sio_room(shared):
    def run(ctx):
        clients = []
        for bits in WINDOWS:
            clients.append(_sio_open(ctx, "permessage-deflate" if bits == 15 else
                                     "permessage-deflate; server_max_window_bits=%d" % bits))
            # the earlier members hear of the newcomer: drain those
            for c, z in clients[:-1]:
                ev = next_event(c, "user-joined")
                data = z.inflate(ev.payload) if ev.rsv & RSV1 else ev.payload
                check(data.startswith(b'42["user-joined"'), "user-joined", repr(data[:40]))
        plain = ctx.ws(SIO)
        next_event(plain, "the Engine.IO open packet")
        plain.send_text("40")
        next_event(plain, "40")
        plain.send_text('42["join","r"]')
        for c, z in clients:  # inflated too: the client's window must follow the server's
            ev = next_event(c, "user-joined")
            if ev.rsv & RSV1:
                z.inflate(ev.payload)
        text = _data(30000, 3).decode().replace("\x00\x01\x02", "xyz")[:29000]
        check(text.isprintable(), "printable text", "control characters")
        before = _metric(ctx, COMPRESSIONS)
        plain.send_text('42["message",{"room":"r","message":"%s"}]' % text)
        # the chat app keeps connection state recovery on: an offset ends the arguments
        want = re.compile(r'42\["message","%s"(,"[^"]+")?\]$' % text)
        for c, z in clients:
            ev = next_event(c, "the room's message")
            check(ev.rsv & RSV1, "the room's message compressed (RSV1)", "RSV1 clear")
            data = z.inflate(ev.payload).decode()
            check(want.match(data), "the room's message", repr(data[:40]))
        ev = next_event(plain, "the room's message")
        check(want.match(ev.payload.decode()), "the room's message, uncompressed", repr(ev.payload[:40]))
        got = _metric(ctx, COMPRESSIONS) - before
        want = 4 if shared else len(WINDOWS)
        if got != want:
            raise CaseFailure("%d compressions for one room emit to %d deflate clients"
                              % (want, len(WINDOWS)), got)
    return run


case("13.4.4", "Socket.IO room emit to websocket clients of 8- to 15-bit windows: compressed once "
     "per window size (none before: sent uncompressed)", server="deflate1")(_sio_room(True))
case("13.4.5", "--deflate-shared-broadcast off: the room emit compressed once per recipient",
     server="deflatepc")(_sio_room(False))
