#!/usr/bin/env python3
"""fuzz/make_server_seeds.py — writes fuzz/corpus/server/*, the hand-made seeds of
fuzz_server (its script format is described in fuzz/fuzz_server.c), after the
conformance suite (WebSocket upgrade and frames) and the Socket.IO suite (Engine.IO
polling handshake + POST, Socket.IO connect + events, upgrade from polling)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "server")


def write(conn, data):
    """Records writing data to conn (split into chunks of at most 256 bytes)."""
    out = b""
    for i in range(0, len(data), 256):
        chunk = data[i:i + 256]
        out += bytes([conn & 3, len(chunk) & 0xFF]) + chunk
    return out


def tick(ms):
    out = b""
    while ms > 0:
        n = min(255, (ms + 99) // 100)
        out += bytes([4 << 2, n])
        ms -= n * 100
    return out


def half_close(conn):
    return bytes([(5 << 2) | conn, 0])


def close(conn):
    return bytes([(6 << 2) | conn, 0])


def frame(op, payload, fin=True, mask=b"\x11\x22\x33\x44"):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + body


def upgrade(path, extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def post(path, body, ctype="text/plain;charset=UTF-8"):
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


EIO = "/socket.io/?EIO=4&transport="
seeds = {
    "ws_echo": write(0, upgrade("/echo")) + write(0, frame(1, b"hello"))
    + write(0, frame(1, b"frag", fin=False)) + write(0, frame(0, b"ment"))
    + write(0, frame(9, b"p")) + write(0, frame(2, bytes(300)))
    + write(0, frame(8, b"\x03\xe8bye")),
    "ws_deflate_broadcast": write(0, upgrade("/broadcast", "Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    + write(1, upgrade("/broadcast")) + write(0, frame(0x41, b"\xf2\x48\xcd\xc9\xc9\x07\x00"))
    + write(1, frame(1, b"to all")) + half_close(1) + tick(6000),
    "http_misc": write(0, get("/healthz")) + write(0, get("/nope"))
    + write(1, b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    + write(2, b"GET / HTTP/1.1\r\nHost: a\r\n") + tick(12000),
    "eio_polling": write(0, get(EIO + "polling"))
    + write(1, post(EIO + "polling&sid=@SID@", b"40"))
    + write(0, get(EIO + "polling&sid=@SID@"))
    + write(1, post(EIO + "polling&sid=@SID@", b'42["echo","hi"]\x1e42["info"]\x1e421["echo",1,{"a":[true,null]}]'))
    + write(0, get(EIO + "polling&sid=@SID@")) + tick(1500) + write(0, get(EIO + "polling&sid=@SID@"))
    + write(1, post(EIO + "polling&sid=@SID@", b"3")) + tick(5000),
    "sio_websocket": write(0, upgrade(EIO + "websocket")) + write(0, frame(1, b"40"))
    + write(0, frame(1, b'420["join","r1"]')) + write(1, upgrade(EIO + "websocket"))
    + write(1, frame(1, b"40/dyn-a,")) + write(1, frame(1, b'40{"token":"x"}'))
    + write(1, frame(1, b'421["join",["r1","r2"]]')) + write(0, frame(1, b'422["in-room","r1","ev",1]'))
    + write(0, frame(1, b'423["ask",100,"q"]')) + tick(300)
    + write(1, frame(1, b'451-["echo",{"_placeholder":true,"num":0}]')) + write(1, frame(2, b"\x01\x02"))
    + write(0, frame(1, b'424["fetch",null]')) + write(0, frame(1, b'42["kick-room","r2",true]'))
    + write(0, frame(1, b"2")) + tick(4000) + write(0, frame(1, b"41")),
    "eio_upgrade": write(0, get(EIO + "polling"))
    + write(1, upgrade(EIO + "websocket&sid=@SID@")) + write(1, frame(1, b"2probe"))
    + write(0, get(EIO + "polling&sid=@SID@")) + write(1, frame(1, b"5"))
    + write(1, frame(1, b'40{"pid":"x","offset":"y"}')) + close(1) + tick(3000),
    "sio_middleware": write(0, upgrade(EIO + "websocket")) + write(0, frame(1, b'40/private,{"token":"secret"}'))
    + write(0, frame(1, b'40/slow,{"slow":true}')) + tick(100) + write(0, frame(1, b'40/slow,{"never":true}'))
    + tick(700) + write(0, frame(1, b'40{"refuse":true}')) + write(0, frame(1, b"40/nope,"))
    + write(2, get(EIO + "polling&forbidden=1")),
    # Engine.IO paths without a query string at all (no "?"): the query parser had formed
    # NULL + 0 there (UBSan, found by this target), and without EIO=4 they get a 400.
    "eio_no_query": write(0, get("/socket.io/")) + write(1, upgrade("/socket.io/"))
    + write(2, post("/socket.io/", b"40")),
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
