'use strict';
// tests/client/deflate.test.js — permessage-deflate (RFC 7692) in the WebSocket client
// role, through wsio-cat: the offer (Node ws's), messages over the threshold compressed
// (RSV1 in the -v trace) and the server's compressed messages inflated, against
// wsio-server --deflate and Node `ws` with several perMessageDeflate parameter sets; the
// strict check of the server's answer and the frames of a malicious server (RSV1 without
// negotiation, RSV1 on a continuation, bad DEFLATE data, a bomb past max_message_size):
// a clear error and exit 3, never a crash. Every server listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { WebSocketServer } = require('ws');
const { startServer } = require('../interop/server.js');
const { pythonEcho } = require('./python_echo.js');
const { runCat, handshakeThen } = require('./helpers.js'); // runCat: 15 s; endWhenOut: stdin ends once stdout is that

// Lines that compress well but differ (context takeover has something to reuse).
const big = (i) => `${i}:` + 'the quick brown fox jumps over the lazy dog '.repeat(60);
const lines = ['small', big(1), big(2), 'tiny', big(3)];
const input = lines.join('\n') + '\n';

const traced = (stderr, dir) => stderr.split('\n').filter((l) => l.startsWith(`* frame ${dir}: opcode=1`));

test('wsio-server --deflate: offered, agreed, big messages compressed both ways', async () => {
  const srv = await startServer(['--deflate']);
  try {
    const url = `ws://127.0.0.1:${srv.port}/echo`;
    let r = await runCat(['-v', '--no-reconnect', url], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, input);
    assert.match(r.stderr, /^> Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits$/m);
    assert.match(r.stderr, /^< Sec-WebSocket-Extensions: permessage-deflate/m);
    const out = traced(r.stderr, 'out'), inn = traced(r.stderr, 'in');
    assert.equal(out.length, 5);
    assert.equal(inn.length, 5);
    // Over the 1 KiB threshold: RSV1 and far fewer bytes; under it: as is.
    for (const [i, l] of lines.entries()) {
      const want = l.length >= 1024 ? /rsv=4 len=(\d+)/ : new RegExp(`rsv=0 len=${l.length} `);
      assert.match(out[i], want, out[i]);
      assert.match(inn[i], want, inn[i]);
      if (l.length >= 1024) assert.ok(Number(/len=(\d+)/.exec(out[i])[1]) < l.length / 4, out[i]);
    }
    // --no-deflate: no offer, nothing compressed.
    r = await runCat(['-v', '--no-reconnect', '--no-deflate', url], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, input);
    assert.doesNotMatch(r.stderr, /Sec-WebSocket-Extensions/);
    assert.doesNotMatch(r.stderr, /rsv=4/);
  } finally {
    await srv.stop();
  }
});

// Our compressor follows the server's client_no_context_takeover: without it, the
// second similar message refers back to the first and is much smaller.
test('wsio-server --deflate: client context takeover as the server says', async () => {
  const outLens = (stderr) => traced(stderr, 'out').filter((l) => /rsv=4/.test(l)).map((l) => Number(/len=(\d+)/.exec(l)[1]));
  for (const [flags, takeover] of [[[], false], [['--deflate-client-context-takeover', 'on'], true]]) {
    const srv = await startServer(['--deflate', ...flags]);
    try {
      const r = await runCat(['-v', '--no-reconnect', `ws://127.0.0.1:${srv.port}/echo`], { input });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, input);
      assert.equal(/^< Sec-WebSocket-Extensions: .*client_no_context_takeover/m.test(r.stderr), !takeover, r.stderr);
      const [first, second] = outLens(r.stderr);
      if (takeover) assert.ok(second < first * 0.6, `${first} -> ${second}`);
      else assert.ok(second > first * 0.8, `${first} -> ${second}`);
    } finally {
      await srv.stop();
    }
  }
});

