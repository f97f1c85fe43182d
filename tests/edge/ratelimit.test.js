'use strict';
// Rate limits: open connections per client IP and handshakes per second per IP (429
// with Retry-After, counted in wsio_refusals_total), messages per second per connection
// (dropped and counted, or close 1008), and the client IP taken from X-Forwarded-For /
// Forwarded only when the peer is a --trusted-proxies address (logs show that IP).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer, scrape, until, sleep, withTimeout } = require('../product/helpers.js');

function open(port, headers = {}, p = '/echo') {
  return withTimeout(new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`, { headers });
    ws.on('open', () => resolve({ ok: true, ws }));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ ok: false, status: res.statusCode, retry: res.headers['retry-after'], body }));
    });
    ws.on('error', () => {});
  }), 5000, 'a WebSocket open');
}

const closeAll = (list) => Promise.all(list.filter((x) => x.ok).map((x) => new Promise((r) => { x.ws.on('close', r); x.ws.close(); })));
const refusal = async (port, reason) => (await scrape(port)).get('wsio_refusals_total', { reason });

test('connections per IP: over it 429, and a closed connection frees its place', async () => {
  const srv = await startServer(['--max-connections-per-ip', '2']);
  try {
    const a = await open(srv.port);
    const b = await open(srv.port);
    assert.ok(a.ok && b.ok);
    const c = await open(srv.port);
    assert.equal(c.ok, false);
    assert.equal(c.status, 429);
    assert.equal(c.retry, '1');
    assert.match(c.body, /too many connections from this address/);
    assert.equal(await refusal(srv.port, 'connections_per_ip'), 1);
    await closeAll([a]);
    const d = await until(async () => { const x = await open(srv.port); if (x.ok) return x; return null; }, 5000, 'a place freed');
    await closeAll([b, d]);
  } finally { await srv.stop(); }
});

test('handshakes per second per IP: a burst over it gets 429, then it recovers', async () => {
  const srv = await startServer(['--handshakes-per-second', '3']);
  try {
    const res = await Promise.all(Array.from({ length: 12 }, () => open(srv.port)));
    const ok = res.filter((x) => x.ok).length;
    const refused = res.filter((x) => !x.ok);
    assert.ok(ok >= 3 && ok < 12, `${ok} of 12 opened`);
    for (const r of refused) assert.equal(r.status, 429);
    assert.equal(await refusal(srv.port, 'handshake_rate'), refused.length);
    await closeAll(res);
    await sleep(1100);
    const again = await open(srv.port);
    assert.ok(again.ok, 'a handshake passes again after a second');
    await closeAll([again]);
  } finally { await srv.stop(); }
});

test('forwarded client IPs count only from trusted proxies, and the logs show them', async () => {
  const trusted = await startServer(['--max-connections-per-ip', '1', '--trusted-proxies', '127.0.0.1', '--log-level', 'debug']);
  try {
    const a = await open(trusted.port, { 'X-Forwarded-For': '203.0.113.7' });
    const b = await open(trusted.port, { 'X-Forwarded-For': '198.51.100.9' });
    assert.ok(a.ok && b.ok, 'two clients behind one proxy');
    const c = await open(trusted.port, { 'X-Forwarded-For': '10.9.9.9, 203.0.113.7' });
    assert.equal(c.status, 429, 'the right-most untrusted hop is the client');
    await until(() => /203\.0\.113\.7/.test(trusted.stderr()), 3000, 'the client IP in the log');
    await closeAll([a, b]);
  } finally { await trusted.stop(); }
  const fwd = await startServer(['--max-connections-per-ip', '1', '--trusted-proxies', '127.0.0.0/8', '--forwarded-header', 'forwarded']);
  try {
    const a = await open(fwd.port, { Forwarded: 'for=203.0.113.7' });
    const b = await open(fwd.port, { Forwarded: 'for="[2001:db8::1]:4711"', 'X-Forwarded-For': '203.0.113.7' });
    assert.ok(a.ok && b.ok, 'Forwarded read, X-Forwarded-For ignored');
    await closeAll([a, b]);
  } finally { await fwd.stop(); }
  const untrusted = await startServer(['--max-connections-per-ip', '1']);
  try {
    const a = await open(untrusted.port, { 'X-Forwarded-For': '203.0.113.7' });
    const b = await open(untrusted.port, { 'X-Forwarded-For': '198.51.100.9' });
    assert.ok(a.ok);
    assert.equal(b.status, 429, 'a header from an untrusted peer is ignored');
    await closeAll([a]);
  } finally { await untrusted.stop(); }
});

async function flood(port, n) {
  const { ws } = await open(port);
  let got = 0;
  let closed = null;
  ws.on('message', () => { got++; });
  const done = new Promise((r) => ws.on('close', (code) => { closed = code; r(); }));
  for (let i = 0; i < n; i++) ws.send(`m${i}`);
  await sleep(500);
  if (closed === null) { ws.close(); await done; return { got, closed: null }; }
  return { got, closed };
}

test('messages per second: over it dropped and counted, or the connection closed 1008', async () => {
  const drop = await startServer(['--messages-per-second', '5']);
  try {
    const r = await flood(drop.port, 40);
    assert.equal(r.closed, null);
    assert.ok(r.got >= 5 && r.got < 40, `${r.got} echoed`);
    const s = await scrape(drop.port);
    assert.equal(s.get('wsio_rate_limited_messages_total', { action: 'dropped' }), 40 - r.got);
  } finally { await drop.stop(); }
  const close = await startServer(['--messages-per-second', '5', '--message-rate-action', 'close']);
  try {
    const r = await flood(close.port, 40);
    assert.equal(r.closed, 1008);
    assert.equal((await scrape(close.port)).get('wsio_rate_limited_messages_total', { action: 'closed' }), 1);
  } finally { await close.stop(); }
});

test('bad limit options stop the server with a reason', async () => {
  const { runServer } = require('../product/helpers.js');
  for (const [opt, v] of [['--trusted-proxies', '10.0.0.1/8'], ['--forwarded-header', 'x-real-ip'],
    ['--message-rate-action', 'ignore'], ['--max-connections-per-ip', '-1']]) {
    const r = await runServer(['--host', '127.0.0.1', '--port', '0', opt, v]);
    assert.equal(r.code, 2, `${opt} ${v}`);
    assert.match(r.stderr, new RegExp(`invalid value .* for ${opt}`));
  }
});

test('handshakes per second also bound Engine.IO long-polling handshakes (429)', async () => {
  const { rawExchange } = require('../product/helpers.js');
  const srv = await startServer(['--handshakes-per-second', '2']);
  try {
    const req = 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const res = await Promise.all(Array.from({ length: 8 }, () => rawExchange(srv.port, req)));
    const st = res.map((r) => Number(r.split(' ')[1]));
    assert.ok(st.filter((x) => x === 200).length >= 2, st.join());
    const refused = st.filter((x) => x === 429).length;
    assert.ok(refused >= 1 && refused + st.filter((x) => x === 200).length === 8, st.join());
    assert.equal(await refusal(srv.port, 'handshake_rate'), refused);
    await sleep(1100);
    assert.equal(Number((await rawExchange(srv.port, req)).split(' ')[1]), 200);
  } finally { await srv.stop(); }
});

/* A long-polling Engine.IO handshake (raw): [status, sid or null]. */
async function pollOpen(port, headers = {}) {
  const { rawExchange } = require('../product/helpers.js');
  const h = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const r = await rawExchange(port, `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n${h}Connection: close\r\n\r\n`);
  const m = /"sid":"([^"]+)"/.exec(r);
  return [Number(r.split(' ')[1]), m ? m[1] : null, r];
}

async function pollClose(port, sid) {
  const { rawExchange } = require('../product/helpers.js');
  await rawExchange(port, `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    'Content-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1');
}

