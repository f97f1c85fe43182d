'use strict';
// --threads 2 over TLS: a long-polling session whose requests come on separate TLS
// connections (so on both threads) works; the connection's TLS session moves with it
// to the thread holding the Engine.IO session. Run: node --test tests/threads/.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { metricsOver, poll, startHashed } = require('./helpers.js');
const { selfSigned } = require('../tls/certs.js');

let dir;
let cert; // self-signed for 127.0.0.1: {key, crt}
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-threads-tls-'));
  cert = selfSigned(dir, 'server', { cn: 'localhost', san: 'IP:127.0.0.1' });
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

test('a TLS long-polling session with a new connection per request, on both threads', async () => {
  const ca = fs.readFileSync(cert.crt);
  const server = await startHashed(['--threads', '2', '--app', 'test', '--static', 'off',
    '--tls-cert', cert.crt, '--tls-key', cert.key]);
  try {
    const hs = await poll(server.port, 'GET', '', null, ca);
    assert.equal(hs.status, 200);
    const q = `&sid=${JSON.parse(hs.body.slice(1)).sid}`;
    assert.equal((await poll(server.port, 'POST', q, '40', ca)).body, 'ok');
    assert.match((await poll(server.port, 'GET', q, null, ca)).body, /^40\{"sid":/);
    for (let i = 0; i < 16; i++) {
      assert.equal((await poll(server.port, 'POST', q, `421["echo","t${i}"]`, ca)).status, 200);
      // Answer the heartbeat's pings on the way (they come every second in the test app).
      let packets = [];
      while (!packets.includes(`431["t${i}"]`)) {
        const g = await poll(server.port, 'GET', q, null, ca);
        assert.equal(g.status, 200, g.body);
        packets = g.body.split('\x1e');
        if (packets.includes('2')) assert.equal((await poll(server.port, 'POST', q, '3', ca)).status, 200);
      }
    }
    const m = await metricsOver(server.port, ca);
    assert.ok(m.get('wsio_thread_handoffs_total') > 0, 'some TLS connections were handed over');
  } finally {
    await server.stopClean();
  }
});

/* The certificate fingerprint a new TLS connection gets, and the thread it reached
 * (the sid's first character of an Engine.IO handshake on that connection). */
function handshakeOn(port) {
  return new Promise((resolve, reject) => {
    const s = require('node:tls').connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let b = '';
      s.on('data', (d) => { b += d; });
      s.on('end', () => resolve({ fp, thread: (/"sid":"(.)/.exec(b) || [])[1] }));
    });
    s.on('error', reject);
  });
}

test('SIGHUP reloads the certificate on every thread', async () => {
  const make = () => selfSigned(dir, 'reload', { cn: 'localhost' });
  const { crt, key } = make();
  const server = await startHashed(['--threads', '2', '--app', 'test', '--static', 'off', '--tls-cert', crt, '--tls-key', key]);
  try {
    const before = await handshakeOn(server.port);
    make(); // a new key and certificate in the same files
    server.signal('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const h = await handshakeOn(server.port);
      assert.notEqual(h.fp, before.fp, `thread ${h.thread} serves the new certificate`);
      seen.add(h.thread);
    }
    assert.equal(seen.size, 2, 'new connections reached both threads');
  } finally {
    await server.stopClean();
  }
});
