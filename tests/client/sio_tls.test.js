'use strict';
// tests/client/sio_tls.test.js — https:// in the Socket.IO client role (polling requests
// over src/net/tls.c's client mode, the websocket transport as wss:// through the
// WebSocket client), through wsio-cat --sio: against wsio-server --app conformance with
// --tls-cert/--tls-key and against a Node socket.io 4.8 server over https
// (tests/client/sio_server.js --tls-cert), with a test CA made here by `openssl req` (as
// tests/client/tls.test.js). Every transport mode with the CA, verification failure
// without it (exit 7, OpenSSL's reason, no reconnect), --insecure, a CA file that
// cannot be read, and kept-alive polling: many requests over a few TLS connections.
// Every server listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('../interop/server.js');
const { catRunner, jsonLines, startNode } = require('./helpers.js');
const { makeCa, signed } = require('../tls/certs.js');

const EXIT_TLS = 7;
const MODES = [[[], 'polling, then websocket'], [['-T', 'polling'], 'polling'], [['-T', 'websocket'], 'websocket']];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-sio-tls-'));
const caFiles = makeCa(dir, 'ca', 'wsio sio test CA');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const ca = caFiles.crt;
const cert = signed(dir, 'srv', caFiles, { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' });

// wsio-cat --sio; stdin stays open until `input` is written (after the upgrade when
// `upgrade` is set, so the exchange cannot finish before the probe is answered).
const runCat = catRunner({ timeout: 20000 });

const servers = {
  wsio: async () => startServer(['--app', 'conformance', '--tls-cert', cert.crt, '--tls-key', cert.key]),
  node: async () => startNode(['--tls-cert', cert.crt, '--tls-key', cert.key]),
};
const EVENT = { wsio: 'message-with-ack', node: 'echo' };

for (const kind of ['wsio', 'node']) {
  test(`${kind} over https: every transport mode verifies the certificate`, async (t) => {
    const srv = await servers[kind]();
    t.after(() => srv.stop());
    const url = (host) => `https://${host}:${srv.port}`;

    await t.test('with the test CA: acks and binary in every transport mode, -v shows the session', async () => {
      for (const [mode, name] of MODES) {
        const input = `ack ${EVENT[kind]} {"a":[1,"ü"]} {"_binary":"00ff10"} "x"\n`;
        const r = await runCat(['-n', '-v', '--ca', ca, '--sio', url('localhost'), ...mode],
          { input, upgrade: mode.length === 0 });
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        const acks = jsonLines(r.stdout).filter((l) => l.ack);
        assert.deepEqual(acks[0].args, [{ a: [1, 'ü'] }, { _binary: '00ff10' }, 'x'], name);
        assert.match(r.stderr, /TLS: TLSv1\.[23] \S+, ALPN http\/1\.1, certificate \/CN=localhost issued by \/CN=wsio sio test CA, verified$/m, name);
        if (mode.length === 0) assert.match(r.stderr, /upgraded to websocket/);
        if (mode[1] !== 'websocket') assert.match(r.stderr, /< eio polling open/, name);
        else assert.doesNotMatch(r.stderr, /eio polling/, name);
      }
      // By address: the certificate's IP entry.
      const r = await runCat(['-n', '--ca', ca, '--sio', url('127.0.0.1'), '-T', 'polling'],
        { input: `ack ${EVENT[kind]} 1\n` });
      assert.equal(r.code, 0, r.stderr);
    });

    await t.test('without the CA: exit 7 with the reason, no reconnect, for polling and websocket', async () => {
      for (const [mode, name] of MODES) {
        // (reconnection on: a certificate that does not verify would fail again)
        const r = await runCat(['--sio', url('localhost'), ...mode], { input: `emit ${EVENT[kind]} 1\n` });
        assert.equal(r.code, EXIT_TLS, `${name}: ${r.stderr}`);
        assert.match(r.stderr, /certificate verify failed: unable to get local issuer certificate \(host localhost\)/, name);
        assert.doesNotMatch(r.stderr, /reconnect/, name);
      }
    });

    await t.test('--insecure connects without the CA; a CA file that cannot be read is exit 7', async () => {
      for (const [mode, name] of MODES) {
        const r = await runCat(['-n', '-v', '-k', '--sio', url('localhost'), ...mode],
          { input: `ack ${EVENT[kind]} 2\n`, upgrade: mode.length === 0 });
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.deepEqual(jsonLines(r.stdout).filter((l) => l.ack)[0].args, [2]);
        assert.match(r.stderr, /TLS: .*not verified \(insecure\)$/m, name);
      }
      const r = await runCat(['-n', '--ca', path.join(dir, 'missing.pem'), '--sio', url('localhost')], { input: 'emit x 1\n' });
      assert.equal(r.code, EXIT_TLS, r.stderr);
      assert.match(r.stderr, /cannot load the CA certificates .*missing\.pem/);
    });

    await t.test('http:// to the TLS port fails cleanly (no crash)', async () => {
      const r = await runCat(['-n', '-t', '3', '--sio', `http://127.0.0.1:${srv.port}`, '-T', 'polling'], { input: 'emit x 1\n' });
      assert.ok([2, 3, 4, 5].includes(r.code), `exit ${r.code}: ${r.stderr}`);
    });
  });
}

test('node over https, polling only: 30 acked emits reuse kept-alive TLS connections', async () => {
  const srv = await servers.node();
  try {
    const input = Array.from({ length: 30 }, (_, i) => `ack echo ${i}\n`).join('') + 'ack conns\n';
    const r = await runCat(['-n', '-v', '--ca', ca, '--sio', `https://localhost:${srv.port}`, '-T', 'polling'], { input });
    assert.equal(r.code, 0, r.stderr);
    const acks = jsonLines(r.stdout).filter((l) => l.ack);
    assert.equal(acks.length, 31, r.stdout);
    // One connection for the GETs and one for the POSTs (one per request before:
    // more than 60 here), each with one TLS handshake.
    const conns = acks[30].args[0];
    assert.ok(conns <= 3, `${conns} TCP connections for 60+ polling requests`);
    const handshakes = r.stderr.split('\n').filter((l) => / TLS: /.test(l)).length;
    assert.ok(handshakes >= 1 && handshakes <= 3, `${handshakes} TLS handshakes:\n${r.stderr}`);
  } finally {
    await srv.stop();
  }
});
