'use strict';
// The cross-node benchmark as a correctness check: bench/run.sh's sio-cluster-bcast
// workload (its own redis-server, two nodes of each kind, and one node alone; window-paced
// and at a fixed rate) at a tiny scale, one round of one second. Every record must be a
// clean run of wsio-bench: no lost, reordered or corrupted broadcast, no Socket.IO or
// connection error, and on two nodes the second node's clients got their deliveries
// through Redis. Nothing here looks at a timing or a CPU figure.
//
//   CLUSTER_PAIRS as in cluster.test.js: any pair with "node" (the default) also runs
//   Node socket.io nodes (bench/peers/socketio.js, @socket.io/redis-adapter); only wsio
//   pairs (the ASan run): wsio alone; "none": skipped.
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/bench-smoke.test.js

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { runBench } = require('../product/bench');

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER = process.env.WSIO_SERVER || path.join(ROOT, 'build', 'wsio-server');
const PAIRS_RAW = process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio';
const SERVERS = PAIRS_RAW === 'none' ? [] : /node/.test(PAIRS_RAW) ? ['wsio', 'socketio'] : ['wsio'];
const CLIENTS = 40;
const RECORDS = ['sio-cluster-2n-window', 'sio-cluster-2n-rate', 'sio-cluster-1n-window', 'sio-cluster-1n-rate'];

describe('bench/run.sh sio-cluster-bcast: no broadcast lost or corrupted across nodes', { skip: SERVERS.length === 0,
  timeout: 180000 }, () => {
  let records = [];
  let output = '';

  before(async () => {
    ({ records, output } = await runBench(SERVER, {
      DURATION: '1', WARMUP: '0.2', CLUSTER_CLIENTS: String(CLIENTS), CLUSTER_RATE: '100',
      SERVERS: SERVERS.join(' '), WORKLOADS: 'sio-cluster-bcast',
    }));
  });

  for (const server of SERVERS) {
    for (const work of RECORDS) {
      it(`${server} ${work}: a clean run`, () => {
        const rec = records.find((r) => r.server === server && r.workload === work);
        assert.ok(rec, `no ${server} ${work} record:\n${output}`);
        const r = rec.result;
        const log = () => `${JSON.stringify(rec)}\n${output.slice(-3000)}`;
        assert.ok(r, `wsio-bench gave no result (rc ${rec.rc}): ${log()}`);
        assert.equal(rec.rc, 0, `wsio-bench saw errors: ${log()}`);
        assert.equal(r.subscribers, CLIENTS);
        assert.ok(r.published > 0 && r.deliveries > 0, `broadcasts went out and came back: ${log()}`);
        for (const k of ['lost', 'out_of_order', 'verify_errors']) assert.equal(r[k], 0, `${k}: ${log()}`);
        if (work.startsWith('sio-cluster-2n')) {
          // The second node's clients got theirs through Redis (a latency only they add to).
          assert.ok(r.remote_latency_p50_us > 0, `cross-node deliveries: ${log()}`);
        } else {
          assert.equal(r.remote_latency_p50_us, undefined, 'one node: no cross-node figure');
        }
      });
    }
  }
});
