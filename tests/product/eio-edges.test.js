'use strict';
// Engine.IO request edges no other suite sends (issue 15's coverage of
// src/eio/server.c): --cors-origin true reflects the request's Origin (with Vary:
// Origin), an exact --cors-origin is sent as it is whatever the Origin, a polling
// request that also asks for a WebSocket upgrade is a bad request, and a method other
// than GET or POST on a live session is a bad request that leaves the session alive.

const test = require('node:test');
const assert = require('node:assert');
const { startServer, rawExchange } = require('./helpers');

const EIO = '/socket.io/?EIO=4&transport=polling';
const status = (raw) => Number((/^HTTP\/1\.1 (\d{3})/.exec(raw) || [])[1]);
const header = (raw, name) => {
  const m = new RegExp(`\\r\\n${name}:\\s*([^\\r]*)`, 'i').exec(raw.slice(0, raw.indexOf('\r\n\r\n') + 2));
  return m ? m[1] : null;
};
const req = (method, p, extra = '') => `${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;

test('--cors-origin true reflects the Origin; an exact one is sent as configured', async () => {
  for (const [cors, origin, want] of [['true', 'http://app.example', 'http://app.example'],
    ['https://only.example', 'http://other.example', 'https://only.example']]) {
    const srv = await startServer(['--cors-origin', cors]);
    try {
      const raw = await rawExchange(srv.port, req('GET', EIO, `Origin: ${origin}\r\n`));
      assert.strictEqual(status(raw), 200, raw.slice(0, 200));
      assert.strictEqual(header(raw, 'access-control-allow-origin'), want);
      assert.strictEqual(header(raw, 'vary'), 'Origin');
    } finally {
      await srv.stop();
    }
  }
});

test('polling with an Upgrade header, and an unknown method on a session: 400', async () => {
  const srv = await startServer();
  try {
    const up = await rawExchange(srv.port, req('GET', EIO,
      'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n').replace('Connection: close', 'Connection: Upgrade'));
    assert.strictEqual(status(up), 400, up.slice(0, 200));
    const open = await rawExchange(srv.port, req('GET', EIO));
    const sid = /"sid":"([^"]+)"/.exec(open)[1];
    const put = await rawExchange(srv.port, req('PUT', `${EIO}&sid=${sid}`, 'Content-Length: 0\r\n'));
    assert.strictEqual(status(put), 400, put.slice(0, 200));
    // The session is still there: its long-poll answers (a ping comes within the
    // heartbeat; a CONNECT posted first makes the answer immediate).
    const post = await rawExchange(srv.port, req('POST', `${EIO}&sid=${sid}`, 'Content-Type: text/plain\r\nContent-Length: 2\r\n') + '40');
    assert.strictEqual(status(post), 200, post.slice(0, 200));
    const poll = await rawExchange(srv.port, req('GET', `${EIO}&sid=${sid}`));
    assert.strictEqual(status(poll), 200);
    assert.match(poll, /40\{"sid":"/);
  } finally {
    await srv.stop();
  }
});

// eio/server.c reads transport, sid and EIO in one pass as spans into the request and
// decodes a value only when it holds '%' or '+' (the fast path of every polling
// request): escaped values must still mean what they decode to, the first occurrence
// of a key counts, and a value that decodes to something else is refused.
test('query parameters: escaped values decode, the first occurrence counts', async () => {
  const srv = await startServer();
  try {
    const escaped = await rawExchange(srv.port, req('GET', '/socket.io/?EIO=%34&transport=pollin%67'));
    assert.strictEqual(status(escaped), 200, escaped.slice(0, 200));
    const sid = /"sid":"([^"]+)"/.exec(escaped)[1];
    const esc = [...sid].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    const post = await rawExchange(srv.port, req('POST', `/socket.io/?EIO=4&transport=polling&sid=${esc}`,
      'Content-Type: text/plain\r\nContent-Length: 2\r\n') + '40');
    assert.strictEqual(status(post), 200, post.slice(0, 200));
    const poll = await rawExchange(srv.port, req('GET', `/socket.io/?EIO=4&sid=${sid}&transport=polling&sid=x`));
    assert.strictEqual(status(poll), 200, poll.slice(0, 200));
    assert.match(poll, /40\{"sid":"/);
    for (const [q, code] of [['EIO=4&transport=websocket&transport=polling', 3], // first wins: ws without upgrade
      ['EIO=4&transport=polling%00x', 0], ['EIO=4&transport=pol+ling', 0], ['EIO=4&transportx=polling', 0],
      ['EIO=%33&transport=polling', 5], ['EIO=44&transport=polling', 5],
      [`EIO=4&transport=polling&sid=${sid.slice(0, -1)}+`, 1]]) {
      const raw = await rawExchange(srv.port, req('GET', `/socket.io/?${q}`));
      assert.strictEqual(status(raw), 400, `${q}: ${raw.slice(0, 200)}`);
      assert.match(raw, new RegExp(`"code":${code}`), q);
    }
  } finally {
    await srv.stop();
  }
});
