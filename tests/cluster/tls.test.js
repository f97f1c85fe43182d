'use strict';
// Redis over TLS (rediss://, docs/cluster.md): a redis-server with --tls-port only and a
// certificate from a test CA made here by openssl (as tests/client/tls.test.js). For each
// adapter kind (pubsub, sharded, streams) two wsio nodes with --redis-tls-ca: a
// broadcast crosses, fetchSockets answers from both. A node without the CA: the
// certificate check fails, logged with OpenSSL's reason, the node serves its own
// clients and keeps retrying; --redis-tls-insecure connects without the check. A wsio
// node and a Node node (node-redis with `socket: {tls: true, ca}`) on the same Redis.
//
//   WSIO_SERVER=build/wsio-server [CLUSTER_PAIRS=...] node --test tests/cluster/tls.test.js

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { start } = require('../sio/servers');
const { call, logged, until, sleep, closeAll } = require('../sio/helpers');
const { startRedisTls, startRedisCluster } = require('./redis');
const { joined, join, metric, twoInRoom } = require('./helpers');
const { makeCa, signed } = require('../tls/certs.js');

let dir;
let caFiles; // the test CA's key and certificate
let ca;      // its certificate file
let redis;

function makeCerts() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-redis-tls-'));
  caFiles = makeCa(dir, 'ca', 'wsio redis test CA');
  ca = caFiles.crt;
  return { ...serverCert('redis', 'DNS:localhost,IP:127.0.0.1'), ca };
}

/* A server certificate signed by the test CA for these subjectAltNames, as {cert, key}
 * (the names redis.js uses). */
function serverCert(name, san) {
  const c = signed(dir, name, caFiles, { san });
  return { cert: c.crt, key: c.key };
}

/* Both nodes count each other, then a broadcast crosses both ways and fetchSockets
 * (a request and its answers over Redis) names the sockets of both. */
async function crossNode(A, B) {
  const [a, b] = await twoInRoom(A, B, 'tls-room');
  assert.deepEqual(await call(a, 'fetch', 'tls-room'), [a.id, b.id].sort());
  assert.deepEqual(await call(b, 'fetch', 'tls-room'), [a.id, b.id].sort());
  await call(a, 'broadcast', 'over-tls', 'x');
  assert.equal((await logged(b, 'over-tls', 1))[0][1], 'x');
  await call(b, 'all', 'back', 2);
  assert.equal((await logged(a, 'back', 1))[0][1], 2);
}

