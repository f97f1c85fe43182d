'use strict';
// tests/client/client_cert.test.js — client certificates (mutual TLS) in both client
// roles, through wsio-cat --cert/--key: against servers that require one — a Node
// `ws` WebSocketServer and a Node socket.io 4.8 server (tests/client/sio_server.js
// --client-ca) on https.createServer({ca, requestCert: true, rejectUnauthorized:
// true}), and `openssl s_server -Verify 1 -verify_return_error` for the TLS alert a
// server sends about a certificate it refuses (Node closes without one). The CAs,
// certificates and an encrypted key are made here by openssl (as tls.test.js).
// Cases, WebSocket and --sio (every transport mode): with --cert/--key it connects
// and the server sees the certificate; without, exit 7 ("the server wants a client
// certificate") and no reconnect; a certificate of another CA is refused; --cert
// without --key (or the reverse) is a usage error (exit 1); an encrypted key, a key of
// another certificate or a missing file is exit 7 naming the file. Every server
// listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { WebSocketServer } = require('ws');
const { catRunner, startNode, waitFor } = require('./helpers.js');
const { makeCa, signed, encryptKey } = require('../tls/certs.js');

const EXIT_USAGE = 1, EXIT_NETWORK = 5, EXIT_TLS = 7;
const MODES = [[[], 'polling, then websocket'], [['-T', 'polling'], 'polling'], [['-T', 'websocket'], 'websocket']];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-client-cert-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const f = (name) => path.join(dir, name);
const caCert = makeCa(dir, 'ca', 'wsio ca');
const otherCa = makeCa(dir, 'other-ca', 'wsio other-ca');
signed(dir, 'server', caCert, { san: 'DNS:localhost,IP:127.0.0.1' });
signed(dir, 'alice', caCert, { eku: 'clientAuth' });
signed(dir, 'mallory', otherCa, { eku: 'clientAuth' });
encryptKey(f('alice.key'), f('alice-encrypted.key'));

const CA = ['--ca', f('ca.pem')];
const ALICE = ['--cert', f('alice.pem'), '--key', f('alice.key')];
const MALLORY = ['--cert', f('mallory.pem'), '--key', f('mallory.key')];

// wsio-cat; stdin stays open until `input` is written (after the upgrade when
// `upgrade` is set).
const runCat = catRunner({ input: 'hello\n', timeout: 20000 });

// A Node `ws` echo server on https requiring a client certificate of the test CA; it
// records the CN of every client certificate of an accepted WebSocket.
async function nodeWs(t, extra = {}) {
  const server = https.createServer({
    key: fs.readFileSync(f('server.key')), cert: fs.readFileSync(f('server.pem')),
    ca: fs.readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: true, ...extra,
  });
  const peers = [];
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    peers.push(req.socket.getPeerCertificate().subject.CN);
    ws.on('message', (m, bin) => ws.send(m, { binary: bin }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { wss.close(); server.closeAllConnections?.(); server.close(r); }));
  return { url: `wss://localhost:${server.address().port}/`, peers };
}

// The bad-file cases, the same in both modes: exit 7 and the file named.
const BAD_FILES = [
  [['--cert', f('alice.pem'), '--key', f('alice-encrypted.key')],
    /the client key \S*alice-encrypted\.key is encrypted: no passphrase can be given/],
  [['--cert', f('alice.pem'), '--key', f('mallory.key')],
    /the client key \S*mallory\.key does not match the client certificate \S*alice\.pem/],
  [['--cert', f('missing.pem'), '--key', f('alice.key')],
    /cannot read the client certificate \S*missing\.pem: No such file or directory/],
  [['--cert', f('alice.ext'), '--key', f('alice.key')],
    /cannot load the client certificate \(PEM\)\S* \S*alice\.ext/],
];

