'use strict';
// Engine.IO heartbeats measured, --app conformance (pingInterval 300, pingTimeout 200):
// - every ping comes pingInterval after the previous pong (a few ms late at most), for
//   12 heartbeats in a row, over long-polling and over WebSocket;
// - a ping left unanswered ends the session pingTimeout after it reached the client
//   (not before, at most 20 ms after), and its sid is unknown from then on (Node frees
//   the session at the timeout: 400 {"code":1} even with no GET waiting at that moment);
// - a second WebSocket for a session that is upgraded or probing (or an upgrade asking
//   for transport=polling) is accepted and closed at once without a status (Node's
//   onWebSocket), while the first WebSocket keeps its heartbeats;
// - the same at pingInterval 50 / pingTimeout 50 while 1,000 idle sessions (a child
//   process, idle-clients.js) answer their own pings: none of them is closed.
// The measured errors (p50/p99/max, ms) are printed as test diagnostics.

const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { eachTarget } = require('./suite.js');
const { sleep, until, withTimeout, Polling, RawWs } = require('./helpers.js');

const ROUNDS = 12;
const EARLY_MS = 2; // clock granularity: ms timers on both sides
const LATE_CLOSE_MS = 20; // an unanswered ping ends the session within pingTimeout + 20 ms
const P50_LATE_MS = 5; // "within a few ms of pingInterval", as the median over the rounds
// Under the 1,000 idle sessions at 50/50 ms (20,000 pings a second for one JS thread,
// on the 2-core machine shared with the idle clients) Node's median polling period
// error (each pong a fresh POST) was up to 5.1 ms and its median timeout error up to
// 5.2 ms, and it closed an unanswered session up to 52.5 ms late. Only the reference
// gets these wider bounds; wsio is held to the unloaded ones there too.
const NODE_LOADED = { p50: 10, late: 100 };

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function summary(name, errors) {
  const f = (x) => x.toFixed(1);
  return `${name}: n=${errors.length} p50=${f(pct(errors, 50))} p99=${f(pct(errors, 99))} ` +
    `min=${f(Math.min(...errors))} max=${f(Math.max(...errors))} ms`;
}

/*
 * Every pong-to-ping period is pingInterval, a few ms late at most (the median), never
 * early; none later than slackMs plus what this process stalled while it waited (it
 * cannot see a ping before its own stall ends).
 */
function assertPeriods(r, interval, slackMs, what, { early = EARLY_MS, p50 = P50_LATE_MS } = {}) {
  const periods = r.periods;
  const errors = periods.map((p) => p - interval);
  for (const [i, e] of errors.entries()) {
    assert.ok(e >= -early && e <= slackMs + r.stalls[i],
      `${what}: ping ${i + 1} came ${periods[i].toFixed(1)} ms after the pong (pingInterval ${interval}; ` +
      `this process stalled ${r.stalls[i].toFixed(1)} ms meanwhile): ` +
      `${errors.map((x) => x.toFixed(1)).join(' ')}`);
  }
  assert.ok(pct(errors, 50) <= p50, `${what}: median ping lateness ${pct(errors, 50).toFixed(1)} ms`);
  return errors;
}

/*
 * A ping left unanswered ends the session within pingTimeout + 20 ms of its arrival,
 * and never before pingTimeout after it was sent. The client cannot see when the
 * server wrote the ping (a busy client reads it late: a close then looks up to 20 ms
 * "early" from its arrival, against either server), but it was written no earlier
 * than pingInterval after the last pong was sent: that bound is the one checked for
 * an early close.
 */
function assertTimeout(r, interval, timeout, what, lateMs = LATE_CLOSE_MS) {
  const e = r.closeAfter - timeout;
  // This process cannot see the close before its own stall (if any) ends.
  assert.ok(e <= lateMs + r.stallMs,
    `${what}: closed ${r.closeAfter.toFixed(1)} ms after the unanswered ping arrived (pingTimeout ${timeout}; ` +
    `this process stalled ${r.stallMs.toFixed(1)} ms meanwhile)`);
  assert.ok(r.closeAfterPong >= interval + timeout - EARLY_MS,
    `${what}: closed ${r.closeAfterPong.toFixed(1)} ms after the last pong (pingInterval ${interval} + pingTimeout ${timeout})`);
  return e;
}

