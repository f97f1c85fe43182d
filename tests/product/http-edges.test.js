'use strict';
// HTTP framing edges that no other suite sends (issue 15's coverage: each was an
// untested error path of src/core/http_session.c): a request that is not HTTP/1.x,
// bodies framed in ways the server refuses (Transfer-Encoding other than a lone
// "chunked", chunked with Content-Length, two Content-Lengths, a broken chunk size),
// HTTP/1.0 persistence (close unless keep-alive was asked), and the 503 that
// --max-connections gives an upgrade past the limit. Each answer is checked on the wire.

const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const { startServer, rawExchange, withTimeout, clientFrame } = require('./helpers');

const status = (raw) => Number((/^HTTP\/1\.1 (\d{3})/.exec(raw) || [])[1]);
const head = (raw) => raw.slice(0, raw.indexOf('\r\n\r\n') + 2).toLowerCase();

test('HTTP framing the server refuses, each with its status', async () => {
  const srv = await startServer();
  try {
    const cases = [
      ['GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n', 505],
      ['POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', 501],
      ['POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
      ['POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 501],
      ['POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 400],
      ['POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
    ];
    for (const [req, want] of cases) {
      const raw = await rawExchange(srv.port, req);
      assert.strictEqual(status(raw), want, `${JSON.stringify(req.split('\r\n')[0])} ${req.includes('Transfer') ? '(TE)' : ''}: ${raw.slice(0, 200)}`);
      assert.match(head(raw), /connection: close/, 'a framing error closes the connection');
    }
  } finally {
    await srv.stop();
  }
});

// Two requests written at once on one connection; resolves to everything the server
// sent until it closed (or 1.5 s passed: the connection is still open).
function pipelined(port, raw) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ buf, closed: false }); }, 1500);
    sock.on('data', (c) => { buf += c.toString('latin1'); });
    sock.on('close', () => { clearTimeout(timer); resolve({ buf, closed: true }); });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.write(raw);
  }), 5000, 'pipelined exchange');
}

test('HTTP/1.0: closed after the answer unless keep-alive was asked', async () => {
  const srv = await startServer();
  try {
    const plain = await pipelined(srv.port, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.strictEqual(status(plain.buf), 200);
    assert.match(head(plain.buf), /connection: close/);
    assert.ok(plain.closed, 'an HTTP/1.0 request without keep-alive ends the connection');
    const kept = await pipelined(srv.port, 'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    assert.strictEqual(status(kept.buf), 200);
    assert.doesNotMatch(head(kept.buf), /connection: close/);
    assert.ok(!kept.closed, 'keep-alive asked: the connection stays open');
  } finally {
    await srv.stop();
  }
});

function upgrade(port) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.on('data', (c) => {
      buf += c.toString('latin1');
      if (buf.includes('\r\n\r\n')) resolve({ sock, buf });
    });
    sock.on('error', reject);
    sock.write('GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  }), 3000, 'upgrade');
}

test('--max-connections: the upgrade past the limit gets 503 with Retry-After', async () => {
  const srv = await startServer(['--max-connections', '1']);
  try {
    const first = await upgrade(srv.port);
    assert.strictEqual(Number(/^HTTP\/1\.1 (\d{3})/.exec(first.buf)[1]), 101);
    const second = await upgrade(srv.port);
    assert.strictEqual(status(second.buf), 503, second.buf);
    assert.match(head(second.buf), /retry-after: 1/);
    second.sock.destroy();
    // The first one still works.
    const echoed = new Promise((resolve) => first.sock.once('data', resolve));
    first.sock.write(clientFrame(1, Buffer.from('still here')));
    const frame = await withTimeout(echoed, 3000, 'echo');
    assert.ok(frame.includes(Buffer.from('still here')));
    first.sock.destroy();
  } finally {
    await srv.stop();
  }
});

// http_session.c finds the headers it reads for every request (Upgrade, Connection,
// Content-Type, Content-Length, Transfer-Encoding, Origin) in one pass, matching names
// by length first: any case still matches, a duplicate still counts, and another name
// of the same length is not taken for one of them.
test('per-request header index: case-insensitive, duplicates counted, same-length names apart', async () => {
  const srv = await startServer();
  try {
    const dup = await rawExchange(srv.port, 'POST /x HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 1\r\ncontent-Length: 1\r\n\r\nx');
    assert.strictEqual(status(dup), 400, dup.slice(0, 200));
    const te = await rawExchange(srv.port, 'POST /x HTTP/1.1\r\nHost: a\r\nTRANSFER-encoding: gzip\r\n\r\n');
    assert.strictEqual(status(te), 501, te.slice(0, 200));
    // "Content-Lengtx" (14 characters) is not a body length: the request has no body,
    // so "hello" is read as the next request (malformed: 400) after the 200, and
    // "Connectiom: close" (10 characters) did not close the connection after the 200.
    const alike = await pipelined(srv.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Lengtx: 5\r\nConnectiom: close\r\n\r\nhello\r\n\r\n');
    assert.match(alike.buf, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(alike.buf.slice(0, alike.buf.indexOf('\r\n\r\n')), /Connection: close/i);
    assert.match(alike.buf, /HTTP\/1\.1 400 [^]*malformed/);
    const closed = await pipelined(srv.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\ncoNNECTION: Close\r\n\r\n');
    assert.strictEqual(status(closed.buf), 200);
    assert.ok(closed.closed, 'Connection: close in any case ends the connection');
    // Engine.IO reads Content-Type through the same index: a binary POST is refused.
    const open = await rawExchange(srv.port, 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const sid = /"sid":"([^"]+)"/.exec(open)[1];
    const bin = await rawExchange(srv.port, `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: a\r\n` +
      'CONTENT-TYPE: application/octet-stream\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40');
    assert.strictEqual(status(bin), 400, bin.slice(0, 200));
  } finally {
    await srv.stop();
  }
});
