'use strict';
// --threads 2: the /metrics figures summed over the threads count each event once. A
// Socket.IO broadcast is counted in wsio_broadcasts_total by the thread that emitted it
// only (every thread delivers it), and JWT refusals on both threads all reach
// wsio_refusals_total{reason="jwt"} (one counter shared by the threads, atomic).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer, withTimeout } = require('../interop/server.js');
const { metrics, connect, call, startHashed } = require('./helpers.js');

describe('--threads 2: metrics', () => {
  let server;
  const clients = [];
  before(async () => {
    server = await startServer(['--threads', '2', '--app', 'test', '--static', 'off']);
    for (let i = 0; i < 20; i++) clients.push(await connect(server.port));
  });
  after(async () => {
    for (const s of clients) s.close();
    if (server) await server.stopClean();
  });

  test('a Socket.IO broadcast counts once in wsio_broadcasts_total, whichever thread delivers it', async () => {
    const byThread = (t) => clients.filter((s) => s.io.engine.id[0] === t);
    assert.ok(byThread('A').length > 0 && byThread('B').length > 0, 'clients on both threads');
    await Promise.all(clients.map((s) => call(s, 'join', 'counted')));
    const got = clients.map(() => 0);
    clients.forEach((s, i) => s.on('tick', () => { got[i]++; }));
    const m0 = await metrics(server.port);
    const K = 6;
    // Emitted on both threads in turn: every broadcast is delivered on both.
    for (let k = 0; k < K; k++) await call((k % 2 ? byThread('B') : byThread('A'))[0], 'in-room', 'counted', 'tick', k);
    await withTimeout((async () => {
      while (got.some((n) => n < K)) await new Promise((r) => setTimeout(r, 20));
    })(), 10000, 'every client gets every broadcast');
    const m1 = await metrics(server.port);
    const d = (name) => m1.get(name) - m0.get(name);
    assert.equal(d('wsio_broadcasts_total'), K, 'each broadcast counted once over the threads');
    assert.equal(d('wsio_broadcast_deliveries_total'), K * clients.length, 'every delivery counted');
  });

  test('a broadcast with acks counts once too', async () => {
    const m0 = await metrics(server.port);
    const res = await call(clients[0], 'ask-room', 'nobody-here', 1000, 'x');
    assert.equal(res.timeout, false);
    const m1 = await metrics(server.port);
    assert.equal(m1.get('wsio_broadcasts_total') - m0.get('wsio_broadcasts_total'), 1);
  });
});

describe('--threads 2: JWT refusals', () => {
  let server;
  before(async () => {
    server = await startHashed(['--threads', '2', '--static', 'off', '--jwt-secret', 'threads-test-secret-of-at-least-32-bytes!']);
  });
  after(async () => { if (server) await server.stopClean(); });

  test('refusals on both threads are all counted', async () => {
    const N = 40;
    for (let i = 0; i < N; i++) {
      const status = await withTimeout(new Promise((resolve, reject) => {
        const ws = new WebSocket(server.url('/echo'));
        ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); res.resume(); req.destroy(); });
        ws.once('open', () => { ws.close(); resolve(101); });
        ws.once('error', reject);
      }), 5000, 'the handshake\'s answer');
      assert.equal(status, 401);
    }
    const m = await metrics(server.port);
    assert.ok(m.get('wsio_thread_connections_total{thread="0"}') > 0 && m.get('wsio_thread_connections_total{thread="1"}') > 0,
      'connections reached both threads');
    assert.equal(m.get('wsio_refusals_total{reason="jwt"}'), N);
  });
});
