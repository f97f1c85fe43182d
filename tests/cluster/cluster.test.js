'use strict';
// Scale-out through Redis (docs/cluster.md): two Socket.IO nodes on one real
// redis-server, clients spread over both, every cross-node operation of Node's
// @socket.io/redis-adapter 8.x. Pairs: two wsio nodes, and the mixed cluster in both
// directions (a wsio node + a Node socket.io 4.8 node running tests/sio/reference/
// server.js with the same app and @socket.io/redis-adapter), so each scenario runs with
// the asking client on either kind.
//
// Both nodes run `--app test` (tests/sio/TEST_APP.md) with --redis; the cluster events
// (all-rooms, server-count, sse, sse-ack, local-all, the "ping-nodes" server event) are
// documented in src/app/app_test.c and the reference server.
//
//   CLUSTER_PAIRS=wsio-wsio,wsio-node,node-wsio (default all three; "none": only the
//   option tests)
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('../sio/servers');
const { client, connected, call, once, logged, sleep, until, normalize, closeAll, withTimeout } = require('../sio/helpers');
const { startRedis, startRedisCluster } = require('./redis');
const { metric } = require('./helpers');

const PAIRS_RAW = process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio';
const PAIRS = PAIRS_RAW === 'none' ? [] : PAIRS_RAW.split(',').filter(Boolean);
for (const p of PAIRS) {
  if (!/^(wsio|node)-(wsio|node)$/.test(p)) throw new Error(`CLUSTER_PAIRS: "${p}" is not wsio|node-wsio|node (or "none")`);
}
const TIMEOUT_S = 1; // --redis-request-timeout: a request some node never answers ends after this
// CLUSTER_ADAPTER=sharded (tests/cluster/sharded.test.js): the same scenarios on
// createShardedAdapter (SPUBLISH/SSUBSCRIBE); the emitter and option tests run once, here.
// CLUSTER_ADAPTER=streams (tests/cluster/streams.test.js): the same on Node's
// @socket.io/redis-streams-adapter (a Redis stream, plus pub/sub for requests).
const ADAPTER = process.env.CLUSTER_ADAPTER || 'pubsub';
const SHARDED = ADAPTER === 'sharded';
const STREAMS = ADAPTER === 'streams';
const CLUSTER_MSGS = SHARDED || STREAMS; // socket.io-adapter's ClusterAdapter messages
// CLUSTER_SUB_MODE=static|dynamic-private (tests/cluster/sharded-static.test.js,
// sharded-private.test.js): the sharded adapter's subscriptionMode on both kinds of node.
const SUB_MODE = process.env.CLUSTER_SUB_MODE || 'dynamic';
const ADAPTER_ARGS = [...(ADAPTER === 'pubsub' ? [] : ['--redis-adapter', ADAPTER]),
  ...(SUB_MODE === 'dynamic' ? [] : ['--redis-subscription-mode', SUB_MODE])];
// CLUSTER_REDIS=cluster (tests/cluster/sharded-rcluster.test.js): a Redis Cluster of three
// masters instead of one Redis; wsio finds it out by itself (CLUSTER SLOTS), the Node
// node is told (--redis-cluster: node-redis createCluster).
const RCLUSTER = process.env.CLUSTER_REDIS === 'cluster';
const startStore = RCLUSTER ? () => startRedisCluster(3) : startRedis;
const LABEL = (ADAPTER === 'pubsub' ? '' : ADAPTER + ' ') + (SUB_MODE === 'dynamic' ? '' : SUB_MODE + ' ') + (RCLUSTER ? 'Redis Cluster ' : '');
const redisArgs = (kind, redis) => ['--redis', redis.url, ...ADAPTER_ARGS, ...(RCLUSTER && kind === 'node' ? ['--redis-cluster'] : [])];

async function startNode(kind, redis) {
  return start(kind, 'test', [...redisArgs(kind, redis), '--redis-request-timeout', String(TIMEOUT_S)]);
}

