'use strict';
// GET /metrics: the Prometheus text format parsed for real (HELP/TYPE, labels, every
// sample typed, counters named _total, histograms cumulative with +Inf == _count), then
// scraped before and after real work to check that the right numbers move by the right
// amounts. Every test runs its own wsio-server, so the deltas are exact.

const { test } = require('node:test');
const http = require('node:http');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const {
  sleep, until, withTimeout, startServer, scrape, checkConventions, rawExchange, httpGet,
  rawWsOpen, clientFrame, wsOpen,
} = require('./helpers.js');

/* The value of one series, failing clearly when it is missing. */
function val(s, name, labels = {}) {
  const v = s.get(name, labels);
  assert.notEqual(v, undefined, `series ${name}${JSON.stringify(labels)} missing from /metrics`);
  return v;
}

/* Scrapes until `pred(scrape)` holds (counters move after the event that moves them). */
async function scrapeUntil(port, pred, what, ms = 5000) {
  let last;
  try {
    return await until(async () => { last = await scrape(port); return pred(last) ? last : null; }, ms, what, 30);
  } catch (e) {
    e.message += `\nlast scrape:\n${last ? last.parsed.text.split('\n').filter((l) => l && !l.startsWith('#')).join('\n') : '(none)'}`;
    throw e;
  }
}

function sioClient(port, transport, opts = {}) {
  const s = io(`http://127.0.0.1:${port}/`, {
    forceNew: true, reconnection: false, timeout: 3000, transports: [transport], ...opts,
  });
  s.events = [];
  s.onAny((ev, ...args) => s.events.push([ev, ...args]));
  return s;
}

function sioConnected(s, ms = 3000) {
  if (s.connected) return Promise.resolve();
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  }), ms, 'socket.io-client connect');
}

test('the exposition: content type, format, conventions and every required family', async () => {
  const srv = await startServer(['--app', 'chat']);
  try {
    const s = await scrape(srv.port);
    assert.match(s.contentType, /^text\/plain; version=0\.0\.4/);
    checkConventions(s.parsed);
    const fams = s.parsed.families;
    const want = {
      wsio_connections: ['gauge', 'transport', ['websocket', 'polling']],
      wsio_handshake_failures_total: ['counter', 'status', ['400', '426']],
      wsio_messages_received_total: ['counter'],
      wsio_messages_sent_total: ['counter'],
      wsio_received_bytes_total: ['counter'],
      wsio_sent_bytes_total: ['counter'],
      wsio_broadcasts_total: ['counter'],
      wsio_broadcast_deliveries_total: ['counter'],
      wsio_dropped_messages_total: ['counter', 'reason', ['backpressure', 'volatile']],
      wsio_backpressure_closes_total: ['counter'],
      wsio_closes_total: ['counter', 'code', ['1000', '1001', '1006', '1008', '1009']],
      wsio_abnormal_closes_total: ['counter'],
      wsio_heartbeat_timeouts_total: ['counter', 'layer', ['websocket', 'engineio']],
      wsio_sio_recovered_sessions_total: ['counter'],
      wsio_sio_recovery_too_large_total: ['counter'],
      wsio_rooms: ['gauge'],
      wsio_redis_adapter_up: ['gauge'],
      wsio_event_loop_lag_seconds: ['histogram'],
    };
    for (const [name, [type, label, values]] of Object.entries(want)) {
      const f = fams.get(name);
      assert.ok(f, `family ${name} missing`);
      assert.equal(f.type, type, `${name} type`);
      if (label) {
        const got = f.samples.map((x) => x.labels[label]);
        for (const v of values) assert.ok(got.includes(v), `${name}{${label}="${v}"} missing (have ${got})`);
      }
    }
    assert.equal(val(s, 'wsio_redis_adapter_up'), 0, 'no Redis adapter: 0');
    assert.equal(val(s, 'wsio_connections', { transport: 'websocket' }), 0);
    assert.equal(val(s, 'wsio_connections', { transport: 'polling' }), 0);
    assert.equal(val(s, 'wsio_rooms'), 0);
    // The scrape is a HTTP request like any other: counted.
    const s2 = await scrape(srv.port);
    assert.equal(val(s2, 'wsio_http_requests_total') - val(s, 'wsio_http_requests_total'), 1);
  } finally {
    await srv.stop();
  }
});

