"""pmd.py - the client side of permessage-deflate (RFC 7692) for groups 12 and 13.

Owns: offering the extension, parsing the server's Sec-WebSocket-Extensions answer,
compressing what a case sends (with the client parameters the server agreed to) and
inflating what it receives (with the server's announced window, so a server that
reaches further back than it announced fails here: zlib reports a bad distance).
Must not contain cases.
"""
import zlib

from harness import CaseFailure, next_event
from wsproto import OP_CONT, RSV1, OP_NAMES, build_frame

TAIL = b"\x00\x00\xff\xff"


def parse_response(value):
    """{'name': 'permessage-deflate', param: value-or-True} from a response value."""
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"') if v else True
    return parts[0].lower(), params


class Deflate:
    """The client's codec for one connection, from the server's agreed parameters."""

    def __init__(self, params):
        self.params = params
        self.server_bits = int(params.get("server_max_window_bits", 15))
        cb = params.get("client_max_window_bits", 15)
        self.client_bits = 15 if cb is True else int(cb)
        self.client_reset = "client_no_context_takeover" in params
        self.server_reset = "server_no_context_takeover" in params
        self._comp = None
        self._decomp = None

    def compress(self, data, reset=False):
        """One message's compressed payload (RFC 7692 7.2.1)."""
        if self._comp is None or self.client_reset or reset:
            self._comp = zlib.compressobj(6, zlib.DEFLATED, -max(self.client_bits, 9))
        out = self._comp.compress(data) + self._comp.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]

    def inflate(self, payload):
        if self._decomp is None or self.server_reset:
            self._decomp = zlib.decompressobj(-self.server_bits)
        try:
            return self._decomp.decompress(payload + TAIL)
        except zlib.error as e:
            raise CaseFailure("a valid DEFLATE stream within a %d-bit window" % self.server_bits,
                              "zlib: %s" % e)


def open_deflate(ctx, offer="permessage-deflate", path="/echo", extra=(), expect=True):
    """A client that offered `offer` (a string, or a list: one header line each). Returns
    (client, Deflate or None). expect: whether the server must accept."""
    lines = [offer] if isinstance(offer, str) else list(offer)
    hdrs = [("Sec-WebSocket-Extensions", v) for v in lines] + list(extra)
    c = ctx.ws(path, extra=hdrs)
    got = c.response.header_all("Sec-WebSocket-Extensions") if c.response else []
    if not expect:
        if got:
            raise CaseFailure("no Sec-WebSocket-Extensions in the 101", repr(got))
        return c, None
    if len(got) != 1:
        raise CaseFailure("one Sec-WebSocket-Extensions line in the 101", repr(got))
    name, params = parse_response(got[0])
    if name != "permessage-deflate":
        raise CaseFailure("permessage-deflate accepted", got[0])
    c.allowed_rsv = RSV1
    return c, Deflate(params)


def send_compressed(c, z, opcode, data, frag=0, chop=None):
    """Sends data as one compressed message, in frames of frag bytes (0: one frame)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    payload = z.compress(data)
    if not frag or len(payload) <= frag:
        c.send_raw(build_frame(opcode, payload, rsv=RSV1), chop=chop)
        return
    pieces = [payload[i:i + frag] for i in range(0, len(payload), frag)]
    out = b""
    for i, p in enumerate(pieces):
        out += build_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1,
                           rsv=RSV1 if i == 0 else 0)
    c.send_raw(out, chop=chop)


def expect_zmessage(c, z, opcode, payload, compressed=None, timeout=None):
    """The next event is a data message of opcode whose (inflated) payload is payload.
    compressed: True/False requires RSV1 set/clear; None accepts either."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    what = "%s message of %d bytes" % (OP_NAMES[opcode], len(payload))
    ev = next_event(c, what, timeout)
    if ev.opcode != opcode:
        raise CaseFailure(what, ev.describe())
    is_z = bool(ev.rsv & RSV1)
    if compressed is not None and is_z != compressed:
        raise CaseFailure("%s, %s" % (what, "compressed (RSV1)" if compressed else "uncompressed"),
                          "RSV1 %s" % ("set" if is_z else "clear"))
    data = z.inflate(ev.payload) if is_z else ev.payload
    if data != payload:
        raise CaseFailure(what, "%d bytes after inflating, differing" % len(data))
    return ev