/* Connects a client, spread over the transports. */
let nth = 0;
async function join(node, nsp = '/') {
  const transports = ['websocket', 'polling', 'default'];
  const s = client(node.url, transports[nth++ % 3], { nsp });
  await connected(s);
  return s;
}

/* Sharded, subscriptionMode "dynamic": a node SSUBSCRIBEs a room's channel when the
 * room appears there, asynchronously (Node's adapter as wsio's), so a broadcast to a room
 * joined a moment ago on another node may race it: wait until Redis has the subscriber. */
async function roomSubscribed(redis, room, want = (n) => n >= 1, nsp = '/') {
  if (!SHARDED || SUB_MODE === 'static') return; // static: no room channels
  const { createClient } = require('redis');
  const cs = (redis.urls || [redis.url]).map((url) => createClient({ url }));
  await Promise.all(cs.map((c) => c.connect()));
  const count = async (c) => Number((await c.sendCommand(['PUBSUB', 'SHARDNUMSUB', `socket.io#${nsp}#${room}#`]))[1]);
  try { // (on a Redis Cluster only the slot's master counts the subscriber)
    await until(async () => want(Math.max(...(await Promise.all(cs.map(count))))), 5000,
      `the subscribers of room ${room}'s channel`, 20);
  } finally {
    await Promise.all(cs.map((c) => c.quit()));
  }
}

/* The same, whatever the mode (how many nodes SSUBSCRIBE the room's channel). */
async function roomSubscribedRaw(redis, room, want, nsp = '/') {
  const { createClient } = require('redis');
  const cs = (redis.urls || [redis.url]).map((url) => createClient({ url }));
  await Promise.all(cs.map((c) => c.connect()));
  const count = async (c) => Number((await c.sendCommand(['PUBSUB', 'SHARDNUMSUB', `socket.io#${nsp}#${room}#`]))[1]);
  try {
    await until(async () => want(Math.max(...(await Promise.all(cs.map(count))))), 5000,
      `the subscribers of room ${room}'s channel`, 20);
  } finally {
    await Promise.all(cs.map((c) => c.quit()));
  }
}

/* Nothing named ev arrives at s within ms. */
async function none(s, ev, ms = 300) {
  await sleep(ms);
  assert.deepEqual(s.log.filter((e) => e[0] === ev), [], `no "${ev}" expected`);
}

/* Both nodes see each other (PUBSUB NUMSUB counts both). */
async function clusterReady(a, b) {
  const ca = await join(a);
  const cb = await join(b);
  try {
    await until(async () => (await call(ca, 'server-count')) === 2 && (await call(cb, 'server-count')) === 2,
      10000, 'both nodes counted', 100);
  } finally {
    closeAll([ca, cb]);
  }
}

