'use strict';
// Clients that vanish without a FIN: a client process is SIGSTOPped, so its kernel
// keeps the TCP connections open but nothing answers. The heartbeat must find both of
// its connections (a raw WebSocket on /echo: WebSocket ping; a Socket.IO socket:
// Engine.IO ping) and clean them up — gauges back to zero, the heartbeat timeouts
// counted per layer — while other clients are served. The server closes the Socket.IO
// socket for "ping timeout", a reason Node lists as recoverable: the session must be
// kept, so the client, once SIGCONTed, comes back with socket.recovered === true (it
// would not after a non-recoverable reason), and gets the event emitted to it while it
// was away. The client's own disconnect reason is "ping timeout" too (it saw no ping
// either).

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { io } = require('socket.io-client');
const h = require('./helpers');

test('a SIGSTOPped client is found by the heartbeat and its Socket.IO session kept for recovery', { timeout: 60000 }, async (t) => {
  const srv = await h.startServer(['--app', 'test', '--ping-interval', '1', '--ping-timeout', '1']);
  const child = spawn(process.execPath, [path.join(__dirname, 'clients', 'vanish-client.js'), String(srv.port), '40000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  const events = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { events.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
  });
  const ready = await h.until(() => events.find((e) => e.ev === 'ready'), 10000, 'the client process ready');
  const m0 = await h.scrape(srv.port);
  assert.equal(m0.get('wsio_sio_sockets'), 1);
  assert.equal(m0.get('wsio_connections', { transport: 'websocket' }), 2);

  // Another client, served all along.
  const other = io(`http://127.0.0.1:${srv.port}`, { transports: ['websocket'], reconnection: false });
  t.after(() => other.close());
  await h.until(() => other.connected, 5000, 'the other client');

  child.kill('SIGSTOP');
  const t0 = Date.now();
  const m1 = await h.until(async () => {
    const m = await h.scrape(srv.port);
    const ok = m.get('wsio_sio_sockets') === 1 && // the other client's
      m.get('wsio_heartbeat_timeouts_total', { layer: 'engineio' }) >= 1 && m.get('wsio_heartbeat_timeouts_total', { layer: 'websocket' }) >= 1;
    return ok && m;
  }, 15000, 'both vanished connections found by the heartbeat', 100);
  const foundMs = Date.now() - t0;
  // interval + timeout = 2 s; the sweep's 25%; a loaded machine.
  assert.ok(foundMs < 6000, `found after ${foundMs} ms`);
  // The descriptors: the raw WebSocket is dropped at once; the Engine.IO session's
  // WebSocket is closed with a close frame that nobody answers, so it goes at
  // --close-timeout (5 s) at the latest.
  await h.until(async () => (await h.scrape(srv.port)).get('wsio_connections', { transport: 'websocket' }) === 1, 10000, 'both vanished connections closed', 100);
  const closedMs = Date.now() - t0;
  assert.ok(closedMs < foundMs + 5000 + 3000, `closed after ${closedMs} ms`);
  const ack = await other.timeout(3000).emitWithAck('echo', 'still here');
  assert.equal(ack, 'still here');
  // An event for the vanished socket while it is away: stored, replayed on recovery.
  await other.timeout(3000).emitWithAck('to-room', ready.id, 'missed', 42);

  child.kill('SIGCONT');
  const back = await h.until(() => events.find((e) => e.ev === 'connect'), 10000, 'the client back after SIGCONT');
  const disc = events.find((e) => e.ev === 'disconnect');
  assert.equal(back.recovered, true, `the session was kept for recovery (events: ${JSON.stringify(events)})`);
  assert.equal(back.id, ready.id, 'recovered with the same id');
  assert.equal(disc.reason, 'ping timeout', `client-side reason (events: ${JSON.stringify(events)})`);
  const missed = await h.until(() => events.find((e) => e.ev === 'missed'), 5000, 'the event emitted while away');
  assert.equal(missed.v, 42);
  t.diagnostic(`vanished client found after ${foundMs} ms (ping interval 1 s + timeout 1 s), its descriptors closed after ${closedMs} ms; ` +
    `server metrics: heartbeat timeouts engineio=${m1.get('wsio_heartbeat_timeouts_total', { layer: 'engineio' })} ` +
    `websocket=${m1.get('wsio_heartbeat_timeouts_total', { layer: 'websocket' })}; recovered after SIGCONT; events ${JSON.stringify(events)}`);
  child.kill('SIGKILL');
  other.close();
  assert.equal((await srv.stop()).code, 0);
});