test('WebSocket connections gauge follows ws clients on /echo; closes with 1000 counted', async () => {
  const srv = await startServer();
  try {
    const s0 = await scrape(srv.port);
    const clients = await Promise.all([1, 2, 3].map(() => wsOpen(srv.port, '/echo')));
    const s1 = await scrape(srv.port);
    assert.equal(val(s1, 'wsio_connections', { transport: 'websocket' }), 3);
    assert.equal(val(s1, 'wsio_websocket_connections_total') - val(s0, 'wsio_websocket_connections_total'), 3);
    await Promise.all(clients.map((c) => { c.close(1000, 'bye'); return withTimeout(c.closed, 3000, 'close'); }));
    const s2 = await scrapeUntil(srv.port, (s) => s.get('wsio_connections', { transport: 'websocket' }) === 0,
      'websocket gauge back to 0');
    assert.equal(val(s2, 'wsio_closes_total', { code: '1000' }) - val(s0, 'wsio_closes_total', { code: '1000' }), 3);
    assert.equal(val(s2, 'wsio_abnormal_closes_total'), 0);
    assert.equal(val(s2, 'wsio_websocket_connections_total') - val(s0, 'wsio_websocket_connections_total'), 3);
  } finally {
    await srv.stop();
  }
});

test('polling gauge follows a socket.io-client on the polling transport', async () => {
  const srv = await startServer();
  const c = sioClient(srv.port, 'polling');
  try {
    await sioConnected(c);
    const s1 = await scrapeUntil(srv.port, (s) => s.get('wsio_connections', { transport: 'polling' }) === 1,
      'polling gauge 1');
    assert.equal(val(s1, 'wsio_engineio_sessions', { transport: 'polling' }), 1);
    assert.equal(val(s1, 'wsio_connections', { transport: 'websocket' }), 0);
    assert.equal(val(s1, 'wsio_sio_sockets'), 1);
    assert.equal(val(s1, 'wsio_sio_connections_total'), 1);
    assert.equal(val(s1, 'wsio_engineio_sessions_total'), 1);
    c.disconnect();
    const s2 = await scrapeUntil(srv.port, (s) => s.get('wsio_connections', { transport: 'polling' }) === 0,
      'polling gauge back to 0');
    assert.equal(val(s2, 'wsio_sio_sockets'), 0);
  } finally {
    c.close();
    await srv.stop();
  }
});

