'use strict';
// The single-node benchmark as a correctness check: bench/run.sh runs every workload that
// moves messages against wsio-server alone, at a tiny scale (at most 50 connections,
// MAX_CONNS; one round of half a second), and every record must be a clean run of
// wsio-bench: no echo or broadcast lost, reordered or corrupted (wsio-bench checks every
// byte), no connection closed by the server, no failed handshake, no Socket.IO or HTTP
// error. Nothing here looks at a timing or a CPU figure; it also fails when a workload
// that run.sh and the issue-17 targets table rely on is missing or does not run.
// (The cross-node workload has its own smoke test: tests/cluster/bench-smoke.test.js.)
//
//   WSIO_SERVER=build/wsio-server node --test tests/product/bench-smoke.test.js

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { runBench, BENCH_ERRORS: ERRORS } = require('./bench');

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER = process.env.WSIO_SERVER ? path.resolve(process.env.WSIO_SERVER) : path.join(ROOT, 'build', 'wsio-server');
const MAX_CONNS = 50;
// workload -> the count that shows work was done (any non-zero value: not a timing).
const WORKLOADS = {
  echo: 'messages',
  'echo-100x1': 'messages',
  'echo-16k': 'messages',
  'echo-512': 'messages',
  'echo-rtt': 'messages',
  broadcast: 'deliveries',
  'broadcast-rate': 'deliveries',
  connect: 'handshakes',
  'sio-echo': 'messages',
  'sio-echo-rtt': 'messages',
  'sio-broadcast': 'deliveries',
  'sio-polling': 'round_trips',
};

describe('bench/run.sh single-node workloads against wsio: nothing lost or corrupted', { timeout: 120000 }, () => {
  let records = [];
  let output = '';

  before(async () => {
    ({ records, output } = await runBench(SERVER, {
      DURATION: '0.5', WARMUP: '0.1', MAX_CONNS: String(MAX_CONNS), SERVERS: 'wsio',
      WORKLOADS: Object.keys(WORKLOADS).join(' '),
    }));
  });

  for (const [work, done] of Object.entries(WORKLOADS)) {
    it(`${work}: a clean run`, () => {
      const rec = records.find((r) => r.server === 'wsio' && r.workload === work);
      assert.ok(rec, `no wsio ${work} record:\n${output.slice(-3000)}`);
      const r = rec.result;
      const log = () => `${JSON.stringify(rec)}\n${output.slice(-3000)}`;
      assert.ok(r, `wsio-bench gave no result (rc ${rec.rc}): ${log()}`);
      assert.equal(rec.rc, 0, `wsio-bench saw errors or the server exited: ${log()}`);
      assert.ok(r[done] > 0, `${done}: ${log()}`);
      for (const k of ERRORS) if (k in r) assert.equal(r[k], 0, `${k}: ${log()}`);
      // The broadcasts count every delivery after a drain: published x subscribers.
      if ('lost' in r) assert.ok(r.published > 0, `published: ${log()}`);
    });
  }

  it('the summary lists the issue-17 targets', () => {
    assert.match(output, /### Issue 17 targets/);
    assert.match(output, /echo 10 × 4 × 16 KiB, CPU\/msg ≤ 1\.3× a raw TCP echo/);
  });
});