for (const pair of PAIRS) {
  const [kindA, kindB] = pair.split('-');
  describe(`${LABEL}cluster ${pair}`, { timeout: 120000 }, () => {
    let redis;
    let A;
    let B;
    const sockets = [];
    const sock = async (node, nsp) => {
      const s = await join(node, nsp);
      sockets.push(s);
      return s;
    };

    before(async () => {
      redis = await startStore();
      A = await startNode(kindA, redis);
      B = await startNode(kindB, redis);
      await clusterReady(A, B);
    });
    after(async () => {
      closeAll(sockets);
      await A?.stop();
      await B?.stop();
      await redis?.stop();
    });

    it('chat: join a room, a message to the room reaches the other node (binary intact), not outsiders', async () => {
      const a = await sock(A);
      const b = await sock(B);
      const out = await sock(B);
      assert.deepEqual(await call(b, 'join', 'chat-1'), ['chat-1']);
      await call(a, 'join', 'chat-1');
      await roomSubscribed(redis, 'chat-1', (n) => n === 2);
      await call(a, 'in-room', 'chat-1', 'message', { text: 'hi' }, Buffer.from([0, 1, 2, 255]));
      const [ev] = await logged(b, 'message', 1);
      assert.deepEqual(normalize(ev.slice(1, 3)), [{ text: 'hi' }, Buffer.from([0, 1, 2, 255])]);
      const [own] = await logged(a, 'message', 1); // the sender is a member: it gets it too
      assert.deepEqual(own[1], { text: 'hi' });
      await none(out, 'message');
    });

    it('a namespace created on demand on both nodes has its own channels', async () => {
      const a = await sock(A, '/dyn-cluster');
      const b = await sock(B, '/dyn-cluster');
      const root = await sock(B);
      await call(b, 'join', 'r');
      await call(root, 'join', 'r');
      await roomSubscribed(redis, 'r', (n) => n === 1, '/dyn-cluster');
      await call(a, 'in-room', 'r', 'dyn', 1);
      assert.equal((await logged(b, 'dyn', 1))[0][1], 1);
      await none(root, 'dyn');
      assert.deepEqual(await call(a, 'fetch', 'r'), [b.id]);
    });

    it('socket.to(room) excludes the sender; except rooms hold across nodes; each socket once', async () => {
      const a = await sock(A);
      const b = await sock(B);
      const c = await sock(B);
      await call(a, 'join', ['t1', 't2']);
      await call(b, 'join', ['t1', 't2']);
      await call(c, 'join', ['t1', 'muted']);
      await call(a, 'to-except', ['t1', 't2'], 'muted', 'news', 1);
      const [got] = await logged(b, 'news', 1);
      assert.equal(got[1], 1);
      await none(a, 'news');
      await none(c, 'news');
      assert.equal(b.log.filter((e) => e[0] === 'news').length, 1, 'b once, though in both rooms');
    });

    it('socket.broadcast, nsp.emit, except-room, volatile reach the other node; local does not', async () => {
      const a = await sock(A);
      const b = await sock(B);
      await call(a, 'broadcast', 'bc', 'x');
      assert.equal((await logged(b, 'bc', 1))[0][1], 'x');
      await none(a, 'bc', 100);
      await call(b, 'all', 'everyone', 2);
      assert.equal((await logged(a, 'everyone', 1))[0][1], 2);
      await call(b, 'join', 'quiet');
      await call(a, 'except-room', 'quiet', 'ex', 3);
      assert.equal((await logged(a, 'ex', 1))[0][1], 3);
      await none(b, 'ex');
      // Volatile: a polling client between two GETs may rightly miss it; a WebSocket
      // client whose socket is writable gets it.
      const w = client(B.url, 'websocket');
      sockets.push(w);
      await connected(w);
      await call(w, 'join', 'vol');
      await roomSubscribed(redis, 'vol');
      await call(a, 'volatile-room', 'vol', 'v', 4);
      assert.equal((await logged(w, 'v', 1))[0][1], 4);
      await call(a, 'local-all', 'here', 5);
      assert.equal((await logged(a, 'here', 1))[0][1], 5);
      await none(b, 'here');
    });

    it('broadcast with acks: answers from both nodes, and a timeout with the answers that came', async () => {
      const a = await sock(A);
      const b = await sock(B);
      const c = await sock(B);
      for (const [s, name] of [[a, 'A'], [b, 'B'], [c, 'C']]) {
        s.on('question', (q, cb) => { if (q !== 'skip-' + name) cb(`${name}:${q}`); });
        await call(s, 'join', 'askers');
      }
      assert.deepEqual(await call(a, 'ask-room', 'askers', 2000, 'q'),
        { timeout: false, responses: ['A:q', 'B:q', 'C:q'] });
      assert.deepEqual(await call(b, 'ask-room', 'askers', 2000, 'q2'),
        { timeout: false, responses: ['A:q2', 'B:q2', 'C:q2'] });
      const t0 = Date.now();
      assert.deepEqual(await call(a, 'ask-room', 'askers', 500, 'skip-C'),
        { timeout: true, responses: ['A:skip-C', 'B:skip-C'] });
      assert.ok(Date.now() - t0 < 3000, 'ended by its timeout');
    });

    it('broadcast with acks: binary answers from both nodes reach the requester intact', async () => {
      const a = await sock(A);
      const a2 = await sock(A);
      const b = await sock(B);
      const b2 = await sock(B);
      a.on('question', (q, cb) => cb({ who: 'A', data: Buffer.from([1, q]) }));
      a2.on('question', (q, cb) => cb({ who: 'A2', n: q }));
      b.on('question', (q, cb) => cb({ who: 'B', data: [Buffer.from([2, q]), Buffer.from([]), Buffer.from([3, 3])] }));
      b2.on('question', (q, cb) => cb({ who: 'B2', data: Buffer.from([4, q]) }));
      for (const s of [a, a2, b, b2]) await call(s, 'join', 'bin-askers');
      await roomSubscribed(redis, 'bin-askers', (n) => n === 2);
      const want = (q) => [
        { who: 'A', data: Buffer.from([1, q]) },
        { who: 'A2', n: q },
        { who: 'B', data: [Buffer.from([2, q]), Buffer.from([]), Buffer.from([3, 3])] },
        { who: 'B2', data: Buffer.from([4, q]) },
      ];
      const byWho = (x, y) => x.who.localeCompare(y.who);
      for (const [asker, q] of [[a, 9], [b, 10]]) { // the requester on either node
        const r = await call(asker, 'ask-room', 'bin-askers', 3000, q);
        assert.equal(r.timeout, false);
        assert.deepEqual(normalize(r.responses).sort(byWho), want(q));
      }
    });

    it('fetchSockets, socketsJoin, socketsLeave and disconnectSockets reach remote sockets', async () => {
      const a = await sock(A);
      const b = await sock(B);
      await call(b, 'join', 'f1');
      await call(a, 'join', 'f1');
      assert.deepEqual(await call(a, 'fetch', 'f1'), [a.id, b.id].sort());
      assert.deepEqual(await call(b, 'fetch', 'f1'), [a.id, b.id].sort());
      await call(a, 'sockets-join', 'f1', 'f2');
      await until(async () => (await call(b, 'info')).rooms.includes('f2'), 3000, 'b joined f2');
      await call(b, 'sockets-leave', 'f2', 'f2');
      await until(async () => !(await call(a, 'info')).rooms.includes('f2'), 3000, 'a left f2');
      // A remote socket's own id is a room on every node (RemoteSocket.emit).
      await call(a, 'in-room', b.id, 'to-you', 7);
      assert.equal((await logged(b, 'to-you', 1))[0][1], 7);
      const gone = once(b, 'disconnect');
      await call(a, 'kick-room', b.id, false);
      assert.equal((await gone)[0], 'io server disconnect');
      assert.equal(a.connected, true);
    });

    it('sharded static: rooms have no channel of their own, broadcasts still cross', { skip: !SHARDED || SUB_MODE !== 'static' },
      async () => {
        const a = await sock(A);
        const b = await sock(B);
        await call(a, 'join', 'st');
        await call(b, 'join', 'st');
        await call(a, 'in-room', 'st', 'st-ev', 1);
        assert.equal((await logged(b, 'st-ev', 1))[0][1], 1);
        await roomSubscribedRaw(redis, 'st', (n) => n === 0);
        await roomSubscribedRaw(redis, b.id, (n) => n === 0);
      });

    it('sharded dynamic-private: a socket id room has a channel while the socket is connected', { skip: !SHARDED || SUB_MODE !== 'dynamic-private' },
      async () => {
        const a = await sock(A);
        const b = await sock(B);
        await roomSubscribedRaw(redis, b.id, (n) => n === 1);
        await call(a, 'join', 'dp');
        await roomSubscribedRaw(redis, 'dp', (n) => n === 1);
        await call(a, 'in-room', b.id, 'to-b', 5); // on b's own channel
        assert.equal((await logged(b, 'to-b', 1))[0][1], 5);
        const id = b.id;
        b.disconnect();
        await roomSubscribedRaw(redis, id, (n) => n === 0);
      });

    it('sharded: a node holds a room channel while it has the public room (socket rooms: none)', { skip: !SHARDED || SUB_MODE !== 'dynamic' },
      async () => {
        const a = await sock(A);
        const a2 = await sock(A);
        const b = await sock(B);
        await call(a, 'join', 'held');
        await call(a2, 'join', 'held');
        await call(b, 'join', 'held');
        await roomSubscribed(redis, 'held', (n) => n === 2);
        await roomSubscribed(redis, a.id, (n) => n === 0); // a socket's own room has no channel
        a.disconnect();
        await sleep(200);
        await roomSubscribed(redis, 'held', (n) => n === 2); // a2 still holds it on A
        a2.disconnect(); // the last member on A: A unsubscribes, B keeps it
        await roomSubscribed(redis, 'held', (n) => n === 1);
        await call(b, 'leave', 'held');
        await roomSubscribed(redis, 'held', (n) => n === 0);
      });

    it('allRooms and serverCount count both nodes', async () => {
      const a = await sock(A);
      const b = await sock(B);
      await call(b, 'join', 'only-on-b');
      await call(a, 'join', 'only-on-a');
      if (CLUSTER_MSGS) { // Node's ClusterAdapter has no allRooms: serverCount ((SHARD)NUMSUB) only
        for (const s of [a, b]) assert.equal(await call(s, 'server-count'), 2);
        return;
      }
      for (const s of [a, b]) {
        const r = await call(s, 'all-rooms');
        assert.equal(r.timeout, false);
        for (const room of ['only-on-a', 'only-on-b', a.id, b.id]) assert.ok(r.rooms.includes(room), room);
        assert.equal(await call(s, 'server-count'), 2);
      }
    });

    it('serverSideEmit with and without acks, and its timeout', async () => {
      const a = await sock(A);
      const b = await sock(B);
      await call(a, 'sse', 'ping-nodes', 'one', 2);
      assert.deepEqual((await logged(b, 'server-event', 1))[0].slice(1, 3), ['one', 2]);
      await none(a, 'server-event', 100); // not to the sender's node
      assert.deepEqual(await call(a, 'sse-ack', 'ping-nodes', 'q'), { timeout: false, responses: [kindB] });
      assert.deepEqual(await call(b, 'sse-ack', 'ping-nodes', 'q'), { timeout: false, responses: [kindA] });
      // An event nobody answers: the request ends after --redis-request-timeout.
      // (Node's ClusterAdapter waits its fixed 5 s there, whatever the option.)
      const t0 = Date.now();
      const r = await withTimeout(new Promise((res) => a.emit('sse-ack', 'unanswered', res)),
        CLUSTER_MSGS && kindA === 'node' ? 8000 : 4000, 'sse-ack timeout');
      assert.deepEqual(r, { timeout: true, responses: [] });
      assert.ok(Date.now() - t0 >= TIMEOUT_S * 1000 - 100, 'waited for the request timeout');
    });
  });
}

