'use strict';
// The two product apps with socket.io-client on each transport: the default chat app
// (join / user-joined, message to a room sender included, typing to the others) and
// --app bench (echo with and without ack, join, bcast to the sender's rooms).

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const { connect, logged, ack, normalize, sleep } = require('./helpers.js');

const loggedRaw = logged;

const TRANSPORTS = ['websocket', 'polling', 'default'];
let uniq = 0;

/* The chat app runs with connection state recovery, so every event it sends carries a
 * trailing string offset: check it is there and drop it. */
function noOffsets(entries) {
  return entries.map((e) => {
    assert.equal(e.length, 3, `chat event ${JSON.stringify(e)} should be [name, arg, offset]`);
    assert.equal(typeof e[2], 'string', `chat event ${JSON.stringify(e)} should end with an offset`);
    return e.slice(0, 2);
  });
}

eachTarget('chat', (ctx) => {
  for (const tr of TRANSPORTS) {
    const conn = async () => ctx.track(await connect(ctx.url, tr));
    const logged = async (s, name, n) => noOffsets(await loggedRaw(s, name, n));

    ctx.test(`${tr}: join, message, typing reach the right members`, async () => {
      const lobby = `lobby-${++uniq}`;
      const other = `other-${uniq}`;
      const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
      a.emit('join', lobby);
      // a's own message proves its join was handled (one connection, handled in order).
      a.emit('message', { room: lobby, message: 'a-ready' });
      assert.deepEqual(await logged(a, 'message', 1), [['message', 'a-ready']]);
      b.emit('join', lobby);
      assert.deepEqual(await logged(a, 'user-joined', 1), [['user-joined', b.id]]);
      c.emit('join', other);
      a.emit('message', { room: lobby, message: 'hi €' });
      assert.deepEqual((await logged(a, 'message', 2))[1], ['message', 'hi €']);
      assert.deepEqual(await logged(b, 'message', 1), [['message', 'hi €']]);
      b.emit('typing', lobby);
      assert.deepEqual(await logged(a, 'typing', 1), [['typing', b.id]]);
      b.emit('message', { room: lobby, message: { rich: [1, 2], text: 'x' } });
      assert.deepEqual((await logged(a, 'message', 3))[2], ['message', { rich: [1, 2], text: 'x' }]);
      await logged(b, 'message', 2);
      // c's own room message is its barrier: anything for c sent earlier arrived before it.
      c.emit('message', { room: other, message: 'c-only' });
      assert.deepEqual(await logged(c, 'message', 1), [['message', 'c-only']]);
      await sleep(50);
      assert.deepEqual(noOffsets(c.log), [['message', 'c-only']]);
      assert.deepEqual(noOffsets(b.log), [['message', 'hi €'], ['message', { rich: [1, 2], text: 'x' }]],
        'b gets the room messages, not its own user-joined/typing');
      assert.deepEqual(noOffsets(a.log), [['message', 'a-ready'], ['user-joined', b.id], ['message', 'hi €'],
        ['typing', b.id], ['message', { rich: [1, 2], text: 'x' }]]);
    });
  }
});

eachTarget('bench', (ctx) => {
  for (const tr of TRANSPORTS) {
    const conn = async () => ctx.track(await connect(ctx.url, tr));

    ctx.test(`${tr}: echo without ack is emitted back; with ack it is acked (and emitted back)`, async () => {
      const s = await conn();
      s.emit('echo', 1, 'two', { three: [3] });
      assert.deepEqual(await logged(s, 'echo', 1), [['echo', 1, 'two', { three: [3] }]]);
      assert.deepEqual(await ack(s, 'echo', 'x', 2), ['x', 2]);
      assert.deepEqual((await logged(s, 'echo', 2))[1], ['echo', 'x', 2]);
      const payload = [Buffer.from([1, 2]), { b: Buffer.from([3]) }];
      assert.deepEqual(normalize(await ack(s, 'echo', ...payload)), normalize(payload));
    });

    ctx.test(`${tr}: bcast goes to the sender's rooms, sender included`, async () => {
      const r = `bench-${++uniq}`;
      const [a, b, c] = await Promise.all([conn(), conn(), conn()]);
      a.emit('join', r);
      b.emit('join', r);
      await ack(a, 'echo', 'barrier');
      await ack(b, 'echo', 'barrier');
      a.emit('bcast', { from: 'a', n: 1 });
      assert.deepEqual(await logged(a, 'bcast', 1), [['bcast', { from: 'a', n: 1 }]]);
      assert.deepEqual(await logged(b, 'bcast', 1), [['bcast', { from: 'a', n: 1 }]]);
      c.emit('bcast', 'solo'); // c joined nothing: only itself
      assert.deepEqual(await logged(c, 'bcast', 1), [['bcast', 'solo']]);
      await ack(a, 'echo', 'barrier');
      await ack(b, 'echo', 'barrier');
      assert.equal(a.log.filter((e) => e[0] === 'bcast').length, 1);
      assert.equal(b.log.filter((e) => e[0] === 'bcast').length, 1);
    });
  }
});
