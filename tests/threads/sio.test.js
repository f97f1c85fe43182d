'use strict';
// --threads 2 for Socket.IO: 1,000 clients in one room, spread over both threads, get
// every broadcast once; a long-polling session whose requests arrive on both threads
// (a new TCP connection per request) works; fetchSockets, allRooms, serverCount,
// serverSideEmit, socketsJoin, disconnectSockets and broadcasts with acks span the
// threads; SIGTERM drains every thread. Uses the test app (tests/sio/TEST_APP.md).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { io } = require('socket.io-client');
const { startServer, withTimeout } = require('../interop/server.js');
const { metrics, poll, connect, call, startHashed } = require('./helpers.js');

describe('--threads 2: Socket.IO', () => {
  let server;
  const clients = [];
  before(async () => { server = await startServer(['--threads', '2', '--app', 'test', '--static', 'off']); });
  after(async () => {
    for (const s of clients) s.close();
    if (server) await server.stopClean();
  });

  test('1,000 clients in one room over both threads get every broadcast once', async () => {
    const N = 1000;
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => connect(server.port)));
      clients.push(...batch);
    }
    await Promise.all(clients.map((s) => call(s, 'join', 'big')));
    const m = await metrics(server.port);
    const t0 = m.get('wsio_thread_websockets{thread="0"}');
    const t1 = m.get('wsio_thread_websockets{thread="1"}');
    assert.ok(t0 > 100 && t1 > 100, `clients on both threads: ${t0} and ${t1}`);
    const K = 5;
    const got = clients.map(() => []);
    clients.forEach((s, i) => s.on('hello', (k) => got[i].push(k)));
    // From a client of each thread in turn: broadcasts start on both threads.
    for (let k = 0; k < K; k++) await call(clients[k], 'in-room', 'big', 'hello', k);
    await withTimeout((async () => {
      while (got.some((g) => g.length < K)) await new Promise((r) => setTimeout(r, 20));
    })(), 20000, 'every client gets every broadcast');
    await new Promise((r) => setTimeout(r, 200));
    for (const g of got) assert.deepEqual([...g].sort(), [...Array(K).keys()], 'each broadcast once');
  });

  test('fetchSockets, allRooms, serverCount and socketsJoin reach every thread', async () => {
    const ids = await call(clients[0], 'fetch', 'big');
    assert.equal(ids.length, clients.length, 'fetchSockets sees the sockets of both threads');
    assert.deepEqual(ids, clients.map((s) => s.id).sort());
    const rooms = await call(clients[1], 'all-rooms');
    assert.equal(rooms.timeout, false);
    assert.ok(rooms.rooms.includes('big'));
    assert.equal(rooms.rooms.filter((r) => r === 'big').length, 1, 'each room once');
    assert.equal(rooms.rooms.length, clients.length + 1, 'every socket id room, and big');
    assert.equal(await call(clients[2], 'server-count'), 2);
    await call(clients[3], 'sockets-join', 'big', 'bigger');
    const inBigger = await call(clients[4], 'fetch', 'bigger');
    assert.equal(inBigger.length, clients.length, 'socketsJoin joined the sockets of both threads');
  });

  test('a broadcast with acks collects the answers of both threads', async () => {
    const few = clients.slice(0, 20);
    for (const s of few) s.on('question', (x, ack) => ack(`${s.id}:${x}`));
    await Promise.all(few.map((s) => call(s, 'join', 'quiz')));
    const res = await call(clients[0], 'ask-room', 'quiz', 5000, 'q');
    assert.equal(res.timeout, false);
    assert.deepEqual(res.responses, few.map((s) => `${s.id}:q`).sort());
  });

  test('a broadcast with acks brings back the answers\' binaries from both threads', async () => {
    // Two clients of each thread (the sid's first letter names it), each answering with
    // two attachments (a packet holds 10 at most): the asker's thread renumbers the
    // placeholders of the answers that crossed and gets their attachments.
    const pool = clients.slice(100, 900); // (not the quiz answerers, not the kicked ones)
    const pick = (t) => pool.filter((s) => s.io.engine.id[0] === t).slice(0, 2);
    const few = [...pick('A'), ...pick('B')];
    assert.equal(few.length, 4, 'two clients on each thread');
    few.forEach((s, i) => s.on('question', (q, cb) => cb({ i, data: [Buffer.from([i, 1, q])], one: Buffer.from([i]) })));
    await Promise.all(few.map((s) => call(s, 'join', 'binquiz')));
    for (const asker of [few[0], few[2]]) { // from each thread
      const res = await call(asker, 'ask-room', 'binquiz', 5000, 9);
      assert.equal(res.timeout, false);
      const got = res.responses.map((r) => ({ i: r.i, data: r.data.map((b) => Buffer.from(b)), one: Buffer.from(r.one) }))
        .sort((x, y) => x.i - y.i);
      assert.deepEqual(got, few.map((s, i) => ({ i, data: [Buffer.from([i, 1, 9])], one: Buffer.from([i]) })));
    }
  });

  test('serverSideEmit reaches the other thread and its answer comes back', async () => {
    const got = [];
    for (const s of clients) s.on('server-event', (x) => got.push(x));
    const res = await call(clients[0], 'sse-ack', 'ping-nodes', 'hi');
    assert.deepEqual(res, { timeout: false, responses: ['wsio'] });
    await withTimeout((async () => {
      while (got.length === 0) await new Promise((r) => setTimeout(r, 20));
    })(), 5000, 'a server-event on the other thread');
    assert.ok(got.every((x) => x === 'hi'));
  });

  test('disconnectSockets closes the sockets of both threads', async () => {
    const few = clients.slice(-30);
    await Promise.all(few.map((s) => call(s, 'join', 'leaving')));
    const gone = few.map((s) => new Promise((r) => s.once('disconnect', r)));
    await call(clients[0], 'kick-room', 'leaving', false);
    await withTimeout(Promise.all(gone), 5000, 'every socket of the room disconnected');
  });
});

