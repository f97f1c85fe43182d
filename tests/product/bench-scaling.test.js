'use strict';
// bench/scaling.sh (the many-core throughput run prepared for the device machine) as a
// correctness check on this machine: --threads 1 and 2 on the two cores, two load
// generators at a tiny scale, and every load generator's record must be a clean run
// (no echo lost or corrupted, no connection closed by the server), for both workloads
// and both thread counts. No timing or scaling figure is looked at: two cores shared with
// the load say nothing about scaling. The uws-cpp peer is not built here (its sources are
// fetched by hand), so only wsio runs; the script says so and goes on.
//
//   WSIO_SERVER=build/wsio-server node --test tests/product/bench-scaling.test.js

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchFor, BENCH_ERRORS: ERRORS } = require('./bench');
const { spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER = process.env.WSIO_SERVER ? path.resolve(process.env.WSIO_SERVER) : path.join(ROOT, 'build', 'wsio-server');
const BENCH = benchFor(SERVER);

describe('bench/scaling.sh: --threads 1 and 2, two load generators, nothing lost', { timeout: 120000 }, () => {
  let records = [];
  let output = '';
  let code;

  before(async () => {
    assert.ok(BENCH, 'build/wsio-bench is missing');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-scaling-smoke-'));
    try {
      const env = {
        ...process.env, THREADS: '1 2', SERVER_CPUS: '0 1', LOAD_CPUS: '1 0', SERVERS: 'wsio',
        WORKLOADS: 'sio-echo echo', CONNS: '5', DEPTH: '4', DURATION: '0.5', WARMUP: '0.1',
        WSIO_SERVER: SERVER, WSIO_BENCH: BENCH, RESULTS: dir,
      };
      if (os.cpus().length < 2) Object.assign(env, { SERVER_CPUS: '0 0', LOAD_CPUS: '0 0' });
      code = await new Promise((resolve, reject) => {
        const child = spawn(path.join(ROOT, 'bench', 'scaling.sh'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.on('data', (d) => { output += d; });
        child.stderr.on('data', (d) => { output += d; });
        child.once('error', reject);
        child.once('exit', resolve);
      });
      const raw = fs.readdirSync(dir).find((f) => /^scaling-.*\.jsonl$/.test(f));
      if (raw) {
        records = fs.readFileSync(path.join(dir, raw), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 0 and prints a row per workload and thread count', () => {
    assert.equal(code, 0, output);
    for (const w of ['sio-echo', 'echo']) {
      for (const n of [1, 2]) assert.match(output, new RegExp(`^${w} +wsio +${n} +\\d+ +\\d`, 'm'), output);
    }
  });

  for (const w of ['sio-echo', 'echo']) {
    for (const n of [1, 2]) {
      it(`${w} at --threads ${n}: both load generators ran clean`, () => {
        const mine = records.filter((r) => r.workload === w && r.server === 'wsio' && r.threads === n);
        assert.equal(mine.length, 2, output);
        for (const rec of mine) {
          const r = rec.result;
          assert.ok(r && r.messages > 0, `${JSON.stringify(rec)}\n${output}`);
          for (const k of ERRORS) if (k in r) assert.equal(r[k], 0, `${k}: ${JSON.stringify(rec)}`);
        }
      });
    }
  }
});
