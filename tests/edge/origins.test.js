'use strict';
// --allowed-origins against cross-site WebSocket hijacking: a browser's Origin outside
// the list is refused on a WebSocket handshake (403 "origin not allowed") and on every
// Engine.IO request (403 {"code":4,"message":"Forbidden"}, as Node's allowRequest), the
// CORS answer names only listed origins, a request without Origin (not a browser)
// passes, and each refusal is counted in wsio_refusals_total{reason="origin"}.

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, runServer, rawExchange, handshakeAnswer, scrape, until } = require('../product/helpers.js');

const LIST = 'https://chat.example.com, https://*.example.org, http://localhost:3000';

function wsRequest(p, origin) {
  return `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    (origin ? `Origin: ${origin}\r\n` : '') + '\r\n';
}

function getReq(p, origin, method = 'GET') {
  return `${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    (origin ? `Origin: ${origin}\r\n` : '') + (method === 'OPTIONS' ? 'Access-Control-Request-Method: GET\r\n' : '') + '\r\n';
}

const status = (raw) => Number(raw.split(' ')[1]);
const body = (raw) => raw.slice(raw.indexOf('\r\n\r\n') + 4);
const header = (raw, name) => {
  const m = new RegExp(`\\r\\n${name}:\\s*([^\\r]*)`, 'i').exec(raw.slice(0, raw.indexOf('\r\n\r\n')));
  return m ? m[1] : undefined;
};
const refusals = async (port) => (await scrape(port)).get('wsio_refusals_total', { reason: 'origin' });

let srv;
before(async () => { srv = await startServer(['--allowed-origins', LIST]); });

test('WebSocket handshakes: listed origins and wildcards pass, others get 403', async () => {
  const before0 = await refusals(srv.port);
  for (const o of ['https://chat.example.com', 'https://a.example.org', 'https://a.b.example.org', 'http://localhost:3000', null]) {
    const r = await handshakeAnswer(srv.port, wsRequest('/echo', o));
    assert.match(r, /^HTTP\/1\.1 101 /, `origin ${o}`);
  }
  for (const o of ['https://evil.com', 'https://example.org', 'http://chat.example.com', 'https://chat.example.com:443',
    'null', 'http://localhost:3001', 'https://chat.example.com.evil.com']) {
    const r = await handshakeAnswer(srv.port, wsRequest('/echo', o));
    assert.equal(status(r), 403, `origin ${o}: ${r}`);
    assert.match(body(r), /origin not allowed/);
  }
  // the Socket.IO WebSocket transport too
  const r = await handshakeAnswer(srv.port, wsRequest('/socket.io/?EIO=4&transport=websocket', 'https://evil.com'));
  assert.equal(status(r), 403);
  assert.equal(await refusals(srv.port), before0 + 8);
  const s = await scrape(srv.port);
  assert.ok(s.get('wsio_handshake_failures_total', { status: '403' }) >= 8);
});

test('Engine.IO polling: refused origins get 403 code 4 and no CORS, listed ones are answered', async () => {
  const before0 = await refusals(srv.port);
  const ok = await rawExchange(srv.port, getReq('/socket.io/?EIO=4&transport=polling', 'https://x.example.org'));
  assert.equal(status(ok), 200, ok);
  assert.match(body(ok), /^0\{"sid":/);
  assert.equal(header(ok, 'access-control-allow-origin'), '*'); // --cors-origin's default
  const none = await rawExchange(srv.port, getReq('/socket.io/?EIO=4&transport=polling', null));
  assert.equal(status(none), 200, none);

  const bad = await rawExchange(srv.port, getReq('/socket.io/?EIO=4&transport=polling', 'https://evil.com'));
  assert.equal(status(bad), 403, bad);
  assert.deepEqual(JSON.parse(body(bad)), { code: 4, message: 'Forbidden' });
  assert.equal(header(bad, 'access-control-allow-origin'), undefined);
  // a request with a valid sid from another site is refused too
  const sid = JSON.parse(body(ok).slice(1)).sid;
  const bad2 = await rawExchange(srv.port, getReq(`/socket.io/?EIO=4&transport=polling&sid=${sid}`, 'https://evil.com'));
  assert.equal(status(bad2), 403, bad2);
  // a preflight from another site gets no Access-Control-Allow-Origin
  const pre = await rawExchange(srv.port, getReq('/socket.io/?EIO=4&transport=polling', 'https://evil.com', 'OPTIONS'));
  assert.equal(header(pre, 'access-control-allow-origin'), undefined, pre);
  const preOk = await rawExchange(srv.port, getReq('/socket.io/?EIO=4&transport=polling', 'https://chat.example.com', 'OPTIONS'));
  assert.equal(header(preOk, 'access-control-allow-origin'), '*', preOk);
  assert.equal(await refusals(srv.port), before0 + 2);
});

test('without --allowed-origins every origin passes (the default)', async () => {
  const s = await startServer([]);
  try {
    const r = await handshakeAnswer(s.port, wsRequest('/echo', 'https://evil.com'));
    assert.match(r, /^HTTP\/1\.1 101 /);
    assert.equal(await refusals(s.port), 0);
  } finally { await s.stop(); }
});

test('a bad list is refused at start with a reason', async () => {
  for (const bad of ['example.com', 'https://example.com/', 'https://a.*.com']) {
    const r = await runServer(['--allowed-origins', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /invalid value .* for --allowed-origins/);
  }
});

test('a non-loopback listener with any origin allowed logs a warning; a loopback one does not', async () => {
  const pub = await startServer(['--host', '0.0.0.0', '--port', '0', '--allowed-origins', '*'], { raw: true });
  try { // logged right after the listening line: wait for it
    await until(() => /non-loopback address with any origin allowed/.test(pub.stderr()), 3000, 'the warning');
  } finally { await pub.stop(); }
  const listed = await startServer(['--host', '0.0.0.0', '--port', '0', '--allowed-origins', LIST], { raw: true }); // ready: its lines are out
  try {
    assert.doesNotMatch(listed.stderr(), /any origin allowed/);
  } finally { await listed.stop(); }
  const local = await startServer([]);
  try {
    assert.doesNotMatch(local.stderr(), /any origin allowed/);
  } finally { await local.stop(); }
});