for (const pair of PAIRS) {
  const [kindA, kindB] = pair.split('-');
  // The guide's chat (the default app of both servers) with its users spread over nodes.
  describe(`${LABEL}chat app ${pair}`, { timeout: 60000 }, () => {
    let redis;
    let A;
    let B;
    const sockets = [];
    before(async () => {
      redis = await startStore();
      A = await start(kindA, 'chat', redisArgs(kindA, redis));
      B = await start(kindB, 'chat', redisArgs(kindB, redis));
      // The chat app has no count event: wait until a room message crosses both ways.
      const x = await join(A);
      const y = await join(B);
      sockets.push(x, y);
      x.emit('join', 'probe');
      y.emit('join', 'probe');
      await until(async () => {
        x.emit('message', { room: 'probe', message: 'p' });
        await sleep(100);
        return y.log.some((e) => e[0] === 'message');
      }, 10000, 'a message crossing the nodes', 50);
    });
    after(async () => {
      closeAll(sockets);
      await A?.stop();
      await B?.stop();
      await redis?.stop();
    });

    it('join, user-joined, message to the room, typing: across nodes', async () => {
      const a = await join(A);
      const b = await join(B);
      const c = await join(B);
      sockets.push(a, b, c);
      // The chat's join has no ack: a member's own message coming back proves it joined,
      // so the joins happen in this order on a loaded machine too.
      const joined = async (s, n) => {
        s.emit('join', 'lobby');
        s.emit('message', { room: 'lobby', message: `in-${n}` });
        await until(() => s.log.some((e) => e[0] === 'message' && e[1] === `in-${n}`), 5000, `${n} joined`);
      };
      // (b's own user-joined may reach node A after a joined there, under load: a
      // member that joined a moment later may see it; what must hold is that each
      // join reaches the members of the other node.)
      const sawJoin = (s, id) => until(() => s.log.some((e) => e[0] === 'user-joined' && e[1] === id), 5000,
        `user-joined ${id}`);
      await joined(b, 'b');
      await joined(a, 'a');
      await sawJoin(b, a.id);
      await joined(c, 'c');
      await sawJoin(a, c.id);
      await sawJoin(b, c.id);
      assert.ok(!b.log.some((e) => e[0] === 'user-joined' && e[1] === b.id), 'not to the joiner itself');
      a.emit('message', { room: 'lobby', message: 'hello all' });
      for (const s of [a, b, c]) {
        await until(() => s.log.some((e) => e[0] === 'message' && e[1] === 'hello all'), 5000, 'hello all');
      }
      b.emit('typing', 'lobby');
      assert.equal((await logged(a, 'typing', 1))[0][1], b.id);
      assert.equal((await logged(c, 'typing', 1))[0][1], b.id);
      await none(b, 'typing');
    });
  });
}