test('handshake failures by status: bad version -> 426, bad key -> 400', async () => {
  const srv = await startServer();
  try {
    const s0 = await scrape(srv.port);
    const up = (extra) => `GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
    const r426 = await rawExchange(srv.port, up('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n'));
    assert.match(r426, /^HTTP\/1\.1 426 /);
    assert.match(r426, /\r\nsec-websocket-version: 13\r\n/i);
    const r400 = await rawExchange(srv.port, up('Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n'));
    assert.match(r400, /^HTTP\/1\.1 400 /);
    const r400b = await rawExchange(srv.port, up('Sec-WebSocket-Version: 13\r\n')); // no key at all
    assert.match(r400b, /^HTTP\/1\.1 400 /);
    const s1 = await scrape(srv.port);
    const d = (st) => val(s1, 'wsio_handshake_failures_total', { status: st }) - val(s0, 'wsio_handshake_failures_total', { status: st });
    assert.equal(d('426'), 1);
    assert.equal(d('400'), 2);
    assert.equal(d('404'), 0);
    assert.equal(val(s1, 'wsio_websocket_connections_total'), 0);
  } finally {
    await srv.stop();
  }
});

test('messages and bytes in/out move by exactly what was echoed', async () => {
  const srv = await startServer();
  const c = await wsOpen(srv.port, '/echo');
  try {
    const s0 = await scrape(srv.port);
    const N = 5;
    const SIZE = 100; // < 126: 2-byte server header, 6-byte masked client header
    for (let i = 0; i < N; i++) c.send(Buffer.alloc(SIZE, 65 + i), { binary: true });
    await until(() => c.messages.length === N, 3000, 'echoes');
    assert.deepEqual(c.messages.map((m) => m.data.length), Array(N).fill(SIZE));
    const s1 = await scrape(srv.port);
    const d = (name) => val(s1, name) - val(s0, name);
    assert.equal(d('wsio_messages_received_total'), N);
    assert.equal(d('wsio_messages_sent_total'), N);
    assert.equal(d('wsio_sent_bytes_total'), N * (SIZE + 2), 'frames sent: header + payload');
    // Every byte read from clients: the frames, and this scrape's own request.
    assert.equal(d('wsio_received_bytes_total'), N * (SIZE + 6) + s1.requestBytes);
  } finally {
    c.terminate();
    await srv.stop();
  }
});

test('/broadcast with N clients: one broadcast, N deliveries', async () => {
  const srv = await startServer();
  const N = 4;
  const clients = await Promise.all(Array.from({ length: N }, () => wsOpen(srv.port, '/broadcast')));
  try {
    const s0 = await scrape(srv.port);
    clients[0].send('hello all');
    await until(() => clients.every((c) => c.messages.length === 1), 3000, 'every /broadcast client got the message');
    const s1 = await scrape(srv.port);
    const d = (name) => val(s1, name) - val(s0, name);
    assert.equal(d('wsio_broadcasts_total'), 1);
    assert.equal(d('wsio_broadcast_deliveries_total'), N);
    assert.equal(d('wsio_messages_received_total'), 1);
    assert.equal(d('wsio_messages_sent_total'), N);
    assert.equal(d('wsio_sent_bytes_total'), N * (2 + 'hello all'.length));
  } finally {
    for (const c of clients) c.terminate();
    await srv.stop();
  }
});

test('Socket.IO room broadcast (chat app): join + message moves broadcasts, deliveries and the rooms gauge', async () => {
  const srv = await startServer(['--app', 'chat']);
  const cs = [0, 1, 2].map(() => sioClient(srv.port, 'websocket'));
  try {
    await Promise.all(cs.map((c) => sioConnected(c)));
    for (const c of cs) c.emit('join', 'room-a');
    cs[0].emit('join', 'room-b');
    // Each join tells the room's earlier members: wait until all of those arrived.
    await until(() => cs[0].events.filter((e) => e[0] === 'user-joined').length === 2 &&
      cs[1].events.filter((e) => e[0] === 'user-joined').length === 1, 3000, 'user-joined events');
    const s0 = await scrapeUntil(srv.port, (s) => s.get('wsio_rooms') === 2, 'rooms gauge 2');
    assert.equal(val(s0, 'wsio_sio_sockets'), 3);
    assert.equal(val(s0, 'wsio_connections', { transport: 'websocket' }), 3);

    cs[1].emit('message', { room: 'room-a', message: 'hi there' });
    await until(() => cs.every((c) => c.events.some((e) => e[0] === 'message')), 3000, 'message to the room');
    for (const c of cs) {
      const m = c.events.find((e) => e[0] === 'message');
      assert.equal(m[1], 'hi there');
    }
    const s1 = await scrape(srv.port);
    const d = (name) => val(s1, name) - val(s0, name);
    assert.equal(d('wsio_broadcasts_total'), 1);
    assert.equal(d('wsio_broadcast_deliveries_total'), 3);
    assert.equal(d('wsio_engineio_messages_received_total'), 1);
    assert.equal(d('wsio_engineio_messages_sent_total'), 3);

    cs[0].disconnect();
    const s2 = await scrapeUntil(srv.port, (s) => s.get('wsio_rooms') === 1, 'room-b gone with its only member');
    assert.equal(val(s2, 'wsio_sio_sockets'), 2);
    cs[1].disconnect();
    cs[2].disconnect();
    await scrapeUntil(srv.port, (s) => s.get('wsio_rooms') === 0 && s.get('wsio_sio_sockets') === 0, 'no rooms left');
  } finally {
    for (const c of cs) c.close();
    await srv.stop();
  }
});

test('backpressure: a client that never reads gets sends dropped and is closed once', async () => {
  const srv = await startServer(['--max-backpressure', '64KiB']);
  const { sock } = await rawWsOpen(srv.port, '/echo');
  try {
    const s0 = await scrape(srv.port);
    assert.equal(val(s0, 'wsio_dropped_messages_total', { reason: 'backpressure' }), 0);
    // The socket stays paused: nothing is read, so the echoes fill the kernel buffers
    // (several MiB on loopback), then the server's own send buffer.
    sock.on('error', () => {});
    const frame = clientFrame(2, Buffer.alloc(64 * 1024, 7), { zeroMask: true });
    // Paced, 8 frames (512 KiB) every 5 ms: the server reads them over many loop
    // iterations and the kernel takes echoes until the client's receive buffer is full;
    // then the backlog stays over the cap. Written all at once, most of them are read in
    // one iteration, whose echoes go over the cap before anything is written: those are
    // dropped, the few kept fit in the kernel, and the backlog empties (no close).
    for (let i = 0; i < 320; i++) { // 20 MiB
      sock.write(frame);
      if (i % 8 === 7) await sleep(5);
    }
    const s1 = await scrapeUntil(srv.port,
      (s) => s.get('wsio_backpressure_closes_total') === 1 && s.get('wsio_dropped_messages_total', { reason: 'backpressure' }) > 0,
      'backpressure drops and one backpressure close', 10000);
    assert.ok(val(s1, 'wsio_dropped_messages_total', { reason: 'backpressure' }) > 0);
    assert.equal(val(s1, 'wsio_dropped_messages_total', { reason: 'volatile' }), 0);
    // Once: the connection is closing, it is not closed again.
    await sleep(300);
    const s2 = await scrape(srv.port);
    assert.equal(val(s2, 'wsio_backpressure_closes_total'), 1);
  } finally {
    sock.destroy();
    await srv.stop();
  }
});

// topic_flush (src/core/pubsub.c) adds pmsgs * subscribers to messages_out_total whatever
// happened to each subscriber: messages dropped for backpressure, or not written to a
// closing connection, are counted as sent. Direct sends count only what was written.
test('/broadcast with a subscriber over the cap: wsio_messages_sent_total counts only what was sent', async () => {
    const srv = await startServer(['--max-backpressure', '64KiB']);
    const { sock } = await rawWsOpen(srv.port, '/broadcast'); // subscribed, never reads
    sock.on('error', () => {});
    const pub = await wsOpen(srv.port, '/broadcast');
    try {
      const s0 = await scrape(srv.port);
      const N = 300;
      const msg = Buffer.alloc(64 * 1024, 1);
      // The publisher is a subscriber too, and must keep up: it waits for each of its
      // messages to come back before the next (a publisher that fell behind would be
      // closed at the first broadcast dropped for it, as the silent subscriber is).
      for (let i = 0; i < N; i++) {
        const back = new Promise((resolve) => pub.once('message', resolve));
        pub.send(msg);
        await withTimeout(back, 5000, `broadcast ${i} back to its publisher`);
      }
      const s1 = await scrapeUntil(srv.port, (x) => x.get('wsio_broadcasts_total') - s0.get('wsio_broadcasts_total') === N,
        'every publish processed', 10000);
      const d = (name, l) => val(s1, name, l) - val(s0, name, l);
      assert.ok(d('wsio_dropped_messages_total', { reason: 'backpressure' }) > 0, 'some were dropped');
      assert.equal(d('wsio_backpressure_closes_total'), 1, 'the silent subscriber closed, the publisher not');
      assert.equal(d('wsio_messages_sent_total'), d('wsio_broadcast_deliveries_total'),
        'on /broadcast every message sent is a delivery');
    } finally {
      sock.destroy();
      pub.terminate();
      await srv.stop();
    }
  });

/* POSTs an Engine.IO polling payload for session sid; resolves to the answer's text. */
function eioPost(port, sid, body) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: `/socket.io/?EIO=4&transport=polling&sid=${sid}`, agent: false,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { t += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(t) : reject(new Error(`POST ${res.statusCode}: ${t}`))));
    });
    req.on('error', reject);
    req.end(body);
  }), 3000, 'Engine.IO POST');
}

test('volatile drops: a volatile emit to a polling session with no pending poll is dropped and counted', async () => {
  const srv = await startServer(['--app', 'test']);
  const b = sioClient(srv.port, 'websocket');
  try {
    // A raw polling session that connects to "/" and joins a room, then never polls.
    const open = await httpGet(srv.port, '/socket.io/?EIO=4&transport=polling');
    const { sid } = JSON.parse(open.body.slice(open.body.indexOf('{')));
    assert.equal(await eioPost(srv.port, sid, '40'), 'ok');
    assert.equal(await eioPost(srv.port, sid, '42["join","vol-room"]'), 'ok');
    await sioConnected(b);
    const s0 = await scrapeUntil(srv.port, (s) => s.get('wsio_rooms') === 1 && s.get('wsio_sio_sockets') === 2, 'the raw session joined');
    assert.equal(val(s0, 'wsio_dropped_messages_total', { reason: 'volatile' }), 0);
    await withTimeout(b.emitWithAck('volatile-room', 'vol-room', 'vol', 1), 3000, 'volatile-room ack');
    const s1 = await scrape(srv.port);
    assert.equal(val(s1, 'wsio_dropped_messages_total', { reason: 'volatile' }), 1);
    assert.equal(val(s1, 'wsio_broadcasts_total') - val(s0, 'wsio_broadcasts_total'), 1);
    assert.equal(val(s1, 'wsio_broadcast_deliveries_total') - val(s0, 'wsio_broadcast_deliveries_total'), 0);
    // A non-volatile emit to the same room is queued for the next poll: delivered.
    await withTimeout(b.emitWithAck('in-room', 'vol-room', 'kept', 2), 3000, 'in-room ack');
    const s2 = await scrape(srv.port);
    assert.equal(val(s2, 'wsio_dropped_messages_total', { reason: 'volatile' }), 1);
    assert.equal(val(s2, 'wsio_broadcast_deliveries_total') - val(s1, 'wsio_broadcast_deliveries_total'), 1);
    const poll = await httpGet(srv.port, `/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.ok(poll.body.includes('"kept"') && !poll.body.includes('"vol"'), `the next poll: ${poll.body}`);
  } finally {
    b.close();
    await srv.stop();
  }
});

