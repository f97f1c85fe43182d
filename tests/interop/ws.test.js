'use strict';
// Interop: wsio-server against the npm `ws` client (and, where `ws` cannot produce the
// bytes we need, a raw net.Socket client). Run with `node --test tests/interop/`; the
// server binary comes from $WSIO_SERVER (default build/wsio-server).
//
// Each describe() starts its own server with the flags it needs and stops it in after(),
// asserting a clean exit (code 0 on SIGTERM: no crash, no sanitizer report).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const WebSocket = require('ws');
const { startServer, withTimeout } = require('./server.js');

const KiB = 1024;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// ws client helpers

/*
 * A ws client with a message queue, so no message is lost between two awaits.
 * `closed` resolves to {code, reason} when the client sees the connection close.
 */
class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.errors = [];
    ws.on('error', (err) => this.errors.push(err));
    ws.on('message', (data, isBinary) => {
      const msg = { data, isBinary };
      const waiter = this.waiters.shift();
      if (waiter) waiter(msg);
      else this.queue.push(msg);
    });
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const waiter of this.waiters.splice(0)) waiter(null);
        resolve(this.closeInfo);
      });
    });
  }

  /*
   * Resolves to the next {data: Buffer, isBinary} message; rejects if the connection
   * closes first (with its close code in the message) or after `ms`.
   */
  async next(ms = 5000) {
    if (this.queue.length) return this.queue.shift();
    const closedError = () => {
      const { code, reason } = this.closeInfo;
      const errs = this.errors.map((e) => e.message).join('; ');
      return new Error(`connection closed (code ${code}, reason "${reason}"${errs ? `, errors: ${errs}` : ''}) while waiting for a message`);
    };
    if (this.closeInfo) throw closedError();
    const msg = await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, 'next message');
    if (msg === null) throw closedError();
    return msg;
  }

  send(data, opts = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  }

  /* Sends `data` and returns the echoed message. */
  async roundTrip(data, opts = {}, ms = 5000) {
    await this.send(data, opts);
    return this.next(ms);
  }

  waitClosed(ms = 5000) {
    return withTimeout(this.closed, ms, 'connection close');
  }

  /* Closes (if still open) and waits for the close; never throws. */
  async dispose() {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
      this.ws.close();
    }
    try {
      await withTimeout(this.closed, 2000, 'close during dispose');
    } catch {
      this.ws.terminate();
    }
  }
}

/* Opens a ws client; rejects with the HTTP status on a refused handshake. */
function connect(url, opts = {}, protocols = undefined) {
  const ws = new WebSocket(url, protocols, opts);
  const client = new Client(ws);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      const err = new Error(`handshake refused with HTTP ${res.statusCode}`);
      err.statusCode = res.statusCode;
      err.headers = res.headers;
      res.resume();
      req.destroy();
      reject(err);
    });
    ws.once('error', reject);
  });
  return withTimeout(opened, 10000, `connect ${url}`);
}

/* Opens `n` clients, at most `batch` handshakes in flight at a time. */
async function connectMany(url, n, batch = 100) {
  const clients = [];
  try {
    for (let i = 0; i < n; i += batch) {
      const count = Math.min(batch, n - i);
      const opened = await Promise.all(Array.from({ length: count }, () => connect(url)));
      clients.push(...opened);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.dispose()));
    throw err;
  }
  return clients;
}