test('wsio-server without --deflate: the offer is declined, plain frames', async () => {
  const srv = await startServer();
  try {
    const r = await runCat(['-v', '--no-reconnect', `ws://127.0.0.1:${srv.port}/echo`], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, input);
    assert.doesNotMatch(r.stderr, /^< Sec-WebSocket-Extensions/m);
    assert.doesNotMatch(r.stderr, /rsv=4/);
  } finally {
    await srv.stop();
  }
});

test('Node ws perMessageDeflate parameter sets', async (t) => {
  const sets = [
    { name: 'defaults', pmd: { threshold: 0 }, resp: /^< Sec-WebSocket-Extensions: permessage-deflate$/m },
    { name: 'no context takeover both ways', pmd: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
      resp: /server_no_context_takeover.*client_no_context_takeover|client_no_context_takeover.*server_no_context_takeover/ },
    { name: 'small windows (server 9, client 10)', pmd: { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
      resp: /server_max_window_bits=9.*client_max_window_bits=10|client_max_window_bits=10.*server_max_window_bits=9/ },
    { name: 'client window 8', pmd: { threshold: 0, clientMaxWindowBits: 8 }, resp: /client_max_window_bits=8/ },
  ];
  for (const set of sets) {
    await t.test(set.name, async () => {
      const wss = await new Promise((resolve) => {
        const s = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: set.pmd });
        s.on('listening', () => resolve(s));
      });
      const got = [];
      const params = [];
      wss.on('connection', (ws) => {
        params.push(ws._extensions?.['permessage-deflate']?.params);
        ws.on('message', (m, bin) => { got.push(m.toString()); ws.send(m, { binary: bin }); });
      });
      try {
        const r = await runCat(['-v', '--no-reconnect', `ws://127.0.0.1:${wss.address().port}/`], { input });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(got, lines); // Node inflated what we compressed
        assert.equal(r.stdout, input); // and we inflated what Node compressed
        assert.match(r.stderr, set.resp);
        assert.ok(params[0], 'negotiated on the server side');
        const out = traced(r.stderr, 'out');
        for (const [i, l] of lines.entries()) assert.match(out[i], l.length >= 1024 ? /rsv=4/ : /rsv=0/, out[i]);
        // threshold 0 on the server: every message of Node's is compressed.
        for (const l of traced(r.stderr, 'in')) assert.match(l, /rsv=4/, l);
      } finally {
        await new Promise((r) => wss.close(r));
      }
    });
  }
});

const extLine = (v) => `Sec-WebSocket-Extensions: ${v}\r\n`;

test('a bad permessage-deflate answer fails the connection (RFC 7692 5, 7.1) → exit 3', async () => {
  const cases = [
    [extLine('permessage-deflate; client_max_window_bits'), /client_max_window_bits but no value/],
    [extLine('permessage-deflate; server_max_window_bits=7'), /invalid parameter/],
    [extLine('permessage-deflate; client_max_window_bits=16'), /invalid parameter/],
    [extLine('permessage-deflate; foo'), /invalid parameter/],
    [extLine('permessage-deflate; server_no_context_takeover; server_no_context_takeover'), /repeated/],
    [extLine('permessage-deflate; server_no_context_takeover=1'), /invalid parameter/],
    [extLine('permessage-deflate, permessage-deflate'), /more than one extension/],
    [extLine('permessage-deflate') + extLine('permessage-deflate'), /more than one Sec-WebSocket-Extensions/],
    [extLine('x-webkit-deflate-frame'), /extension that was not offered/],
    [extLine('permessage-deflate;'), /malformed/],
  ];
  for (const [ext, re] of cases) {
    const srv = await handshakeThen(() => {}, { extra: ext });
    try {
      const r = await runCat(['--no-reconnect', `ws://127.0.0.1:${srv.address().port}/`]);
      assert.equal(r.code, 3, `${ext}: ${r.stderr}`);
      assert.match(r.stderr, re, ext);
    } finally {
      srv.close();
    }
  }
  // Accepted: every valid parameter, with quoted values and odd spacing.
  const ok = await handshakeThen((sock) => {
    sock.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
  }, { extra: extLine('permessage-deflate ;server_max_window_bits="10"; client_max_window_bits=9 ; '
    + 'client_no_context_takeover;server_no_context_takeover') });
  try {
    const r = await runCat(['--no-reconnect', `ws://127.0.0.1:${ok.address().port}/`], { input: '' });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    ok.close();
  }
});

