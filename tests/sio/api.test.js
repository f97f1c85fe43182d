'use strict';
// Server API features through --app test (tests/sio/TEST_APP.md), with socket.io-client
// on each transport: rooms (join/leave), every broadcast variant, server->client acks with
// timeouts (single and broadcast), client->server acks with timeouts, middleware refusal,
// dynamic namespaces, volatile events, server-side disconnect, fetchSockets, socketsJoin,
// socketsLeave, disconnectSockets, socket.data, and the offsets connection state recovery
// appends to events.
//
// --app test runs with connectionStateRecovery on, so every non-volatile event without an
// ack id carries a trailing string offset; ev() below strips and checks it.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const {
  sleep, until, connect, connectError, once, logged, call, ack, normalize,
} = require('./helpers.js');

const TRANSPORTS = ['websocket', 'polling', 'default'];

let uniq = 0;
const room = (name) => `${name}-${++uniq}`;

/* The `name` events of a socket's log, each [name, ...args] without its offset (checked). */
function events(socket, name) {
  return socket.log.filter((e) => e[0] === name).map((e) => {
    const offset = e[e.length - 1];
    assert.equal(typeof offset, 'string', `event ${JSON.stringify(e)} should end with an offset`);
    return e.slice(0, -1);
  });
}

/* Every event of a socket's log except `question`, offsets stripped, in arrival order. */
function received(socket) {
  return socket.log.filter((e) => e[0] !== 'question').map((e) => e.slice(0, -1));
}

/*
 * After every socket has made one ack round trip, everything the server sent them before
 * has arrived (one connection each, delivered in order).
 */
async function settle(...sockets) {
  await Promise.all(sockets.map((s) => call(s, 'info')));
}

