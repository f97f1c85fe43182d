'use strict';
// Interop: permessage-deflate (RFC 7692) between wsio-server --deflate and the npm `ws`
// client under several perMessageDeflate parameter sets: what is negotiated, compressed
// echo both ways (small, threshold-sized, large), context takeover on and off on each
// side, a server without --deflate, and a topic broadcast reaching deflate and plain
// clients at once. That the server really compresses is checked on the wire: the bytes
// the client's socket read for an echo of a repetitive message are far fewer than the
// message.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const WebSocket = require('ws');
const { startServer, withTimeout } = require('./server.js');

const KiB = 1024;
const MiB = 1024 * 1024;

/* A ws client with a message queue (no message lost between two awaits). */
class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const w = this.waiters.shift();
      if (w) w({ data, isBinary });
      else this.queue.push({ data, isBinary });
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => {
      for (const w of this.waiters.splice(0)) w(null);
      resolve(code);
    }));
  }

  async next(ms = 10000) {
    if (this.queue.length) return this.queue.shift();
    const m = await withTimeout(new Promise((r) => this.waiters.push(r)), ms, 'next message');
    if (!m) throw new Error(`closed (${await this.closed}) while waiting for a message`);
    return m;
  }

  send(data, opts = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, opts, (e) => (e ? reject(e) : resolve())));
  }

  get bytesRead() { return this.ws._socket.bytesRead; }

  async dispose() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    await withTimeout(this.closed, 5000, 'close').catch(() => this.ws.terminate());
  }
}

function connect(url, perMessageDeflate) {
  const ws = new WebSocket(url, { perMessageDeflate });
  const c = new Client(ws);
  ws.once('upgrade', (res) => { c.answer = res.headers['sec-websocket-extensions'] || ''; });
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  }), 5000, `connect ${url}`);
}

/* Text that compresses well but is not trivial. */
function wordy(n, seed = 1) {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'héllo', 'κόσμε', '😀', 'wsio'];
  const parts = [];
  let len = 0;
  let x = seed;
  while (len < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length] + ' ';
    parts.push(w);
    len += Buffer.byteLength(w);
  }
  return parts.join('');
}

async function echoBoth(c, sizes) {
  for (const n of sizes) {
    const text = wordy(n, n);
    await c.send(text);
    const t = await c.next();
    assert.equal(t.isBinary, false);
    assert.equal(t.data.toString(), text, `${n}-byte text echo`);
    const bin = Buffer.concat([Buffer.alloc(n >> 1, 7), crypto.randomBytes(n - (n >> 1))]);
    await c.send(bin);
    const b = await c.next();
    assert.equal(b.isBinary, true);
    assert.ok(b.data.equals(bin), `${n}-byte binary echo`);
  }
}

const SIZES = [1, 100, 1023, 1024, 1025, 5000, 64 * KiB, 300 * KiB];

