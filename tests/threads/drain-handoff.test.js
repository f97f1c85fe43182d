'use strict';
// --threads 2, deterministic form of the loss tests/threads/drain.test.js can only catch
// by chance. A long-polling client's requests reach whichever thread accepts their
// connection (the kernel picks the thread, not the session) and are
// handed to the session's thread. At SIGTERM a session of thread A with a packet
// queued (an ack: acknowledged to nobody yet, but accepted) lingers for its next GET
// (A's drain holds for it); that GET may come through thread B. B once treated its
// own holds as the group's: with none of its own it killed its idle keep-alive
// connections and closed its listener at once, so the GET died there and the packet
// was lost. Here the GET comes on a keep-alive connection that B accepted before
// SIGTERM (it stands for any connection B accepts during the drain): it must be
// handed to A and answered with the queued packet, and the server must still exit 0
// within --drain-timeout.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('../reliability/helpers');

const DRAIN_S = 3;
const EIO = '/socket.io/?EIO=4&transport=polling';

/* A keep-alive HTTP/1.1 connection: one request at a time, Content-Length bodies. */
function keepAlive(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const k = { sock, closed: false, buf: Buffer.alloc(0), waiter: null };
    sock.on('data', (d) => { k.buf = Buffer.concat([k.buf, d]); if (k.waiter) k.waiter(); });
    sock.on('close', () => { k.closed = true; if (k.waiter) k.waiter(); });
    sock.on('error', () => {});
    k.req = (method, path, body = '') => new Promise((res, rej) => {
      if (k.closed) return rej(new Error('connection closed by the server'));
      k.waiter = () => {
        const end = k.buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          const head = k.buf.subarray(0, end).toString('latin1');
          const m = /content-length:\s*(\d+)/i.exec(head);
          const len = m ? Number(m[1]) : 0;
          if (k.buf.length >= end + 4 + len) {
            const out = { status: Number(head.split(' ')[1]), body: k.buf.subarray(end + 4, end + 4 + len).toString('utf8') };
            k.buf = k.buf.subarray(end + 4 + len);
            k.waiter = null;
            return res(out);
          }
        }
        if (k.closed) { k.waiter = null; rej(new Error('connection closed by the server')); }
      };
      const b = Buffer.from(body);
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n` +
        `Content-Length: ${b.length}\r\n\r\n`);
      if (b.length) sock.write(b);
    });
    sock.once('connect', () => resolve(k));
    sock.once('error', reject);
  });
}

/* A new polling session over k; resolves to its sid (its first letter: the thread). */
async function handshake(k) {
  const r = await k.req('GET', EIO);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body.slice(1)).sid;
}

/* A keep-alive connection accepted by thread `letter`, with a session of that thread
 * opened over it (the handshake is served where the connection was accepted). */
async function connectionOn(port, letter) {
  for (let i = 0; i < 200; i++) {
    const k = await keepAlive(port);
    const sid = await handshake(k);
    if (sid[0] === letter) return { k, sid };
    await k.req('POST', `${EIO}&sid=${sid}`, '1'); // not this one: closed
    k.sock.destroy();
  }
  throw new Error(`no connection reached thread ${letter}`);
}

test('--threads 2: a lingering polling session gets its queued packets through the other thread during the drain', { timeout: 60000 }, async () => {
  // connectionOn opens connections until one lands on the thread it wants: a
  // SO_REUSEPORT socket per thread spreads them by the client's port (the default; a
  // shared socket gives a client opening one at a time thread 0: helpers.js startHashed).
  const srv = await h.startServer(['--threads', '2', '--app', 'test', '--drain-timeout', String(DRAIN_S),
    '--ping-interval', '25', '--ping-timeout', '20'], { env: { WSIO_THREADS_ACCEPT: 'reuseport' } });
  try {
    // Session S on thread A, joined to the default namespace; an emit with an ack
    // leaves the ack queued on S (no GET waiting for it).
    const a = await connectionOn(srv.port, 'A');
    const sid = a.sid;
    assert.equal((await a.k.req('POST', `${EIO}&sid=${sid}`, '40')).body, 'ok');
    assert.match((await a.k.req('GET', `${EIO}&sid=${sid}`)).body, /^40\{"sid":/);
    // K: a keep-alive connection thread B accepted; its own session closed, so B has
    // no client of its own to wait for.
    const b = await connectionOn(srv.port, 'B');
    assert.equal((await b.k.req('POST', `${EIO}&sid=${b.sid}`, '1')).body, 'ok');
    assert.equal((await a.k.req('POST', `${EIO}&sid=${sid}`, '421["echo","kept"]')).body, 'ok');
    a.k.sock.destroy();
    await h.sleep(100); // the ack is queued on S
    const t0 = Date.now();
    srv.signal('SIGTERM');
    // Both threads have begun their stop (the stop barrier takes about a loop
    // iteration when no peer is stalled); S lingers with its ack (pingTimeout 20 s: only the drain bounds it).
    await h.sleep(1200);
    const r = await b.k.req('GET', `${EIO}&sid=${sid}`).catch((e) => ({ status: 0, body: String(e.message) }));
    assert.equal(r.status, 200, `S's GET through thread B: ${r.body}`);
    assert.ok(r.body.split('\x1e').includes('431["kept"]'), `queued ack delivered: ${JSON.stringify(r.body)}`);
    // The next GET ends the session (close packet) and with it the drain.
    const last = await (await keepAlive(srv.port)).req('GET', `${EIO}&sid=${sid}`).catch((e) => ({ status: 0, body: String(e.message) }));
    assert.equal(last.body, '1', 'close packet after the queued packets');
    const exit = await srv.waitExit((DRAIN_S + 10) * 1000);
    const took = (exit.at - t0) / 1000;
    assert.equal(exit.code, 0, `exit status (stderr: ${srv.stderr().slice(-500)})`);
    assert.ok(took <= DRAIN_S + 2, `exited ${took.toFixed(2)} s after SIGTERM (--drain-timeout ${DRAIN_S})`);
    b.k.sock.destroy();
  } finally {
    srv.signal('SIGKILL');
  }
});
