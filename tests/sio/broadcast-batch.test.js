'use strict';
// Room broadcasts held for the iteration (sio/emit.c: consecutive broadcasts to the same
// sockets are written to each recipient together, from the post phase). The packets one
// client sends in a single TCP write are handled in one loop iteration, so these tests
// put broadcasts, direct emits, acks, a broadcast to other sockets, attachments and a
// namespace disconnect in one write and check what every member gets, in order: on a
// WebSocket and on long-polling, with io_uring batching and without (--io-uring off).
// wsio only (the batching is wsio's; --io-uring is a wsio-server option).

const assert = require('node:assert/strict');
const { describe, test, before, after, afterEach } = require('node:test');
const { start, targets } = require('./servers.js');
const WebSocket = require('ws');
const { RawWs, Polling } = require('./helpers.js');

/* [event, ...args] of an EVENT packet text, the recovery offset (last argument, a string
 * the test never sends) removed. */
function eventOf(text) {
  const m = /^42(\[.*)$/s.exec(text);
  assert.ok(m, `expected an EVENT packet, got ${JSON.stringify(text)}`);
  const v = JSON.parse(m[1]);
  if (typeof v[v.length - 1] === 'string' && v.length > 2) v.pop();
  return v;
}

async function wsMember(port, room, tracked) {
  const c = await RawWs.open(port, '/socket.io/', { autoPong: true });
  tracked.push(c);
  c.send('40');
  assert.match(await c.nextText(), /^40\{"sid":/);
  c.send(`421["join","${room}"]`);
  assert.equal(await c.nextText(), `431[["${room}"]]`);
  return c;
}

async function pollMember(port, room) {
  const p = new Polling(port);
  await p.open();
  await p.post('40');
  const got = await p.collect(1);
  assert.equal(got[0].type + got[0].data.slice(0, 1), '40');
  await p.post(`421["join","${room}"]`);
  const ack = await p.collect(1);
  assert.equal(`${ack[0].type}${ack[0].data}`, `431[["${room}"]]`);
  return p;
}

/* Sends the packets as WebSocket messages in one TCP write (one iteration's reads). */
function sendTogether(c, packets) {
  const sock = c.ws._socket;
  sock.cork();
  for (const p of packets) c.send(p);
  sock.uncork();
}

async function texts(c, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await c.nextText());
  return out;
}

const MODES = [
  ['io_uring', []],
  ['--io-uring off', ['--io-uring', 'off']],
  // Held batches compressed once for every deflate recipient (core_frames_for), and
  // per recipient (--deflate-shared-broadcast off).
  ['--deflate', ['--deflate', '--deflate-threshold', '64'], true],
  ['--deflate per connection', ['--deflate', '--deflate-threshold', '64', '--deflate-shared-broadcast', 'off'], true],
];

/* A raw Engine.IO WebSocket session that offers permessage-deflate. */
async function deflateMember(port, room, tracked) {
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
  const ws = new WebSocket(url, { perMessageDeflate: true });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === '2') { ws.send('3'); return; }
    const w = waiters.shift();
    if (w) w(text); else queue.push(text);
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const m = {
    ws,
    send: (t) => ws.send(t),
    terminate: () => ws.terminate(),
    nextText: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))),
  };
  tracked.push(m);
  assert.match(await m.nextText(), /^0\{"sid":/);
  assert.ok(ws.extensions.includes('permessage-deflate'), `no permessage-deflate: ${ws.extensions}`);
  m.send('40');
  assert.match(await m.nextText(), /^40\{"sid":/);
  m.send(`421["join","${room}"]`);
  assert.equal(await m.nextText(), `431[["${room}"]]`);
  return m;
}

for (const [mode, extra, deflate] of MODES) {
  describe(`wsio: held room broadcasts (${mode})`, { skip: !targets().includes('wsio') }, () => {
    let server = null;
    const tracked = [];
    before(async () => { server = await start('wsio', 'test', extra); });
    afterEach(() => {
      for (const c of tracked.splice(0)) c.terminate();
    });
    after(async () => { if (server) await server.stop(); });

    if (deflate) {
      test('permessage-deflate members get every held broadcast, compressed, in order', async () => {
        const room = 'batch-deflate';
        const a = await deflateMember(server.port, room, tracked);
        const b = await deflateMember(server.port, room, tracked);
        const big = 'x'.repeat(300);
        const packets = [];
        for (let i = 0; i < 30; i++) packets.push(`42["in-room","${room}","z",${i},"${i % 2 ? big : 's'}"]`);
        a.ws._socket.cork();
        for (const p of packets) a.send(p);
        a.ws._socket.uncork();
        for (const c of [a, b]) {
          const got = await texts(c, packets.length);
          assert.deepEqual(got.map(eventOf), packets.map((_, i) => ['z', i, i % 2 ? big : 's']));
        }
      });
      return;
    }

    test('broadcasts, direct emits and acks of one iteration keep program order for every member', async () => {
      const room = 'batch-order';
      const a = await wsMember(server.port, room, tracked);
      const b = await wsMember(server.port, room, tracked);
      const p = await pollMember(server.port, room);
      sendTogether(a, [
        `42["in-room","${room}","m",1]`,
        `42["in-room","${room}","m",2]`,
        '42["self","d",3]', // socket.emit to a alone, between two held broadcasts
        `42["to-room","${room}","t",4]`, // other sockets (sender excluded): the held batch goes first
        `42["in-room","${room}","m",5]`,
        `42["in-room","${room}","m",6]`,
        `427["in-room","${room}","m",7]`, // broadcast, then the ack to a
      ]);
      const atA = await texts(a, 6);
      assert.deepEqual(atA.slice(0, 5).map(eventOf), [['m', 1], ['m', 2], ['d', 3], ['m', 5], ['m', 6]]);
      assert.deepEqual(eventOf(atA[5]), ['m', 7]);
      assert.equal(await a.nextText(), '437[]');
      const want = [['m', 1], ['m', 2], ['t', 4], ['m', 5], ['m', 6], ['m', 7]];
      assert.deepEqual((await texts(b, 6)).map(eventOf), want);
      const polled = await p.collect(6);
      assert.deepEqual(polled.map((x) => eventOf(`${x.type}${x.data}`)), want);
      // Recovery offsets: every member's copy of a broadcast carries the same offset,
      // increasing in emit order.
      assert.equal(await a.quiet(100), true);
    });

    test('a held broadcast reaches a socket before its namespace disconnect', async () => {
      const room = 'batch-kick';
      const a = await wsMember(server.port, room, tracked);
      const b = await wsMember(server.port, room, tracked);
      sendTogether(a, [
        `42["in-room","${room}","bye",1]`,
        `42["in-room","${room}","bye",2]`,
        `42["kick-room","${room}",false]`,
      ]);
      assert.deepEqual((await texts(b, 2)).map(eventOf), [['bye', 1], ['bye', 2]]);
      assert.equal(await b.nextText(), '41');
      assert.deepEqual((await texts(a, 2)).map(eventOf), [['bye', 1], ['bye', 2]]);
      assert.equal(await a.nextText(), '41');
    });

    test('broadcasts with attachments held together keep each packet with its attachments', async () => {
      const room = 'batch-bin';
      const a = await wsMember(server.port, room, tracked);
      const b = await wsMember(server.port, room, tracked);
      const sock = a.ws._socket;
      sock.cork();
      a.send(`451-["in-room","${room}","bin",{"_placeholder":true,"num":0}]`);
      a.send(Buffer.from([1, 2, 3]));
      a.send(`42["in-room","${room}","txt",2]`);
      a.send(`451-["in-room","${room}","bin",{"_placeholder":true,"num":0}]`);
      a.send(Buffer.from([4, 5]));
      sock.uncork();
      for (const c of [a, b]) {
        const m1 = await c.next();
        assert.match(m1.text, /^451-\["bin",\{"_placeholder":true,"num":0\}/);
        assert.deepEqual([...(await c.next()).binary], [1, 2, 3]);
        assert.deepEqual(eventOf(await c.nextText()), ['txt', 2]);
        assert.match((await c.next()).text, /^451-\["bin"/);
        assert.deepEqual([...(await c.next()).binary], [4, 5]);
      }
    });

    test('each member gets every broadcast of a long burst once, in order, with increasing offsets', async () => {
      const room = 'batch-burst';
      const a = await wsMember(server.port, room, tracked);
      const b = await wsMember(server.port, room, tracked);
      const p = await pollMember(server.port, room);
      const N = 200;
      const packets = [];
      for (let i = 0; i < N; i++) packets.push(`42["in-room","${room}","n",${i}]`);
      sendTogether(a, packets);
      for (const c of [a, b]) {
        const got = await texts(c, N);
        const offsets = got.map((t) => JSON.parse(t.slice(2)).pop());
        assert.deepEqual(got.map(eventOf), packets.map((_, i) => ['n', i]));
        for (let i = 1; i < N; i++) assert.ok(offsets[i] > offsets[i - 1] || offsets[i].length > offsets[i - 1].length);
      }
      const polled = await p.collect(N, 10000);
      assert.deepEqual(polled.map((x) => eventOf(`${x.type}${x.data}`)), packets.map((_, i) => ['n', i]));
    });
  });
}