function asciiText(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------
// raw-socket helpers, for bytes the ws client will not produce

/* RFC 6455 5.2 frame, masked (client to server) unless mask is false. */
function encodeFrame(opcode, payload, { fin = true, mask = true, maskKey = null, rsv = 0 } = {}) {
  payload = Buffer.from(payload);
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  header[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? n : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) header.writeUInt16BE(n, 2);
  if (lenBytes === 8) header.writeBigUInt64BE(BigInt(n), 2);
  if (!mask) return Buffer.concat([header, payload]);
  const key = maskKey || crypto.randomBytes(4);
  key.copy(header, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= key[i & 3];
  return Buffer.concat([header, body]);
}

/* Parses unmasked server frames out of `buf`; returns {frames, rest}. */
function decodeFrames(buf) {
  const frames = [];
  for (;;) {
    if (buf.length < 2) break;
    let n = buf[1] & 0x7f;
    let off = 2;
    if (n === 126) {
      if (buf.length < 4) break;
      n = buf.readUInt16BE(2);
      off = 4;
    } else if (n === 127) {
      if (buf.length < 10) break;
      n = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    assert.equal(buf[1] & 0x80, 0, 'server frames must not be masked (RFC 6455 5.1)');
    if (buf.length < off + n) break;
    frames.push({ fin: !!(buf[0] & 0x80), opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + n) });
    buf = buf.subarray(off + n);
  }
  return { frames, rest: buf };
}

/*
 * Performs a WebSocket handshake by hand over a net.Socket. Resolves to
 * {socket, status, headers, rest} once the response head is in; `rest` holds any bytes
 * after it. The socket is paused and has no 'data' listener on return.
 */
function rawHandshake(port, path, extraHeaders = {}) {
  const key = crypto.randomBytes(16).toString('base64');
  const headers = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...extraHeaders,
  };
  const p = new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('socket closed during handshake')));
    socket.on('connect', () => {
      let req = `GET ${path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) if (v !== undefined) req += `${k}: ${v}\r\n`;
      socket.write(req + '\r\n');
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.pause();
      socket.removeAllListeners('data');
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const hdrs = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        hdrs[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const expectAccept = crypto.createHash('sha1')
        .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      resolve({ socket, status, headers: hdrs, expectAccept, rest: buf.subarray(end + 4) });
    });
  });
  return withTimeout(p, 5000, `raw handshake to ${path}`);
}

/* Reads from a raw socket until `count` complete frames (or a close) are in. */
function readFrames(raw, count, ms = 5000) {
  const p = new Promise((resolve, reject) => {
    let buf = raw.rest;
    const got = [];
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const { frames, rest } = decodeFrames(buf);
      buf = rest;
      got.push(...frames);
      if (got.length >= count) done();
    };
    const done = () => {
      raw.socket.removeListener('data', onData);
      raw.socket.pause();
      raw.rest = buf;
      resolve(got);
    };
    raw.socket.on('data', onData);
    raw.socket.once('error', () => {});
    raw.socket.once('end', done);
    raw.socket.resume();
    onData(Buffer.alloc(0));
  });
  return withTimeout(p, ms, `${count} frame(s) from the server`);
}

/* Plain HTTP request; resolves to {status, headers, body}. */
function httpRequest(port, { method = 'GET', path = '/', headers = {} } = {}) {
  const p = new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
  return withTimeout(p, 5000, `${method} ${path}`);
}

function upgradeHeaders(extra = {}) {
  return {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
}

/* The soft RLIMIT_NOFILE of this process (inherited by the server it spawns). */
function softFdLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

// ---------------------------------------------------------------------------------------

describe('echo with default limits', { timeout: 60000 }, () => {
  let srv;
  let c;
  before(async () => {
    srv = await startServer();
    c = await connect(srv.url('/echo'));
  });
  after(async () => {
    if (c) await c.dispose();
    if (srv) await srv.stopClean();
  });

  test('text message is echoed as text, byte-identical', async () => {
    const text = 'hello wsio — héllo wörld ✓ 🎉 \u0000 end';
    const m = await c.roundTrip(text);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString('utf8'), text);
  });

  test('binary message is echoed as binary, byte-identical', async () => {
    const bytes = crypto.randomBytes(1000);
    const m = await c.roundTrip(bytes);
    assert.equal(m.isBinary, true);
    assert.ok(m.data.equals(bytes));
  });

  test('empty text and empty binary messages are echoed with their opcode', async () => {
    const t = await c.roundTrip('');
    assert.equal(t.isBinary, false);
    assert.equal(t.data.length, 0);
    const b = await c.roundTrip(Buffer.alloc(0));
    assert.equal(b.isBinary, true);
    assert.equal(b.data.length, 0);
  });

  // 125/126 and 65535/65536 are where the 7-bit, 16-bit and 64-bit length forms switch.
  for (const n of [125, 126, 127, 65535, 65536, 65537]) {
    test(`${n}-byte binary and text messages are echoed intact`, async () => {
      const bytes = crypto.randomBytes(n);
      const b = await c.roundTrip(bytes);
      assert.equal(b.isBinary, true);
      assert.equal(b.data.length, n);
      assert.ok(b.data.equals(bytes));
      const text = asciiText(n);
      const t = await c.roundTrip(text);
      assert.equal(t.isBinary, false);
      assert.equal(t.data.toString(), text);
    });
  }

  test('messages are echoed in order when many are sent back to back', async () => {
    const n = 200;
    for (let i = 0; i < n; i++) c.ws.send(`seq-${i}`);
    for (let i = 0; i < n; i++) assert.equal((await c.next()).data.toString(), `seq-${i}`);
  });

  test('fragmented text message is echoed as one message', async () => {
    c.ws.send('hel', { fin: false });
    c.ws.send('lo, ', { fin: false });
    c.ws.send('', { fin: false });
    c.ws.send('world', { fin: true });
    const m = await c.next();
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'hello, world');
  });

  test('fragmented binary message (100 fragments) is echoed as one message', async () => {
    const parts = Array.from({ length: 100 }, () => crypto.randomBytes(1000));
    parts.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === parts.length - 1 }));
    const m = await c.next();
    assert.equal(m.isBinary, true);
    assert.ok(m.data.equals(Buffer.concat(parts)));
  });

  test('UTF-8 character split across fragments is accepted and echoed whole', async () => {
    const euro = Buffer.from('€', 'utf8'); // e2 82 ac
    c.ws.send(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]), { binary: false, fin: false });
    c.ws.send(euro.subarray(1, 2), { binary: false, fin: false });
    c.ws.send(Buffer.concat([euro.subarray(2), Buffer.from('5')]), { binary: false, fin: true });
    const m = await c.next();
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'price: €5');
  });

  test('ping between fragments is answered and the message is still echoed whole', async () => {
    const pong = once(c.ws, 'pong');
    c.ws.send('first-', { fin: false });
    c.ws.ping(Buffer.from('mid-message'));
    c.ws.send('second', { fin: true });
    const [payload] = await withTimeout(pong, 5000, 'pong');
    assert.equal(payload.toString(), 'mid-message');
    assert.equal((await c.next()).data.toString(), 'first-second');
  });

  test('ping with payload gets a pong with the same payload', async () => {
    for (const payload of [Buffer.from('ping-payload-123'), Buffer.alloc(0), crypto.randomBytes(125)]) {
      const pong = once(c.ws, 'pong');
      c.ws.ping(payload);
      const [data] = await withTimeout(pong, 5000, 'pong');
      assert.ok(data.equals(payload), `pong payload ${data.toString('hex')} != ${payload.toString('hex')}`);
    }
  });

  test('exactly --max-message-size (1 MiB) is accepted and echoed', async () => {
    const bytes = crypto.randomBytes(MiB);
    const m = await c.roundTrip(bytes);
    assert.ok(m.data.equals(bytes));
  });

  test('1 MiB + 1 message closes the connection with 1009', async () => {
    const big = await connect(srv.url('/echo'));
    big.ws.send(crypto.randomBytes(MiB + 1));
    const { code } = await big.waitClosed();
    assert.equal(code, 1009);
  });

  test('fragmented message growing past 1 MiB closes with 1009', async () => {
    const big = await connect(srv.url('/echo'));
    for (let i = 0; i < 5; i++) big.ws.send(crypto.randomBytes(256 * KiB), { binary: true, fin: i === 4 });
    const { code } = await big.waitClosed();
    assert.equal(code, 1009);
  });

  test('invalid UTF-8 in a text message closes with 1007', async () => {
    const bad = await connect(srv.url('/echo'));
    bad.ws.send(Buffer.from([0x61, 0xff, 0x62]), { binary: false });
    assert.equal((await bad.waitClosed()).code, 1007);
  });

  test('invalid UTF-8 completed in the last fragment closes with 1007', async () => {
    const bad = await connect(srv.url('/echo'));
    bad.ws.send(Buffer.from([0xe2, 0x82]), { binary: false, fin: false });
    bad.ws.send(Buffer.from([0x41]), { binary: false, fin: true }); // e2 82 41: bad continuation
    assert.equal((await bad.waitClosed()).code, 1007);
  });

  test('unmasked client frame closes with 1002', async () => {
    const raw = await rawHandshake(srv.port, '/echo');
    assert.equal(raw.status, 101);
    raw.socket.write(encodeFrame(0x1, 'not masked', { mask: false }));
    const frames = await readFrames(raw, 1);
    raw.socket.destroy();
    assert.equal(frames.length, 1, 'expected a close frame');
    assert.equal(frames[0].opcode, 0x8);
    assert.equal(frames[0].payload.readUInt16BE(0), 1002);
  });

  for (const [code, reason] of [[1000, 'normal bye'], [4000, 'custom app code']]) {
    test(`client close ${code} is answered with close ${code}`, async () => {
      const cl = await connect(srv.url('/echo'));
      assert.equal((await cl.roundTrip('before close')).data.toString(), 'before close');
      cl.ws.close(code, reason);
      // ws fires 'close' only after the server's close frame and its TCP close, so this
      // also checks that the server ends the TCP connection promptly (RFC 6455 7.1.1).
      const closed = await cl.waitClosed(3000);
      assert.equal(closed.code, code);
    });
  }

  test('client close without a status code is answered (1005 or 1000 seen)', async () => {
    const cl = await connect(srv.url('/echo'));
    cl.ws.close();
    const { code } = await cl.waitClosed(3000);
    assert.ok(code === 1005 || code === 1000, `close code ${code}`);
  });

  test('the connection still echoes after all of the above', async () => {
    assert.equal((await c.roundTrip('still here')).data.toString(), 'still here');
  });
});

describe('large messages with --max-message-size 16MiB', { timeout: 60000 }, () => {
  let srv;
  let c;
  before(async () => {
    // The echo of a 16 MiB message is itself 16 MiB of send buffer, so the backpressure
    // cap is raised too: these cases are about the message size limit only.
    srv = await startServer(['--max-message-size', '16MiB', '--max-backpressure', '64MiB']);
    c = await connect(srv.url('/echo'));
  });
  after(async () => {
    if (c) await c.dispose();
    if (srv) await srv.stopClean();
  });

  test('16 MiB binary message is echoed byte-identical', { timeout: 20000 }, async () => {
    const bytes = crypto.randomBytes(16 * MiB);
    const m = await c.roundTrip(bytes, {}, 15000);
    assert.equal(m.isBinary, true);
    assert.equal(m.data.length, bytes.length);
    assert.ok(m.data.equals(bytes), 'echoed bytes differ');
  });

  test('~16 MiB multi-byte UTF-8 text message is echoed byte-identical', { timeout: 20000 }, async () => {
    const unit = 'abc€😀ß'; // 1+1+1+3+4+2 = 12 bytes
    const text = unit.repeat(Math.floor((16 * MiB) / 12));
    const m = await c.roundTrip(text, {}, 15000);
    assert.equal(m.isBinary, false);
    assert.ok(m.data.equals(Buffer.from(text)), 'echoed text differs');
  });

  test('16 MiB + 1 closes with 1009', { timeout: 20000 }, async () => {
    const big = await connect(srv.url('/echo'));
    big.ws.send(Buffer.alloc(16 * MiB + 1, 0x5a));
    assert.equal((await big.waitClosed(10000)).code, 1009);
  });
});

describe('server-initiated ping (--ping-interval 0.3 --ping-timeout 0.3)', { timeout: 60000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer(['--ping-interval', '0.3', '--ping-timeout', '0.3']);
  });
  after(async () => {
    if (srv) await srv.stopClean();
  });

  test('a client that answers pings sees them and stays connected', async () => {
    const c = await connect(srv.url('/echo'));
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await sleep(2000);
    assert.ok(pings >= 2, `saw ${pings} server pings in 2 s at a 0.3 s interval`);
    assert.equal(c.ws.readyState, WebSocket.OPEN, 'a client that pongs must not be dropped');
    assert.equal((await c.roundTrip('alive')).data.toString(), 'alive');
    await c.dispose();
  });

  test('a client that never answers pings is disconnected', async () => {
    const c = await connect(srv.url('/echo'), { autoPong: false });
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await c.waitClosed(5000);
    assert.ok(pings >= 1, 'closed without having been pinged');
  });
});

describe('connections and routes', { timeout: 60000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    if (srv) await srv.stopClean();
  });

  test('500 concurrent /echo connections each complete a round trip', { timeout: 30000 }, async () => {
    const clients = await connectMany(srv.url('/echo'), 500, 500);
    try {
      const replies = await Promise.all(clients.map((c, i) => c.roundTrip(`client-${i}`)));
      replies.forEach((m, i) => assert.equal(m.data.toString(), `client-${i}`));
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });

  test('/healthz answers 200 "ok"', async () => {
    const body = await withTimeout(new Promise((resolve, reject) => {
      http.get(srv.httpUrl('/healthz'), (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { s += d; });
        res.on('end', () => resolve({ status: res.statusCode, s }));
      }).on('error', reject);
    }), 5000, 'GET /healthz');
    assert.equal(body.status, 200);
    assert.equal(body.s.trim(), 'ok');
  });

  test('unknown path: 404 for plain HTTP and for a WebSocket upgrade', async () => {
    assert.equal((await httpRequest(srv.port, { path: '/no-such-path' })).status, 404);
    await assert.rejects(connect(srv.url('/no-such-path')), (err) => err.statusCode === 404);
  });

  test('Sec-WebSocket-Version: 8 is refused with 426 and Sec-WebSocket-Version: 13', async () => {
    const err = await connect(srv.url('/echo'), { protocolVersion: 8 }).then(
      () => assert.fail('version 8 handshake was accepted'), (e) => e);
    assert.equal(err.statusCode, 426, err.message);
    assert.match(String(err.headers['sec-websocket-version']), /\b13\b/);
  });

  test('upgrade without Sec-WebSocket-Key is refused with 400', async () => {
    const h = upgradeHeaders();
    delete h['Sec-WebSocket-Key'];
    assert.equal((await httpRequest(srv.port, { path: '/echo', headers: h })).status, 400);
  });

  test('upgrade with POST is refused with 405', async () => {
    assert.equal((await httpRequest(srv.port, { method: 'POST', path: '/echo', headers: upgradeHeaders() })).status, 405);
  });

  test('a 64 KiB request header is refused with 431', async () => {
    // Raw socket that keeps reading after errors: the server may close (even reset) the
    // connection right after its 431, before the client has finished sending.
    const req = Buffer.from(`GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
      `X-Big: ${'x'.repeat(64 * KiB)}\r\n\r\n`);
    const reply = await withTimeout(new Promise((resolve) => {
      const chunks = [];
      const sock = net.connect(srv.port, '127.0.0.1', () => sock.write(req));
      sock.on('data', (d) => chunks.push(d));
      sock.on('error', () => {});
      sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    }), 5000, 'the server to answer and close');
    assert.match(reply, /^HTTP\/1\.1 431 /, `reply: ${JSON.stringify(reply.slice(0, 200))}`);
  });

  test('/echo offered subprotocols: none selected, connection works (raw client)', async () => {
    // The npm ws client fails a handshake in which it offered subprotocols and the server
    // selected none ("Server sent no subprotocol"), so this case uses a raw client.
    const raw = await rawHandshake(srv.port, '/echo', { 'Sec-WebSocket-Protocol': 'chat, superchat' });
    try {
      assert.equal(raw.status, 101);
      assert.equal(raw.headers['sec-websocket-accept'], raw.expectAccept);
      assert.equal(raw.headers['sec-websocket-protocol'], undefined, 'the echo route supports no subprotocol');
      raw.socket.write(encodeFrame(0x1, 'sub-echo'));
      const [f] = await readFrames(raw, 1);
      assert.equal(f.opcode, 0x1);
      assert.equal(f.payload.toString(), 'sub-echo');
    } finally {
      raw.socket.destroy();
    }
  });

  test('/echo offered subprotocols: the ws client sees no subprotocol selected', async () => {
    // Documents the interop consequence: ws rejects a 101 without Sec-WebSocket-Protocol
    // when it offered some; this fails if the server picks one the route does not support.
    await assert.rejects(connect(srv.url('/echo'), {}, ['chat', 'superchat']), /Server sent no subprotocol/);
  });
});

