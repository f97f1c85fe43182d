'use strict';
// --threads 2: SIGTERM with long-polling clients on both threads (the --threads form of
// tests/reliability/sigterm-load.test.js). Socket.IO clients, half over long-polling
// (a new TCP connection per request, so their requests reach either thread and are
// handed to the session's), broadcast to their rooms with acks until SIGTERM. Every
// message whose ack came back must reach every member of its room, polling members
// included (each thread's drain holds for its polling sessions: core's app_drain_hold,
// while the other thread may have finished already), and the server exits 0 within
// --drain-timeout. The loss this guards against (a thread closing its clients while a
// peer's acknowledged broadcasts are still on their way) needs a race to show, so the
// scenario runs ROUNDS times with a fresh server.

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const h = require('../reliability/helpers');

const SIO = 60;
const GROUP = 6;
const DRAIN_S = 3;
const ROUNDS = Number(process.env.DRAIN_ROUNDS) || 3;

async function round(t, k) {
  const srv = await h.startServer(['--threads', '2', '--app', 'test', '--drain-timeout', String(DRAIN_S)]);
  let running = true;
  const clients = await h.pool(SIO, 20, (i) => new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${srv.port}`, { transports: [i % 2 ? 'polling' : 'websocket'], reconnection: false, forceNew: true });
    s.room = `r${Math.floor(i / GROUP)}`;
    s.transport = i % 2 ? 'polling' : 'websocket';
    s.key = `c${i}`;
    s.got = new Set();
    s.acked = [];
    s.on('m', (p) => s.got.add(`${p.s}:${p.n}`));
    s.on('disconnect', (reason, d) => { if (!s.gone) s.gone = { at: Date.now(), reason, d: d && (d.description && (d.description.message || d.description.code || d.description) || d.message) }; });
    s.on('connect', () => s.timeout(5000).emit('join', s.room, (err) => (err ? reject(err) : resolve(s))));
    s.on('connect_error', reject);
  }));
  for (const s of clients) s.tid = s.io.engine.id[0];
  const threads = new Set(clients.filter((s) => s.transport === 'polling').map((s) => s.io.engine.id[0]));
  assert.deepEqual([...threads].sort(), ['A', 'B'], 'polling sessions on both threads');
  const send = (s, n) => {
    if (!running || !s.connected) return;
    s.timeout(10000).emit('in-room', s.room, 'm', { s: s.key, n }, (err) => {
      if (err) return; // not acknowledged: owed nothing
      s.acked.push(n);
      send(s, n + 1);
    });
  };
  for (const s of clients) send(s, 0);
  await h.sleep(1500);
  const t0 = Date.now();
  srv.signal('SIGTERM');
  const exit = await srv.waitExit((DRAIN_S + 10) * 1000);
  const took = (exit.at - t0) / 1000;
  running = false;
  await h.until(() => clients.every((s) => !s.connected), 5000, 'every Socket.IO client disconnected');
  assert.equal(exit.code, 0, `exit status (stderr: ${srv.stderr().slice(-500)})`);
  assert.ok(took <= DRAIN_S + 2, `exited ${took.toFixed(2)} s after SIGTERM (--drain-timeout ${DRAIN_S})`);
  const early = clients.filter((c) => c.gone && c.gone.at < t0);
  assert.deepEqual(early.map((c) => `${c.key}: ${c.gone.reason}`), [], 'no client lost before SIGTERM');
  let acked = 0;
  const missing = [];
  for (const s of clients) {
    const members = clients.filter((r) => r.room === s.room);
    for (const n of s.acked) {
      acked++;
      for (const r of members) if (!r.got.has(`${s.key}:${n}`)) missing.push(`${r.key} (${r.transport}, thread ${r.tid}, ${r.gone ? r.gone.reason + ' +' + (r.gone.at - t0) : 'up'}) lacks ${s.key}:${n} (${s.transport}, thread ${s.tid})`);
    }
  }
  const why = {};
  for (const c of clients) { const w = `${c.transport}/${c.tid}: ${c.gone ? c.gone.reason + ' ' + (c.gone.d || '') : 'up'}`; why[w] = (why[w] || 0) + 1; }
  t.diagnostic(`round ${k}: ${JSON.stringify(why)}`);
  t.diagnostic(`round ${k}: exit ${exit.code} after ${took.toFixed(2)} s; ${acked} acknowledged messages, ${missing.length} deliveries missing`);
  assert.ok(acked > SIO, `acknowledged messages: ${acked}`);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged deliveries missing`);
  for (const s of clients) s.close();
}

test(`--threads 2: SIGTERM delivers acknowledged messages to polling clients of both threads`, { timeout: 120000 }, async (t) => {
  for (let k = 1; k <= ROUNDS; k++) await round(t, k);
});
