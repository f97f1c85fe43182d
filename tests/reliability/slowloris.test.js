'use strict';
// Slowloris: 2,000 connections that send their request head one byte per second are
// closed at --handshake-timeout (counted from the accept, not extended by each byte),
// while ordinary clients keep connecting and getting answers. The timeout is short
// (3 s) to keep the test fast; the sweep honours a deadline within 25% of the shortest
// timeout (src/core/app.c), and the machine may be loaded, so the upper bound is loose.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers');

const TIMEOUT_S = 3;
const N = Math.min(2000, h.fdLimit() - 500);
const HEAD = 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n';

test(`slowloris: ${N} one-byte-a-second connections closed at the handshake timeout, others served`, { timeout: 60000 }, async (t) => {
  const srv = await h.startServer(['--handshake-timeout', String(TIMEOUT_S)]);
  const before = await h.scrape(srv.port);
  const slow = await h.pool(N, 200, () => new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1');
    const st = { s, opened: 0, closed: 0, sent: 0, got: 0 };
    s.on('connect', () => { st.opened = Date.now(); s.write(HEAD[st.sent++]); resolve(st); });
    s.on('data', (d) => { st.got += d.length; });
    s.on('error', () => {});
    s.on('close', () => { st.closed = Date.now(); });
    setTimeout(() => reject(new Error('slow connection did not open')), 20000).unref();
  }));
  const drip = setInterval(() => {
    for (const st of slow) if (!st.closed && st.sent < HEAD.length) st.s.write(HEAD[st.sent++]);
  }, 1000);

  // Meanwhile: ordinary clients, one every 200 ms, each opens, gets an echo, closes.
  const served = [];
  let stopNormal = false;
  const normal = (async () => {
    while (!stopNormal) {
      const t0 = Date.now();
      const c = await h.wsOpen(srv.port, '/echo');
      c.send('ping');
      await h.until(() => c.messages.length === 1, 3000, 'an echo during the slowloris');
      assert.equal(c.messages[0].data.toString(), 'ping');
      c.close(1000);
      served.push(Date.now() - t0);
      await h.sleep(200);
    }
  })();

  try {
    await h.until(() => slow.every((st) => st.closed), (TIMEOUT_S + 20) * 1000, 'every slowloris connection closed', 100);
  } finally {
    clearInterval(drip);
    stopNormal = true;
    await normal;
  }
  const lifetimes = slow.map((st) => (st.closed - st.opened) / 1000);
  const early = lifetimes.filter((t) => t < TIMEOUT_S - 0.2);
  assert.equal(early.length, 0, `closed before the handshake timeout: ${early.slice(0, 5)}`);
  const maxLife = Math.max(...lifetimes);
  // 25% sweep granularity plus the time to open 2,000 connections on a loaded machine.
  assert.ok(maxLife < TIMEOUT_S * 1.25 + 8, `a slowloris connection lived ${maxLife} s`);
  assert.equal(slow.filter((st) => st.got > 0).length, 0, 'a timed-out handshake is closed without an answer');
  const after = await h.scrape(srv.port);
  assert.ok(after.get('wsio_handshake_timeouts_total') - before.get('wsio_handshake_timeouts_total') >= N,
    `handshake timeouts counted: ${after.get('wsio_handshake_timeouts_total')}`);
  assert.ok(served.length >= 5, `only ${served.length} ordinary clients served during the slowloris`);
  assert.ok(h.percentile(served, 50) < 1000, `ordinary clients took ${h.percentile(served, 50)} ms (median)`);
  t.diagnostic(`slowloris: ${N} closed after ${Math.min(...lifetimes).toFixed(2)}-${maxLife.toFixed(2)} s; ` +
    `${served.length} ordinary clients served meanwhile, median ${h.percentile(served, 50)} ms, max ${Math.max(...served)} ms`);
  const exit = await srv.stop();
  assert.equal(exit.code, 0);
});