test('an upgrade moves a session from the polling gauge to the websocket gauge', async () => {
  const srv = await startServer();
  const c = sioClient(srv.port, 'polling', { transports: ['polling', 'websocket'] });
  try {
    await sioConnected(c);
    await until(() => c.io.engine.transport.name === 'websocket', 3000, 'the client upgraded');
    const s = await scrapeUntil(srv.port, (x) => x.get('wsio_engineio_upgrades_total') === 1, 'upgrade counted');
    assert.equal(val(s, 'wsio_connections', { transport: 'polling' }), 0);
    assert.equal(val(s, 'wsio_connections', { transport: 'websocket' }), 1);
    assert.equal(val(s, 'wsio_engineio_sessions', { transport: 'websocket' }), 1);
    assert.equal(val(s, 'wsio_engineio_sessions_total'), 1);
  } finally {
    c.close();
    await srv.stop();
  }
});

test('abnormal close: a client that destroys its socket counts as 1006', async () => {
  const srv = await startServer();
  try {
    const s0 = await scrape(srv.port);
    const c = await wsOpen(srv.port, '/echo');
    c._socket.destroy(); // no close frame
    const s1 = await scrapeUntil(srv.port, (s) => s.get('wsio_connections', { transport: 'websocket' }) === 0 &&
      s.get('wsio_closes_total', { code: '1006' }) > val(s0, 'wsio_closes_total', { code: '1006' }), '1006 counted');
    assert.equal(val(s1, 'wsio_closes_total', { code: '1006' }) - val(s0, 'wsio_closes_total', { code: '1006' }), 1);
    assert.equal(val(s1, 'wsio_abnormal_closes_total') - val(s0, 'wsio_abnormal_closes_total'), 1);
    assert.equal(val(s1, 'wsio_closes_total', { code: '1000' }), val(s0, 'wsio_closes_total', { code: '1000' }));
  } finally {
    await srv.stop();
  }
});

