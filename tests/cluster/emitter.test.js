'use strict';
// Node's real @socket.io/redis-emitter (v5, node-redis v4 client): a backend process that
// is not a Socket.IO server emits to the clients of a cluster (docs/cluster.md "Emitting
// from a backend"). Every scenario runs against a wsio node and, beside it on the same
// Redis, a Node socket.io 4.8 node with @socket.io/redis-adapter (tests/sio/reference/
// server.js): whatever the emitter does to one kind's clients it must do to the other's.
//
// The emitter publishes the classic adapter's messages (PUBLISH of msgpack
// [uid "emitter", packet, opts] on socket.io#nsp#[room#], JSON requests on
// socket.io-request#nsp#). It has no sharded mode (v5.1 calls redisClient.publish only):
// with `--redis-adapter sharded` on every node nobody hears it, wsio as Node; the last
// block checks that and nothing more.
//
//   CLUSTER_PAIRS: as in cluster.test.js. Any pair with "node" (the default): the two
//   nodes are wsio + Node; only wsio pairs (the ASan run): two wsio nodes; "none": skipped.
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/emitter.test.js

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createClient } = require('redis');
const { Emitter } = require('@socket.io/redis-emitter');
const { start } = require('../sio/servers');
const { client, connected, call, logged, sleep, until, normalize, closeAll } = require('../sio/helpers');
const { startRedis } = require('./redis');

const PAIRS_RAW = process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio';
const KINDS = PAIRS_RAW === 'none' ? [] : /node/.test(PAIRS_RAW) ? ['wsio', 'node'] : ['wsio', 'wsio'];

/* A client of node on one transport (the third: polling, then the upgrade). */
async function join(node, transport, nsp = '/') {
  const s = client(node.url, transport, { nsp });
  s.kind = `${node.kind} ${transport}`;
  // The test app has connection state recovery on. A wsio node keeps it with --redis
  // (recovery within the node, docs/cluster.md), so each non-volatile event ends with
  // its string offset; Node's RedisAdapter has no recovery, so no offset there.
  s.offsets = node.kind === 'wsio';
  await connected(s);
  return s;
}

/* The arguments of a logged event [ev, ...args], its offset checked and dropped. */
function args(s, entry, volatile = false) {
  if (!s.offsets || volatile) return entry.slice(1);
  assert.equal(typeof entry.at(-1), 'string', `${s.kind}: ${JSON.stringify(entry).slice(0, 200)} ends with an offset`);
  return entry.slice(1, -1);
}

/* Both nodes subscribed the namespace's request channel (and, in the same step, its
 * broadcast pattern): an emit published now reaches both. */
async function subscribed(redis, nsp, n) {
  const c = createClient({ url: redis.url });
  await c.connect();
  try {
    await until(async () => Number((await c.sendCommand(['PUBSUB', 'NUMSUB', `socket.io-request#${nsp}#`]))[1]) === n, 10000, `${n} nodes subscribed to ${nsp}`, 50);
  } finally {
    await c.quit();
  }
}

