'use strict';
// Engine.IO v4 at the protocol level (raw HTTP and raw WebSocket), --app conformance:
// handshakes, the raw echo endpoint /engine.io/, every error answer, CORS, payload limits,
// concurrent requests, heartbeat timeouts on both transports, the upgrade sequence.
// Runs against every target in $SIO_TARGETS; expectations are Node's engine.io 6.6.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const {
  RS, sleep, request, rawExchange, eioPath, decodePayload, parseOpen, Polling, RawWs,
} = require('./helpers.js');

const SID_RE = /^[A-Za-z0-9_-]{20}$/;
const OPEN_KEYS = ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades'];

const sio = (params) => eioPath('/socket.io/', params);

function assertJsonError(res, status, code, message) {
  assert.equal(res.status, status, `HTTP status (body ${res.text})`);
  assert.match(res.headers['content-type'] || '', /^application\/json/);
  assert.deepEqual(JSON.parse(res.text), { code, message });
  assert.equal(res.headers['access-control-allow-origin'], '*', 'CORS header on an error answer');
}

eachTarget('conformance', (ctx) => {
  // -------------------------------------------------------------------------------------
  // handshakes

  for (const base of ['/socket.io/', '/engine.io/']) {
    ctx.test(`${base} polling handshake: 200, text/plain, open packet with exactly the v4 keys`, async () => {
      const res = await request(ctx.port, { path: eioPath(base, { EIO: '4', transport: 'polling', t: 'abc' }) });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/plain; charset=UTF-8');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      const packets = decodePayload(res.text);
      assert.equal(packets.length, 1, `one packet: ${JSON.stringify(res.text)}`);
      const open = parseOpen(res.text);
      assert.deepEqual(Object.keys(open).sort(), OPEN_KEYS);
      assert.match(open.sid, SID_RE);
      assert.deepEqual(open.upgrades, ['websocket']);
      assert.equal(open.pingInterval, 300);
      assert.equal(open.pingTimeout, 200);
      assert.equal(open.maxPayload, 1000000);
    });

    ctx.test(`${base} websocket handshake: open packet first, upgrades []`, async () => {
      const c = ctx.track(await RawWs.connect(ctx.port, base));
      const open = parseOpen(await c.nextText());
      assert.deepEqual(Object.keys(open).sort(), OPEN_KEYS);
      assert.match(open.sid, SID_RE);
      assert.deepEqual(open.upgrades, []);
      assert.equal(open.pingInterval, 300);
      assert.equal(open.pingTimeout, 200);
      assert.equal(open.maxPayload, 1000000);
    });
  }

  ctx.test('session ids are unique', async () => {
    const sids = new Set();
    for (let i = 0; i < 20; i++) sids.add((await new Polling(ctx.port, '/engine.io/').open()).sid);
    assert.equal(sids.size, 20);
  });

  // -------------------------------------------------------------------------------------
  // raw echo endpoint

  ctx.test('/engine.io/ polling: POST answers 200 "ok" text/html; text and binary come back', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const res = await p.post(`4hello €${RS}bAQIDBA==${RS}4${RS}b`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'ok');
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.equal(res.headers['content-length'], '2');
    const got = await p.collect(4);
    assert.deepEqual(got, [
      { type: '4', data: 'hello €' },
      { binary: Buffer.from([1, 2, 3, 4]) },
      { type: '4', data: '' },
      { binary: Buffer.alloc(0) },
    ]);
    const get = await p.getRaw(2000);
    assert.equal(get.headers['content-type'], 'text/plain; charset=UTF-8');
  });

  ctx.test('/engine.io/ websocket: text frames and binary frames come back unchanged', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/engine.io/', { autoPong: true }));
    c.send('4hello €');
    assert.deepEqual(await c.next(), { text: '4hello €' });
    c.send(Buffer.from([0, 1, 255]));
    assert.deepEqual(await c.next(), { binary: Buffer.from([0, 1, 255]) });
    c.send('4');
    assert.deepEqual(await c.next(), { text: '4' });
    const big = Buffer.alloc(200000, 7);
    c.send(big);
    assert.deepEqual(await c.next(), { binary: big });
  });

  ctx.test('/engine.io/ polling: many packets in one POST come back in order', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const sent = Array.from({ length: 50 }, (_, i) => `4m${i}`);
    assert.equal((await p.post(sent.join(RS))).status, 200);
    const got = await p.collect(50);
    assert.deepEqual(got.map((x) => x.type + x.data), sent);
  });

  // -------------------------------------------------------------------------------------
  // error answers (HTTP 400/403 JSON {"code","message"})

  const errorCases = [
    ['transport missing', { EIO: '4' }, 'GET', 0, 'Transport unknown'],
    ['transport unknown', { EIO: '4', transport: 'abc' }, 'GET', 0, 'Transport unknown'],
    ['sid unknown', { EIO: '4', transport: 'polling', sid: 'nosuchsession' }, 'GET', 1, 'Session ID unknown'],
    ['POST without sid', { EIO: '4', transport: 'polling' }, 'POST', 2, 'Bad handshake method'],
    ['PUT without sid', { EIO: '4', transport: 'polling' }, 'PUT', 2, 'Bad handshake method'],
    ['websocket without Upgrade', { EIO: '4', transport: 'websocket' }, 'GET', 3, 'Bad request'],
    ['EIO missing', { transport: 'polling' }, 'GET', 5, 'Unsupported protocol version'],
    ['EIO=3', { EIO: '3', transport: 'polling' }, 'GET', 5, 'Unsupported protocol version'],
    ['EIO=5', { EIO: '5', transport: 'polling' }, 'GET', 5, 'Unsupported protocol version'],
    ['EIO=abc', { EIO: 'abc', transport: 'polling' }, 'GET', 5, 'Unsupported protocol version'],
    ['transport checked before EIO', { EIO: '3', transport: 'abc' }, 'GET', 0, 'Transport unknown'],
    ['sid checked before method', { EIO: '4', transport: 'polling', sid: 'nosuchsession' }, 'POST', 1, 'Session ID unknown'],
  ];
  for (const base of ['/socket.io/', '/engine.io/']) {
    for (const [name, params, method, code, message] of errorCases) {
      ctx.test(`${base} ${name} -> 400 {"code":${code}}`, async () => {
        const res = await request(ctx.port, { method, path: eioPath(base, params), body: method === 'GET' ? null : '4x' });
        assertJsonError(res, 400, code, message);
      });
    }
  }

  // Query values are decoded as Node's querystring does (%XX, '+' for a space); wsio
  // looks for escapes a word at a time (short values, a sid's last overlapping word).
  ctx.test('escaped query values: decoded before use (EIO, transport, sid), a + is a space', async () => {
    const hs = await request(ctx.port, { path: '/engine.io/?EIO=%34&transport=pol%6Cing' });
    assert.equal(hs.status, 200, hs.text);
    const { sid } = parseOpen(hs.text);
    const hex = (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
    for (const at of [0, 7, 12, 19]) {
      const esc = sid.slice(0, at) + hex(sid[at]) + sid.slice(at + 1);
      const res = await request(ctx.port, { method: 'POST', path: `/engine.io/?EIO=4&transport=polling&sid=${esc}`, body: '4x' });
      assert.equal(res.status, 200, `escape at ${at}: ${res.text}`);
      assert.equal(res.text, 'ok');
    }
    for (const at of [3, 19]) { /* a + inside the sid: a space, so no such session */
      const bad = `${sid.slice(0, at)}+${sid.slice(at + 1)}`;
      const res = await request(ctx.port, { method: 'POST', path: `/engine.io/?EIO=4&transport=polling&sid=${bad}`, body: '4x' });
      assertJsonError(res, 400, 1, 'Session ID unknown');
    }
    const plus = await request(ctx.port, { path: '/engine.io/?EIO=4&transport=polling+' });
    assertJsonError(plus, 400, 0, 'Transport unknown');
    const eio = await request(ctx.port, { path: '/engine.io/?EIO=%33&transport=polling' });
    assertJsonError(eio, 400, 5, 'Unsupported protocol version');
  });

  ctx.test('websocket upgrade with an unknown sid is refused: 400, text body "Session ID unknown"', async () => {
    await assert.rejects(RawWs.connect(ctx.port, '/socket.io/', { sid: 'nosuchsession' }), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.body, 'Session ID unknown');
      return true;
    });
  });

  ctx.test('websocket upgrade with an unknown transport is refused: 400 "Transport unknown"', async () => {
    const raw = await rawExchange(ctx.port,
      'GET /socket.io/?EIO=4&transport=abc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.match(raw, /\r\n\r\nTransport unknown$/);
  });

  ctx.test('websocket with EIO=3 never opens a session', async () => {
    let c;
    try {
      c = await RawWs.connect(ctx.port, '/socket.io/', { EIO: '3' });
    } catch {
      return; // refused outright: fine
    }
    ctx.track(c);
    // Node accepts the upgrade, then writes an HTTP error into the stream: no open packet.
    try {
      const m = await c.next(1500);
      assert.ok(!(m.text || '').startsWith('0'), `EIO=3 got an open packet ${JSON.stringify(m)}`);
    } catch (err) {
      assert.match(err.message, /closed|timed out/);
    }
  });

  ctx.test('an Origin header with invalid characters -> 400', async () => {
    const raw = await rawExchange(ctx.port,
      'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: a\x01b\r\nConnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
  });

  // -------------------------------------------------------------------------------------
  // CORS (origin "*")

  for (const base of ['/socket.io/', '/engine.io/']) {
    ctx.test(`${base} CORS preflight OPTIONS -> 204 with the cors headers`, async () => {
      const res = await request(ctx.port, {
        method: 'OPTIONS',
        path: eioPath(base, { EIO: '4', transport: 'polling' }),
        headers: {
          Origin: 'http://example.com',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type,x-custom',
        },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE');
      assert.equal(res.headers['access-control-allow-headers'], 'content-type,x-custom');
      assert.match(res.headers.vary || '', /Access-Control-Request-Headers/i);
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.text, '');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    });
  }

  ctx.test('CORS preflight without Access-Control-Request-Headers: 204, no allow-headers', async () => {
    const res = await request(ctx.port, {
      method: 'OPTIONS',
      path: sio({ EIO: '4', transport: 'polling' }),
      headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-headers'], undefined);
  });

  ctx.test('CORS: handshake, GET and POST answers carry Access-Control-Allow-Origin: *', async () => {
    const origin = { Origin: 'http://example.com' };
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open(origin);
    assert.equal(p.openResponse.headers['access-control-allow-origin'], '*');
    const post = await p.post('4x', origin);
    assert.equal(post.headers['access-control-allow-origin'], '*');
    const get = await p.getRaw(2000, origin);
    assert.equal(get.headers['access-control-allow-origin'], '*');
    assert.deepEqual(get.packets, [{ type: '4', data: 'x' }]);
  });

  // -------------------------------------------------------------------------------------
  // limits and misuse of a polling session

  ctx.test('POST over maxHttpBufferSize -> 413; the session stays usable', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const res = await p.post(`4${'x'.repeat(1000001)}`, {}, 10000);
    assert.equal(res.status, 413);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal((await p.post('4after')).status, 200);
    assert.deepEqual(await p.collect(1), [{ type: '4', data: 'after' }]);
  });

  ctx.test('POST of exactly maxHttpBufferSize bytes is accepted', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const body = `4${'y'.repeat(1000000 - 1)}`;
    const res = await p.post(body, {}, 10000);
    assert.equal(res.status, 200);
    const [m] = await p.collect(1, 10000);
    assert.equal(m.data.length, 999999);
  });

  ctx.test('websocket message over maxPayload closes the connection', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/engine.io/', { autoPong: true }));
    c.send(`4${'z'.repeat(1000001)}`);
    const info = await c.waitClosed(5000);
    assert.equal(info.code, 1009);
  });

  ctx.test('POST with Content-Type application/octet-stream -> 400 and the session is closed', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const res = await p.post('4x', { 'Content-Type': 'application/octet-stream' });
    assert.equal(res.status, 400);
    const gone = await p.waitGone();
    assertJsonError(gone, 400, 1, 'Session ID unknown');
  });

  ctx.test('a second concurrent GET -> 400, the first GET gets a close packet, session closed', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const first = p.getRaw(3000);
    await sleep(50);
    const second = await p.getRaw(3000);
    assert.equal(second.status, 400);
    const r1 = await first;
    assert.equal(r1.status, 200);
    assert.equal(r1.text, '1');
    const gone = await p.getRaw(2000);
    assertJsonError(gone, 400, 1, 'Session ID unknown');
  });

  ctx.test('polling close packet: pending GET answered with noop, then the session is gone', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const pending = p.getRaw(3000);
    await sleep(50);
    const res = await p.post('1');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'ok');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.text, '6');
    assertJsonError(await p.getRaw(2000), 400, 1, 'Session ID unknown');
  });

  ctx.test('polling requests on a websocket session -> 400 {"code":3}, the session survives', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/engine.io/', { autoPong: true }));
    const p = new Polling(ctx.port, '/engine.io/');
    p.sid = c.handshake.sid;
    assertJsonError(await p.getRaw(2000), 400, 3, 'Bad request');
    assertJsonError(await p.post('4x'), 400, 3, 'Bad request');
    c.send('4alive');
    assert.deepEqual(await c.next(), { text: '4alive' });
  });

  // -------------------------------------------------------------------------------------
  // heartbeats (pingInterval 300, pingTimeout 200)

  ctx.test('websocket: the server pings every pingInterval and closes when no pong comes', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/engine.io/'));
    const t0 = Date.now();
    assert.equal(await c.nextText(2000), '2');
    const tPing = Date.now() - t0;
    assert.ok(tPing >= 200 && tPing < 1500, `first ping after ${tPing} ms (pingInterval 300)`);
    await c.waitClosed(3000);
    const tClose = Date.now() - t0;
    assert.ok(tClose >= 400, `closed ${tClose} ms after open: before pingInterval+pingTimeout`);
  });

  ctx.test('websocket: a client that answers pings stays connected', async () => {
    const c = ctx.track(await RawWs.open(ctx.port, '/engine.io/', { autoPong: true }));
    await sleep(1400);
    assert.equal(c.closeInfo, null, 'closed while answering pings');
    assert.ok(c.pings >= 3, `${c.pings} pings in 1.4 s`);
    c.send('4still');
    assert.deepEqual(await c.next(), { text: '4still' });
  });

  ctx.test('polling: the ping arrives on GET; no pong -> close packet, then the session is gone', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const first = await p.getRaw(2000);
    assert.equal(first.text, '2');
    const second = await p.getRaw(2000);
    assert.equal(second.status, 200);
    assert.equal(second.text, '1');
    assertJsonError(await p.getRaw(2000), 400, 1, 'Session ID unknown');
  });

  ctx.test('polling: a session that never polls is gone after pingInterval + pingTimeout', async () => {
    const p = new Polling(ctx.port, '/socket.io/');
    await p.open();
    await sleep(900);
    assertJsonError(await p.getRaw(2000), 400, 1, 'Session ID unknown');
  });

  ctx.test('polling: a client that answers pings stays connected', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const t0 = Date.now();
    let pings = 0;
    while (Date.now() - t0 < 1400) {
      const packets = await p.get(2000);
      for (const pk of packets) {
        if (pk.type === '2') { pings++; await p.post('3'); }
      }
    }
    assert.ok(pings >= 3, `${pings} pings in 1.4 s`);
    await p.post('4still');
    assert.deepEqual(await p.collect(1), [{ type: '4', data: 'still' }]);
  });

  // -------------------------------------------------------------------------------------
  // upgrade polling -> websocket

  ctx.test('upgrade: 2probe/3probe, noop to the pending GET, 5, then buffered packets flow on the websocket', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const pending = p.getRaw(3000);
    await sleep(30);
    const ws = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', { sid: p.sid }, { autoPong: true }));
    ws.send('2probe');
    assert.equal(await ws.nextText(), '3probe');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.text, '6', 'the pending GET ends with a noop during the probe');
    // Sent over polling while no GET is pending: its echo waits in the session buffer.
    assert.equal((await p.post(`4during${RS}bAQI=`)).status, 200);
    ws.send('5');
    assert.deepEqual(await ws.next(), { text: '4during' });
    assert.deepEqual(await ws.next(), { binary: Buffer.from([1, 2]) });
    ws.send('4after');
    assert.deepEqual(await ws.next(), { text: '4after' });
    // Polling is over for this session.
    assertJsonError(await p.getRaw(2000), 400, 3, 'Bad request');
    assertJsonError(await p.post('4x'), 400, 3, 'Bad request');
    // Heartbeats now run on the websocket.
    await sleep(700);
    assert.ok(ws.pings >= 1, 'pings on the upgraded websocket');
    assert.equal(ws.closeInfo, null);
  });

  ctx.test('upgrade: a second websocket for an upgraded session is closed, the first one stays', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const ws = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', { sid: p.sid }, { autoPong: true }));
    ws.send('2probe');
    assert.equal(await ws.nextText(), '3probe');
    ws.send('5');
    await sleep(50);
    let ws2;
    try {
      ws2 = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', { sid: p.sid }));
      ws2.send('2probe');
      await ws2.waitClosed(3000);
      assert.ok(!ws2.queue.some((m) => m.text === '3probe'), 'the second websocket answered the probe');
    } catch (err) {
      if (!err.status) throw err; // refusing the upgrade outright is fine too
    }
    ws.send('4still');
    assert.deepEqual(await ws.next(), { text: '4still' });
  });

  ctx.test('upgrade: a packet other than 5 during the probe aborts the probe; polling goes on', async () => {
    const p = new Polling(ctx.port, '/engine.io/');
    await p.open();
    const ws = ctx.track(await RawWs.connect(ctx.port, '/engine.io/', { sid: p.sid }));
    ws.send('2probe');
    assert.equal(await ws.nextText(), '3probe');
    ws.send('4oops');
    await ws.waitClosed(3000);
    assert.equal((await p.post('4poll')).status, 200);
    assert.deepEqual(await p.collect(1), [{ type: '4', data: 'poll' }]);
  });
});