// Compressed payload of a message, as RFC 7692 7.2.1 (the trailing 00 00 ff ff removed).
const deflate = (buf) => {
  const z = zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
};
function frame(b0, payload) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([b0, n])
    : n < 65536 ? Buffer.from([b0, 126, n >> 8, n & 255])
      : Buffer.concat([Buffer.from([b0, 127, 0, 0, 0, 0]), Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])]);
  return Buffer.concat([head, payload]);
}

test('malicious server frames: a clear error and exit 3, never a crash', async () => {
  const pmd = extLine('permessage-deflate');
  const bomb = deflate(Buffer.alloc(4 << 20)); // 4 MiB of zeros in a few KiB: past the 1 MiB default
  assert.ok(bomb.length < 8192);
  const cases = [
    ['RSV1 when not negotiated', '', frame(0xc1, Buffer.from('hi')), /RSV bit/],
    ['RSV1 with --no-deflate', '', frame(0xc1, deflate(Buffer.from('hi'))), /RSV bit/, ['--no-deflate']],
    ['RSV1 on a continuation', pmd, Buffer.concat([frame(0x41, deflate(Buffer.from('ab'))), frame(0xc0, Buffer.from('x'))]), /RSV bit/],
    ['RSV1 on a ping', pmd, frame(0xc9, Buffer.alloc(0)), /RSV bit|control frame/],
    ['bad DEFLATE data', pmd, frame(0xc1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])), /bad DEFLATE data/],
    ['a bomb past max_message_size', pmd, frame(0xc1, bomb), /inflates past max_message_size/],
  ];
  for (const [name, ext, bytes, re, args = []] of cases) {
    const srv = await handshakeThen(bytes, { extra: ext });
    try {
      const r = await runCat([...args, '--no-reconnect', `ws://127.0.0.1:${srv.address().port}/`], { input: '' });
      assert.equal(r.code, 3, `${name}: ${r.stderr}`);
      assert.match(r.stderr, re, name);
      assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/);
    } finally {
      srv.close();
    }
  }
});

test('a compressed message split over fragments is inflated whole', async () => {
  const msg = big(7);
  const z = deflate(Buffer.from(msg));
  const a = z.subarray(0, 10), b = z.subarray(10, 20), c = z.subarray(20);
  // (stdin is empty: wsio-cat closes as soon as it is open, and must still read what
  // came with the 101.)
  const srv = await handshakeThen(Buffer.concat([frame(0x41, a), frame(0x00, b),
    frame(0x89, Buffer.from('p')), frame(0x80, c), frame(0x88, Buffer.from([0x03, 0xe8]))]), { extra: extLine('permessage-deflate') });
  try {
    const r = await runCat(['--no-reconnect', `ws://127.0.0.1:${srv.address().port}/`], { input: '' });
    assert.equal(r.stdout, msg + '\n', r.stderr);
  } finally {
    srv.close();
  }
});


test('Python websockets: its deflate parameters (window bits 12 both ways)', async (t) => {
  let py;
  try { py = await pythonEcho(); } catch (e) { return t.skip(`python3-websockets: ${e.message}`); }
  try {
    // (stdin ends once the echoes are back: Python's server answers a close at once
    // and drops what its handler had not sent yet)
    const r = await runCat(['-v', '--no-reconnect', `ws://127.0.0.1:${py.port}/`], { input, endWhenOut: input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, input);
    assert.match(r.stderr, /^< Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12$/m);
    const out = traced(r.stderr, 'out');
    for (const [i, l] of lines.entries()) assert.match(out[i], l.length >= 1024 ? /rsv=4/ : /rsv=0/, out[i]);
    assert.ok(traced(r.stderr, 'in').some((l) => /rsv=4/.test(l)), r.stderr);
  } finally {
    py.stop();
  }
});
