'use strict';
// --threads 2 for the raw WebSocket API and HTTP: connections land on both threads
// (the per-thread lines of /metrics say so), echo works on each, a /broadcast publish
// reaches the subscribers of every thread exactly once and in order, the metrics add
// the threads up, and SIGTERM drains both threads (every client gets 1001, exit 0).
// Run: node --test tests/threads/ (server binary from $WSIO_SERVER).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer, withTimeout } = require('../interop/server.js');
const { metrics, openWs, nextMessage } = require('./helpers.js');

describe('--threads 2: raw WebSocket', () => {
  let server;
  before(async () => { server = await startServer(['--threads', '2', '--static', 'off']); });
  after(async () => { if (server) await server.stopClean(); });

  test('connections land on both threads, and echo works on every one', async () => {
    const clients = [];
    for (let i = 0; i < 40; i++) clients.push(await openWs(server.url('/echo')));
    for (const [i, ws] of clients.entries()) {
      const got = nextMessage(ws);
      ws.send(`hello ${i}`);
      assert.equal((await got).toString(), `hello ${i}`);
    }
    const m = await metrics(server.port);
    assert.equal(m.get('wsio_threads'), 2);
    const t0 = m.get('wsio_thread_websockets{thread="0"}');
    const t1 = m.get('wsio_thread_websockets{thread="1"}');
    assert.ok(t0 > 0 && t1 > 0, `both threads hold WebSockets: ${t0} and ${t1}`);
    assert.equal(t0 + t1, 40);
    assert.equal(m.get('wsio_connections{transport="websocket"}'), 40, 'the open count is summed over threads');
    // Closed before the next test: a thread still counting closing connections takes
    // fewer new ones (core/threads.c "listening"), and the next needs both threads.
    await Promise.all(clients.map((ws) => new Promise((r) => { ws.once('close', r); ws.close(); })));
  });

  test('a publish reaches the subscribers of every thread once, in order', async () => {
    const subs = [];
    for (let i = 0; i < 30; i++) subs.push(await openWs(server.url('/broadcast')));
    const m = await metrics(server.port);
    assert.ok(m.get('wsio_thread_websockets{thread="0"}') > 0 && m.get('wsio_thread_websockets{thread="1"}') > 0,
      'subscribers on both threads');
    const N = 50;
    const received = subs.map((ws) => {
      const got = [];
      ws.on('message', (d) => got.push(d.toString()));
      return got;
    });
    // Publishers on several connections (so on both threads); each sends its own sequence.
    const pubs = subs.slice(0, 4);
    for (let k = 0; k < N; k++) for (const [p, ws] of pubs.entries()) ws.send(`${p}:${k}`);
    await withTimeout((async () => {
      while (received.some((g) => g.length < N * pubs.length)) await new Promise((r) => setTimeout(r, 20));
    })(), 10000, 'every subscriber gets every publish');
    await new Promise((r) => setTimeout(r, 100));
    for (const got of received) {
      assert.equal(got.length, N * pubs.length, 'each publish arrives once');
      for (let p = 0; p < pubs.length; p++) {
        const mine = got.filter((s) => s.startsWith(`${p}:`)).map((s) => Number(s.split(':')[1]));
        assert.deepEqual(mine, [...Array(N).keys()], `publisher ${p}'s messages in order`);
      }
    }
    const after = await metrics(server.port);
    assert.ok(after.get('wsio_messages_received_total') >= N * pubs.length, 'received counts summed');
    for (const ws of subs) ws.close();
  });

  test('HTTP is served by both threads (a fresh connection per request)', async () => {
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: false });
    for (let i = 0; i < 30; i++) {
      const body = await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, (res) => {
          let b = '';
          res.on('data', (d) => { b += d; });
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.equal(body, 'ok\n');
    }
  });
});

describe('--threads 2: SIGTERM drains every thread', () => {
  test('every client on both threads gets 1001, and the server exits 0', async () => {
    const server = await startServer(['--threads', '2', '--static', 'off']);
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await openWs(server.url('/echo')));
    const m = await metrics(server.port);
    assert.ok(m.get('wsio_thread_websockets{thread="0"}') > 0 && m.get('wsio_thread_websockets{thread="1"}') > 0);
    const codes = clients.map((ws) => new Promise((resolve) => ws.once('close', (code) => resolve(code))));
    server.signal('SIGTERM');
    const got = await withTimeout(Promise.all(codes), 5000, 'every client closed');
    assert.deepEqual(got, got.map(() => 1001));
    const { code } = await withTimeout(server.exited, 5000, 'the server exits');
    assert.equal(code, 0, server.output());
  });

  test('--threads auto starts one thread per core', async () => {
    const server = await startServer(['--threads', 'auto', '--static', 'off']);
    const m = await metrics(server.port);
    assert.equal(m.get('wsio_threads'), require('node:os').availableParallelism());
    await server.stopClean();
  });

  test('--threads 0 is refused with a clear message', async () => {
    await assert.rejects(startServer(['--threads', '0']), /--threads.*1-256 or auto/);
  });
});

void WebSocket;
