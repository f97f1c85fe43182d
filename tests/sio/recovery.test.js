'use strict';
// Connection state recovery (--app test: connectionStateRecovery on, maxDisconnectionDuration
// 120 s) with socket.io-client on each transport. A client in a room loses its connection
// (the engine closed under it, or its TCP connection destroyed), another client makes the
// server emit in the meantime, and on reconnection the client must get socket.recovered,
// the same socket id, its rooms and data back, and every missed event exactly once, in
// order, and no volatile event. Disconnections the client or the server asked for are not
// recovered.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const {
  sleep, until, client, connected, connect, once, logged, call, normalize,
} = require('./helpers.js');

const TRANSPORTS = ['websocket', 'polling', 'default'];

let uniq = 0;

/* Waits until the server no longer lists `id` in `room` (it noticed the drop). */
async function serverNoticed(observer, room, id) {
  await until(async () => !(await call(observer, 'fetch', room)).includes(id), 5000,
    `server to notice that ${id} dropped`);
}

/* Destroys the TCP connection under a client's engine (no close frame, no close packet). */
function dropAbruptly(socket) {
  const transport = socket.io.engine.transport;
  if (transport.name === 'websocket' && transport.ws && transport.ws._socket) {
    transport.ws._socket.destroy();
  } else {
    socket.io.engine.close();
  }
}

/* What a socket logged from index `from`, offsets checked and stripped. */
function since(socket, from) {
  return socket.log.slice(from).map((e) => {
    if (e[0] === '#connect') return e;
    assert.equal(typeof e[e.length - 1], 'string', `offset missing on ${JSON.stringify(e)}`);
    return normalize(e.slice(0, -1));
  });
}

/* The server emits, on b's request, a mix of events a must and must not get back. */
async function emitWhileAway(b, r, id, base) {
  await call(b, 'in-room', r, 'm', base + 1);
  await call(b, 'to-room', id, 'direct', base + 2);
  await call(b, 'in-room', r, 'm', base + 3);
  await call(b, 'volatile-room', r, 'vol', base + 4); // volatile: never replayed
  await call(b, 'except-room', r, 'ex', base + 5); // a is excluded
  await call(b, 'in-room', r, 'bin', Buffer.from([base & 255, 2]));
  await call(b, 'in-room', `${r}-other`, 'no', base + 6); // a is not in that room
  await call(b, 'to-except', [r], [`${r}-other`], 'm', base + 7);
}

const expectedMissed = (base) => [
  ['m', base + 1],
  ['direct', base + 2],
  ['m', base + 3],
  ['bin', Buffer.from([base & 255, 2])],
  ['m', base + 7],
];

eachTarget('test', (ctx) => {
  for (const tr of TRANSPORTS) {
    ctx.test(`${tr}: engine closed under the client, events missed meanwhile, reconnect: recovered (twice)`, async () => {
      const r = `rec-${++uniq}`;
      const a = ctx.track(client(ctx.url, tr));
      a.on('connect', () => a.log.push(['#connect']));
      await connected(a);
      const b = ctx.track(await connect(ctx.url, tr));
      const id = a.id;
      await call(a, 'set-data', { n: 1 });
      await call(a, 'join', r);
      await call(b, 'in-room', r, 'pre', 0); // a needs one offset to recover from
      await logged(a, 'pre', 1);

      for (const base of [0, 100]) {
        const mark = a.log.length;
        const reason = once(a, 'disconnect');
        a.io.engine.close();
        const [why] = await reason;
        assert.ok(!/^io (client|server) disconnect$/.test(why), `reason ${why}`);
        await serverNoticed(b, r, id);
        await emitWhileAway(b, r, id, base);
        a.connect();
        await connected(a);
        assert.equal(a.recovered, true, 'socket.recovered');
        assert.equal(a.id, id, 'same socket id');
        await call(b, 'in-room', r, 'live', base + 8);
        await logged(a, 'live', base === 0 ? 1 : 2);
        await sleep(50);
        // Node replays the missed events before the CONNECT reply, so the client emits
        // them before 'connect'.
        assert.deepEqual(since(a, mark), [...expectedMissed(base), ['#connect'], ['live', base + 8]]);
        const info = await call(a, 'info');
        assert.equal(info.recovered, true);
        assert.equal(info.id, id);
        assert.deepEqual(info.rooms, [r]);
        assert.deepEqual(info.data, { n: 1 });
        assert.deepEqual((await call(b, 'fetch', r)), [id]);
      }
    });

    ctx.test(`${tr}: abrupt network drop with automatic reconnection: recovered, nothing lost or doubled`, async () => {
      const r = `rec-${++uniq}`;
      const a = ctx.track(client(ctx.url, tr, {
        reconnection: true, reconnectionDelay: 800, reconnectionDelayMax: 800, randomizationFactor: 0,
      }));
      await connected(a);
      if (tr === 'default') await until(() => a.io.engine.transport.name === 'websocket', 5000, 'upgrade');
      const b = ctx.track(await connect(ctx.url, tr));
      const id = a.id;
      await call(a, 'join', r);
      await call(b, 'in-room', r, 'pre', 0);
      await logged(a, 'pre', 1);
      const mark = a.log.length;
      const reason = once(a, 'disconnect');
      dropAbruptly(a);
      await reason;
      await serverNoticed(b, r, id);
      await emitWhileAway(b, r, id, 10);
      assert.equal(a.connected, false, 'reconnected before the events were emitted: the test proves nothing');
      await connected(a, 10000).catch(() => {});
      await until(() => a.connected, 10000, 'automatic reconnection');
      assert.equal(a.recovered, true, 'socket.recovered');
      assert.equal(a.id, id);
      await call(b, 'in-room', r, 'live', 18);
      await logged(a, 'live', 1);
      await sleep(50);
      const got = since(a, mark).filter((e) => e[0] !== '#connect');
      assert.deepEqual(got, [...expectedMissed(10), ['live', 18]]);
    });

    ctx.test(`${tr}: client-side disconnect is not recovered: new id, rooms and data gone`, async () => {
      const r = `rec-${++uniq}`;
      const a = ctx.track(await connect(ctx.url, tr));
      const b = ctx.track(await connect(ctx.url, tr));
      const id = a.id;
      await call(a, 'set-data', { n: 2 });
      await call(a, 'join', r);
      await call(b, 'in-room', r, 'pre', 0);
      await logged(a, 'pre', 1);
      a.disconnect();
      await serverNoticed(b, r, id);
      await call(b, 'in-room', r, 'm', 1);
      a.connect();
      await connected(a);
      assert.ok(!a.recovered);
      assert.notEqual(a.id, id);
      const info = await call(a, 'info');
      assert.equal(info.recovered, false);
      assert.deepEqual(info.rooms, []);
      assert.deepEqual(info.data, {});
      await sleep(50);
      assert.deepEqual(a.log.filter((e) => e[0] === 'm'), []);
    });

    ctx.test(`${tr}: server-side disconnect is not recovered`, async () => {
      const r = `rec-${++uniq}`;
      const a = ctx.track(await connect(ctx.url, tr));
      const b = ctx.track(await connect(ctx.url, tr));
      const id = a.id;
      await call(a, 'join', r);
      await call(b, 'in-room', r, 'pre', 0);
      await logged(a, 'pre', 1);
      const reason = once(a, 'disconnect');
      a.emit('kick');
      assert.equal((await reason)[0], 'io server disconnect');
      await serverNoticed(b, r, id);
      a.connect();
      await connected(a);
      assert.ok(!a.recovered);
      assert.notEqual(a.id, id);
      assert.deepEqual((await call(a, 'info')).rooms, []);
    });
  }
});