before(async () => {
  redis = await startRedisTls(makeCerts());
});
after(async () => {
  closeAll(joined);
  await redis?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

for (const kind of ['pubsub', 'sharded', 'streams']) {
  describe(`rediss:// ${kind}`, { timeout: 60000 }, () => {
    it('two wsio nodes with --redis-tls-ca: broadcasts and fetchSockets cross', async () => {
      const args = ['--redis', redis.url, '--redis-tls-ca', ca, '--redis-request-timeout', '2',
        ...(kind === 'pubsub' ? [] : ['--redis-adapter', kind])];
      const A = await start('wsio', 'test', args);
      const B = await start('wsio', 'test', args);
      try {
        await crossNode(A, B);
        assert.equal(await metric(A, 'wsio_redis_adapter_up'), 1);
        assert.match(A.output(), /Redis [a-z/ ]+ adapter, localhost:\d+ \(TLS\)/);
      } finally {
        await A.stop();
        await B.stop();
      }
    });
  });
}

describe('rediss:// on a Redis Cluster', { timeout: 90000 }, () => {
  it('sharded: every master reached over TLS (checked against its IP), broadcasts to rooms on each cross', async () => {
    const rc = await startRedisCluster(3, { ...serverCert('rcluster', 'DNS:localhost,IP:127.0.0.1'), ca });
    const args = ['--redis', rc.url, '--redis-tls-ca', ca, '--redis-adapter', 'sharded', '--redis-request-timeout', '2'];
    let A;
    let B;
    try {
      A = await start('wsio', 'test', args);
      B = await start('wsio', 'test', args);
      await until(async () => /a Redis Cluster of 3 masters/.test(A.output()) &&
        /a Redis Cluster of 3 masters/.test(B.output()), 15000, 'both see three masters');
      await crossNode(A, B);
      // Rooms whose channels hash to different masters: each master's connection works.
      const a = await join(A);
      const b = await join(B);
      const rooms = Array.from({ length: 12 }, (_, i) => `tls-r${i}`);
      await call(b, 'join', rooms);
      await until(async () => (await call(a, 'fetch', rooms[11])).length === 1, 10000, 'b in the rooms');
      for (const r of rooms) {
        let got = false;
        await until(async () => { // (a room's channel is subscribed asynchronously)
          await call(a, 'in-room', r, 'to-room', r);
          await sleep(50);
          got = b.log.some((e) => e[0] === 'to-room' && e[1] === r);
          return got;
        }, 10000, `a broadcast to ${r}`);
      }
      assert.doesNotMatch(A.output() + B.output(), /cannot connect|verify failed/);
    } finally {
      await A?.stop();
      await B?.stop();
      await rc.stop();
    }
  });
});

describe('rediss:// certificate checks', { timeout: 60000 }, () => {
  it('without the CA: verification fails, logged with the reason; local work goes on; retried', async () => {
    const A = await start('wsio', 'test', ['--redis', redis.url]);
    try {
      await until(async () => /certificate verify failed/.test(A.output()), 10000, 'the failure logged');
      assert.match(A.output(),
        /error [^\n]*cannot connect \(TLS certificate verify failed: [^\n]*; Redis at localhost, see --redis-tls-ca\); retrying/);
      const a = await join(A);
      const a2 = await join(A);
      await call(a, 'all', 'local', 1);
      assert.equal((await logged(a2, 'local', 1))[0][1], 1, 'a local broadcast still reaches local sockets');
      const logged1 = A.output().match(/certificate verify failed/g).length;
      assert.ok(logged1 <= 2, 'once per connection (publish, subscribe)');
      await sleep(1000); // a few retries (backoff from 100 ms), each failing the same way
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 0);
      assert.equal(A.output().match(/certificate verify failed/g).length, logged1, 'not logged again at every retry');
    } finally {
      await A.stop();
    }
  });

  it('a certificate for another host is refused (host name checked)', async () => {
    const other = await startRedisTls({ ...serverCert('other', 'DNS:other.example'), ca });
    const A = await start('wsio', 'test', ['--redis', other.url, '--redis-tls-ca', ca]);
    try {
      await until(async () => /cannot connect \(TLS /.test(A.output()), 10000, 'the failure logged');
      assert.match(A.output(), /TLS certificate verify failed: [^\n]*(hostname|host name)[^\n]*; Redis at localhost/i);
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 0);
    } finally {
      await A.stop();
      await other.stop();
    }
  });

  it('--redis-tls-insecure connects without the check (and says so)', async () => {
    const A = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-insecure']);
    const B = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca]);
    try {
      assert.match(A.output(), /TLS without certificate verification/);
      await crossNode(A, B);
    } finally {
      await A.stop();
      await B.stop();
    }
  });

  it('a bad --redis-tls-ca file: the server refuses to start', async () => {
    await assert.rejects(start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', path.join(dir, 'missing.pem')]),
      /TLS/);
  });
});

// CLUSTER_PAIRS as tests/cluster/cluster.test.js (the ASan run names wsio-wsio only).
const PAIRS = (process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio').split(',');

describe('rediss:// mixed cluster', { timeout: 60000 }, () => {
  for (const pair of [['wsio', 'node'], ['node', 'wsio']]) {
    it(`${pair[0]} + ${pair[1]} over TLS (node-redis with the CA)`, { skip: !PAIRS.includes(pair.join('-')) }, async () => {
      const args = ['--redis', redis.url, '--redis-tls-ca', ca, '--redis-request-timeout', '2'];
      const A = await start(pair[0], 'test', args);
      const B = await start(pair[1], 'test', args);
      try {
        await crossNode(A, B);
      } finally {
        await A.stop();
        await B.stop();
      }
    });
  }
});
