'use strict';
// The cluster scenarios of cluster.test.js on the streams adapter (wsio-server
// --redis-adapter streams; Node's @socket.io/redis-streams-adapter 0.3.x): broadcasts
// and room changes through the Redis stream "socket.io", requests and responses through
// pub/sub. The same pairs (CLUSTER_PAIRS), the same faults (Redis killed and restarted,
// a node killed).
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/streams.test.js

process.env.CLUSTER_ADAPTER = 'streams';
require('./cluster.test.js');

// Connection state recovery across nodes (docs/cluster.md): a client disconnected from
// one node reconnects to the other and gets its id, rooms, data and exactly the
// broadcasts its rooms missed, in order, binary intact. Both kinds of node persist and
// restore the same Redis session (SET sio:session:<pid>) and read the same stream.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('../sio/servers');
const { client, connected, call, once, logged, sleep, until, normalize, closeAll } = require('../sio/helpers');
const { startRedis } = require('./redis');

const PAIRS_RAW = process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio';
const PAIRS = PAIRS_RAW === 'none' ? [] : PAIRS_RAW.split(',').filter(Boolean);
const events = (s, from) => s.log.slice(from).map((e) => normalize(e.slice(0, -1))); // without the offset

/* Waits until node A has kept the session of pid in Redis. */
async function sessionStored(redis, pid) {
  const { createClient } = require('redis');
  const rc = createClient({ url: redis.url });
  await rc.connect();
  try {
    await until(async () => (await rc.exists(`sio:session:${pid}`)) === 1, 5000, 'the session in Redis', 20);
  } finally {
    await rc.quit();
  }
}

