'use strict';
// Socket.IO v5 on the wire (raw WebSocket and raw long-polling): CONNECT/auth/namespaces,
// events, acks, binary attachments, DISCONNECT, connectTimeout (--app conformance); and
// with --app test: the pid in CONNECT replies, middleware errors, allowRequest 403, the
// offsets appended for connection state recovery and a raw recovery exchange.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const { RS, sleep, request, Polling, RawWs } = require('./helpers.js');

const SID_RE = /^[A-Za-z0-9_-]{20}$/;

function parseConnect(text, nsp = '') {
  const prefix = `40${nsp ? `${nsp},` : ''}`;
  assert.ok(text.startsWith(prefix), `CONNECT reply ${JSON.stringify(text)} should start with ${prefix}`);
  return JSON.parse(text.slice(prefix.length));
}

async function wsSession(ctx, opts = { autoPong: true }) {
  return ctx.track(await RawWs.open(ctx.port, '/socket.io/', opts));
}

eachTarget('conformance', (ctx) => {
  ctx.test('websocket: CONNECT / -> 40{"sid"} (not the Engine.IO sid), then auth {}', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    const reply = parseConnect(await c.nextText());
    assert.deepEqual(Object.keys(reply), ['sid']);
    assert.match(reply.sid, SID_RE);
    assert.notEqual(reply.sid, c.handshake.sid);
    assert.equal(await c.nextText(), '42["auth",{}]');
  });

  ctx.test('websocket: CONNECT with an auth payload: the app sees it', async () => {
    const c = await wsSession(ctx);
    c.send('40{"token":"123","n":[1,2,{"x":null}]}');
    parseConnect(await c.nextText());
    assert.equal(await c.nextText(), '42["auth",{"token":"123","n":[1,2,{"x":null}]}]');
  });

  ctx.test('websocket: /custom with and without the trailing comma; auth per namespace', async () => {
    const c = await wsSession(ctx);
    c.send('40/custom,{"token":"abc"}');
    const r1 = parseConnect(await c.nextText(), '/custom');
    assert.match(r1.sid, SID_RE);
    assert.equal(await c.nextText(), '42/custom,["auth",{"token":"abc"}]');
    c.send('40');
    const r2 = parseConnect(await c.nextText());
    assert.notEqual(r2.sid, r1.sid);
    assert.equal(await c.nextText(), '42["auth",{}]');
    const c2 = await wsSession(ctx);
    c2.send('40/custom');
    parseConnect(await c2.nextText(), '/custom');
    assert.equal(await c2.nextText(), '42/custom,["auth",{}]');
  });

  ctx.test('websocket: unknown namespace -> 44/nsp,{"message":"Invalid namespace"}, connection stays', async () => {
    const c = await wsSession(ctx);
    c.send('40/random,');
    assert.equal(await c.nextText(), '44/random,{"message":"Invalid namespace"}');
    c.send('40/random,{"token":1}');
    assert.equal(await c.nextText(), '44/random,{"message":"Invalid namespace"}');
    c.send('40');
    parseConnect(await c.nextText());
    assert.equal(await c.nextText(), '42["auth",{}]');
  });

  ctx.test('websocket: events, acks and binary on the wire', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    await c.nextText();
    await c.nextText();
    c.send('42["message",1,"two",{"three":3},[true,false,null],1.5,"\\u001e\\u2028é"]');
    assert.deepEqual(JSON.parse((await c.nextText()).slice(2)),
      ['message-back', 1, 'two', { three: 3 }, [true, false, null], 1.5, '\x1e\u2028é']);
    c.send('4213["message-with-ack","a",{"b":2}]');
    assert.equal(await c.nextText(), '4313["a",{"b":2}]');
    c.send('420["message-with-ack"]');
    assert.equal(await c.nextText(), '430[]');
    // BINARY_EVENT with two attachments, nested
    c.send('452-["message",{"_placeholder":true,"num":0},{"x":[{"_placeholder":true,"num":1}]}]');
    c.send(Buffer.from([1, 2, 3]));
    c.send(Buffer.from([4]));
    assert.equal(await c.nextText(),
      '452-["message-back",{"_placeholder":true,"num":0},{"x":[{"_placeholder":true,"num":1}]}]');
    assert.deepEqual(await c.next(), { binary: Buffer.from([1, 2, 3]) });
    assert.deepEqual(await c.next(), { binary: Buffer.from([4]) });
    // BINARY_EVENT with an ack -> BINARY_ACK
    c.send('451-7["message-with-ack",{"_placeholder":true,"num":0}]');
    c.send(Buffer.from([9, 8]));
    assert.equal(await c.nextText(), '461-7[{"_placeholder":true,"num":0}]');
    assert.deepEqual(await c.next(), { binary: Buffer.from([9, 8]) });
    // on /custom
    c.send('40/custom,');
    parseConnect(await c.nextText(), '/custom');
    await c.nextText();
    c.send('42/custom,5["message-with-ack","x"]');
    assert.equal(await c.nextText(), '43/custom,5["x"]');
    c.send('451-/custom,["message",{"_placeholder":true,"num":0}]');
    c.send(Buffer.from([7]));
    assert.equal(await c.nextText(), '451-/custom,["message-back",{"_placeholder":true,"num":0}]');
    assert.deepEqual(await c.next(), { binary: Buffer.from([7]) });
  });

  ctx.test('polling: CONNECT, events, binary attachments as b<base64> records', async () => {
    const p = new Polling(ctx.port, '/socket.io/');
    await p.open();
    await p.post('40');
    const [connect, auth] = await p.collect(2);
    assert.equal(connect.type, '4');
    parseConnect(connect.data.replace(/^/, '4'));
    assert.deepEqual(auth, { type: '4', data: '2["auth",{}]' });
    await p.post(`451-["message",{"_placeholder":true,"num":0}]${RS}bAQID${RS}4212["message-with-ack","z"]`);
    const got = await p.collect(3);
    assert.deepEqual(got, [
      { type: '4', data: '51-["message-back",{"_placeholder":true,"num":0}]' },
      { binary: Buffer.from([1, 2, 3]) },
      { type: '4', data: '312["z"]' },
    ]);
  });

  ctx.test('DISCONNECT (41) leaves the namespace only; CONNECT again gives a new socket id', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    const r1 = parseConnect(await c.nextText());
    await c.nextText();
    c.send('40/custom,');
    parseConnect(await c.nextText(), '/custom');
    await c.nextText();
    c.send('41');
    await sleep(100);
    c.send('42/custom,["message","still"]');
    assert.equal(await c.nextText(), '42/custom,["message-back","still"]');
    c.send('40');
    const r2 = parseConnect(await c.nextText());
    assert.notEqual(r2.sid, r1.sid);
    assert.equal(await c.nextText(), '42["auth",{}]');
    c.send('41/custom,');
    await sleep(100);
    c.send('42["message",1]');
    assert.equal(await c.nextText(), '42["message-back",1]');
  });

  ctx.test('connectTimeout: a websocket session that joins no namespace is closed after ~1 s', async () => {
    const c = await wsSession(ctx);
    const t0 = Date.now();
    await c.waitClosed(4000);
    const dt = Date.now() - t0;
    assert.ok(dt >= 700, `closed after ${dt} ms, connectTimeout is 1000`);
  });

  ctx.test('connectTimeout: a polling session that joins no namespace is closed after ~1 s', async () => {
    const p = new Polling(ctx.port, '/socket.io/');
    await p.open();
    const t0 = Date.now();
    await p.waitGone(4000);
    const dt = Date.now() - t0;
    assert.ok(dt >= 700, `closed after ${dt} ms, connectTimeout is 1000`);
  });

  ctx.test('connectTimeout does not apply once a namespace was joined', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    await c.nextText();
    await c.nextText();
    await sleep(1500);
    c.send('42["message","late"]');
    assert.equal(await c.nextText(), '42["message-back","late"]');
  });

  ctx.test('a refused namespace does not count as joined for connectTimeout', async () => {
    const c = await wsSession(ctx);
    c.send('40/random,');
    assert.equal(await c.nextText(), '44/random,{"message":"Invalid namespace"}');
    await c.waitClosed(4000);
  });
});