test('WebSocket: a Node ws server over https that requires a client certificate', async (t) => {
  const srv = await nodeWs(t);

  await t.test('--cert/--key: connects, echoes, the server sees the certificate', async () => {
    const r = await runCat([...CA, ...ALICE, '-n', srv.url], { input: 'hello\nworld\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\nworld\n');
    assert.deepEqual(srv.peers, ['alice']);
    // With --insecure too (the server is not verified; ours still is, by the server).
    const k = await runCat(['-k', ...ALICE, '-n', srv.url]);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(k.stdout, 'hello\n');
  });

  await t.test('without them: exit 7, the server wants one, no reconnect', async () => {
    // (reconnection on: the same attempt would fail the same way)
    const r = await runCat([...CA, srv.url]);
    assert.equal(r.code, EXIT_TLS, r.stderr);
    assert.match(r.stderr, /alert certificate required \(the server wants a client certificate\)/);
    assert.doesNotMatch(r.stderr, /reconnect/);
    assert.equal(r.stdout, '');
  });

  await t.test('a certificate of another CA: refused (Node closes without an alert)', async () => {
    const n = srv.peers.length;
    const r = await runCat([...CA, ...MALLORY, '-n', srv.url]);
    assert.equal(r.code, EXIT_NETWORK, r.stderr);
    // (a reset instead of a FIN on a loaded machine adds its errno text)
    assert.match(r.stderr, /connection closed during the handshake(: [^(]*)? \(right after TLS, before any answer: did the server refuse the client certificate\?\)/);
    assert.equal(r.stdout, '');
    assert.equal(srv.peers.length, n, 'no WebSocket was accepted');
  });

  await t.test('one without the other: usage error', async () => {
    for (const args of [['--cert', f('alice.pem')], ['--key', f('alice.key')]]) {
      const r = await runCat([...CA, ...args, '-n', srv.url]);
      assert.equal(r.code, EXIT_USAGE, r.stderr);
      assert.match(r.stderr, /--cert and --key go together/);
    }
  });

  await t.test('a file that cannot be loaded: exit 7 naming it, no reconnect', async () => {
    for (const [args, re] of BAD_FILES) {
      const r = await runCat([...CA, ...args, srv.url]);
      assert.equal(r.code, EXIT_TLS, r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /reconnect/);
    }
  });
});

test('WebSocket: TLS 1.2 (the certificate goes in the handshake itself)', async (t) => {
  const srv = await nodeWs(t, { maxVersion: 'TLSv1.2' });
  const r = await runCat([...CA, ...ALICE, '-n', '-v', srv.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\n');
  assert.match(r.stderr, /^\* TLS: TLSv1\.2 /m);
  assert.deepEqual(srv.peers, ['alice']);
  // TLS 1.2 has no "certificate required" alert: a plain handshake failure.
  const n = await runCat([...CA, '-n', srv.url]);
  assert.equal(n.code, EXIT_TLS, n.stderr);
  assert.match(n.stderr, /TLS handshake failed: .*alert handshake failure/);
});

test('a server that refuses a certificate with an alert (openssl s_server -verify_return_error)', async (t) => {
  const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', f('server.pem'), '-key', f('server.key'),
    '-CAfile', f('ca.pem'), '-Verify', '1', '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await waitFor(() => /ACCEPT 127\.0\.0\.1:\d+/.test(out), 10000, 's_server');
  const port = Number(/ACCEPT 127\.0\.0\.1:(\d+)/.exec(out)[1]);
  const ws = await runCat([...CA, ...MALLORY, `wss://localhost:${port}/`]);
  assert.equal(ws.code, EXIT_TLS, ws.stderr);
  assert.match(ws.stderr, /alert unknown ca \(the server refused the client certificate\)/);
  assert.doesNotMatch(ws.stderr, /reconnect/);
  for (const [mode, name] of MODES) {
    const r = await runCat([...CA, ...MALLORY, '--sio', `https://localhost:${port}`, ...mode], { input: 'emit x 1\n' });
    assert.equal(r.code, EXIT_TLS, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /alert unknown ca \(the server refused the client certificate\)/, name);
  }
});

const startNodeSio = () => startNode(['--tls-cert', f('server.pem'), '--tls-key', f('server.key'), '--client-ca', f('ca.pem')]);

test('--sio: a Node socket.io server over https that requires a client certificate', async (t) => {
  const srv = await startNodeSio();
  t.after(() => srv.stop());
  const url = `https://localhost:${srv.port}`;
  const acks = (s) => s.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.ack);

  await t.test('--cert/--key: every transport mode connects, the server sees the certificate', async () => {
    for (const [mode, name] of MODES) {
      // Asked after the upgrade in the default mode: the WebSocket presents it too.
      const r = await runCat(['-n', '-v', ...CA, ...ALICE, '--sio', url, ...mode],
        { input: 'ack echo {"a":1}\nack whoami\nack peer\n', upgrade: mode.length === 0 });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const transport = mode[1] || 'websocket';
      assert.deepEqual(acks(r.stdout).map((a) => a.args), [[{ a: 1 }], [transport], ['alice']], name);
      if (mode.length === 0) assert.match(r.stderr, /upgraded to websocket/);
    }
  });

  await t.test('without them: exit 7, the server wants one, no reconnect', async () => {
    for (const [mode, name] of MODES) {
      const r = await runCat([...CA, '--sio', url, ...mode], { input: 'emit echo 1\n' });
      assert.equal(r.code, EXIT_TLS, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /alert certificate required \(the server wants a client certificate\)/, name);
      assert.doesNotMatch(r.stderr, /reconnect/, name);
    }
  });

  await t.test('a certificate of another CA: refused', async () => {
    for (const [mode, name] of MODES) {
      const r = await runCat(['-n', ...CA, ...MALLORY, '--sio', url, ...mode], { input: 'ack echo 1\n' });
      assert.equal(r.code, EXIT_NETWORK, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /right after TLS, before any answer: did the server refuse the client certificate\?/, name);
      assert.equal(acks(r.stdout).length, 0, name);
    }
  });

  await t.test('one without the other: usage error', async () => {
    for (const args of [['--cert', f('alice.pem')], ['--key', f('alice.key')]]) {
      const r = await runCat([...CA, ...args, '--sio', url]);
      assert.equal(r.code, EXIT_USAGE, r.stderr);
      assert.match(r.stderr, /--cert and --key go together/);
    }
  });

  await t.test('a file that cannot be loaded: exit 7 naming it, in every transport mode', async () => {
    for (const [mode, name] of MODES) {
      for (const [args, re] of BAD_FILES) {
        const r = await runCat([...CA, ...args, '--sio', url, ...mode], { input: 'emit echo 1\n' });
        assert.equal(r.code, EXIT_TLS, `${name}: ${r.stderr}`);
        assert.match(r.stderr, re, name);
        assert.doesNotMatch(r.stderr, /reconnect/, name);
      }
    }
  });
});
