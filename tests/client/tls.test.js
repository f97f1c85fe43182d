'use strict';
// tests/client/tls.test.js — wss:// in the WebSocket client role (src/client over
// src/net/tls.c's client mode), through wsio-cat: against wsio-server with
// --tls-cert/--tls-key and against a Node `ws` server over https, with a test CA made
// here by `openssl req` (as tests/tls/ does). Verification on by default (success with
// the CA, failure without it: exit code 7 and OpenSSL's reason), --insecure, a
// certificate for another host or address refused, SNI and ALPN as sent, no reconnect
// after a verify failure. Every server listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { WebSocketServer } = require('ws');
const { startServer } = require('../interop/server.js');
const { pythonEcho } = require('./python_echo.js');
const { catRunner, waitFor } = require('./helpers.js');
const { makeCa, signed } = require('../tls/certs.js');

const EXIT_TLS = 7;

let dir;
let caFiles;
before();

function before() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-client-tls-'));
  caFiles = makeCa(dir, 'ca', 'wsio client test CA');
}
test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/* A server certificate signed by the test CA with these subjectAltNames. */
const makeCert = (name, san) => signed(dir, name, caFiles, { cn: 'localhost', san });

const runCat = catRunner({ input: 'hello\n' }); // 15 s; env: variables added

const ca = () => caFiles.crt;

