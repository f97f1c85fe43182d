'use strict';
// The load generator's two I/O paths (bench/src/client.c): with --io-uring on (the
// default) a loop iteration's sends and the reads of the connections one epoll_wait
// found readable go to the kernel in batches (each read into its own slice of the
// shared buffer, a partial frame carried over in the connection's own buffer); with
// --io-uring off, one send() and one read() per connection. Both must measure the same
// traffic: every echo and broadcast checked byte for byte, nothing lost or reordered.
// Echoes of 100 kB span several TCP segments (at most 64 KiB each on loopback), so reads
// can end inside frames and the partial-frame path (the rest carried in the
// connection's own buffer) runs too.
// Nothing here looks at a timing.
//
//   WSIO_SERVER=build/wsio-server node --test tests/product/bench-batch.test.js

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const h = require('./helpers');
const { benchFor, BENCH_ERRORS: ERRORS } = require('./bench');

// The load generator beside the server (an ASan build's, where it has one), else the
// release build's.
const BENCH = benchFor(h.SERVER);
const RUNS = {
  'echo 20 x 16 x 32 B': ['echo', '-c', '20', '-d', '16'],
  'echo 4 x 2 x 100 kB': ['echo', '-c', '4', '-d', '2', '-s', '100000'],
  'broadcast to 50': ['broadcast', '-c', '50', '--drain', '0.2'],
  'sio-echo 20 x 16': ['sio-echo', '-c', '20'],
  'sio-polling 10': ['sio-polling', '-c', '10'],
};

function bench(args) {
  assert.ok(BENCH, 'build/wsio-bench is missing: build it (cmake --build build --target wsio-bench)');
  return new Promise((resolve) => {
    execFile(BENCH, [...args, '--json'], { timeout: 30000 }, (err, stdout, stderr) => {
      let r = null;
      try { r = JSON.parse(stdout); } catch { /* reported below */ }
      resolve({ rc: err ? err.code : 0, r, out: `${stdout}\n${stderr}` });
    });
  });
}

describe('wsio-bench with batched and with plain I/O: the same clean runs', { timeout: 120000 }, () => {
  let srv;
  before(async () => { srv = await h.startServer(['--app', 'bench']); });
  after(async () => { if (srv) await srv.stop(); });

  for (const uring of ['on', 'off']) {
    for (const [name, args] of Object.entries(RUNS)) {
      it(`--io-uring ${uring}: ${name}`, async () => {
        const sio = args[0].startsWith('sio-');
        const url = `ws://127.0.0.1:${srv.port}${sio ? '/socket.io/' : args[0] === 'broadcast' ? '/broadcast' : '/echo'}`;
        const { rc, r, out } = await bench([...args, '--url', url, '-t', '0.4', '-w', '0.1', '--io-uring', uring]);
        assert.ok(r, `no result: ${out.slice(-2000)}`);
        assert.equal(rc, 0, out.slice(-2000));
        const done = r.messages ?? r.deliveries ?? r.round_trips;
        assert.ok(done > 0, `no work done: ${out.slice(-2000)}`);
        for (const k of ERRORS) if (k in r) assert.equal(r[k], 0, `${k}: ${out.slice(-2000)}`);
        if ('lost' in r) assert.ok(r.published > 0, out.slice(-2000));
      });
    }
  }

  it('--io-uring takes on or off only', async () => {
    const { rc, out } = await bench(['echo', '--io-uring', 'yes']);
    assert.equal(rc, 1);
    assert.match(out, /bad value for option .*--io-uring: yes/);
  });
});