async function assertSidUnknown(port, base, sid) {
  const p = new Polling(port, base);
  p.sid = sid;
  const res = await p.getRaw(2000);
  assert.equal(res.status, 400, `GET after the timeout: ${res.status} ${res.text}`);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
}

/*
 * How long the client waits before its pong: 0 to maxMs ms, varying, as network latency
 * does (a server that only checks deadlines on a fixed tick is late by up to one tick).
 */
const pongDelay = (i, maxMs) => (i * 7) % maxMs;

/*
 * A session that answered every ping was closed. Outside the loaded run that fails the
 * test. In the loaded run (50 ms pingTimeout, 1,000 idle sessions, on a 2-core machine
 * shared with other jobs) it happens to both servers now and then: a polling pong is a
 * fresh TCP connection plus an HTTP request, and with the machine at load average 3.4
 * Node lost 2 of 1,600 such pongs at 50 ms without idle sessions (wsio 7 before a
 * passed deadline got its second look one iteration later, none after), and this
 * process itself was seen stalled for 237 ms. So the loaded run is tried up to 5
 * times, each early close reported as a diagnostic.
 */
class EarlyClose extends Error {}

/* This process's longest event-loop stall since reset(), in ms (1 ms resolution). */
function stallMeter() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return {
    reset() { h.reset(); },
    ms() { return Math.max(0, h.max / 1e6 - 1); },
    stop() { h.disable(); },
  };
}

/* A session ended early (the message says how long this process stalled meanwhile). */
function earlyClose(what, stall, maxDelay) {
  return new EarlyClose(`${what} (pong delay up to ${maxDelay} ms; this process stalled at most ${stall.ms().toFixed(1)} ms)`);
}

/*
 * A polling session that answers `rounds` pings (each pong POSTed pongDelay after the
 * ping), then leaves the next one unanswered with a GET waiting. Resolves to
 * {periods, closeAfter} in ms.
 */
async function pollingHeartbeats(port, rounds, interval, maxDelay) {
  const p = new Polling(port, '/engine.io/');
  await p.open();
  const periods = [];
  const stalls = [];
  let pongAt = null;
  let pingAt = 0;
  const stall = stallMeter();
  try {
    for (let i = 0; i <= rounds; i++) {
      const r = await p.getRaw(interval * 4 + 2000);
      const now = performance.now();
      if (r.status !== 200 || r.text !== '2') {
        throw earlyClose(`GET ${i} of a session that answered every ping: ${r.status} ${JSON.stringify(r.text)}`,
          stall, maxDelay);
      }
      if (pongAt !== null) {
        periods.push(now - pongAt);
        stalls.push(stall.ms());
      }
      pingAt = now;
      stall.reset();
      if (i === rounds) break;
      await sleep(pongDelay(i, maxDelay));
      pongAt = performance.now();
      const a = await p.post('3');
      if (a.status !== 200) throw earlyClose(`pong POST ${i}: ${a.status} ${a.text}`, stall, maxDelay);
    }
    const r = await p.getRaw(2000);
    const now = performance.now();
    assert.equal(r.status, 200);
    assert.equal(r.text, '1', 'the GET waiting at the ping timeout gets the close packet');
    return { periods, stalls, closeAfter: now - pingAt, closeAfterPong: now - pongAt, stallMs: stall.ms(), sid: p.sid };
  } finally {
    stall.stop();
  }
}