for (const pair of PAIRS) {
  const [kindA, kindB] = pair.split('-');
  describe(`streams recovery across nodes ${pair}`, { timeout: 60000 }, () => {
    let redis;
    let A;
    let B;
    const sockets = [];
    before(async () => {
      redis = await startRedis();
      A = await start(kindA, 'test', ['--redis', redis.url, '--redis-adapter', 'streams']);
      B = await start(kindB, 'test', ['--redis', redis.url, '--redis-adapter', 'streams']);
      const x = client(A.url, 'websocket');
      const y = client(B.url, 'websocket');
      sockets.push(x, y);
      await connected(x);
      await connected(y);
      await until(async () => (await call(x, 'server-count')) === 2 && (await call(y, 'server-count')) === 2,
        10000, 'both nodes counted', 100);
    });
    after(async () => {
      closeAll(sockets);
      await A?.stop();
      await B?.stop();
      await redis?.stop();
    });

    for (const tr of ['websocket', 'polling']) {
      it(`${tr}: a client that left node A comes back on node B: same id, rooms, data, missed events once`, async () => {
        const room = `rec-${tr}`;
        const a = client(A.url, tr);
        const b = client(B.url, 'websocket');
        sockets.push(a, b);
        await connected(a);
        await connected(b);
        const id = a.id;
        await call(a, 'set-data', { n: 1, who: tr });
        await call(a, 'join', room);
        await call(b, 'in-room', room, 'pre', 0); // the offset a will recover from
        const [pre] = await logged(a, 'pre', 1);
        assert.match(pre[pre.length - 1], /^\d+-\d+$/, 'the offset is a stream id');
        const mark = a.log.length;
        const gone = once(a, 'disconnect');
        a.io.engine.close();
        assert.ok(!/^io (client|server) disconnect$/.test((await gone)[0]), 'a recoverable reason');
        // The session is in Redis, for maxDisconnectionDuration.
        const { createClient } = require('redis');
        const rc = createClient({ url: redis.url });
        await rc.connect();
        try {
          await until(async () => (await rc.keys('sio:session:*')).length === 1, 5000, 'the session in Redis', 50);
          const ttl = await rc.pTTL((await rc.keys('sio:session:*'))[0]);
          assert.ok(ttl > 100000 && ttl <= 120000, `PX maxDisconnectionDuration (${ttl})`);
        } finally {
          await rc.quit();
        }
        await call(b, 'in-room', room, 'm', 1);
        await call(b, 'in-room', room, 'bin', Buffer.from([1, 2, 255]));
        await call(b, 'in-room', 'elsewhere', 'not-mine', 2);
        await call(b, 'all', 'to-all', 3);
        a.io.uri = B.url; // the other node
        a.connect();
        await connected(a);
        assert.equal(a.recovered, true, 'socket.recovered');
        assert.equal(a.id, id, 'same socket id');
        await sleep(300); // nothing more (no double delivery from the stream)
        assert.deepEqual(events(a, mark), [['m', 1], ['bin', Buffer.from([1, 2, 255])], ['to-all', 3]]);
        const info = await call(a, 'info');
        assert.equal(info.recovered, true);
        assert.deepEqual(info.rooms, [room]);
        assert.deepEqual(info.data, { n: 1, who: tr });
        // Live again, from both nodes; node A sees it as remote.
        const c = client(A.url, 'websocket');
        sockets.push(c);
        await connected(c);
        await call(c, 'in-room', room, 'live', 4);
        assert.equal((await logged(a, 'live', 1))[0][1], 4);
        assert.deepEqual(await call(c, 'fetch', room), [id]);
        closeAll([a, b, c]);
      });
    }

    it('a session is restored once; an unknown offset gives a new session', async () => {
      const a = client(A.url, 'websocket');
      const b = client(B.url, 'websocket');
      sockets.push(a, b);
      await connected(a);
      await connected(b);
      await call(a, 'join', 'once');
      await call(b, 'in-room', 'once', 'pre', 0);
      await logged(a, 'pre', 1);
      const { pid, offset } = { pid: a._pid, offset: a._lastOffset };
      const gone = once(a, 'disconnect');
      a.io.engine.close();
      await gone;
      await sessionStored(redis, pid); // (node A learns of the close a moment later)
      a.io.uri = B.url;
      a.connect();
      await connected(a);
      assert.equal(a.recovered, true);
      // The same pid again (the session was taken: GETDEL): a new session.
      const dup = client(A.url, 'websocket', { auth: { pid, offset } });
      sockets.push(dup);
      await connected(dup);
      assert.equal(dup.recovered, false);
      assert.notEqual(dup.id, a.id);
      // An offset the stream never had, or not a stream id: a new session, no error.
      for (const off of ['1-0', 'abc']) {
        const x = client(B.url, 'websocket', { auth: { pid: 'x'.repeat(20), offset: off } });
        sockets.push(x);
        await connected(x);
        assert.equal(x.recovered, false);
      }
      closeAll([a, b, dup]);
    });

    // wsio sends the missed events at once, before the CONNECT reply: more than its send
    // buffer takes would be refused (the CONNECT reply too). It gives a new session
    // instead (docs/socketio.md), the same rule as a local recovery.
    if (kindB === 'wsio') {
      it('missed events larger than the send buffer: a new session on the wsio node, counted', async () => {
        const { scrape } = require('../product/helpers');
        const a = client(A.url, 'websocket');
        const b = client(B.url, 'websocket');
        sockets.push(a, b);
        await connected(a);
        await connected(b);
        await call(a, 'join', 'big');
        await call(b, 'in-room', 'big', 'pre', 0);
        await logged(a, 'pre', 1);
        const id = a.id;
        const gone = once(a, 'disconnect');
        a.io.engine.close();
        await gone;
        await sessionStored(redis, a._pid);
        // (--app test builds an emit's arguments in 64 KiB)
        const pad = 'y'.repeat(60 * 1024);
        for (let i = 0; i < 20; i++) await call(b, 'in-room', 'big', 'm', i, pad); // 1.2 MiB > 1 MiB
        const before = (await scrape(B.port)).get('wsio_sio_recovery_too_large_total');
        a.io.uri = B.url;
        a.connect();
        await connected(a);
        assert.equal(a.recovered, false);
        assert.notEqual(a.id, id);
        assert.equal((await scrape(B.port)).get('wsio_sio_recovery_too_large_total'), before + 1);
        closeAll([a, b]);
      });
    }
  });
}

describe('wsio-server streams options', { timeout: 30000 }, () => {
  it('--redis-stream-name, --redis-stream-maxlen and --redis-session-key-prefix name what goes to Redis', async () => {
    const redis = await startRedis();
    const node = await start('wsio', 'test', ['--redis', redis.url, '--redis-adapter', 'streams',
      '--redis-stream-name', 'my-stream', '--redis-stream-maxlen', '5', '--redis-session-key-prefix', 'my:sess:']);
    const { createClient } = require('redis');
    const rc = createClient({ url: redis.url });
    await rc.connect();
    try {
      await until(() => /Redis streams adapter/.test(node.output()), 5000, 'the streams adapter');
      const a = client(node.url, 'websocket');
      await connected(a);
      await call(a, 'join', 'o');
      for (let i = 0; i < 300; i++) await call(a, 'in-room', 'o', 'e', i);
      assert.equal(await rc.exists('socket.io'), 0, 'not the default stream');
      const len = await rc.xLen('my-stream');
      assert.ok(len >= 5 && len < 300, `MAXLEN ~ 5 trims (${len} entries)`);
      const pid = a._pid;
      const gone = once(a, 'disconnect');
      a.io.engine.close();
      await gone;
      await until(async () => (await rc.exists(`my:sess:${pid}`)) === 1, 5000, 'the session under the prefix', 20);
    } finally {
      await rc.quit();
      await node.stop();
      await redis.stop();
    }
  });
});