describe('@socket.io/redis-emitter (pubsub adapter)', { skip: KINDS.length === 0, timeout: 120000 }, () => {
  let redis;
  const nodes = [];
  let pub;
  let emitter;
  const all = []; // every client, closed at the end
  let fenceN = 0;

  /* Three clients per node, one per transport. */
  const clients = async (nsp = '/') => {
    const out = [];
    for (const node of nodes) {
      for (const tr of ['websocket', 'polling', 'default']) {
        const s = await join(node, tr, nsp);
        all.push(s);
        out.push(s);
      }
    }
    return out;
  };

  /* An emit to everyone of the namespace after the one under test: once it has arrived
   * at a client, anything the emitter sent that client before has too (one Redis
   * connection, one subscriber connection per node, one transport per client, all in
   * order). So "s did not get ev" needs no sleep. */
  const fence = async (ss, em = emitter) => {
    const id = ++fenceN;
    em.emit('fence', id);
    for (const s of ss) await until(() => s.log.some((e) => e[0] === 'fence' && e[1] === id), 5000, `fence ${id} at ${s.kind}`, 5);
  };
  const got = (s, ev) => s.log.filter((e) => e[0] === ev);

  before(async () => {
    redis = await startRedis();
    for (const kind of KINDS) nodes.push(await start(kind, 'test', ['--redis', redis.url]));
    await subscribed(redis, '/', nodes.length);
    pub = createClient({ url: redis.url });
    await pub.connect();
    emitter = new Emitter(pub);
  });
  after(async () => {
    closeAll(all);
    await pub?.quit();
    for (const n of nodes) await n.stop(); // fails on a crash or a sanitizer report
    await redis?.stop();
  });

  it('emit to all: every client of the namespace on both nodes, every transport, once', async () => {
    const ss = await clients();
    emitter.emit('to-all', 'hello', { n: 1, list: [1, 'two', null] });
    for (const s of ss) {
      const [ev] = await logged(s, 'to-all', 1);
      assert.deepEqual(args(s, ev), ['hello', { n: 1, list: [1, 'two', null] }], s.kind);
    }
    await fence(ss);
    for (const s of ss) assert.equal(got(s, 'to-all').length, 1, `${s.kind}: once`);
  });

  it('to(room), to([rooms]) each socket once, except(room), to(socket id)', async () => {
    const ss = await clients();
    const [a, b, c, d, e, f] = ss; // a, b, c on the first node; d, e, f on the second
    for (const s of [a, b, d, e]) await call(s, 'join', 'news');
    for (const s of [b, c, e]) await call(s, 'join', 'sport');
    for (const s of [b, e]) await call(s, 'join', 'muted');

    emitter.to('news').emit('headline', 'n1'); // one room: the room's own channel
    emitter.to(['news', 'sport']).emit('digest', 'd1'); // several: the namespace channel
    emitter.to('news').except('muted').emit('loud', 'l1');
    emitter.except('news').emit('outside', 'o1');
    emitter.to(f.id).emit('private', 'p1'); // a socket's own room, on the second node
    await fence(ss);

    const names = (ev) => ss.filter((s) => got(s, ev).length > 0).map((s) => ss.indexOf(s));
    assert.deepEqual(names('headline'), [0, 1, 3, 4], 'headline: the members of news');
    assert.deepEqual(names('digest'), [0, 1, 2, 3, 4], 'digest: news or sport');
    for (const s of ss) assert.ok(got(s, 'digest').length <= 1, `${s.kind}: digest once though in both rooms`);
    assert.deepEqual(names('loud'), [0, 3], 'loud: news but not muted');
    assert.deepEqual(names('outside'), [2, 5], 'outside: all but news');
    assert.deepEqual(names('private'), [5], 'private: that socket only');
    assert.deepEqual(args(f, got(f, 'private')[0]), ['p1']);
  });

  it('binary arguments arrive intact (nested, several, empty)', async () => {
    const ss = await clients();
    const big = Buffer.alloc(70000, 7); // past msgpack's bin16
    big[0] = 0;
    big[69999] = 255;
    emitter.emit('bin', Buffer.from([0, 1, 2, 255]), { file: Buffer.from('name\u00e9'), meta: [Buffer.alloc(0), 'x'] }, big);
    for (const s of ss) {
      const [ev] = await logged(s, 'bin', 1);
      assert.deepEqual(normalize(args(s, ev)),
        [Buffer.from([0, 1, 2, 255]), { file: Buffer.from('name\u00e9'), meta: [Buffer.alloc(0), 'x'] }, big], s.kind);
    }
  });

  it('of(namespace): reaches that namespace only, created on demand on both nodes', async () => {
    const dyn = await clients('/dyn-emitter');
    const root = await clients('/');
    await subscribed(redis, '/dyn-emitter', nodes.length);
    const em = emitter.of('/dyn-emitter');
    em.emit('in-dyn', 1);
    await call(dyn[0], 'join', 'r'); // a room of the namespace, on the first node
    await call(dyn[4], 'join', 'r'); // and on the second
    em.to('r').emit('in-dyn-room', 2);
    emitter.to('r').emit('in-root-room', 3); // "/"'s room r: nobody there joined it
    for (const s of dyn) assert.deepEqual(args(s, (await logged(s, 'in-dyn', 1))[0]), [1], s.kind);
    await fence(dyn, em);
    await fence(root);
    assert.deepEqual(dyn.filter((s) => got(s, 'in-dyn-room').length).map((s) => dyn.indexOf(s)), [0, 4]);
    for (const s of [...dyn, ...root]) assert.equal(got(s, 'in-root-room').length, 0, s.kind);
    for (const s of root) assert.equal(got(s, 'in-dyn').length, 0, `${s.kind}: not to /`);
  });

  it('volatile: a WebSocket client that is writable gets it', async () => {
    const ws = [];
    for (const node of nodes) {
      const s = await join(node, 'websocket');
      all.push(s);
      ws.push(s);
    }
    // One at a time: Node drops a volatile packet while the WebSocket still writes the last.
    emitter.volatile.emit('vol', 'v1');
    for (const s of ws) assert.deepEqual(args(s, (await logged(s, 'vol', 1))[0], true), ['v1'], `${s.kind}: no offset`);
    emitter.volatile.to(ws[1].id).emit('vol-one', 'v2');
    assert.deepEqual(args(ws[1], (await logged(ws[1], 'vol-one', 1))[0], true), ['v2']);
    await fence(ws);
    assert.equal(got(ws[0], 'vol-one').length, 0);
  });

  it('serverSideEmit reaches the server-side handlers of both nodes', async () => {
    const ss = await clients();
    // The test app's "ping-nodes" handler (tests/sio/TEST_APP.md) tells its node's clients.
    emitter.serverSideEmit('ping-nodes', 'from-emitter', { n: 3 });
    for (const s of ss) {
      const [ev] = await logged(s, 'server-event', 1);
      assert.deepEqual(args(s, ev), ['from-emitter', { n: 3 }], s.kind);
    }
    emitter.serverSideEmit('nobody-listens', 1); // an unknown event is ignored, nothing breaks
    assert.throws(() => emitter.serverSideEmit('ping-nodes', () => {}), /not supported/); // v5: no acks
    await fence(ss);
    for (const s of ss) assert.equal(got(s, 'server-event').length, 1, s.kind);
  });

  it('socketsJoin and socketsLeave act on the sockets of both nodes, except rooms held', async () => {
    const ss = await clients();
    const [a, b, c, d, e, f] = ss;
    for (const s of [a, b, d, e]) await call(s, 'join', 'team');
    for (const s of [b, e]) await call(s, 'join', 'away');
    const rooms = async (s) => (await call(s, 'info')).rooms;

    emitter.in('team').except('away').socketsJoin(['chan-1', 'chan-2']);
    const joined = [a, d];
    for (const s of joined) {
      await until(async () => (await rooms(s)).includes('chan-2'), 5000, `${s.kind} joined`);
      assert.ok((await rooms(s)).includes('chan-1'), s.kind);
    }
    await fence(ss);
    for (const s of [b, c, e, f]) assert.ok(!(await rooms(s)).includes('chan-1'), `${s.kind}: not joined`);

    // The room works as one: a broadcast to it reaches the joined sockets of both nodes.
    emitter.to('chan-1').emit('in-chan', 1);
    for (const s of joined) await logged(s, 'in-chan', 1);

    emitter.socketsJoin('everyone'); // no room: every socket of the namespace
    for (const s of ss) await until(async () => (await rooms(s)).includes('everyone'), 5000, `${s.kind} in everyone`);

    emitter.in('chan-1').socketsLeave('chan-2');
    for (const s of joined) await until(async () => !(await rooms(s)).includes('chan-2'), 5000, `${s.kind} left`);
    for (const s of joined) assert.ok((await rooms(s)).includes('chan-1'), `${s.kind} still in chan-1`);
  });

  it('disconnectSockets: the room\'s sockets on both nodes go, the others stay; close=true ends the connection', async () => {
    const ss = await clients();
    const [a, b, c, d, e, f] = ss;
    for (const s of [a, d]) await call(s, 'join', 'kick-me');
    for (const s of [c, f]) await call(s, 'join', 'close-me');
    const gone = (s) => until(() => !s.connected, 5000, `${s.kind} disconnected`, 5);

    emitter.in('kick-me').disconnectSockets();
    for (const s of [a, d]) {
      await gone(s);
      assert.deepEqual(s.disconnects, ['io server disconnect'], s.kind);
    }
    emitter.in('close-me').disconnectSockets(true);
    for (const s of [c, f]) {
      await gone(s);
      await until(() => s.io.engine.readyState === 'closed', 5000, `${s.kind}: the connection closed`);
    }
    for (const s of [b, e]) {
      assert.equal(s.connected, true, s.kind);
      assert.equal(typeof (await call(s, 'info')).id, 'string', `${s.kind} still served`);
    }
  });
});