describe('broadcast to 1,000 connections', { timeout: 60000 }, () => {
  const N = 1000;
  const SENDERS = 3;
  const PER_SENDER = 20;
  const limit = softFdLimit();
  const skip = limit < 2100 ? `soft RLIMIT_NOFILE is ${limit}, need >= 2100 (run \`ulimit -n 4096\`)` : false;
  let srv;
  let clients = [];
  before(async () => {
    if (skip) return;
    srv = await startServer();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    if (srv) await srv.stopClean();
  });

  test(`${SENDERS} senders x ${PER_SENDER} messages reach all ${N} clients, in order, nothing lost`,
    { skip, timeout: 40000 }, async () => {
      clients = await connectMany(srv.url('/broadcast'), N);
      const got = clients.map(() => []);
      let complete = 0;
      let allDone;
      const doneAll = new Promise((resolve) => { allDone = resolve; });
      clients.forEach((c, i) => {
        c.ws.on('message', (data) => {
          got[i].push(data.toString());
          if (got[i].length === SENDERS * PER_SENDER && ++complete === N) allDone();
        });
      });
      for (let s = 0; s < SENDERS; s++) {
        for (let k = 0; k < PER_SENDER; k++) clients[s * 7].ws.send(`s${s}:${k}`);
      }
      await withTimeout(doneAll, 20000, `all ${N} clients to receive ${SENDERS * PER_SENDER} messages`)
        .catch((err) => {
          const short = got.filter((g) => g.length < SENDERS * PER_SENDER).length;
          throw new Error(`${err.message}; ${short} clients short, e.g. got ${got.find((g) => g.length < SENDERS * PER_SENDER)?.length}`);
        });
      await sleep(200); // anything extra (duplicates) would arrive now
      for (let i = 0; i < N; i++) {
        assert.equal(got[i].length, SENDERS * PER_SENDER, `client ${i} got ${got[i].length} messages`);
        for (let s = 0; s < SENDERS; s++) {
          const seq = got[i].filter((m) => m.startsWith(`s${s}:`));
          assert.deepEqual(seq, Array.from({ length: PER_SENDER }, (_, k) => `s${s}:${k}`),
            `client ${i}: sender ${s} out of order or lost`);
        }
      }
    });
});

