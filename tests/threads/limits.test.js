'use strict';
// --threads 2: the per-IP limits hold for the process, not per thread. One address's
// connections land on both threads (per-thread lines of /metrics say so) and still
// count against one --max-connections-per-ip; a burst of handshakes over both threads
// gets one --handshakes-per-second budget (one second's worth, not two).

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { withTimeout } = require('../interop/server.js');
const { metrics, startHashed } = require('./helpers.js');

/* Opens a WebSocket: { ok, ws } or { ok: false, status }. */
function open(url) {
  return withTimeout(new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ok: true, ws }));
    ws.once('unexpected-response', (req, res) => { res.resume(); req.destroy(); resolve({ ok: false, status: res.statusCode }); });
    ws.once('error', (e) => resolve({ ok: false, status: 0, error: e }));
  }), 5000, 'a handshake answered');
}

const closeAll = (list) => Promise.all(list.filter((x) => x.ok).map((x) => new Promise((r) => { x.ws.once('close', r); x.ws.close(); })));

describe('--threads 2: per-IP limits are process-wide', () => {
  test('--max-connections-per-ip counts the connections of both threads', async () => {
    const LIMIT = 6;
    const server = await startHashed(['--threads', '2', '--static', 'off', '--max-connections-per-ip', String(LIMIT)]);
    try {
      const got = [];
      for (let i = 0; i < 3 * LIMIT; i++) got.push(await open(server.url('/echo')));
      const ok = got.filter((x) => x.ok);
      const refused = got.filter((x) => !x.ok);
      const m = await metrics(server.port);
      assert.ok(m.get('wsio_thread_connections_total{thread="0"}') > 0 && m.get('wsio_thread_connections_total{thread="1"}') > 0,
        'connections reached both threads');
      assert.equal(ok.length, LIMIT, `${LIMIT} open at most from one address (got ${ok.length})`);
      for (const r of refused) assert.equal(r.status, 429);
      assert.equal(m.get('wsio_refusals_total{reason="connections_per_ip"}'), refused.length);
      // A closed connection frees its place, whichever thread it was on.
      await closeAll(ok.slice(0, 2));
      let again = [];
      await withTimeout((async () => {
        while (again.filter((x) => x.ok).length < 2) {
          again.push(await open(server.url('/echo')));
          await new Promise((r) => setTimeout(r, 20));
        }
      })(), 5000, 'two places freed');
      const extra = await open(server.url('/echo'));
      assert.equal(extra.ok, false, 'the limit holds again');
      await closeAll([...ok.slice(2), ...again, extra]);
    } finally { await server.stopClean(); }
  });

  test('--handshakes-per-second is one budget for both threads', async () => {
    const RATE = 5;
    const server = await startHashed(['--threads', '2', '--static', 'off', '--handshakes-per-second', String(RATE)]);
    try {
      const t0 = Date.now();
      const res = [];
      for (let i = 0; i < 4 * RATE; i++) res.push(await open(server.url('/echo')));
      const secs = (Date.now() - t0) / 1000;
      const ok = res.filter((x) => x.ok).length;
      const m = await metrics(server.port);
      assert.ok(m.get('wsio_thread_connections_total{thread="0"}') > 0 && m.get('wsio_thread_connections_total{thread="1"}') > 0,
        'handshakes reached both threads');
      // A burst of RATE, then RATE per second refilled while the loop ran (a loaded
      // machine makes it slower: more refill). Per-thread budgets would let 2 x RATE through.
      const allowed = RATE + Math.floor(secs * RATE);
      assert.ok(ok <= allowed, `${ok} handshakes passed in ${secs.toFixed(2)} s; ${allowed} at most`);
      assert.ok(ok >= RATE, `${ok} passed: the burst`);
      await closeAll(res);
    } finally { await server.stopClean(); }
  });
});