test('connections per IP: Engine.IO long-polling sessions count like WebSockets; an upgrade is not counted twice', async () => {
  const srv = await startServer(['--max-connections-per-ip', '2']);
  try {
    const [s1, sid1] = await pollOpen(srv.port);
    const [s2, sid2] = await pollOpen(srv.port);
    assert.deepEqual([s1, s2], [200, 200]);
    const [s3, , body3] = await pollOpen(srv.port);
    assert.equal(s3, 429, 'a third session of the address');
    assert.match(body3, /too many connections from this address/);
    const ws = await open(srv.port);
    assert.equal(ws.status, 429, 'the polling sessions count against WebSockets too');
    assert.equal(await refusal(srv.port, 'connections_per_ip'), 2);
    await pollClose(srv.port, sid1);
    const back = await until(async () => { const [st, sid] = await pollOpen(srv.port); return st === 200 ? sid : null; },
      5000, 'the closed session\'s place freed');
    await pollClose(srv.port, sid2);
    await pollClose(srv.port, back);
  } finally { await srv.stop(); }
  // socket.io-client's default: polling, then the upgrade; one place is enough for it
  const { io } = require('socket.io-client');
  const one = await startServer(['--max-connections-per-ip', '1']);
  try {
    const a = io(`http://127.0.0.1:${one.port}/`, { forceNew: true, reconnection: false });
    await withTimeout(new Promise((r, j) => { a.on('connect', r); a.on('connect_error', j); }), 5000, 'connect');
    await until(() => a.io.engine.transport.name === 'websocket', 5000, 'the upgrade to websocket');
    const b = io(`http://127.0.0.1:${one.port}/`, { forceNew: true, reconnection: false });
    const err = await withTimeout(new Promise((r) => { b.on('connect', () => r(null)); b.on('connect_error', r); }), 5000, 'b');
    b.close();
    assert.ok(err, 'a second client of the address is refused');
    a.close();
    const c = await until(async () => {
      const s = io(`http://127.0.0.1:${one.port}/`, { forceNew: true, reconnection: false });
      const ok = await withTimeout(new Promise((r) => { s.on('connect', () => r(true)); s.on('connect_error', () => r(false)); }), 5000, 'c');
      if (ok) return s;
      s.close();
      return null;
    }, 8000, 'the upgraded client\'s place freed when it left');
    c.close();
  } finally { await one.stop(); }
});