describe('@socket.io/redis-emitter with the sharded adapter: no node hears it', { skip: KINDS.length === 0, timeout: 60000 },
  () => {
    let redis;
    const nodes = [];
    let pub;
    const ss = [];
    before(async () => {
      redis = await startRedis();
      for (const kind of KINDS) nodes.push(await start(kind, 'test', ['--redis', redis.url, '--redis-adapter', 'sharded']));
      pub = createClient({ url: redis.url });
      await pub.connect();
      await until(async () => Number((await pub.sendCommand(['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#']))[1]) === nodes.length,
        10000, 'both nodes sharded-subscribed', 50);
    });
    after(async () => {
      closeAll(ss);
      await pub?.quit();
      for (const n of nodes) await n.stop();
      await redis?.stop();
    });

    it('an emit and a serverSideEmit are PUBLISHed to channels no sharded node subscribes', async () => {
      for (const node of nodes) {
        const s = await join(node, 'websocket');
        ss.push(s);
        await call(s, 'join', 'news');
      }
      // What a node subscribes: shard channels only (SSUBSCRIBE), which PUBLISH never reaches.
      assert.equal(Number(await pub.sendCommand(['PUBSUB', 'NUMPAT'])), 0);
      assert.deepEqual(await pub.sendCommand(['PUBSUB', 'CHANNELS']), []);
      const emitter = new Emitter(pub);
      emitter.emit('lost', 1);
      emitter.to('news').emit('lost', 2);
      emitter.serverSideEmit('ping-nodes', 'lost');
      await pub.ping(); // every publish above has been handled by Redis
      await sleep(300);
      for (const s of ss) assert.deepEqual(s.log, [], 'nothing arrives');
    });
  });