test('heartbeat timeouts: a WebSocket that never answers pings, an Engine.IO session that never polls', async () => {
  const srv = await startServer(['--ping-interval', '0.3', '--ping-timeout', '0.3']);
  let sock;
  try {
    const s0 = await scrape(srv.port);
    ({ sock } = await rawWsOpen(srv.port, '/echo')); // paused: never reads, never answers
    sock.on('error', () => {});
    const open = await httpGet(srv.port, '/socket.io/?EIO=4&transport=polling');
    assert.equal(open.status, 200);
    const hs = JSON.parse(open.body.slice(open.body.indexOf('{')));
    assert.equal(hs.pingInterval, 300, 'the Engine.IO handshake uses --ping-interval');
    assert.equal(hs.pingTimeout, 300, 'the Engine.IO handshake uses --ping-timeout');
    // ... and never polls again.
    const s1 = await scrapeUntil(srv.port,
      (s) => s.get('wsio_heartbeat_timeouts_total', { layer: 'websocket' }) === 1 &&
        s.get('wsio_heartbeat_timeouts_total', { layer: 'engineio' }) === 1 &&
        // (a connection killed in this loop turn is reaped at its end: the gauges follow)
        s.get('wsio_connections', { transport: 'websocket' }) === 0 &&
        s.get('wsio_connections', { transport: 'polling' }) === 0, 'both heartbeat timeouts', 5000);
    assert.equal(val(s1, 'wsio_heartbeat_timeouts_total', { layer: 'websocket' }) -
      val(s0, 'wsio_heartbeat_timeouts_total', { layer: 'websocket' }), 1);
    assert.equal(val(s1, 'wsio_connections', { transport: 'websocket' }), 0);
    assert.equal(val(s1, 'wsio_connections', { transport: 'polling' }), 0);
    assert.equal(val(s1, 'wsio_closes_total', { code: '1006' }), 1, 'a dropped connection ends as 1006');
  } finally {
    if (sock) sock.destroy();
    await srv.stop();
  }
});