if (PAIRS.includes('wsio-wsio')) {
  // What @socket.io/redis-emitter publishes (a backend process that is not a server):
  // the classic broadcast with uid "emitter", written here with the same encoder.
  describe('emitter messages (wsio node)', { skip: ADAPTER !== 'pubsub', timeout: 60000 }, () => {
    let redis;
    let A;
    let pub;
    before(async () => {
      redis = await startRedis();
      A = await startNode('wsio', redis);
      const { createClient } = require('redis');
      pub = createClient({ url: redis.url });
      await pub.connect();
    });
    after(async () => {
      await pub?.quit();
      await A?.stop();
      await redis?.stop();
    });

    it('reach clients in the room (binary intact), not others', async () => {
      const msgpack = require('notepack.io');
      const inRoom = await join(A);
      const out = await join(A);
      await call(inRoom, 'join', 'news');
      const packet = { type: 2, data: ['headline', 'x', Buffer.from([9, 8])], nsp: '/' };
      const opts = { rooms: ['news'], except: [], flags: {} };
      await until(async () => {
        await pub.publish('socket.io#/#news#', msgpack.encode(['emitter', packet, opts]));
        await sleep(100);
        return inRoom.log.some((e) => e[0] === 'headline');
      }, 5000, 'the emitter message', 50);
      const [ev] = await logged(inRoom, 'headline', 1);
      assert.deepEqual(normalize(ev.slice(1, 3)), ['x', Buffer.from([9, 8])]);
      await none(out, 'headline');
      closeAll([inRoom, out]);
    });
  });
}

