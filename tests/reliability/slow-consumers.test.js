'use strict';
// Slow consumers: 1,000 /broadcast clients stop reading while a broadcast flows to
// them and to 100 readers. Measured twice on the same server build: once without the
// slow clients (the baseline), once with them. Checks:
//  - the server's memory stays within the backpressure caps: RSS grows by at most
//    slow x 2 x (--max-backpressure + one message) plus a fixed allowance (the
//    message that crosses the cap is still queued; backlog buffers grow by doubling);
//  - every slow client is closed with 1008 (the documented code, --help): once the
//    server counted them all (wsio_backpressure_closes_total), they read what is
//    waiting for them and must find a close frame with code 1008 at its end;
//  - the readers get every message, in order, and their delivery latency stays within
//    2x of the baseline's (plus an absolute allowance: a 2-core machine shared with
//    other work cannot promise 2x of a ~2 ms median or a ~10 ms p99). Before
//    --kernel-send-limit (TCP_NOTSENT_LOWAT on WebSockets), each unread socket took
//    ~1.6 MB of kernel buffers (loopback autotuning up to tcp_wmem's max) before the
//    cap saw a byte: 1,000 of them put the host into TCP memory pressure and the
//    readers' median went from 2 ms to ~1 s. `--kernel-send-limit 0` brings that back
//    (and this test fails).

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const SLOW = Math.min(1000, h.fdLimit() - 600);
const READERS = 100;
const CAP = 64 * 1024;
// 4 KiB messages, not 16 KiB: the server's fill stall below turns the sender's messages
// into a burst, and a reader (however fast) absorbs only its kernel window, the unsent
// --kernel-send-limit and the cap before the rest of a burst is dropped for it (and it
// stays open with a gap when it drains by the next sweep: docs/configuration.md). At
// 16 KiB x 40/s that is ~400 ms, under the ~560 ms stall of this machine, and the CI run
// at a35ac35 saw every reader miss two messages ("34 after 31"); at 4 KiB it is ~1.6 s.
// The fault is the same (1,000 paused clients fill the same ~200 KB each); p99 76-104 ms
// in three runs here, against 210-390 ms at 16 KiB.
const MSG = 4 * 1024;
const RATE = 40;    // messages a second
const SECONDS = 4;
const P50_ALLOWANCE_MS = 25;
// p99 over the 160 messages x 100 readers rests on the slowest ~160 deliveries, one or
// two broadcasts: one stall moves it. On the Intel machine of the earlier sessions idle
// runs gave 18-29 ms and a CI run 138 ms; on the AMD EPYC machine of 2026-12-07 (a
// paravirtualised guest, ~1 us per system call) 210-390 ms, with the p50 at 2-5 ms
// (baseline p99 13-23 ms), all at 16 KiB. Where the stall comes from (ninth session: the server's
// utime+stime sampled every 5 ms beside each message's worst latency): the server runs
// at 100 % of its core for ~560 ms, 450 ms of it system time, while every paused client
// still takes ~200 KB: its kernel receive window, 64 KiB unsent in our kernel
// (--kernel-send-limit), then the backlog up to the cap and the message that crosses it;
// 16 KiB x 1,000 per broadcast, eleven times the readers' byte rate, so messages sent
// meanwhile queue behind it (worst latency 263 ms at message 18, then 25 ms less for
// each later one: one stall, not many). The test process itself also paused between
// sends for up to 180 ms early on, with the server idle (cause not looked into). Copying into the backlogs is the smaller part (utime ~1/3); the rest is
// TCP moving bytes that paused clients' kernels still accept, which any server pays.
// The failure this guards against moves the median to ~1 s, which the p50 bound
// catches on its own; the p99 bound stays to catch stalls of seconds.
const P99_ALLOWANCE_MS = 600;
let measured = null; // the first test's latencies, for the second

/* One run: READERS readers and `slow` slow clients on /broadcast; a sender sends
 * RATE x SECONDS messages of MSG bytes stamped with their send time. */
