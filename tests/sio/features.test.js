'use strict';
// The official socket.io-client against --app conformance, on each transport: websocket
// only, polling only, and the default (polling, then the upgrade to websocket). Auth,
// every JSON value shape, acks, binary (Buffer, nested, several attachments), namespaces
// and multiplexing, large payloads, ordering, and no loss across the upgrade.

const assert = require('node:assert/strict');
const { Manager } = require('socket.io-client');
const { eachTarget } = require('./suite.js');
const {
  withTimeout, client, connected, connect, connectError, once, logged, ack, upgraded, normalize,
} = require('./helpers.js');

const TRANSPORTS = ['websocket', 'polling', 'default'];

const VALUES = [
  1, 0, -2, 1.5, 1e21, 2 ** 53, 'str', '', 'é€𝄞\u2028\x1e\n"\\', true, false, null,
  [], {}, [1, [2, [3, null]]], { a: { b: [1, { c: null, d: 'x' }] }, 'k e y': 1 },
];

eachTarget('conformance', (ctx) => {
  for (const tr of TRANSPORTS) {
    const mk = (opts) => ctx.track(client(ctx.url, tr, opts));
    const conn = async (opts) => ctx.track(await connect(ctx.url, tr, opts));

    ctx.test(`${tr}: connect emits auth ({} when absent); socket.id is not the engine id`, async () => {
      const s = mk();
      const auth = once(s, 'auth');
      await connected(s);
      assert.deepEqual(await auth, [{}]);
      assert.match(s.id, /^[A-Za-z0-9_-]{20}$/);
      assert.notEqual(s.id, s.io.engine.id);
      assert.ok(!s.recovered);
      const s2 = mk({ auth: { token: 'abc', list: [1, 2] } });
      const auth2 = once(s2, 'auth');
      await connected(s2);
      assert.deepEqual(await auth2, [{ token: 'abc', list: [1, 2] }]);
    });

    ctx.test(`${tr}: message -> message-back with every JSON value shape`, async () => {
      const s = await conn();
      s.emit('message', ...VALUES);
      const [[, ...args]] = await logged(s, 'message-back', 1);
      assert.deepEqual(args, VALUES);
      s.emit('message');
      const back = await logged(s, 'message-back', 2);
      assert.deepEqual(back[1], ['message-back']);
    });

    ctx.test(`${tr}: message-with-ack: the ack gets the same arguments`, async () => {
      const s = await conn();
      assert.deepEqual(await ack(s, 'message-with-ack', ...VALUES), VALUES);
      assert.deepEqual(await ack(s, 'message-with-ack'), []);
      assert.equal(await s.emitWithAck('message-with-ack', 'x', 2), 'x');
      const r = await s.timeout(2000).emitWithAck('message-with-ack', { t: 1 });
      assert.deepEqual(r, { t: 1 });
      // Several acks in flight at once, answered in order.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => ack(s, 'message-with-ack', i)));
      assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => [i]));
    });

    ctx.test(`${tr}: binary: Buffer, nested, several attachments, empty buffer`, async () => {
      const s = await conn();
      const payload = [
        Buffer.from([1, 2, 3]),
        { nested: { deep: [Buffer.from('hello'), { b: Buffer.from([255, 0]) }] }, n: 1 },
        'text',
        Buffer.alloc(0),
        new Uint8Array([9, 9, 9]),
      ];
      const expected = normalize(payload);
      s.emit('message', ...payload);
      const [[, ...args]] = await logged(s, 'message-back', 1);
      assert.deepEqual(normalize(args), expected);
      assert.deepEqual(normalize(await ack(s, 'message-with-ack', ...payload)), expected);
      const big = Buffer.alloc(100000);
      for (let i = 0; i < big.length; i++) big[i] = i & 255;
      assert.deepEqual(normalize(await ack(s, 'message-with-ack', big, { big })), [big, { big }]);
    });

    ctx.test(`${tr}: large text payload (200 kB) both ways`, async () => {
      const s = await conn();
      const str = 'x€'.repeat(50000); // 200 kB of UTF-8
      assert.deepEqual(await ack(s, 'message-with-ack', str), [str]);
    });

    ctx.test(`${tr}: /custom namespace with its own auth`, async () => {
      const s = await conn({ nsp: '/custom', auth: { room: 'c' } });
      assert.deepEqual(await logged(s, 'auth', 1), [['auth', { room: 'c' }]]);
      assert.deepEqual(await ack(s, 'message-with-ack', 1), [1]);
      s.emit('message', 'on-custom');
      assert.deepEqual((await logged(s, 'message-back', 1))[0], ['message-back', 'on-custom']);
    });

    ctx.test(`${tr}: multiplexing: / and /custom share one Engine.IO connection`, async () => {
      const manager = new Manager(ctx.url, { reconnection: false, ...(tr === 'default' ? {} : { transports: [tr] }) });
      const main = ctx.track(manager.socket('/'));
      const custom = ctx.track(manager.socket('/custom', { auth: { x: 1 } }));
      for (const s of [main, custom]) {
        s.log = [];
        s.onAny((ev, ...args) => s.log.push([ev, ...args]));
      }
      await Promise.all([connected(main), connected(custom)]);
      assert.notEqual(main.id, custom.id);
      assert.equal(main.io, custom.io);
      assert.deepEqual(await logged(custom, 'auth', 1), [['auth', { x: 1 }]]);
      main.emit('message', 'm');
      custom.emit('message', 'c');
      assert.deepEqual(await logged(main, 'message-back', 1), [['message-back', 'm']]);
      assert.deepEqual(await logged(custom, 'message-back', 1), [['message-back', 'c']]);
      // Leaving one namespace keeps the other.
      custom.disconnect();
      assert.deepEqual(await ack(main, 'message-with-ack', 'still'), ['still']);
      main.disconnect();
    });

    ctx.test(`${tr}: unknown namespace -> connect_error "Invalid namespace"`, async () => {
      const err = await connectError(ctx.url, tr, { nsp: '/nope' });
      assert.equal(err.message, 'Invalid namespace');
      assert.equal(err.data, undefined);
    });

    ctx.test(`${tr}: messages sent before, during and after the upgrade arrive in order, exactly once`, async () => {
      const s = mk();
      const on = { polling: 0, websocket: 0, none: 0 };
      let sent = 0;
      let afterUpgrade = 0;
      const send = () => {
        const t = s.io.engine && s.io.engine.transport ? s.io.engine.transport.name : 'none';
        const isWs = t === 'websocket' && !s.io.engine.upgrading;
        on[isWs ? 'websocket' : (t === 'websocket' ? 'polling' : t)]++;
        if (isWs) afterUpgrade++;
        s.emit('message', sent, 'p'.repeat(sent % 50));
        sent++;
      };
      // Starts before the connection is open (buffered by the client), goes on while the
      // default transport upgrades, and ends 100 messages after it runs on websocket.
      for (let i = 0; i < 20; i++) send();
      await connected(s);
      const deadline = Date.now() + 8000;
      while ((sent < 300 || afterUpgrade < 100) && Date.now() < deadline) {
        for (let i = 0; i < 5; i++) send();
        await new Promise((r) => setTimeout(r, 1));
        if (tr !== 'default' && sent >= 300) break;
      }
      const back = await logged(s, 'message-back', sent, 15000);
      assert.deepEqual(back.map((e) => e[1]), Array.from({ length: sent }, (_, i) => i));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(s.log.filter((e) => e[0] === 'message-back').length, sent, 'duplicates');
      if (tr === 'default') {
        assert.ok(on.polling > 0, `messages sent on polling: ${JSON.stringify(on)}`);
        assert.ok(afterUpgrade >= 100, `messages sent after the upgrade: ${JSON.stringify(on)}`);
      } else {
        assert.equal(s.io.engine.transport.name, tr);
      }
    });

    ctx.test(`${tr}: acks interleaved with the upgrade are all answered`, async () => {
      const s = mk();
      await connected(s);
      const results = await withTimeout(Promise.all(
        Array.from({ length: 100 }, (_, i) => ack(s, 'message-with-ack', i, Buffer.from([i])))),
      10000, 'acks');
      assert.deepEqual(normalize(results), Array.from({ length: 100 }, (_, i) => [i, Buffer.from([i])]));
      if (tr === 'default') await upgraded(s);
    });

    ctx.test(`${tr}: client-side ack timeout fires when the server never acks`, async () => {
      const s = await conn();
      // The conformance app has no handler for this event, so it is never acknowledged.
      await assert.rejects(s.timeout(300).emitWithAck('no-such-event', 1), /operation has timed out/);
      assert.equal(s.connected, true);
    });

    ctx.test(`${tr}: client disconnect, then reconnect with the same Socket: new id`, async () => {
      const s = await conn();
      const id1 = s.id;
      s.disconnect();
      assert.equal(s.connected, false);
      s.connect();
      await connected(s);
      assert.notEqual(s.id, id1);
      assert.deepEqual(await ack(s, 'message-with-ack', 'again'), ['again']);
    });

    ctx.test(`${tr}: the server's heartbeat keeps an idle connection up (pingInterval 300)`, async () => {
      const s = await conn();
      let pings = 0;
      s.io.engine.on('ping', () => pings++);
      const disconnected = [];
      s.on('disconnect', (r) => disconnected.push(r));
      await new Promise((r) => setTimeout(r, 1300));
      assert.deepEqual(disconnected, []);
      assert.ok(pings >= 3, `${pings} pings in 1.3 s`);
    });
  }
});