describe('--threads 2: long-polling without sticky sessions', () => {
  let server;
  before(async () => { server = await startHashed(['--threads', '2', '--app', 'test', '--static', 'off']); });
  after(async () => { if (server) await server.stopClean(); });

  test('every request of a session is served, whichever thread its connection reached', async () => {
    const hs = await poll(server.port, 'GET', '');
    assert.equal(hs.status, 200);
    const sid = JSON.parse(hs.body.slice(1)).sid;
    const q = `&sid=${encodeURIComponent(sid)}`;
    assert.equal((await poll(server.port, 'POST', q, '40')).body, 'ok');
    const conn = await poll(server.port, 'GET', q);
    assert.match(conn.body, /^40\{"sid":/);
    for (let i = 0; i < 20; i++) {
      const body = `421["echo","n${i}"]`; // with ack id 1: the answer is 431[...]
      const p = await poll(server.port, 'POST', q, body);
      assert.equal(p.status, 200, p.body);
      // Answer the heartbeat's pings on the way (they come every second in the test app).
      let packets = [];
      while (!packets.includes(`431["n${i}"]`)) {
        const g = await poll(server.port, 'GET', q);
        assert.equal(g.status, 200, g.body);
        packets = g.body.split('\x1e');
        if (packets.includes('2')) assert.equal((await poll(server.port, 'POST', q, '3')).body, 'ok');
      }
    }
    const m = await metrics(server.port);
    assert.ok(m.get('wsio_thread_handoffs_total') > 0, 'some requests reached the other thread and were handed over');
  });

  test('socket.io-client over polling only, with a fresh connection per request', async () => {
    const agent = new http.Agent({ keepAlive: false });
    const s = await connect(server.port, { transports: ['polling'], agent });
    for (let i = 0; i < 10; i++) assert.equal(await call(s, 'echo', i), i);
    s.close();
  });
});

describe('--threads 2: connection state recovery', () => {
  let server;
  before(async () => { server = await startHashed(['--threads', '2', '--app', 'test', '--static', 'off']); });
  after(async () => { if (server) await server.stopClean(); });

  // The Engine.IO sid's first character names its thread (A: 0, B: 1).
  const threadOf = (s) => s.io.engine.id[0];

  test('a session lost on one thread is restored on the other, with the events missed', async () => {
    const a = io(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((r) => a.once('connect', r));
    const b = await connect(server.port);
    const id = a.id;
    await call(a, 'join', 'rec');
    await call(a, 'set-data', { n: 7 });
    const got = [];
    a.on('m', (k) => got.push(k));
    await call(b, 'in-room', 'rec', 'm', 0); // an offset to recover from ...
    await withTimeout((async () => { // ... once a has it (b's thread may not be a's)
      while (got.length === 0) await new Promise((r) => setTimeout(r, 10));
    })(), 5000, 'the first event');
    let crossed = 0;
    for (let round = 1; round <= 30 && crossed < 2; round++) {
      const before = threadOf(a);
      const gone = new Promise((r) => a.once('disconnect', r));
      a.io.engine.close();
      await gone;
      // The server notices the loss (the socket leaves its rooms) before the reconnect.
      await withTimeout((async () => {
        while ((await call(b, 'fetch', 'rec')).includes(id)) await new Promise((r) => setTimeout(r, 10));
      })(), 5000, 'the server noticed');
      await call(b, 'in-room', 'rec', 'm', round); // missed while away
      a.connect();
      await withTimeout(new Promise((r) => a.once('connect', r)), 5000, 'reconnect');
      assert.equal(a.recovered, true, `round ${round}: recovered`);
      assert.equal(a.id, id, 'the same socket id');
      if (threadOf(a) !== before) crossed++;
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(got[got.length - 1], round, 'the missed event was replayed');
    }
    assert.ok(crossed >= 1, 'some reconnect reached the other thread');
    assert.deepEqual(got, [...new Set(got)], 'nothing doubled');
    assert.equal(got[0], 0);
    const info = await call(a, 'info');
    assert.deepEqual(info.rooms, ['rec']);
    assert.deepEqual(info.data, { n: 7 });
    assert.equal(info.recovered, true);
    a.close();
    b.close();
  });
});

describe('--threads 2: SIGTERM', () => {
  test('drains the Socket.IO clients of every thread', async () => {
    const server = await startServer(['--threads', '2', '--app', 'test', '--static', 'off']);
    let cs = [];
    try {
      cs = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
      const m = await metrics(server.port);
      const t0 = m.get('wsio_thread_websockets{thread="0"}'), t1 = m.get('wsio_thread_websockets{thread="1"}');
      assert.ok(t0 > 0 && t1 > 0, `clients on both threads: ${t0} and ${t1}`);
      const gone = cs.map((s) => new Promise((r) => s.once('disconnect', r)));
      server.signal('SIGTERM');
      await withTimeout(Promise.all(gone), 5000, 'every client disconnected');
      const { code } = await withTimeout(server.exited, 6000, 'the server exits');
      assert.equal(code, 0, server.output());
    } finally { // (a failure must not leave the clients and the server holding the run)
      for (const s of cs) s.close();
      server.signal('SIGKILL');
    }
  });
});
