'use strict';
// tests/product/bench.js — bench/run.sh as a correctness check, for the smoke tests of
// the single-node workloads (product/bench-smoke.test.js) and of the cross-node one
// (cluster/bench-smoke.test.js): one round at a tiny scale with the wsio-bench beside
// the server under test, the raw records read back. Not a test file itself (node --test
// picks *.test.js).
//
//   const { records, output } = await runBench(SERVER, { WORKLOADS: 'echo', DURATION: '0.5' });

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');

/* The load generator beside the server (an ASan build has its own), else the release
 * one; undefined when neither is built. */
const benchFor = (server) => [path.join(path.dirname(server), 'wsio-bench'), path.join(ROOT, 'build', 'wsio-bench')]
  .find((p) => fs.existsSync(p));

/* Runs bench/run.sh (no build, one round, window 8) against `server` with `vars` added to
 * the environment, results in a temporary dir removed afterwards. Resolves to
 * {records: the raw JSONL records, output: its stdout and stderr}; throws with the output
 * when it fails or leaves no raw results. */
async function runBench(server, vars) {
  const bench = benchFor(server);
  assert.ok(bench, 'build/wsio-bench is missing: build it (cmake --build build --target wsio-bench)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-bench-smoke-'));
  try {
    const env = {
      ...process.env, NO_BUILD: '1', ROUNDS: '1', WINDOW: '8', ...vars,
      WSIO_SERVER: server, WSIO_BENCH: bench, RESULTS_DIR: dir,
    };
    let output = '';
    const code = await new Promise((resolve, reject) => {
      const child = spawn(path.join(ROOT, 'bench', 'run.sh'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    assert.equal(code, 0, `bench/run.sh failed:\n${output}`);
    const raw = fs.readdirSync(dir).find((f) => /^raw-.*\.jsonl$/.test(f));
    assert.ok(raw, `no raw results in ${dir}:\n${output}`);
    const records = fs.readFileSync(path.join(dir, raw), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return { records, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/* The counters of a wsio-bench record that a clean run leaves at 0 (each mode reports the
 * ones it has; a check looks only at those present). */
const BENCH_ERRORS = ['verify_errors', 'lost', 'out_of_order', 'connect_failures', 'handshake_failures',
  'closed_by_server', 'protocol_errors', 'socketio_errors', 'http_errors', 'clients_failed'];

module.exports = { runBench, benchFor, BENCH_ERRORS };