/* The same over a WebSocket-only session. */
async function wsHeartbeats(port, rounds, maxDelay, track) {
  const c = track(await RawWs.open(port, '/engine.io/'));
  const periods = [];
  const stalls = [];
  let pongAt = null;
  let pingAt = 0;
  let seen = 0;
  const stall = stallMeter();
  c.ws.on('message', (data, isBinary) => {
    if (isBinary || data.toString() !== '2') return;
    const now = performance.now();
    if (pongAt !== null) {
      periods.push(now - pongAt);
      stalls.push(stall.ms());
    }
    pingAt = now;
    stall.reset();
    if (seen < rounds) {
      setTimeout(() => {
        pongAt = performance.now();
        c.ws.send('3');
      }, pongDelay(seen, maxDelay));
    }
    seen++;
  });
  const closed = await c.waitClosed(rounds * 1000 + 5000).finally(() => stall.stop());
  const now = performance.now();
  if (seen !== rounds + 1) {
    throw earlyClose(`closed after ${seen} pings (${rounds} answered, the next not)`, stall, maxDelay);
  }
  return { periods, stalls, closeAfter: now - pingAt, closeAfterPong: now - pongAt, stallMs: stall.ms(), sid: c.handshake.sid, closed };
}

/* Polling open, then a probe WebSocket with 2probe / 3probe; resolves to {p, ws}. */
async function startProbe(ctx) {
  const p = new Polling(ctx.port, '/engine.io/');
  await p.open();
  const ws = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', { sid: p.sid }, { autoPong: true }));
  ws.send('2probe');
  assert.equal(await ws.nextText(), '3probe');
  return { p, ws };
}

/* A WebSocket that the server must accept (101) and close at once, sending nothing. */
async function assertAcceptedThenClosed(ctx, params) {
  const ws2 = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', params));
  const info = await ws2.waitClosed(2000);
  assert.equal(info.code, 1005, 'closed without a status code, as Node\'s websocket.close()');
  assert.deepEqual(ws2.queue, [], 'nothing sent on the refused WebSocket');
}

/*
 * A timing measurement, taken again (up to 3 times) when its assertions fail: a loaded
 * machine can deschedule the server or this process for tens of ms, which no bound
 * tight enough to catch a late timer survives. A server whose timers are really late
 * fails every attempt; each failed attempt is reported as a diagnostic.
 */
async function measured(t, what, fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof assert.AssertionError) || attempt === 3) throw err;
      t.diagnostic(`${what}: attempt ${attempt} failed (${err.message}); measured again`);
    }
  }
}