test('Engine.IO sessions behind a trusted proxy: limits count the forwarded IP, and logs show it', async () => {
  const srv = await startServer(['--max-connections-per-ip', '1', '--trusted-proxies', '127.0.0.1', '--log-level', 'debug',
    '--jwt-secret', 'a-test-secret-of-at-least-32-bytes!!']);
  try {
    const [a, sidA] = await pollOpen(srv.port, { 'X-Forwarded-For': '203.0.113.7' });
    const [b, sidB] = await pollOpen(srv.port, { 'X-Forwarded-For': '198.51.100.9' });
    assert.deepEqual([a, b], [200, 200], 'two clients behind one proxy');
    const [c] = await pollOpen(srv.port, { 'X-Forwarded-For': '203.0.113.7' });
    assert.equal(c, 429, 'the forwarded IP is the one counted');
    await until(() => /Engine\.IO session from 203\.0\.113\.7 refused/.test(srv.stderr()), 3000, 'the refusal with the client IP');
    // the Socket.IO layer sees the forwarded address too: the token check logs it
    const { rawExchange } = require('../product/helpers.js');
    await rawExchange(srv.port, `POST /socket.io/?EIO=4&transport=polling&sid=${sidB} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      'Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40');
    await until(() => /handshake from 198\.51\.100\.9 refused: no token/.test(srv.stderr()), 3000, 'the socket\'s address in the log');
    assert.doesNotMatch(srv.stderr(), /handshake from 127\.0\.0\.1 refused/);
    await pollClose(srv.port, sidA);
    await pollClose(srv.port, sidB);
  } finally { await srv.stop(); }
});