async function run(srv, slow) {
  const readers = await h.pool(READERS, 50, () => h.wsOpen(srv.port, '/broadcast'));
  const slowConns = await h.pool(slow, 100, async () => {
    const c = await h.rawWsOpen(srv.port, '/broadcast'); // paused: nothing reads it
    c.sock.on('error', () => {});
    return c;
  });
  const sender = await h.wsOpen(srv.port, '/broadcast');
  const lat = [];
  const wrong = [];
  for (const r of readers) {
    r.next = 0;
    r.on('message', (d) => {
      const n = d.readUInt32BE(0);
      if (n !== r.next) wrong.push(`${n} after ${r.next - 1}`);
      r.next = n + 1;
      lat.push(Date.now() - Number(d.readBigUInt64BE(4)));
    });
  }
  const rss0 = h.rssBytes(srv.proc.pid);
  const mem = h.sampler(() => h.rssBytes(srv.proc.pid), 50);
  const total = RATE * SECONDS;
  for (let n = 0; n < total; n++) {
    const b = Buffer.alloc(MSG);
    b.writeUInt32BE(n, 0);
    b.writeBigUInt64BE(BigInt(Date.now()), 4);
    sender.send(b);
    await h.sleep(1000 / RATE);
  }
  await h.until(() => readers.every((r) => r.next === total), 15000, 'every reader got every message', 50);
  const rssPeak = Math.max(rss0, ...mem.stop());
  for (const r of readers) r.close(1000);
  sender.close(1000);
  return { lat, wrong, rss0, rssPeak, slowConns };
}

test(`slow consumers: ${SLOW} clients stop reading during a broadcast`, { timeout: 90000 }, async (t) => {
  // A close frame is answered for 30 s: long enough for the slow clients to read theirs.
  const srv = await h.startServer(['--max-backpressure', String(CAP), '--close-timeout', '30', '--ping-interval', '0']);
  const base = await run(srv, 0);
  assert.deepEqual(base.wrong, [], 'baseline: in order');
  const m0 = await h.scrape(srv.port);
  const fault = await run(srv, SLOW);
  assert.deepEqual(fault.wrong, [], 'with slow clients: every message to every reader, in order');

  const m1 = await h.until(async () => {
    const m = await h.scrape(srv.port);
    return m.get('wsio_backpressure_closes_total') - m0.get('wsio_backpressure_closes_total') >= SLOW && m;
  }, 20000, 'every slow client closed for backpressure', 100);
  const closes = m1.get('wsio_backpressure_closes_total') - m0.get('wsio_backpressure_closes_total');
  assert.equal(closes, SLOW, 'only the slow clients were closed');

  // What each slow client finds when it finally reads: frames, then a close frame 1008.
  const codes = await h.pool(fault.slowConns.length, 100, (i) => h.withTimeout(new Promise((resolve) => {
    const { sock, rest } = fault.slowConns[i];
    let buf = rest;
    let done = false;
    const look = () => {
      const { frames, rest: r } = h.parseServerFrames(buf);
      buf = r;
      const close = frames.find((f) => f.opcode === 8);
      if (close && !done) { done = true; sock.destroy(); resolve(close.payload.readUInt16BE(0)); }
    };
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); look(); });
    sock.on('close', () => { if (!done) { done = true; resolve(null); } });
    sock.resume();
    look();
  }), 20000, `slow client ${i} reading its close frame`));
  const by = {};
  for (const c of codes) by[c] = (by[c] || 0) + 1;
  assert.deepEqual(by, { 1008: SLOW }, 'close codes the slow clients found');

  const growth = fault.rssPeak - fault.rss0;
  // Per slow client: the cap, plus the one message that crossed it (the check is made
  // before a send), in a backlog buffer that grows by doubling (up to twice its
  // content); plus a fixed allowance for the rest of the server.
  const bound = SLOW * 2 * (CAP + MSG) + 32 * 1024 * 1024;
  assert.ok(growth <= bound, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB, cap ${(bound / 2 ** 20).toFixed(1)} MiB`);

  const p50b = h.percentile(base.lat, 50);
  const p99b = h.percentile(base.lat, 99);
  const p50f = h.percentile(fault.lat, 50);
  const p99f = h.percentile(fault.lat, 99);
  t.diagnostic(`readers' latency without slow clients p50 ${p50b} ms p99 ${p99b} ms; with ${SLOW} slow: p50 ${p50f} ms p99 ${p99f} ms; ` +
    `server RSS ${(fault.rss0 / 2 ** 20).toFixed(1)} -> peak ${(fault.rssPeak / 2 ** 20).toFixed(1)} MiB (bound +${(bound / 2 ** 20).toFixed(0)} MiB); ` +
    `${closes} closed with 1008`);
  measured = { p50b, p99b, p50f, p99f };
  assert.equal((await srv.stop(10000)).code, 0);
});

test('slow consumers: the readers\' latency within 2x of the run without them', () => {
  assert.ok(measured, 'the measuring test ran');
  const { p50b, p99b, p50f, p99f } = measured;
  assert.ok(p50f <= 2 * p50b + P50_ALLOWANCE_MS, `median latency ${p50f} ms vs ${p50b} ms without slow clients`);
  assert.ok(p99f <= 2 * p99b + P99_ALLOWANCE_MS, `p99 latency ${p99f} ms vs ${p99b} ms without slow clients`);
});