if (PAIRS.includes('wsio-wsio')) {
  describe(`${LABEL}cluster faults (two wsio nodes)`, { timeout: 120000 }, () => {
    let redis;
    let A;
    let B;
    const sockets = [];
    const sock = async (node) => {
      const s = await join(node);
      sockets.push(s);
      return s;
    };

    before(async () => {
      redis = await startStore();
      A = await startNode('wsio', redis);
      B = await startNode('wsio', redis);
      await clusterReady(A, B);
    });
    after(async () => {
      closeAll(sockets);
      await A?.stop(); // fails on a crash or a sanitizer report
      await B?.stop();
      await redis?.stop();
    });

    it('/metrics shows the adapter up, the node count and messages both ways', async () => {
      const a = await sock(A);
      const b = await sock(B);
      await call(b, 'join', 'm');
      await call(a, 'in-room', 'm', 'count-me');
      await logged(b, 'count-me', 1);
      await call(a, 'server-count');
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 1);
      assert.equal(await metric(A, 'wsio_redis_nodes'), 2);
      assert.ok(await metric(A, 'wsio_redis_messages_out_total') >= 1);
      assert.ok(await metric(B, 'wsio_redis_messages_in_total') >= 1);
    });

    it('Redis killed: local rooms keep working, requests end at once; restarted: cross-node resumes', async () => {
      const a = await sock(A);
      const a2 = await sock(A);
      const b = await sock(B);
      for (const s of [a, a2, b]) await call(s, 'join', 'live');
      await redis.kill();
      await until(async () => (await metric(A, 'wsio_redis_adapter_up')) === 0, 5000, 'A sees Redis down');
      await call(a, 'in-room', 'live', 'during', 1);
      assert.equal((await logged(a2, 'during', 1))[0][1], 1, 'local delivery without Redis');
      await none(b, 'during', 200); // nothing queued for later either
      assert.ok(await metric(A, 'wsio_redis_messages_dropped_total') >= 1, 'the drop is counted');
      const t0 = Date.now();
      assert.deepEqual(await call(a, 'fetch', 'live'), [a.id, a2.id].sort(), 'this node only');
      assert.ok(Date.now() - t0 < 1000, 'no wait for a Redis that is away');
      await redis.restart();
      await until(async () => (await metric(A, 'wsio_redis_adapter_up')) === 1 &&
        (await metric(B, 'wsio_redis_adapter_up')) === 1, 15000, 'both reconnected');
      await until(async () => (await call(a, 'server-count')) === 2, 5000, 'both subscribed again', 100);
      await call(a, 'in-room', 'live', 'after', 2);
      assert.equal((await logged(b, 'after', 1))[0][1], 2, 'cross-node after the reconnect');
      assert.ok(await metric(A, 'wsio_redis_reconnects_total') >= 1);
      assert.ok(A.alive() && B.alive());
    });

    /* On a Redis Cluster: each master and how many subscribe the main channel there. */
    const mainSubscribers = async () => {
      const { createClient } = require('redis');
      const out = [];
      for (const m of redis.masters || []) {
        const c = createClient({ url: m.url });
        await c.connect();
        out.push({ m, c, n: Number((await c.sendCommand(['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#']))[1]) });
      }
      return out;
    };
    const owner = async () => {
      const all = await mainSubscribers();
      await Promise.all(all.map((x) => x.c.quit()));
      return all.find((x) => x.n >= 2)?.m;
    };

    it('a Redis Cluster slot moved to another master: both nodes follow it', { skip: !RCLUSTER }, async () => {
      const a = await sock(A);
      const b = await sock(B);
      const all = await mainSubscribers();
      try {
        const from = all.find((x) => x.n >= 2);
        const to = all.find((x) => x !== from);
        assert.ok(from && to, 'a master holds the main channel');
        const id = async (x) => String(await x.c.sendCommand(['CLUSTER', 'MYID']));
        const [fromId, toId] = [await id(from), await id(to)];
        const slot = String(await from.c.sendCommand(['CLUSTER', 'KEYSLOT', 'socket.io#/#']));
        await to.c.sendCommand(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId]);
        await from.c.sendCommand(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId]);
        // While it migrates, Redis serves the slot's sharded channels from the source
        // (SPUBLISH/SSUBSCRIBE never meet ASK; the target answers MOVED): broadcasts
        // and counts go on as before.
        await call(a, 'all', 'migrating', 1);
        assert.equal((await logged(b, 'migrating', 1))[0][1], 1);
        assert.equal(await call(b, 'server-count'), 2);
        for (const x of all) await x.c.sendCommand(['CLUSTER', 'SETSLOT', slot, 'NODE', toId]);
        // The old master drops the slot's subscribers (an unasked sunsubscribe): both
        // nodes ask for the slots again and subscribe on the new one.
        await until(async () => Number((await to.c.sendCommand(['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#']))[1]) === 2,
          10000, 'both nodes subscribed on the new master', 50);
      } finally {
        await Promise.all(all.map((x) => x.c.quit()));
      }
      await until(async () => (await call(a, 'server-count')) === 2, 5000, 'counted on the new master', 100);
      await call(a, 'all', 'moved-all', 1);
      assert.equal((await logged(b, 'moved-all', 1))[0][1], 1);
      await call(b, 'all', 'moved-back', 2);
      assert.equal((await logged(a, 'moved-back', 1))[0][1], 2);
    });

    it('a Redis Cluster master killed and restarted: local goes on, its channels come back', { skip: !RCLUSTER }, async () => {
      // The master of the main channel socket.io#/# (where both nodes are counted).
      const owner_ = await owner();
      assert.ok(owner_, 'a master holds the main channel');
      const a = await sock(A);
      const a2 = await sock(A);
      const b = await sock(B);
      for (const s of [a, a2, b]) await call(s, 'join', 'mk');
      await owner_.kill();
      await call(a, 'in-room', 'mk', 'during-m', 1);
      assert.equal((await logged(a2, 'during-m', 1))[0][1], 1, 'local delivery without that master');
      await owner_.restart();
      await redis.ready();
      await until(async () => (await call(a, 'server-count')) === 2 && (await call(b, 'server-count')) === 2, 20000,
        'both subscribed on the restarted master', 200);
      await call(a, 'all', 'back-all', 1); // the main channel, on the restarted master
      assert.equal((await logged(b, 'back-all', 1))[0][1], 1);
      await call(b, 'in-room', 'mk', 'back-room', 2); // a room channel, wherever its slot is
      assert.equal((await logged(a, 'back-room', 1))[0][1], 2);
      assert.ok(A.alive() && B.alive());
    });

    it('a node killed: the other counts one node and does not wait for it', async () => {
      const C = await startNode('wsio', redis);
      const a = await sock(A);
      await until(async () => (await call(a, 'server-count')) === 3, 5000, 'three nodes', 100);
      process.kill(C.pid, 'SIGKILL');
      await C.exited;
      await until(async () => (await call(a, 'server-count')) === 2, 5000, 'two nodes again', 100);
      // timeout: false: the request did not wait for the dead node (it would time out).
      assert.deepEqual(await call(a, 'sse-ack', 'ping-nodes', 'after-kill'), { timeout: false, responses: ['wsio'] });
    });
  });
}