test('sessions recovered: a transport drop and reconnection restores the Socket.IO session', async () => {
  const srv = await startServer(['--app', 'chat']);
  const c = sioClient(srv.port, 'websocket', { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
  try {
    await sioConnected(c);
    assert.equal(c.recovered, false);
    const id = c.id;
    c.emit('join', 'rec');
    c.emit('message', { room: 'rec', message: 'one' }); // a packet with an offset to recover from
    await until(() => c.events.some((e) => e[0] === 'message'), 3000, 'message back');
    const s0 = await scrape(srv.port);
    assert.equal(val(s0, 'wsio_sio_recovered_sessions_total'), 0);
    const reconnected = withTimeout(new Promise((resolve) => c.once('connect', resolve)), 5000, 'reconnect');
    c.io.engine.close(); // the transport drops; the client reconnects by itself
    await reconnected;
    assert.equal(c.recovered, true, 'socket.recovered after the reconnection');
    assert.equal(c.id, id, 'same socket id');
    const s1 = await scrapeUntil(srv.port, (s) => s.get('wsio_sio_recovered_sessions_total') === 1, 'recovered +1');
    assert.equal(val(s1, 'wsio_sio_sockets'), 1);
    assert.equal(val(s1, 'wsio_rooms'), 1, 'the room came back with the session');
    assert.equal(val(s1, 'wsio_sio_connections_total') - val(s0, 'wsio_sio_connections_total'), 1);
  } finally {
    c.close();
    await srv.stop();
  }
});

test('event-loop lag histogram: observations accumulate over time', async () => {
  const srv = await startServer(['--ping-interval', '0.3']); // a sweep every 75 ms
  try {
    const s0 = await scrape(srv.port);
    await sleep(700);
    const s1 = await scrape(srv.port);
    checkConventions(s1.parsed); // cumulative buckets, +Inf == _count
    const c0 = val(s0, 'wsio_event_loop_lag_seconds_count');
    const c1 = val(s1, 'wsio_event_loop_lag_seconds_count');
    assert.ok(c1 >= c0 + 4, `lag observations ${c0} -> ${c1} over 700 ms`);
    assert.equal(val(s1, 'wsio_event_loop_lag_seconds_bucket', { le: '+Inf' }), c1);
    assert.ok(val(s1, 'wsio_event_loop_lag_seconds_sum') >= 0);
    // An idle server lags little: most observations are in the small buckets.
    assert.ok(val(s1, 'wsio_event_loop_lag_seconds_bucket', { le: '0.1' }) >= c1 / 2);
  } finally {
    await srv.stop();
  }
});

test('metrics over many connections stay consistent: gauge equals opened minus closed', async () => {
  const srv = await startServer();
  const socks = [];
  try {
    for (let i = 0; i < 20; i++) socks.push(await wsOpen(srv.port, '/echo'));
    for (let i = 0; i < 10; i++) socks[i].close(1000);
    for (let i = 10; i < 15; i++) socks[i]._socket.destroy();
    const s = await scrapeUntil(srv.port, (x) => x.get('wsio_connections', { transport: 'websocket' }) === 5, 'gauge 5');
    const closed = [...s.parsed.families.get('wsio_closes_total').samples].reduce((a, x) => a + x.value, 0);
    assert.equal(val(s, 'wsio_websocket_connections_total') - closed, 5);
    assert.equal(val(s, 'wsio_closes_total', { code: '1000' }), 10);
    assert.equal(val(s, 'wsio_closes_total', { code: '1006' }), 5);
  } finally {
    for (const c of socks) c.terminate();
    await srv.stop();
  }
});
