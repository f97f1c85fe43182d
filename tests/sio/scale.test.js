'use strict';
// 1,000 socket.io-client sockets (websocket transport) in one room of --app bench; several
// of them broadcast sequenced messages to the room; every socket must get every message,
// exactly once, in each sender's order. Bounded: connect, join and delivery each have a
// deadline.

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const { withTimeout, client, connected, call, until } = require('./helpers.js');

const CLIENTS = Number(process.env.SIO_SCALE_CLIENTS || 1000);
const SENDERS = 5;
const PER_SENDER = 10;
const BATCH = 100;

eachTarget('bench', (ctx) => {
  ctx.test(`${CLIENTS} clients in one room, ${SENDERS * PER_SENDER} broadcasts, nothing lost`, async (t) => {
    const room = 'everyone';
    const sockets = [];
    const got = [];
    const t0 = Date.now();
    for (let i = 0; i < CLIENTS; i += BATCH) {
      const batch = [];
      for (let j = i; j < Math.min(CLIENTS, i + BATCH); j++) {
        const s = ctx.track(client(ctx.url, 'websocket', { timeout: 20000 }));
        s.offAny(); // no per-event log: only the counters below
        const seen = [];
        got.push(seen);
        s.on('bcast', (m) => seen.push(m));
        sockets.push(s);
        batch.push(connected(s, 20000));
      }
      await Promise.all(batch);
    }
    const tConnected = Date.now();
    // join, then an echo with ack: when it comes back, the join was handled.
    await withTimeout(Promise.all(sockets.map(async (s) => {
      s.emit('join', room);
      await call(s, 'echo', 'joined');
    })), 30000, 'every client joined');
    const tJoined = Date.now();

    for (let k = 0; k < PER_SENDER; k++) {
      for (let sdr = 0; sdr < SENDERS; sdr++) {
        sockets[sdr * Math.floor(CLIENTS / SENDERS)].emit('bcast', { s: sdr, k, pad: 'x'.repeat(64) });
      }
    }
    const total = SENDERS * PER_SENDER;
    await until(() => got.every((seen) => seen.length >= total), 30000,
      `every client to get ${total} broadcasts (min so far ${Math.min(...got.map((g) => g.length))})`, 50);
    const tDelivered = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < got.length; i++) {
      const seen = got[i];
      assert.equal(seen.length, total, `client ${i}: ${seen.length} broadcasts, duplicates?`);
      for (let sdr = 0; sdr < SENDERS; sdr++) {
        const ks = seen.filter((m) => m.s === sdr).map((m) => m.k);
        assert.deepEqual(ks, Array.from({ length: PER_SENDER }, (_, k) => k), `client ${i}, sender ${sdr} order`);
      }
    }
    assert.ok(sockets.every((s) => s.connected), 'every client still connected');
    t.diagnostic(`${ctx.target}: ${CLIENTS} clients connected in ${tConnected - t0} ms, joined in ` +
      `${tJoined - tConnected} ms, ${total * CLIENTS} deliveries in ${tDelivered - tJoined} ms`);
    for (const s of sockets) s.disconnect();
  }, 120000);
});