eachTarget('test', (ctx) => {
  for (const tr of TRANSPORTS) {
    const conn = async (opts) => ctx.track(await connect(ctx.url, tr, opts));

    ctx.test(`${tr}: join/leave and every broadcast variant reach exactly the right sockets`, async () => {
      const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
      const r1 = room('r1');
      const r2 = room('r2');
      assert.deepEqual(await call(a, 'join', r1), [r1]);
      assert.deepEqual(await call(b, 'join', [r1, r2]), [r1, r2].sort());
      assert.deepEqual(await call(c, 'join', r2), [r2]);

      await call(a, 'in-room', r1, 'e1', 1, { x: 'y' }); // a, b
      await call(a, 'to-room', r1, 'e2', 2); // b (sender excluded)
      await call(a, 'except-room', r1, 'e3', 3); // c (and any socket of other tests)
      await call(a, 'to-except', [r1, r2], [], 'e4', 4); // b once, c
      await call(a, 'to-except', [r2], [r1], 'e5', 5); // c
      await call(a, 'broadcast', 'e6', 6); // b, c (and others)
      await call(a, 'all', 'e7', 7); // a, b, c (and others)
      await call(a, 'in-room', [r1, r2], 'e8', 8); // a, b once, c
      assert.deepEqual(await call(b, 'leave', r1), [r2]);
      await call(a, 'in-room', r1, 'e9', 9); // a
      await call(a, 'to-room', r1, 'e10', 10); // nobody
      await settle(a, b, c);

      assert.deepEqual(received(a), [['e1', 1, { x: 'y' }], ['e7', 7], ['e8', 8], ['e9', 9]]);
      assert.deepEqual(received(b), [['e1', 1, { x: 'y' }], ['e2', 2], ['e4', 4], ['e6', 6], ['e7', 7], ['e8', 8]]);
      assert.deepEqual(received(c), [['e3', 3], ['e4', 4], ['e5', 5], ['e6', 6], ['e7', 7], ['e8', 8]]);
      for (const s of [a, b, c]) events(s, 'e7'); // offsets present
    });

    ctx.test(`${tr}: rooms are per namespace; a socket's own id is a room`, async () => {
      const a = await conn();
      const b = await conn();
      const d = await conn({ nsp: '/dyn-rooms' });
      const r = room('shared');
      await call(a, 'join', r);
      await call(d, 'join', r);
      await call(b, 'in-room', r, 'hello');
      await call(b, 'to-room', a.id, 'direct', 'to-a');
      await settle(a, b, d);
      assert.deepEqual(received(a), [['hello'], ['direct', 'to-a']]);
      assert.deepEqual(received(d), []);
      assert.deepEqual(received(b), []);
      const info = await call(a, 'info');
      assert.equal(info.id, a.id);
      assert.deepEqual(info.rooms, [r]);
    });

    ctx.test(`${tr}: binary through broadcasts`, async () => {
      const [a, b] = await Promise.all([conn(), conn()]);
      const r = room('bin');
      await call(a, 'join', r);
      await call(b, 'join', r);
      const payload = [Buffer.from([1, 2, 3]), { n: [Buffer.from('x'), { d: Buffer.alloc(0) }] }];
      await call(a, 'to-room', r, 'bin', ...payload);
      const [[, ...args]] = await logged(b, 'bin', 1);
      assert.deepEqual(normalize(args.slice(0, -1)), normalize(payload));
      assert.equal(typeof args[args.length - 1], 'string');
    });

    ctx.test(`${tr}: server->client ack: answered, binary, and timeout`, async () => {
      const s = await conn();
      let mode = 'answer';
      s.on('question', (...args) => {
        const cb = args.pop();
        assert.equal(typeof cb, 'function', 'question must carry an ack id');
        if (mode === 'answer') cb('yes', ...args);
        else if (mode === 'binary') cb(Buffer.from([7, 7]), { b: Buffer.from([8]) });
        // mode 'silent': never acknowledged
      });
      assert.deepEqual(await call(s, 'ask', 2000, 'q', 1), ['yes', 'q', 1]);
      mode = 'binary';
      assert.deepEqual(normalize(await call(s, 'ask', 2000)), [Buffer.from([7, 7]), { b: Buffer.from([8]) }]);
      mode = 'silent';
      const t0 = Date.now();
      assert.equal(await call(s, 'ask', 300, 'q'), 'timeout');
      assert.ok(Date.now() - t0 >= 250, 'timed out before 300 ms');
      // the question events themselves carry no offset
      for (const e of s.log.filter((x) => x[0] === 'question')) assert.notEqual(typeof e[e.length - 1], 'string');
    });

    ctx.test(`${tr}: broadcast with ack collects one response per client, or times out with the partial list`, async () => {
      const [a, b, c, asker] = await Promise.all([conn(), conn(), conn(), conn()]);
      const r = room('ask');
      for (const [s, name] of [[a, 'A'], [b, 'B'], [c, 'C']]) {
        await call(s, 'join', r);
        s.on('question', (q, cb) => { if (q === 'all' || name !== 'C') cb(name); });
      }
      assert.deepEqual(await call(asker, 'ask-room', r, 2000, 'all'), { timeout: false, responses: ['A', 'B', 'C'] });
      const t0 = Date.now();
      assert.deepEqual(await call(asker, 'ask-room', r, 300, 'some'), { timeout: true, responses: ['A', 'B'] });
      assert.ok(Date.now() - t0 >= 250);
      assert.deepEqual(await call(asker, 'ask-room', room('empty'), 2000, 'none'), { timeout: false, responses: [] });
    });

    ctx.test(`${tr}: broadcast with ack: answers carrying binaries come back with them, renumbered`, async () => {
      const [a, b, c, asker] = await Promise.all([conn(), conn(), conn(), conn()]);
      const r = room('ask-bin');
      a.on('question', (q, cb) => cb({ who: 'A', data: Buffer.from([1, q]) }));
      b.on('question', (q, cb) => cb({ who: 'B', data: [Buffer.from([2, q]), Buffer.from([]), Buffer.from([3, 3])] }));
      c.on('question', (q, cb) => cb({ who: 'C', n: q }));
      for (const s of [a, b, c]) await call(s, 'join', r);
      const res = await call(asker, 'ask-room', r, 2000, 7);
      assert.equal(res.timeout, false);
      assert.deepEqual(normalize(res.responses).sort((x, y) => x.who.localeCompare(y.who)), [
        { who: 'A', data: Buffer.from([1, 7]) },
        { who: 'B', data: [Buffer.from([2, 7]), Buffer.from([]), Buffer.from([3, 3])] },
        { who: 'C', n: 7 },
      ]);
    });

    ctx.test(`${tr}: client->server ack with timeout: answered in time, and timing out`, async () => {
      const s = await conn();
      assert.deepEqual(await s.timeout(2000).emitWithAck('echo', 'a', 1), 'a');
      const res = await new Promise((resolve) => s.timeout(2000).emit('echo', 1, [2], (err, ...args) => resolve([err, args])));
      assert.deepEqual(res, [null, [1, [2]]]);
      const t0 = Date.now();
      await assert.rejects(s.timeout(300).emitWithAck('unhandled-event', 1), /operation has timed out/);
      assert.ok(Date.now() - t0 >= 250);
      // without an ack, echo is emitted back (with an offset)
      s.emit('echo', 'plain', 2);
      const [[, ...args]] = await logged(s, 'echo', 1);
      assert.deepEqual(args.slice(0, -1), ['plain', 2]);
    });

    ctx.test(`${tr}: middleware refusal: /private without the token, / with refuse`, async () => {
      let err = await connectError(ctx.url, tr, { nsp: '/private' });
      assert.equal(err.message, 'not authorized');
      assert.deepEqual(err.data, { code: 401 });
      err = await connectError(ctx.url, tr, { nsp: '/private', auth: { token: 'nope' } });
      assert.equal(err.message, 'not authorized');
      assert.deepEqual(err.data, { code: 401 });
      err = await connectError(ctx.url, tr, { auth: { refuse: true } });
      assert.equal(err.message, 'refused');
      assert.equal(err.data, undefined);
      const ok = await conn({ nsp: '/private', auth: { token: 'secret' } });
      const info = await call(ok, 'info');
      assert.equal(info.nsp, '/private');
      assert.deepEqual(info.auth, { token: 'secret' });
      assert.deepEqual(await ack(ok, 'echo', 1, 'two'), [1, 'two']);
    });

    ctx.test(`${tr}: a refused namespace does not affect the others on the same connection`, async () => {
      const main = await conn();
      const priv = ctx.track(main.io.socket('/private'));
      const err = await new Promise((resolve) => priv.once('connect_error', resolve));
      assert.equal(err.message, 'not authorized');
      assert.equal(main.connected, true);
      assert.deepEqual(await ack(main, 'echo', 'ok'), ['ok']);
    });

    ctx.test(`${tr}: dynamic namespaces /dyn-*; others refused`, async () => {
      const d = await conn({ nsp: '/dyn-one', auth: { v: 1 } });
      const info = await call(d, 'info');
      assert.equal(info.nsp, '/dyn-one');
      assert.deepEqual(info.auth, { v: 1 });
      const d2 = await conn({ nsp: '/dyn-two' });
      assert.equal((await call(d2, 'info')).nsp, '/dyn-two');
      // broadcasts stay inside one child namespace
      await call(d2, 'all', 'only-two');
      await settle(d, d2);
      assert.deepEqual(received(d2), [['only-two']]);
      assert.deepEqual(received(d), []);
      assert.equal((await connectError(ctx.url, tr, { nsp: '/dyn-' })).message, 'Invalid namespace');
      assert.equal((await connectError(ctx.url, tr, { nsp: '/other' })).message, 'Invalid namespace');
    });

    ctx.test(`${tr}: volatile events carry no offset`, async () => {
      const s = await conn();
      if (tr === 'default') await until(() => s.io.engine.transport.name === 'websocket', 5000, 'upgrade');
      await sleep(50);
      await call(s, 'volatile', 'v', 1, { k: 2 });
      await settle(s);
      const got = s.log.filter((e) => e[0] === 'v');
      // Node drops a volatile packet when the transport cannot take it right now, which on
      // polling depends on timing; on an idle websocket it is always delivered.
      if (tr !== 'polling') assert.equal(got.length, 1, 'volatile event on an idle websocket');
      for (const e of got) assert.deepEqual(e, ['v', 1, { k: 2 }]);
    });

    ctx.test(`${tr}: server disconnect: kick() and kick(true)`, async () => {
      for (const close of [false, true]) {
        const s = await conn();
        const other = await conn();
        const id = s.id;
        const reason = once(s, 'disconnect');
        s.emit('kick', close);
        assert.equal((await reason)[0], 'io server disconnect');
        assert.equal(s.active, false, 'no automatic reconnection after a server disconnect');
        await until(async () => !(await call(other, 'fetch', null)).includes(id), 3000, 'kicked socket gone');
        assert.deepEqual(await ack(other, 'echo', 1), [1]);
      }
    });

    ctx.test(`${tr}: fetchSockets, socketsJoin, socketsLeave, disconnectSockets`, async () => {
      const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
      const f = room('f');
      const g = room('g');
      await call(a, 'join', f);
      await call(b, 'join', f);
      assert.deepEqual(await call(c, 'fetch', f), [a.id, b.id].sort());
      const all = await call(c, 'fetch', null);
      for (const s of [a, b, c]) assert.ok(all.includes(s.id));
      await call(c, 'sockets-join', f, g);
      assert.deepEqual(await call(c, 'fetch', g), [a.id, b.id].sort());
      assert.deepEqual((await call(a, 'info')).rooms, [f, g].sort());
      await call(c, 'sockets-join', c.id, [g, 'h-' + g]);
      assert.deepEqual(await call(c, 'fetch', g), [a.id, b.id, c.id].sort());
      await call(c, 'sockets-leave', f, g);
      assert.deepEqual(await call(c, 'fetch', g), [c.id]);
      assert.deepEqual((await call(b, 'info')).rooms, [f]);
      const reasons = [once(a, 'disconnect'), once(b, 'disconnect')];
      await call(c, 'kick-room', f, false);
      assert.deepEqual((await Promise.all(reasons)).map((r) => r[0]), ['io server disconnect', 'io server disconnect']);
      assert.deepEqual(await call(c, 'fetch', f), []);
      assert.equal(c.connected, true);
      // disconnectSockets(true) closes the whole connection
      const d = await conn();
      await call(d, 'join', f);
      const gone = once(d, 'disconnect');
      await call(c, 'kick-room', f, true);
      assert.equal((await gone)[0], 'io server disconnect');
    });

    ctx.test(`${tr}: socket.data`, async () => {
      const s = await conn();
      assert.deepEqual((await call(s, 'info')).data, {});
      await call(s, 'set-data', { user: 'ann', n: [1, 2] });
      assert.deepEqual((await call(s, 'info')).data, { user: 'ann', n: [1, 2] });
    });

    ctx.test(`${tr}: offsets: every stored event gets a distinct string offset`, async () => {
      const s = await conn();
      for (let i = 0; i < 5; i++) await call(s, 'self', 'o', i);
      const got = await logged(s, 'o', 5);
      const offsets = got.map((e) => e[e.length - 1]);
      assert.ok(offsets.every((o) => typeof o === 'string' && o.length > 0));
      assert.equal(new Set(offsets).size, 5);
      assert.deepEqual(got.map((e) => e.slice(1, -1)), [[0], [1], [2], [3], [4]]);
    });
  }
});
