'use strict';
// A long-poll GET held longer than --handshake-timeout is not a slow handshake. The
// sweep used to close every CONN_HTTP connection past its handshake deadline, held
// responses included: an idle long-polling client whose GET waited for the next ping
// longer than --handshake-timeout lost its session ("transport error" on the client;
// with --ping-interval equal to --handshake-timeout, as in bench/soak.sh, a loop stall
// was enough to lose the race: the soak's "Session ID unknown" connect failures).
// wsio-server's own defaults (--ping-interval 25, --handshake-timeout 10) cut every idle
// polling client of the chat app after 10.5 s.
// Here --handshake-timeout 2 and --ping-interval 6: the client must stay connected
// through its 5-second held GET and no handshake timeout may be counted.

const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const h = require('./helpers');

test('a long-poll held past --handshake-timeout keeps its session', { timeout: 30000 }, async () => {
  const srv = await h.startServer(['--app', 'test', '--handshake-timeout', '2', '--ping-interval', '6', '--ping-timeout', '5']);
  const m0 = await h.scrape(srv.port);
  const s = io(`http://127.0.0.1:${srv.port}`, { transports: ['polling'], reconnection: false, forceNew: true });
  const reasons = [];
  s.on('disconnect', (r) => reasons.push(r));
  await h.until(() => s.connected, 5000, 'connected');
  await h.sleep(5000); // the GET is held all along: the first ping is due at 6 s
  assert.deepEqual(reasons, [], 'no disconnect while the GET was held');
  assert.ok(s.connected, 'still connected');
  // Still served: an ack comes back over the same session.
  const reply = await h.withTimeout(new Promise((resolve) => s.emit('echo', 'x', (...a) => resolve(a))), 5000, 'echo ack');
  assert.deepEqual(reply, ['x']);
  const m1 = await h.scrape(srv.port);
  assert.equal(m1.get('wsio_handshake_timeouts_total') - m0.get('wsio_handshake_timeouts_total'), 0, 'handshake timeouts counted');
  s.close();
  assert.equal((await srv.stop(10000)).code, 0);
});