test('wsio-server over TLS: wss:// verifies the certificate by default', async (t) => {
  const cert = makeCert('srv', 'DNS:localhost,IP:127.0.0.1');
  const srv = await startServer(['--tls-cert', cert.crt, '--tls-key', cert.key]);
  t.after(() => srv.stop());
  const url = (host) => `wss://${host}:${srv.port}/echo`;

  await t.test('with the test CA: by name and by address, echo and -v', async () => {
    let r = await runCat(['--ca', ca(), '--no-reconnect', url('localhost')], { input: 'hello\nworld\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\nworld\n');
    r = await runCat(['--ca', ca(), '--no-reconnect', url('127.0.0.1')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    // A frame split across TLS records (the server writes header and payload apart)
    // is traced once.
    r = await runCat(['-v', '--ca', ca(), '--no-reconnect', url('localhost')]);
    assert.equal(r.code, 0, r.stderr);
    const ins = r.stderr.split('\n').filter((l) => l.startsWith('* frame in: opcode=1'));
    assert.equal(ins.length, 1, r.stderr);
    // -v shows the session: version, cipher, ALPN, the certificate and the verdict.
    assert.match(r.stderr, /^\* TLS: TLSv1\.[23] \S+, ALPN http\/1\.1, certificate \/CN=localhost issued by \/CN=wsio client test CA, verified$/m);
  });

  await t.test('without the CA: exit 7 with the reason, and no reconnect', async () => {
    // (reconnection on: a certificate that does not verify would fail again)
    const r = await runCat([url('localhost')]);
    assert.equal(r.code, EXIT_TLS, r.stderr);
    assert.match(r.stderr, /certificate verify failed: unable to get local issuer certificate \(host localhost\)/);
    assert.doesNotMatch(r.stderr, /reconnect/);
    assert.equal(r.stdout, '');
  });

  await t.test('the default store is OpenSSL\'s: SSL_CERT_FILE points it at the test CA', async () => {
    const r = await runCat(['--no-reconnect', url('localhost')], { env: { SSL_CERT_FILE: ca() } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
  });

  await t.test('--insecure connects without the CA', async () => {
    const r = await runCat(['--insecure', '--no-reconnect', url('localhost')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    const k = await runCat(['-v', '-k', '--no-reconnect', url('127.0.0.1')]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stderr, /^\* TLS: .*not verified \(insecure\)$/m);
  });

  await t.test('a CA file that cannot be read: exit 7, says so', async () => {
    const r = await runCat(['--ca', path.join(dir, 'missing.pem'), url('localhost')]);
    assert.equal(r.code, EXIT_TLS, r.stderr);
    assert.match(r.stderr, /cannot load the CA certificates .*missing\.pem/);
  });

  await t.test('ws:// to the TLS port fails cleanly (no crash)', async () => {
    const r = await runCat(['--no-reconnect', '-t', '3', `ws://127.0.0.1:${srv.port}/echo`]);
    assert.ok([3, 4, 5].includes(r.code), `exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/);
  });
});

test('a certificate for another host or address is refused', async (t) => {
  const cert = makeCert('other', 'DNS:other.example,IP:127.0.0.2');
  const srv = await startServer(['--tls-cert', cert.crt, '--tls-key', cert.key]);
  t.after(() => srv.stop());
  let r = await runCat(['--ca', ca(), '--no-reconnect', `wss://localhost:${srv.port}/echo`]);
  assert.equal(r.code, EXIT_TLS, r.stderr);
  assert.match(r.stderr, /certificate verify failed: hostname mismatch \(host localhost\)/);
  r = await runCat(['--ca', ca(), '--no-reconnect', `wss://127.0.0.1:${srv.port}/echo`]);
  assert.equal(r.code, EXIT_TLS, r.stderr);
  assert.match(r.stderr, /certificate verify failed: IP address mismatch \(host 127\.0\.0\.1\)/);
  // --insecure skips the name check as well (it verifies nothing).
  r = await runCat(['--insecure', '--no-reconnect', `wss://localhost:${srv.port}/echo`]);
  assert.equal(r.code, 0, r.stderr);
});

test('Node ws over https: SNI, ALPN http/1.1, verification', async (t) => {
  const cert = makeCert('node', 'DNS:localhost,IP:127.0.0.1');
  const seen = [];
  const server = https.createServer({
    key: fs.readFileSync(cert.key), cert: fs.readFileSync(cert.crt), ALPNProtocols: ['http/1.1'],
  });
  server.on('secureConnection', (s) => seen.push({ servername: s.servername, alpn: s.alpnProtocol, proto: s.getProtocol() }));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m, bin) => ws.send(m, { binary: bin })));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { wss.close(); server.closeAllConnections?.(); server.close(r); }));
  const port = server.address().port;

  let r = await runCat(['--ca', ca(), '--no-reconnect', `wss://localhost:${port}/`], { input: 'a\nb\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'a\nb\n');
  assert.equal(seen.at(-1).servername, 'localhost');
  assert.equal(seen.at(-1).alpn, 'http/1.1');
  assert.match(seen.at(-1).proto, /^TLSv1\.[23]$/);

  // An address: no SNI (RFC 6066 3), the certificate's IP entry is checked.
  r = await runCat(['--ca', ca(), '--no-reconnect', `wss://127.0.0.1:${port}/`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(seen.at(-1).servername, false);

  r = await runCat(['--no-reconnect', `wss://localhost:${port}/`]);
  assert.equal(r.code, EXIT_TLS, r.stderr);
  assert.match(r.stderr, /certificate verify failed/);

  r = await runCat(['--insecure', '--no-reconnect', `wss://localhost:${port}/`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\n');
});

test('wss:// with permessage-deflate: wsio-server --tls-cert --deflate', async (t) => {
  const cert = makeCert('dfl', 'DNS:localhost,IP:127.0.0.1');
  const srv = await startServer(['--tls-cert', cert.crt, '--tls-key', cert.key, '--deflate']);
  t.after(() => srv.stop());
  const big = 'compress me over TLS '.repeat(200);
  const r = await runCat(['-v', '--ca', ca(), '--no-reconnect', `wss://localhost:${srv.port}/echo`], { input: `${big}\nsmall\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${big}\nsmall\n`);
  assert.match(r.stderr, /^< Sec-WebSocket-Extensions: permessage-deflate/m);
  assert.match(r.stderr, /^\* frame out: opcode=1 \(text\) fin=1 rsv=4 /m);
  assert.match(r.stderr, /^\* frame in: opcode=1 \(text\) fin=1 rsv=4 /m);
});

// A live wsio-cat: stdin stays open, no time limit; out()/err() read what it printed so far.
const runCatLive = (args) => runCat(args, { open: true, timeout: null });

test('wss:// reconnect across a server restart: a new TLS session, the offline line once', async () => {
  const cert = makeCert('restart', 'DNS:localhost,IP:127.0.0.1');
  const args = ['--tls-cert', cert.crt, '--tls-key', cert.key];
  let server = await startServer(args);
  const port = server.port;
  const run = runCatLive(['-v', '--ca', ca(), `wss://localhost:${port}/echo`]);
  try {
    await waitFor(() => run.err().includes('* open'));
    run.child.stdin.write('before\n');
    await waitFor(() => run.out() === 'before\n');
    await server.stopClean();
    await waitFor(() => /\* close: code=1001 .*\(reconnecting\)/.test(run.err()));
    run.child.stdin.write('during\n');
    server = await startServer([...args, '--port', String(port)]);
    await waitFor(() => run.out() === 'before\nduring\n', 15000);
    run.child.stdin.end();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'before\nduring\n');
    assert.equal(r.stderr.match(/^\* TLS: .*verified$/mg).length, 2, r.stderr); // one per connection
  } finally {
    run.child.kill('SIGKILL');
    await server.stopClean().catch(() => {});
  }
});

test('a TLS handshake that stalls is bounded by --timeout; one cut short is a network error', async () => {
  const net = require('node:net');
  const listen = (onConn) => new Promise((resolve) => {
    const srv = net.createServer(onConn);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
  const silent = await listen((sock) => { sock.on('error', () => {}); }); // reads the ClientHello, says nothing
  const cut = await listen((sock) => { sock.on('error', () => {}); sock.once('data', () => sock.end()); });
  try {
    const t0 = Date.now();
    let r = await runCat(['--no-reconnect', '--timeout', '0.5', `wss://127.0.0.1:${silent.address().port}/`]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /handshake timed out/);
    assert.ok(Date.now() - t0 < 5000);
    r = await runCat(['--no-reconnect', `wss://127.0.0.1:${cut.address().port}/`]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /connection closed during the TLS handshake/);
  } finally {
    silent.close();
    cut.close();
  }
});

test('Python websockets over TLS (its own deflate parameters): verified, echoed', async (t) => {
  const cert = makeCert('py', 'DNS:localhost,IP:127.0.0.1');
  let py;
  try { py = await pythonEcho([cert.crt, cert.key]); } catch (e) { return t.skip(`python3-websockets: ${e.message}`); }
  try {
    const big = 'python over TLS '.repeat(100);
    // stdin ends once the echo is back (Python's server drops unsent echoes on close).
    const { code, stdout: out, stderr: err } = await runCat(['-v', '--ca', ca(), '--no-reconnect', `wss://localhost:${py.port}/`],
      { input: `${big}\n`, endWhenOut: `${big}\n`, timeout: null });
    assert.equal(code, 0, err);
    assert.equal(out, `${big}\n`);
    assert.match(err, /^\* TLS: TLSv1\.[23] .*certificate \/CN=localhost issued by \/CN=wsio client test CA, verified$/m);
    assert.match(err, /^< Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12$/m);
    assert.match(err, /^\* frame in: opcode=1 \(text\) fin=1 rsv=4 /m);
    const r = await runCat(['--no-reconnect', `wss://localhost:${py.port}/`]);
    assert.equal(r.code, EXIT_TLS, r.stderr);
  } finally {
    py.stop();
  }
});
