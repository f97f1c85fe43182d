"""group4_opcodes.py - Autobahn group 4: reserved opcodes 0x3-0x7 (data) and 0xB-0xF
(control) fail the connection with 1002 (RFC 6455 5.2), with or without payload, and
also after valid traffic; nothing sent after the bad frame is answered."""
from harness import case, expect_echo, expect_fail
from wsproto import OP_PING, OP_TEXT, build_frame


def _reserved(opcode, payload, with_traffic):
    def run(ctx):
        c = ctx.ws()
        if with_traffic:
            c.send_raw(build_frame(OP_TEXT, b"Hello, world!") +
                       build_frame(opcode, payload) + build_frame(OP_PING, b"after"))
            expect_echo(c, OP_TEXT, b"Hello, world!")
        else:
            c.send_frame(opcode, payload)
        expect_fail(c, 1002)
    return run


for _group, _ops in (("4.1", [3, 4, 5, 6, 7]), ("4.2", [0xB, 0xC, 0xD, 0xE, 0xF])):
    for _i, _op in enumerate(_ops):
        _payload = b"" if _i == 0 else b"reserved opcode payload"
        _traffic = _i >= 2
        _title = "reserved opcode 0x%X%s%s -> close 1002" % (
            _op, " with payload" if _payload else " empty",
            ", between an echoed text and a ping (no pong)" if _traffic else "")
        case("%s.%d" % (_group, _i + 1), _title)(_reserved(_op, _payload, _traffic))
