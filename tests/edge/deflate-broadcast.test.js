'use strict';
// Broadcasts to permessage-deflate clients are compressed once per window size (--deflate):
// real clients (Node ws with several server_max_window_bits, socket.io-client's websocket
// transport, which offers permessage-deflate) receive a topic publish and a Socket.IO room
// emit intact, and /metrics counts one compression per window size, not one per recipient
// (--deflate-shared-broadcast off: one per recipient).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { io } = require('socket.io-client');
const { startServer, scrape, until, withTimeout } = require('../product/helpers.js');

const compressions = async (port) => (await scrape(port)).get('wsio_deflate_compressions_total');
const text = (n) => Array.from({ length: n }, (_, i) => `word${i % 97} `).join('').slice(0, n);

function wsOpen(port, bits) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/broadcast`, {
      perMessageDeflate: bits ? { serverMaxWindowBits: bits, threshold: 1 << 30 } : { threshold: 1 << 30 },
    });
    ws.msgs = [];
    ws.on('message', (d) => ws.msgs.push(d.toString()));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  }), 5000, 'a ws open');
}

for (const shared of [true, false]) {
  test(`Node ws clients of four window sizes get a topic publish; ${shared ? 'one compression per window' : 'one per recipient'}`, async () => {
    const srv = await startServer(['--deflate', ...(shared ? [] : ['--deflate-shared-broadcast', 'off'])]);
    try {
      const bits = [9, 10, 10, 12, 15, 15];
      const clients = [];
      for (const b of bits) clients.push(await wsOpen(srv.port, b));
      for (const c of clients) assert.match(c.extensions, /permessage-deflate/);
      const before = await compressions(srv.port);
      const msg = text(20000);
      clients[0].send(msg);
      await until(() => clients.every((c) => c.msgs.length === 1), 5000, 'every client got the publish');
      for (const c of clients) assert.equal(c.msgs[0], msg);
      assert.equal(await compressions(srv.port) - before, shared ? 4 : bits.length);
      for (const c of clients) c.close();
    } finally { await srv.stop(); }
  });
}

test('socket.io-client (websocket transport, permessage-deflate) gets a room emit compressed once for the room', async () => {
  const srv = await startServer(['--deflate']);
  try {
    const socks = [];
    for (let i = 0; i < 5; i++) {
      const s = io(`http://127.0.0.1:${srv.port}/`, { forceNew: true, reconnection: false, transports: ['websocket'] });
      await withTimeout(new Promise((r, j) => { s.on('connect', r); s.on('connect_error', j); }), 5000, 'connect');
      s.got = [];
      s.on('message', (m) => s.got.push(m));
      s.emit('join', 'room1');
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = await compressions(srv.port);
    const msg = text(30000);
    socks[0].emit('message', { room: 'room1', message: msg });
    await until(() => socks.every((s) => s.got.length === 1), 5000, 'every member got the emit');
    for (const s of socks) assert.equal(s.got[0], msg);
    // socket.io-client offers the default 15-bit window: one compression for all five
    assert.equal(await compressions(srv.port) - before, 1);
    for (const s of socks) s.close();
  } finally { await srv.stop(); }
});