describe('--max-connections 2', { timeout: 60000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer(['--max-connections', '2']);
  });
  after(async () => {
    if (srv) await srv.stopClean();
  });

  test('a third WebSocket is refused with 503, and admitted again once one closes', async () => {
    const a = await connect(srv.url('/echo'));
    const b = await connect(srv.url('/echo'));
    try {
      const err = await connect(srv.url('/echo')).then(() => assert.fail('third connection accepted'), (e) => e);
      assert.equal(err.statusCode, 503, err.message);
      await a.dispose();
      // The slot frees once the server has processed the close; allow it a moment.
      let c = null;
      for (let i = 0; i < 20 && !c; i++) {
        c = await connect(srv.url('/echo')).catch(() => null);
        if (!c) await sleep(100);
      }
      assert.ok(c, 'no connection admitted after one of the two closed');
      assert.equal((await c.roundTrip('slot')).data.toString(), 'slot');
      await c.dispose();
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});

describe('backpressure (--max-backpressure 64KiB)', { timeout: 60000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer(['--max-backpressure', '64KiB', '--close-timeout', '1']);
  });
  after(async () => {
    if (srv) await srv.stopClean();
  });

  test('a client that never reads is closed; others keep being served', { timeout: 30000 }, async () => {
    const good = await connect(srv.url('/echo'));
    const raw = await rawHandshake(srv.port, '/echo');
    assert.equal(raw.status, 101);
    const sock = raw.socket; // paused: never reads again
    let closed = false;
    const closedP = new Promise((resolve) => sock.once('close', () => { closed = true; resolve(); }));
    sock.on('error', () => {}); // EPIPE/ECONNRESET once the server drops it

    // 64 KiB binary messages, all-zero mask key so one frame buffer is reused. A paused
    // socket only learns of the server's close (a RST, as its unread input is discarded)
    // from a failing write, so once the flood is well past any loopback socket buffers,
    // keep probing with small frames until the socket closes or the deadline passes.
    const frame = encodeFrame(0x2, Buffer.alloc(64 * KiB, 0x42), { maskKey: Buffer.alloc(4) });
    const probe = encodeFrame(0x2, Buffer.alloc(0), { maskKey: Buffer.alloc(4) });
    const FLOOD = 32 * MiB;
    const deadline = Date.now() + 15000;
    let sent = 0;
    let roundTrips = 0;
    while (!closed && Date.now() < deadline) {
      const flooding = sent < FLOOD;
      const ok = sock.write(flooding ? frame : probe);
      sent += flooding ? frame.length : probe.length;
      if (flooding && ok) continue;
      // events.once() rejects on 'error' (EPIPE/ECONNRESET); that just means closed.
      await Promise.race([flooding ? once(sock, 'drain').catch(() => {}) : sleep(100), closedP, sleep(200)]);
      if (closed) break;
      // While the flood is on, another client must still get its echo.
      assert.equal((await good.roundTrip(`during-${roundTrips}`)).data.toString(), `during-${roundTrips}`);
      roundTrips++;
    }
    if (!closed) await Promise.race([closedP, sleep(1000)]);
    sock.destroy();
    assert.ok(closed, `non-reading client still open after writing ${(sent / MiB).toFixed(1)} MiB`);
    assert.equal((await good.roundTrip('after')).data.toString(), 'after');
    const fresh = await connect(srv.url('/echo'));
    assert.equal((await fresh.roundTrip('fresh')).data.toString(), 'fresh');
    await fresh.dispose();
    await good.dispose();
  });
});

describe('SIGTERM', { timeout: 60000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    if (srv && srv.alive()) await srv.stop('SIGKILL');
  });

  test('open clients see close 1001 and the process exits 0', { timeout: 15000 }, async () => {
    const clients = [
      ...(await connectMany(srv.url('/echo'), 3)),
      ...(await connectMany(srv.url('/broadcast'), 2)),
    ];
    assert.equal((await clients[0].roundTrip('x')).data.toString(), 'x');
    const exit = srv.stop('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.waitClosed(5000)));
    closes.forEach(({ code }, i) => assert.equal(code, 1001, `client ${i} close code`));
    assert.deepEqual(await withTimeout(exit, 6000, 'server exit'), { code: 0, signal: null }, srv.output());
  });
});