describe('wsio-server --redis options', { skip: ADAPTER !== 'pubsub' }, () => {
  it('refuses an unknown kind and a malformed URL with a clear error', async () => {
    for (const [args, want] of [
      [['--redis', 'redis://127.0.0.1:1', '--redis-adapter', 'shardd'], /pubsub, sharded or streams/],
      [['--redis', 'http://x'], /redis\[s\]:\/\/\[user:pass@\]host:port\[\/db\]/],
    ]) {
      await assert.rejects(start('wsio', 'test', args), want);
    }
  });

  it('takes --redis and --redis-key-prefix from the config file and the environment', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const redis = await startRedis();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-cluster-'));
    const conf = path.join(dir, 'wsio.conf');
    fs.writeFileSync(conf, `redis = ${redis.url}\nredis-key-prefix = from-file\n`);
    process.env.WSIO_REDIS_KEY_PREFIX = 'from-env'; // the environment wins over the file
    let node;
    try {
      node = await start('wsio', 'test', ['--config', conf]);
      await until(() => /redis: connected/.test(node.output()), 5000, 'connected to Redis');
      assert.match(node.output(), new RegExp(`Redis pub/sub adapter, 127\\.0\\.0\\.1:${redis.port}, key prefix from-env`));
    } finally {
      delete process.env.WSIO_REDIS_KEY_PREFIX;
      await node?.stop();
      await redis.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts and serves local clients while Redis is unreachable', async () => {
    const { freePort } = require('./redis');
    const port = await freePort(); // nothing listens there
    const node = await start('wsio', 'test', ['--redis', `redis://127.0.0.1:${port}`]);
    try {
      const a = await join(node);
      const b = await join(node);
      await call(b, 'join', 'solo');
      await call(a, 'in-room', 'solo', 'hello');
      await logged(b, 'hello', 1);
      assert.deepEqual(await call(a, 'fetch', 'solo'), [b.id]);
      closeAll([a, b]);
      assert.match(node.output(), /redis: cannot connect/);
    } finally {
      await node.stop();
    }
  });
});