eachTarget('test', (ctx) => {
  ctx.test('recovery on: CONNECT reply carries sid and pid', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    const r = parseConnect(await c.nextText());
    assert.deepEqual(Object.keys(r), ['sid', 'pid']);
    assert.match(r.sid, SID_RE);
    assert.match(r.pid, SID_RE);
    assert.notEqual(r.sid, r.pid);
  });

  ctx.test('middleware refusal on the wire: 44 with message and data; without data', async () => {
    const c = await wsSession(ctx);
    c.send('40/private,');
    assert.equal(await c.nextText(), '44/private,{"message":"not authorized","data":{"code":401}}');
    c.send('40/private,{"token":"wrong"}');
    assert.equal(await c.nextText(), '44/private,{"message":"not authorized","data":{"code":401}}');
    c.send('40{"refuse":true}');
    assert.equal(await c.nextText(), '44{"message":"refused"}');
    c.send('40/private,{"token":"secret"}');
    const r = parseConnect(await c.nextText(), '/private');
    assert.match(r.sid, SID_RE);
    c.send('40/dyn-abc,');
    parseConnect(await c.nextText(), '/dyn-abc');
    c.send('40/dyn-,');
    assert.equal(await c.nextText(), '44/dyn-,{"message":"Invalid namespace"}');
  });

  ctx.test('allowRequest: handshake with forbidden=1 -> 403 {"code":4,"message":"Forbidden"}', async () => {
    const res = await request(ctx.port, { path: '/socket.io/?EIO=4&transport=polling&forbidden=1' });
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(res.text), { code: 4, message: 'Forbidden' });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    await assert.rejects(RawWs.connect(ctx.port, '/socket.io/', { forbidden: '1' }), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.body, 'Forbidden');
      return true;
    });
  });

  ctx.test('offsets: broadcast events get a string offset appended; acked and volatile ones do not', async () => {
    const c = await wsSession(ctx);
    c.send('40');
    parseConnect(await c.nextText());
    c.send('42["self","hello",1]');
    const a = JSON.parse((await c.nextText()).slice(2));
    assert.equal(a.length, 3);
    assert.deepEqual(a.slice(0, 2), ['hello', 1]);
    assert.equal(typeof a[2], 'string');
    c.send('42["self","hello",2]');
    const b = JSON.parse((await c.nextText()).slice(2));
    assert.notEqual(b[2], a[2], 'every event gets its own offset');
    c.send('421["volatile","v",3]');
    assert.equal(await c.nextText(), '42["v",3]');
    assert.equal(await c.nextText(), '431[]');
    c.send('422["ask",2000,"q"]');
    assert.equal(await c.nextText(), '420["question","q"]', 'an event with an ack id has no offset');
    c.send('430["yes",{"n":1}]');
    assert.equal(await c.nextText(), '432[["yes",{"n":1}]]');
  });

  ctx.test('raw recovery: missed events are replayed with their offsets, then the same sid/pid', async () => {
    const a = await wsSession(ctx);
    a.send('40');
    const first = parseConnect(await a.nextText());
    a.send('420["join","raw-room"]');
    assert.equal(await a.nextText(), '430[["raw-room"]]');
    a.send('42["self","pre"]');
    const pre = JSON.parse((await a.nextText()).slice(2));
    const offset = pre[1];
    assert.equal(typeof offset, 'string');
    a.terminate(); // abrupt: no close frame, no DISCONNECT
    await a.waitClosed();

    const b = await wsSession(ctx);
    b.send('40');
    parseConnect(await b.nextText());
    // wait until the server has noticed: raw-room is empty
    for (let i = 0; ; i++) {
      b.send(`42${i}["fetch","raw-room"]`);
      const ids = JSON.parse((await b.nextText()).slice(`43${i}`.length))[0];
      if (ids.length === 0) break;
      assert.ok(i < 100, 'the server never noticed the dropped connection');
      await sleep(20);
    }
    b.send('42900["in-room","raw-room","missed",1]');
    assert.equal(await b.nextText(), '43900[]');
    b.send(`42901["to-room","${first.sid}","direct",2]`);
    assert.equal(await b.nextText(), '43901[]');
    b.send('42902["volatile-room","raw-room","lost",3]');
    assert.equal(await b.nextText(), '43902[]');

    const a2 = await wsSession(ctx);
    a2.send(`40${JSON.stringify({ pid: first.pid, offset })}`);
    const m1 = JSON.parse((await a2.nextText()).slice(2));
    const m2 = JSON.parse((await a2.nextText()).slice(2));
    assert.deepEqual(m1.slice(0, 2), ['missed', 1]);
    assert.deepEqual(m2.slice(0, 2), ['direct', 2]);
    assert.equal(m1.length, 3);
    assert.equal(m2.length, 3);
    const r = parseConnect(await a2.nextText());
    assert.deepEqual(r, { sid: first.sid, pid: first.pid });
    a2.send('421["info"]');
    const info = JSON.parse((await a2.nextText()).slice(3))[0];
    assert.equal(info.recovered, true);
    assert.deepEqual(info.rooms, ['raw-room']);
  });

  ctx.test('raw recovery with an unknown pid or offset: a new session', async () => {
    const c = await wsSession(ctx);
    c.send('40{"pid":"nosuchpidnosuchpid00","offset":"nope","x":1}');
    const r = parseConnect(await c.nextText());
    assert.notEqual(r.pid, 'nosuchpidnosuchpid00');
    c.send('421["info"]');
    const info = JSON.parse((await c.nextText()).slice(3))[0];
    assert.equal(info.recovered, false);
    assert.equal(info.id, r.sid);
    assert.deepEqual(info.auth, { pid: 'nosuchpidnosuchpid00', offset: 'nope', x: 1 });
  });
});
