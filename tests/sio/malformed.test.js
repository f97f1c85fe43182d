'use strict';
// Malformed-packet corpus, --app conformance. Each entry is sent on a fresh session that
// has joined the main namespace (`40`), over websocket and over long-polling; the server
// must close the Engine.IO session (websocket closed; polling: the sid is gone), exactly
// as Node's socket.io does. A few tolerated inputs are checked to keep the session open.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const { RS, sleep, Polling, RawWs } = require('./helpers.js');

const bin = (...bytes) => Buffer.from(bytes);

// [name, packets...]: strings are Engine.IO text packets, Buffers binary messages.
const CLOSING = [
  // Engine.IO level
  ['empty packet', ''],
  ['unknown Engine.IO type 9', '9'],
  ['unknown Engine.IO type x', 'x'],
  ['client ping on a v4 session', '2'],
  // Socket.IO packet type / framing
  ['message without Socket.IO packet', '4'],
  ['unknown Socket.IO type', '4abc'],
  ['Socket.IO type 9', '49'],
  ['Socket.IO type 7', '47[]'],
  ['CONNECT_ERROR from the client', '44{"message":"x"}'],
  // EVENT payloads
  ['EVENT payload an object', '42{}'],
  ['EVENT payload an empty array', '42[]'],
  ['EVENT payload a string', '42"str"'],
  ['EVENT name null', '42[null]'],
  ['EVENT name an object', '42[{"a":1}]'],
  ['EVENT non-numeric ack id', '42abc["message"]'],
  ['EVENT negative ack id', '42-1["message"]'],
  ['EVENT fractional ack id', '421.5["message"]'],
  ['EVENT truncated JSON', '42["message"'],
  ['EVENT reserved name connect', '42["connect"]'],
  ['EVENT reserved name disconnect', '42["disconnect"]'],
  // ACK payloads
  ['ACK payload an object', '431{}'],
  ['ACK non-numeric id', '43abc'],
  // CONNECT payloads / state
  ['CONNECT payload a string', '40"str"'],
  ['CONNECT payload an array', '40[]'],
  ['CONNECT payload a number', '401'],
  ['CONNECT payload null', '40null'],
  ['CONNECT truncated JSON', '40{"a":'],
  ['CONNECT twice to the same namespace', '40'],
  ['EVENT for a namespace not joined', '42/custom,["message"]'],
  ['EVENT for a namespace without comma', '42/custom'],
  ['DISCONNECT for a namespace not joined', '41/custom,'],
  ['Socket.IO type missing before namespace', '4/custom,["message"]'],
  // binary framing
  ['BINARY_EVENT without attachment count', '45["message"]'],
  ['BINARY_EVENT count without dash', '451["message"]'],
  ['BINARY_EVENT empty count', '45-["message"]'],
  ['BINARY_EVENT non-numeric count', '45x-["message"]'],
  ['placeholder index out of range', '451-["message",{"_placeholder":true,"num":5}]', bin(1)],
  ['placeholder index a string', '451-["message",{"_placeholder":true,"num":"0"}]', bin(1)],
  ['text packet while attachments are awaited', '451-["message",{"_placeholder":true,"num":0}]', '42["message"]'],
  ['binary message nobody announced', bin(1, 2)],
];

// Inputs Node tolerates: the session stays open and keeps working.
const TOLERATED = [
  ['noop from the client', '6'],
  ['unsolicited pong', '3'],
  ['ACK for an unknown id', '439[1]'],
];

const toPolling = (packets) => packets.map((p) => (Buffer.isBuffer(p) ? `b${p.toString('base64')}` : p)).join(RS);

async function wsJoined(ctx) {
  const c = ctx.track(await RawWs.open(ctx.port, '/socket.io/', { autoPong: true }));
  c.send('40');
  assert.match(await c.nextText(), /^40\{"sid":"[^"]+"\}$/);
  assert.equal(await c.nextText(), '42["auth",{}]');
  return c;
}

async function pollingJoined(ctx) {
  const p = new Polling(ctx.port, '/socket.io/');
  await p.open();
  assert.equal((await p.post('40')).status, 200);
  const got = await p.collect(2);
  assert.equal(got[0].type, '4');
  assert.match(got[0].data, /^0\{"sid":"[^"]+"\}$/);
  return p;
}

eachTarget('conformance', (ctx) => {
  for (const [name, ...packets] of CLOSING) {
    ctx.test(`websocket, closes: ${name} ${JSON.stringify(packets.map(String))}`, async () => {
      const c = await wsJoined(ctx);
      for (const p of packets) c.send(p);
      await c.waitClosed(3000);
      const unexpected = c.queue.filter((m) => m.text === undefined || !/^[1-3]$/.test(m.text));
      assert.deepEqual(unexpected, [], 'nothing but heartbeats/close before closing');
    });
    ctx.test(`polling, closes: ${name}`, async () => {
      const p = await pollingJoined(ctx);
      const res = await p.post(toPolling(packets));
      assert.ok(res.status === 200 || res.status === 400, `POST answered ${res.status}`);
      await p.waitGone(3000);
    });
  }

  for (const [name, ...packets] of TOLERATED) {
    ctx.test(`websocket, stays open: ${name}`, async () => {
      const c = await wsJoined(ctx);
      for (const p of packets) c.send(p);
      c.send('42["message","still"]');
      assert.equal(await c.nextText(), '42["message-back","still"]');
    });
    ctx.test(`polling, stays open: ${name}`, async () => {
      const p = await pollingJoined(ctx);
      assert.equal((await p.post(toPolling(packets))).status, 200);
      assert.equal((await p.post('42["message","still"]')).status, 200);
      assert.deepEqual(await p.collect(1), [{ type: '4', data: '2["message-back","still"]' }]);
    });
  }

  // Engine.IO polling payload framing (raw echo endpoint).
  const BAD_PAYLOADS = [
    ['not a packet', 'abc'],
    ['empty body', ''],
    ['trailing separator', `4a${RS}`],
    ['leading separator', `${RS}4a`],
    ['empty packet in the middle', `4a${RS}${RS}4b`],
  ];
  for (const [name, body] of BAD_PAYLOADS) {
    ctx.test(`polling payload, closes: ${name} ${JSON.stringify(body)}`, async () => {
      const p = new Polling(ctx.port, '/engine.io/');
      await p.open();
      const res = await p.post(body);
      assert.ok(res.status === 200 || res.status === 400, `POST answered ${res.status}`);
      await p.waitGone(3000);
    });
  }

  ctx.test('a Socket.IO packet before any CONNECT closes the session', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/socket.io/', { autoPong: true }));
    c.send('42["message",1]');
    await c.waitClosed(3000);
    assert.deepEqual(c.queue.filter((m) => m.text !== '1'), [], 'nothing but a close packet');
  });

  ctx.test('after DISCONNECT from /, an EVENT for / closes the session', async () => {
    const c = await wsJoined(ctx);
    c.send('41');
    await sleep(100); // Node drops the namespace socket on the next tick
    c.send('42["message",1]');
    await c.waitClosed(3000);
  });
});
