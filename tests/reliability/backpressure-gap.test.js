'use strict';
// A Socket.IO client that falls behind the room broadcasts it is sent. Its WebSocket's
// send buffer reaches --max-backpressure and a broadcast has to be dropped for it. The
// client must never be left with a silent gap: the server closes it right there (1008,
// after the bytes sent before the gap), and the client, reconnecting with connection
// state recovery (--app test has it on), gets back every event it missed, exactly once
// and in order. The client catches up at once after the drop, well within one sweep,
// and more is broadcast after that: a server that kept a client open once it had
// drained (as wsio did until 2026-12-07) delivers those later events past the gap, and
// the client never gets the dropped ones.

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const h = require('./helpers');

const PAD = 'x'.repeat(8192);

/* A client in a room stops reading while 8 KiB events go to the room one at a time,
 * until the server has dropped one for it; then `more` events of `pad` are broadcast
 * while it is still paused, it reads again, and `after` small events follow once it
 * has noticed the close. Returns what it saw. */
async function fallBehind(t, { more, pad, after }) {
  const srv = await h.startServer(['--app', 'test', '--max-backpressure', '64KiB', '--kernel-send-limit', '16KiB']);
  t.after(() => srv.stop());
  const url = `http://127.0.0.1:${srv.port}`;
  const opts = { forceNew: true, transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 };
  const a = io(url, opts);
  const b = io(url, { ...opts, reconnection: false });
  t.after(() => { a.close(); b.close(); });
  const got = [];
  const reasons = [];
  const recovered = [];
  const ids = [];
  a.on('m', (i, p) => got.push([i, p.length]));
  a.on('disconnect', (reason) => reasons.push(reason));
  a.on('connect', () => { recovered.push(a.recovered); ids.push(a.id); });
  await h.until(() => a.connected && b.connected, 5000, 'both clients connected');
  const room = 'gap';
  await a.timeout(3000).emitWithAck('join', room);
  // Recovery needs an offset: the client must have received one event first.
  await b.timeout(3000).emitWithAck('in-room', room, 'm', -1, 'x');
  await h.until(() => got.length === 1, 5000, 'the first event');
  const pid = a._pid; // what its reconnection presents to restore the session

  const sock = a.io.engine.transport.ws._socket;
  sock.pause();
  const sent = [[-1, 1]];
  let n = 0;
  const emit = async (p) => {
    await b.timeout(3000).emitWithAck('in-room', room, 'm', n, p);
    sent.push([n++, p.length]);
  };
  for (;;) {
    await emit(PAD);
    const m = await h.scrape(srv.port);
    if (m.get('wsio_dropped_messages_total', { reason: 'backpressure' }) > 0) break;
    assert.ok(n < 1000, `no broadcast dropped after ${n} events of 8 KiB`);
  }
  const droppedAt = n - 1;
  for (let k = 0; k < more; k++) await emit(pad);
  sock.resume();
  await h.until(() => reasons.length >= 1, 5000, 'the client closed at the gap');
  await h.until(() => recovered.length >= 2, 5000, 'the client reconnected');
  for (let k = 0; k < after; k++) await emit('s');
  await h.sleep(300); // what is still on its way
  const m = await h.scrape(srv.port);
  return { got, sent, droppedAt, reasons, recovered, ids, m, pid, log: srv.stderr() };
}

test('a Socket.IO client behind the broadcasts is closed at the gap and recovers every event', { timeout: 60000 }, async (t) => {
  const r = await fallBehind(t, { more: 2, pad: 's', after: 5 });
  assert.deepEqual(r.got, r.sent); // all, once, in order
  assert.deepEqual(r.reasons, ['transport close']);
  assert.deepEqual(r.recovered, [false, true]);
  assert.equal(r.ids[1], r.ids[0]);
  assert.equal(r.m.get('wsio_backpressure_closes_total'), 1);
  assert.equal(r.m.get('wsio_sio_recovery_too_large_total'), 0);
});

// The missed events are more than the send buffer takes: sending them would be refused
// in turn (and the CONNECT reply after them). The client gets a new session instead,
// and knows it (socket.recovered false); it has a gap, but not a silent one.
test('a catch-up larger than the send buffer is no recovery: a new session', { timeout: 60000 }, async (t) => {
  const r = await fallBehind(t, { more: 10, pad: PAD, after: 3 });
  assert.deepEqual(r.reasons, ['transport close']);
  assert.deepEqual(r.recovered, [false, false]);
  assert.notEqual(r.ids[1], r.ids[0]);
  assert.equal(r.m.get('wsio_backpressure_closes_total'), 1);
  assert.equal(r.m.get('wsio_sio_recovery_too_large_total'), 1);
  // Logged with the socket's public id, never the pid that would restore the session.
  assert.match(r.log, new RegExp(`socket ${r.ids[0]} not recovered`));
  assert.ok(r.pid && !r.log.includes(r.pid), 'the pid is not logged');
  // Up to the gap: every event in order, nothing after it (the new session is in no
  // room, so the small events after the reconnection do not reach it either).
  const k = r.got.length;
  assert.ok(k >= 2 && k <= r.droppedAt + 1, `got ${k} of the first ${r.droppedAt + 1}`);
  assert.deepEqual(r.got, r.sent.slice(0, k));
});
