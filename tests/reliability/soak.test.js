'use strict';
// The soak's own checks (bench/soak.sh; the 60-second CI soak and the 10-minute one run
// outside this file): a small, short soak must pass, and the same soak must fail when
// its load processes pretend to lose every 40th broadcast or room message
// (SOAK_INJECT_LOSS), or hold its clients in more memory than allowed
// (SOAK_MAX_RSS_PER_CLIENT) — a check that cannot fail would prove nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./helpers');

const SMALL = {
  SOAK_SECONDS: '12', SOAK_WARMUP: '4', SOAK_WS: '300', SOAK_WS_WORKERS: '1', SOAK_WS_BCAST: '40',
  SOAK_WS_INTERVAL_MS: '1000', SOAK_SIO: '60', SOAK_SIO_WORKERS: '1', SOAK_SIO_INTERVAL_MS: '1000',
  SOAK_WS_CHURN: '5', SOAK_WS_DROPS: '2', SOAK_SIO_CHURN: '2', SOAK_SIO_DROPS: '2',
  // RSS drift over a few seconds of a tiny run says nothing, nor does memory per client
  // over 360 clients (the receive buffer's pages alone are ~3 KiB each); the real soak
  // judges both.
  SOAK_MAX_DRIFT: '1', SOAK_MAX_RSS_PER_CLIENT: '1000000',
};

function soak(extra) {
  return new Promise((resolve) => {
    const p = spawn(path.join(h.ROOT, 'bench', 'soak.sh'), [], {
      env: { ...process.env, WSIO_SERVER: h.SERVER, ...SMALL, ...extra }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => {
      const m = /results in (\S+)\.\*/.exec(out);
      const summary = m && fs.existsSync(`${m[1]}.json`) ? JSON.parse(fs.readFileSync(`${m[1]}.json`, 'utf8')) : null;
      resolve({ code, out, summary, prefix: m && m[1] });
    });
  });
}

test('a small soak passes, and records its samples', { timeout: 120000 }, async (t) => {
  const r = await soak({});
  assert.ok(r.summary, `no summary: ${r.out.slice(-2000)}`);
  assert.deepEqual(r.summary.failures, [], r.out.slice(-3000));
  assert.equal(r.code, 0);
  assert.ok(r.summary.checked.wsEchoes > 0 && r.summary.checked.sioDeliveries > 0 && r.summary.churn.sioDroppedAndRecovered > 0);
  const csv = fs.readFileSync(`${r.prefix}.csv`, 'utf8').trim().split('\n');
  assert.ok(csv.length > 10, 'one sample a second');
  t.diagnostic(`small soak: ${JSON.stringify(r.summary.checked)}`);
});

test('the soak fails when messages are lost (SOAK_INJECT_LOSS), or memory per client is over its limit', { timeout: 120000 }, async () => {
  const r = await soak({ SOAK_INJECT_LOSS: '40', SOAK_MAX_RSS_PER_CLIENT: '1' });
  assert.ok(r.summary, `no summary: ${r.out.slice(-2000)}`);
  assert.equal(r.code, 1);
  const f = r.summary.failures.join('; ');
  assert.match(f, /bcastGap|bcastMissedAtEnd|lost/, 'the raw WebSocket broadcast check caught it');
  assert.match(f, /\bgap|missedAtEnd/, 'the Socket.IO room check caught it');
  assert.match(f, /RSS per client \d+ B \(limit 1 B\)/, 'the memory check can fail');
  assert.ok(r.summary.rss.idleKiB > 0 && r.summary.rss.perClientBytes > 1);
  assert.doesNotMatch(f, /not alive/);
});
