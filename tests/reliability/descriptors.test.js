'use strict';
// Descriptors exhausted: wsio-server runs under a low descriptor limit (prlimit
// --nofile=LIMIT) and more clients arrive than it can hold. accept(2) then fails with
// EMFILE; with a level-triggered listener that is a busy loop unless the server drains
// the backlog (src/net/net.c keeps a spare descriptor for that: close it, accept,
// close, reopen). Checks: the connections it holds keep being served; while new ones
// keep arriving (and are turned away), its CPU use stays low; once descriptors free
// up, new clients are served again. The issue also asks for a log line and a metric
// saying so: that check is its own test, skipped with the reason (the server has
// neither today).

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { spawn } = require('node:child_process');
const h = require('./helpers');

const LIMIT = 64;
/* wsio-server under prlimit; resolves once it listens, like helpers.startServer. */
async function startLimited(args) {
  const proc = spawn('prlimit', [`--nofile=${LIMIT}`, h.SERVER, '--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const m = await h.until(() => /listening on [^\s]+:(\d+)/.exec(err), 5000, 'the limited server to listen');
  return { proc, port: Number(m[1]), stderr: () => err, exited };
}

/* Tries one TCP connection + WebSocket echo; resolves true when it was served. */
async function served(port) {
  try {
    const c = await h.wsOpen(port, '/echo');
    c.send('x');
    await h.until(() => c.messages.length === 1, 2000, 'echo');
    c.close(1000);
    return true;
  } catch {
    return false;
  }
}

let logText = '';
let acceptErrors;
test(`descriptors exhausted (--nofile=${LIMIT}): no busy loop, service resumes`, { timeout: 60000 }, async (t) => {
  const srv = await startLimited([]);
  t.after(() => { try { srv.proc.kill('SIGKILL'); } catch { /* gone */ } });
  // Fill every descriptor the server has.
  // (In parallel: against a server stuck in a busy loop each open waits its 3 s out.)
  const held = (await h.pool(LIMIT + 10, 16, async () => {
    try { return await h.wsOpen(srv.port, '/echo'); } catch { return null; } // turned away: full
  })).filter(Boolean);
  assert.ok(held.length > LIMIT / 2 && held.length < LIMIT, `held ${held.length} connections under a limit of ${LIMIT}`);

  // Exhausted: new connections keep coming for 3 s (about 100 a second).
  const cpu0 = h.cpuSeconds(srv.proc.pid);
  const t0 = Date.now();
  let attempts = 0;
  let turnedAway = 0;
  while (Date.now() - t0 < 3000) {
    attempts++;
    await new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('error', () => { turnedAway++; resolve(); });
      s.on('close', () => resolve());
      s.on('connect', () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        s.on('data', () => { s.destroy(); }); // served: should not happen
        s.on('end', () => { turnedAway++; s.destroy(); });
      });
      setTimeout(() => { s.destroy(); resolve(); }, 200);
    });
    await h.sleep(10);
  }
  const cpu = (h.cpuSeconds(srv.proc.pid) - cpu0) / ((Date.now() - t0) / 1000);
  // The held connections are still served.
  for (const c of held.slice(0, 5)) {
    c.send('still');
    await h.until(() => c.messages.some((m) => m.data.toString() === 'still'), 2000, 'a held connection echoes');
  }
  // Idle, still exhausted: a busy loop would show here most.
  const idle0 = h.cpuSeconds(srv.proc.pid);
  const pending = await h.pool(20, 20, () => new Promise((resolve) => {
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => resolve(s));
    s.on('connect', () => resolve(s));
  }));
  await h.sleep(2000);
  const idleCpu = (h.cpuSeconds(srv.proc.pid) - idle0) / 2;
  for (const s of pending) s.destroy();

  assert.ok(cpu < 0.3, `server CPU ${(cpu * 100).toFixed(1)}% of a core while turning connections away`);
  assert.ok(idleCpu < 0.1, `server CPU ${(idleCpu * 100).toFixed(1)}% of a core with connections pending`);

  // Free descriptors: service resumes.
  for (const c of held.splice(0, 10)) c.close(1000);
  await h.until(() => served(srv.port), 5000, 'a new client served once descriptors are free', 100);
  acceptErrors = (await h.scrape(srv.port)).get('wsio_accept_errors_total');
  t.diagnostic(`held ${held.length + 10} connections under --nofile=${LIMIT}; ${attempts} connection attempts in 3 s while exhausted, ` +
    `${turnedAway} turned away; server CPU ${(cpu * 100).toFixed(1)}% of a core meanwhile, ${(idleCpu * 100).toFixed(1)}% with 20 connections pending; served again once 10 closed`);
  for (const c of held) c.close(1000);
  logText = srv.stderr();
  srv.proc.kill('SIGTERM');
  assert.equal((await h.withTimeout(srv.exited, 10000, 'exit')).code, 0);
});

test('descriptors exhausted: a log line and a metric say so', () => {
  assert.match(logText, /accept failed: Too many open files \(the process's descriptor limit/, 'a log line about the accept errors');
  assert.ok(acceptErrors > 0, `wsio_accept_errors_total is ${acceptErrors}`);
});