eachTarget('conformance', (ctx) => {
  ctx.test(`polling: ${ROUNDS} pings each pingInterval after the pong; an unanswered one closes pingTimeout after delivery; then the sid is unknown`, async (t) => {
    const r = await measured(t, 'polling', async () => {
      const m = await pollingHeartbeats(ctx.port, ROUNDS, 300, 30);
      t.diagnostic(summary(`${ctx.target} polling period error (300)`, assertPeriods(m, 300, 40, 'polling')));
      t.diagnostic(`${ctx.target} polling timeout error (200): ${assertTimeout(m, 300, 200, 'polling').toFixed(1)} ms`);
      return m;
    });
    await assertSidUnknown(ctx.port, '/engine.io/', r.sid);
  });

  async function answered(p, rounds) {
    for (let i = 0; i < rounds; i++) {
      assert.deepEqual(await p.get(2000), [{ type: '2', data: '' }], `heartbeat ${i}`);
      assert.equal((await p.post('3')).status, 200);
    }
  }

  ctx.test('polling: a ping delivered and not answered, no GET waiting at the timeout: GET and POST are then 400 "Session ID unknown"', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    await answered(p, ROUNDS);
    assert.deepEqual(await p.get(2000), [{ type: '2', data: '' }]);
    await sleep(200 + 100); // pingTimeout passes with no pong and no GET waiting
    await assertSidUnknown(ctx.port, '/engine.io/', p.sid);
    const post = await p.post('3');
    assert.equal(post.status, 400);
    assert.deepEqual(JSON.parse(post.text), { code: 1, message: 'Session ID unknown' });
  });

  ctx.test('polling: a client that stops polling after its pong is gone at pingInterval + pingTimeout: the next GET is 400, not the queued ping', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    await answered(p, ROUNDS);
    // The next ping is queued at 300 ms with no GET to carry it; Node frees the session
    // at 500 ms. 600 ms is before any grace a lingering close packet could add.
    await sleep(300 + 200 + 100);
    await assertSidUnknown(ctx.port, '/engine.io/', p.sid);
  });

  ctx.test(`websocket: ${ROUNDS} pings each pingInterval after the pong; an unanswered one closes pingTimeout after it; then the sid is unknown`, async (t) => {
    const r = await measured(t, 'websocket', async () => {
      const m = await wsHeartbeats(ctx.port, ROUNDS, 30, ctx.track);
      t.diagnostic(summary(`${ctx.target} websocket period error (300)`, assertPeriods(m, 300, 40, 'websocket')));
      t.diagnostic(`${ctx.target} websocket timeout error (200): ${assertTimeout(m, 300, 200, 'websocket').toFixed(1)} ms`);
      return m;
    });
    await assertSidUnknown(ctx.port, '/engine.io/', r.sid);
    await assert.rejects(RawWs.connect(ctx.port, '/engine.io/', { sid: r.sid }), (err) => err.status === 400);
  });

  ctx.test('a second websocket for an upgraded session: 101, closed at once without a status; the first keeps 10 heartbeats', async () => {
    const { p, ws } = await startProbe(ctx);
    ws.send('5');
    await sleep(50);
    await assertAcceptedThenClosed(ctx, { sid: p.sid });
    const before = ws.pings;
    await until(() => ws.pings >= before + 10, 10 * 300 + 2000, '10 more heartbeats on the first websocket');
    assert.equal(ws.closeInfo, null);
    ws.send('4still');
    assert.deepEqual(await ws.next(), { text: '4still' });
  });

  ctx.test('a second websocket during the probe: 101, closed at once; the probe then completes', async () => {
    const { p, ws } = await startProbe(ctx);
    await assertAcceptedThenClosed(ctx, { sid: p.sid });
    ws.send('5');
    ws.send('4after');
    assert.deepEqual(await ws.next(), { text: '4after' });
    const before = ws.pings;
    await until(() => ws.pings >= before + 10, 10 * 300 + 2000, '10 heartbeats on the upgraded websocket');
    assert.equal(ws.closeInfo, null);
  });

  ctx.test('an upgrade request with transport=polling and a sid: 101, closed at once; polling goes on for 10 heartbeats', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    await assertAcceptedThenClosed(ctx, { sid: p.sid, transport: 'polling' });
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await p.get(2000), [{ type: '2', data: '' }], `heartbeat ${i}`);
      assert.equal((await p.post('3')).status, 200);
    }
    await p.post('4still');
    assert.deepEqual(await p.collect(1), [{ type: '4', data: 'still' }]);
  });
});

// ---------------------------------------------------------------------------------------
// pingInterval 50 / pingTimeout 50 under 1,000 idle sessions

const IDLE = Number(process.env.SIO_HEARTBEAT_IDLE || 1000);