// Parameter sets the client offers, and the server's exact Sec-WebSocket-Extensions answer.
const PMD = 'permessage-deflate';
const SETS = [
  ['default offer (client_max_window_bits)', {}, `${PMD}; client_no_context_takeover`],
  ['client compresses everything (threshold 0)', { threshold: 0 }, `${PMD}; client_no_context_takeover`],
  ['serverNoContextTakeover', { serverNoContextTakeover: true, threshold: 0 },
    `${PMD}; server_no_context_takeover; client_no_context_takeover`],
  ['clientNoContextTakeover', { clientNoContextTakeover: true, threshold: 0 }, `${PMD}; client_no_context_takeover`],
  ['serverMaxWindowBits 10, clientMaxWindowBits 11', { serverMaxWindowBits: 10, clientMaxWindowBits: 11, threshold: 0 },
    `${PMD}; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11`],
  ['serverMaxWindowBits 9 with no context takeover either way',
    { serverMaxWindowBits: 9, serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9`],
];

/* The server's answer, which ws accepted (it fails the handshake on one it cannot). */
function answer(c) {
  assert.ok(c.ws._extensions[PMD], `permessage-deflate negotiated (answer "${c.answer}")`);
  return c.answer;
}

describe('ws perMessageDeflate against --deflate', { timeout: 120000 }, () => {
  let srv;
  before(async () => { srv = await startServer(['--deflate']); });
  after(async () => { if (srv) await srv.stopClean(); });

  for (const [name, opts, want] of SETS) {
    test(`${name}: negotiated as expected, echoes intact both ways`, async () => {
      const c = await connect(srv.url('/echo'), opts);
      try {
        assert.equal(answer(c), want);
        await echoBoth(c, SIZES);
      } finally {
        await c.dispose();
      }
    });
  }

  test('the server compresses on the wire (a 1 MiB repetitive echo reads far fewer bytes)', async () => {
    const c = await connect(srv.url('/echo'), {});
    try {
      const msg = 'compress me please '.repeat(MiB / 19 | 0);
      const before = c.bytesRead;
      await c.send(msg);
      assert.equal((await c.next()).data.toString(), msg);
      const read = c.bytesRead - before;
      assert.ok(read < msg.length / 20, `read ${read} bytes for a ${msg.length}-byte echo`);
    } finally {
      await c.dispose();
    }
  });

  test('under the threshold the server sends uncompressed (bytes read >= message)', async () => {
    const c = await connect(srv.url('/echo'), { threshold: 0 });
    try {
      const msg = 'a'.repeat(1000);
      const before = c.bytesRead;
      await c.send(msg);
      assert.equal((await c.next()).data.toString(), msg);
      assert.ok(c.bytesRead - before >= 1000, `read ${c.bytesRead - before} bytes`);
    } finally {
      await c.dispose();
    }
  });

  test('100 echoes in flight on 20 deflate connections arrive intact, in order', async () => {
    const cs = await Promise.all(Array.from({ length: 20 }, () => connect(srv.url('/echo'), { threshold: 0 })));
    try {
      await Promise.all(cs.map(async (c, k) => {
        const msgs = Array.from({ length: 100 }, (_, i) => wordy(200 + 37 * i, k * 1000 + i));
        for (const m of msgs) c.send(m);
        for (const m of msgs) assert.equal((await c.next()).data.toString(), m);
      }));
    } finally {
      await Promise.all(cs.map((c) => c.dispose()));
    }
  });

  test('a compressed message inflating past --max-message-size closes with 1009', async () => {
    const c = await connect(srv.url('/echo'), { threshold: 0 });
    await c.send(Buffer.alloc(MiB + 1, 0));
    assert.equal(await withTimeout(c.closed, 5000, 'close'), 1009);
  });

  test('topic broadcast: deflate and plain clients get every message intact', async () => {
    const z1 = await connect(srv.url('/broadcast'), {});
    const z2 = await connect(srv.url('/broadcast'), { serverNoContextTakeover: true });
    const z3 = await connect(srv.url('/broadcast'), { serverMaxWindowBits: 10 });
    const plain = await connect(srv.url('/broadcast'), false);
    const all = [z1, z2, z3, plain];
    try {
      assert.equal(plain.answer, '');
      const msgs = [wordy(5000, 1), 'short', wordy(70000, 2), Buffer.alloc(4000, 3)];
      const before = z1.bytesRead;
      for (const m of msgs) await plain.send(m);
      for (const c of all) {
        for (const m of msgs) {
          const got = await c.next();
          assert.ok(Buffer.from(m).equals(got.data), 'broadcast message intact');
        }
      }
      assert.ok(z1.bytesRead - before < 30000, `deflate client read ${z1.bytesRead - before} bytes`);
      // a deflate client's own compressed echoes keep working after broadcasts
      for (let i = 0; i < 3; i++) {
        const m = wordy(3000, 50 + i);
        await z2.send(m);
        for (const c of all) assert.equal((await c.next()).data.toString(), m);
      }
    } finally {
      await Promise.all(all.map((c) => c.dispose()));
    }
  });
});

describe('--deflate-client-context-takeover on (as Node ws servers by default)', { timeout: 60000 }, () => {
  let srv;
  before(async () => { srv = await startServer(['--deflate', '--deflate-client-context-takeover', 'on']); });
  after(async () => { if (srv) await srv.stopClean(); });

  test('no client_no_context_takeover is asked; similar messages echo intact', async () => {
    const c = await connect(srv.url('/echo'), { threshold: 0 });
    try {
      assert.equal(answer(c), PMD);
      for (let i = 0; i < 50; i++) {
        const m = `{"type":"update","seq":${i},"payload":"${wordy(1500, 7)}"}`;
        await c.send(m);
        assert.equal((await c.next()).data.toString(), m);
      }
      await echoBoth(c, SIZES);
    } finally {
      await c.dispose();
    }
  });

  test('the client keeps context and the server inflates across an idle release', { timeout: 20000 }, async () => {
    const c = await connect(srv.url('/echo'), { threshold: 0 });
    try {
      const m = wordy(4000, 9);
      await c.send(m);
      assert.equal((await c.next()).data.toString(), m);
      // the sweep (1 s here at most) releases the idle inflater, keeping its window
      await new Promise((r) => setTimeout(r, 2500));
      await c.send(m); // compressed by the client mostly as back-references
      assert.equal((await c.next()).data.toString(), m);
    } finally {
      await c.dispose();
    }
  });
});

/* The server's resident memory in KiB, and whether it runs under a sanitizer (whose
 * allocator keeps freed memory in quarantine, so RSS says nothing there). */
function rssKiB(pid) {
  return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}
function sanitized(pid) {
  return /libasan|libtsan|libubsan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

describe('idle deflate connections give zlib memory back', { timeout: 60000 }, () => {
  let srv;
  before(async () => { srv = await startServer(['--deflate', '--deflate-threshold', '1']); });
  after(async () => { if (srv) await srv.stopClean(); });

  test('200 connections after one compressed echo each: RSS back near the start within 3 s', async (t) => {
    if (sanitized(srv.pid)) return t.skip('sanitizer build: RSS is not the allocator\'s');
    const base = rssKiB(srv.pid);
    const cs = [];
    try {
      for (let i = 0; i < 200; i += 50) {
        cs.push(...await Promise.all(Array.from({ length: 50 }, () => connect(srv.url('/echo'), { threshold: 0 }))));
      }
      await Promise.all(cs.map(async (c, i) => {
        const m = wordy(3000, i);
        await c.send(m);
        assert.equal((await c.next()).data.toString(), m);
      }));
      const busy = rssKiB(srv.pid) - base;
      // zlib holds ~300 KiB per connection in use: the memory is really there ...
      assert.ok(busy > 200 * 50, `in use: ${busy} KiB more for 200 connections`);
      // ... and goes once the connections have been idle for a sweep period or two.
      await new Promise((r) => setTimeout(r, 3000));
      const idle = rssKiB(srv.pid) - base;
      assert.ok(idle < 200 * 4, `idle: still ${idle} KiB more for 200 connections (${(idle * 1024 / 200) | 0} B each)`);
      // and they still work (streams allocated again)
      const m = wordy(2000, 99);
      await cs[7].send(m);
      assert.equal((await cs[7].next()).data.toString(), m);
    } finally {
      await Promise.all(cs.map((c) => c.dispose()));
    }
  });
});

describe('without --deflate', { timeout: 30000 }, () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { if (srv) await srv.stopClean(); });

  test('the offer is refused and messages flow uncompressed', async () => {
    const c = await connect(srv.url('/echo'), { threshold: 0 });
    try {
      assert.equal(c.answer, '');
      await echoBoth(c, [10, 5000]);
    } finally {
      await c.dispose();
    }
  });
});

describe('large compressed messages', { timeout: 120000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer(['--deflate', '--max-message-size', '16MiB', '--max-backpressure', '64MiB']);
  });
  after(async () => { if (srv) await srv.stopClean(); });

  test('8 MiB text and 8 MiB binary (half random) echo intact', { timeout: 60000 }, async () => {
    const c = await connect(srv.url('/echo'), {});
    try {
      const text = wordy(8 * MiB, 3);
      await c.send(text);
      assert.equal((await c.next(30000)).data.toString(), text);
      const bin = Buffer.concat([Buffer.alloc(4 * MiB, 1), crypto.randomBytes(4 * MiB)]);
      await c.send(bin);
      assert.ok((await c.next(30000)).data.equals(bin));
    } finally {
      await c.dispose();
    }
  });
});