/* Starts idle-clients.js; resolves once its sessions are open. */
async function startIdle(port) {
  const child = spawn(process.execPath, [path.join(__dirname, 'idle-clients.js'), String(port), String(IDLE)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => { out += s; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await withTimeout(until(() => out.includes('ready\n'), 60000, 'idle clients open', 50), 61000, 'idle clients');
  return {
    async stop() {
      child.stdin.end();
      await withTimeout(exited, 10000, 'idle-clients.js exit');
      return JSON.parse(out.split('\n')[1]);
    },
    kill() { try { child.kill('SIGKILL'); } catch { /* gone */ } },
  };
}

/*
 * One loaded run: idle sessions, then the measured ones. EarlyClose when a session that
 * answered its pings was closed; its `overloaded` says whether a client (this process
 * or the idle clients) stalled for a whole pingTimeout meanwhile, when such a close
 * says nothing about the server.
 */
async function loadedRun(ctx, t) {
  const idle = await startIdle(ctx.port);
  const stall = stallMeter();
  let res = null;
  const overloaded = () => stall.ms() >= 50 || (res !== null && res.lagMaxMs >= 50);
  try {
    const ws = await wsHeartbeats(ctx.port, 40, 10, ctx.track);
    const poll = await pollingHeartbeats(ctx.port, 40, 50, 10);
    const wsTimeouts = [ws];
    const pollTimeouts = [poll];
    for (let i = 0; i < 9; i++) {
      wsTimeouts.push(await wsHeartbeats(ctx.port, 1, 10, ctx.track));
      pollTimeouts.push(await pollingHeartbeats(ctx.port, 1, 50, 10));
    }
    res = await idle.stop();
    t.diagnostic(`${ctx.target} idle sessions: ${JSON.stringify(res)}`);
    t.diagnostic(summary(`${ctx.target} loaded websocket period error (50)`, ws.periods.map((p) => p - 50)));
    t.diagnostic(summary(`${ctx.target} loaded polling period error (50)`, poll.periods.map((p) => p - 50)));
    t.diagnostic(summary(`${ctx.target} loaded websocket timeout error (50)`, wsTimeouts.map((r) => r.closeAfter - 50)));
    t.diagnostic(summary(`${ctx.target} loaded polling timeout error (50)`, pollTimeouts.map((r) => r.closeAfter - 50)));
    assert.equal(res.opened, IDLE, `idle sessions opened: ${JSON.stringify(res)}`);
    if (res.closed) throw new EarlyClose(`idle sessions that answered every ping were closed: ${JSON.stringify(res)}`);
    const bounds = ctx.target === 'node' ? NODE_LOADED : {};
    assertPeriods(ws, 50, 50, 'loaded websocket', bounds);
    assertPeriods(poll, 50, 50, 'loaded polling', bounds);
    const { p50, late } = ctx.target === 'node' ? NODE_LOADED : { p50: P50_LATE_MS, late: LATE_CLOSE_MS };
    for (const [name, list] of [['websocket', wsTimeouts], ['polling', pollTimeouts]]) {
      const errors = list.map((r) => assertTimeout(r, 50, 50, `loaded ${name}`, late));
      assert.ok(pct(errors, 50) <= p50, `loaded ${name}: median close lateness ${pct(errors, 50).toFixed(1)} ms`);
    }
  } catch (err) {
    if (err instanceof EarlyClose || err instanceof assert.AssertionError) {
      if (res === null) res = await idle.stop().catch(() => null);
      err.retry = true;
      err.overloaded = overloaded();
      err.message += `; longest stalls: this process ${stall.ms().toFixed(1)} ms, idle clients ` +
        `${res ? res.lagMaxMs.toFixed(1) : '?'} ms`;
    }
    throw err;
  } finally {
    stall.stop();
    idle.kill();
  }
}

/*
 * Up to 5 runs (see EarlyClose); one that passes passes the test. When every failed run
 * had a client stalled for a whole pingTimeout, the machine was too busy to judge the
 * server at 50 ms (seen at load average 4 to 7 from other jobs: even the server's own
 * pings then came 80 ms late): the test is skipped, saying so, rather than passed or
 * failed. A run that failed without such a stall fails the test after the 5th run.
 */
eachTarget('conformance', (ctx) => {
  ctx.test(`pingInterval 50 / pingTimeout 50 with ${IDLE} idle sessions: answered pings keep sessions alive, unanswered ones close within pingTimeout + ${LATE_CLOSE_MS} ms`, async (t) => {
    let judged = null;
    for (let attempt = 1; ; attempt++) {
      try {
        await loadedRun(ctx, t);
        return;
      } catch (err) {
        if (!err.retry) throw err;
        if (!err.overloaded) judged = err;
        t.diagnostic(`${ctx.target} attempt ${attempt}: ${err.message}`);
        if (attempt < 5) continue;
        if (judged) throw judged;
        t.skip(`the machine was too loaded in all 5 runs: a client stalled for a whole pingTimeout each time`);
        return;
      }
    }
  }, 240000);
}, { extraArgs: ['--ping-interval', '0.05', '--ping-timeout', '0.05'] });
