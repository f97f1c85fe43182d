'use strict';
// Mutual TLS (--tls-client-ca, --tls-client-auth): real clients (Node ws and https,
// wsio-cat --cert/--key) with client certificates made here by `openssl`, signed by a
// test client CA or by another one. Required: a certificate of the CA connects and its
// subject reaches the application (the test app's GET /tls-peer and WebSocket
// /tls-peer-ws, read in the upgrade hook and again from the open connection); none, or
// another CA's, fails the handshake, counted in wsio_tls_handshake_failures_total and
// logged at debug with the reason.
// Optional: none connects (no subject), another CA's still fails. The same on a
// --tls-sni name; SIGHUP switches trust to a new CA file for new connections (a broken
// one keeps the old); a CA file that does not load stops the server at start, named.
// Socket.IO: a middleware reads the handshake's subject (wsio_sio_socket_tls_peer: the
// test app's /sensors namespace and tls-peer event) over polling, websocket and the
// upgrade. Revocation lists (--tls-crl): a revoked certificate fails the handshake, a
// SIGHUP brings a new list, lists that would refuse every client stop the start.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { startServer, until, withTimeout } = require('../product/helpers.js');
const { runCat: catRun } = require('../client/helpers.js');
const { makeCa, signed, crl } = require('./certs.js');
const { io: sioConnect } = require('socket.io-client');

let dir;
let serverCa; // the CA of the server's certificate, which the clients trust
let srvCert;  // the server's certificate for 127.0.0.1/localhost
const f = (name) => path.join(dir, name);
const cas = {}; // name: {key, crt}

/* A certificate signed by CA `ca` (a name in cas): {crt, key} paths and their contents (cert, key). */
function makeCert(name, subj, ca, san) {
  const c = signed(dir, name, cas[ca], { subj, san });
  return { ...c, cert: fs.readFileSync(c.crt), keyPem: fs.readFileSync(c.key) };
}

let device;   // signed by clientca: "CN=device-1,OU=sensors,O=Acme"
let intruder; // signed by otherca
let device2;  // signed by clientca2 (the CA a SIGHUP switches to)
let camera;   // signed by clientca: "CN=cam-1,OU=cameras,O=Acme"
let stolen;   // signed by clientca, revoked by the lists of the --tls-crl tests

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-mtls-'));
  for (const [name, cn] of [['serverca', 'wsio test server CA'], ['clientca', 'wsio test client CA'],
    ['clientca2', 'wsio test client CA 2'], ['otherca', 'someone else']]) cas[name] = makeCa(dir, name, cn);
  serverCa = fs.readFileSync(f('serverca.pem'));
  srvCert = makeCert('server', '/CN=localhost', 'serverca', 'DNS:localhost,DNS:a.test,IP:127.0.0.1');
  makeCert('sni', '/CN=a.test', 'serverca', 'DNS:a.test');
  device = makeCert('device', '/O=Acme/OU=sensors/CN=device-1', 'clientca');
  intruder = makeCert('intruder', '/CN=intruder', 'otherca');
  device2 = makeCert('device2', '/CN=device-2', 'clientca2');
  camera = makeCert('camera', '/O=Acme/OU=cameras/CN=cam-1', 'clientca');
  stolen = makeCert('stolen', '/O=Acme/OU=sensors/CN=device-9', 'clientca');
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/* GET over https presenting `who` (null: no certificate). */
function get(port, p, who, servername) {
  return withTimeout(new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path: p, ca: serverCa, agent: false, servername };
    if (who) Object.assign(opts, { cert: who.cert, key: who.keyPem });
    const req = https.get(opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  }), 5000, `GET https ${p}`);
}

async function metric(port, name, who) {
  const r = await get(port, '/metrics', who);
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : NaN;
}

/* A wss:// connection presenting `who`: resolves {ws, first} (first: the first message,
 * when wantFirst), or rejects when the handshake (TLS or the upgrade) fails. */
function wss(port, p, who, { servername, wantFirst = false } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const opts = { ca: serverCa, servername };
    if (who) Object.assign(opts, { cert: who.cert, key: who.keyPem });
    if (servername) opts.checkServerIdentity = () => undefined;
    const ws = new WebSocket(`wss://127.0.0.1:${port}${p}`, opts);
    ws.once('error', reject);
    if (wantFirst) ws.once('message', (m) => resolve({ ws, first: m.toString() }));
    else ws.once('open', () => resolve({ ws }));
  }), 5000, `wss ${p}`);
}

/* The connection attempt fails (TLS alert, reset or close before the upgrade), never opens. */
// alert: the TLS alert the client must be told (the server sends it before closing).
async function refused(port, p, who, opts, alert) {
  let opened = false;
  try {
    const { ws } = await wss(port, p, who, opts);
    opened = true;
    ws.terminate();
  } catch (e) {
    assert.doesNotMatch(String(e.message), /timed out/, 'refused, not stalled');
    if (alert) assert.match(String(e.message), alert, 'the client learns why');
  }
  assert.equal(opened, false, 'the connection must not open');
}

function echo(ws, msg) {
  const p = withTimeout(new Promise((resolve) => ws.once('message', (m) => resolve(m.toString()))), 5000, 'echo');
  ws.send(msg);
  return p;
}

/* wsio-cat writing a line: a run past 15 s fails the test (a refusal must not look like a
 * hang); the child is killed a little later. */
function runCat(args) {
  return withTimeout(catRun(args, { input: 'hello\n', timeout: 20000 }), 15000, 'wsio-cat');
}

/* wsio-server --app test with TLS and `extra` options; ready once `who` gets /healthz. */
async function startMtls(extra, who = device, { env = {} } = {}) {
  if (process.env.WSIO_IO_URING) env = { WSIO_IO_URING: process.env.WSIO_IO_URING, ...env };
  const srv = await startServer(['--app', 'test', '--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--log-level', 'debug',
    ...extra], { ready: false, env });
  const stop = srv.stop.bind(srv);
  srv.stop = async () => {
    const r = await stop();
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${srv.stderr().slice(-2000)}`);
    assert.doesNotMatch(srv.stderr(), /Sanitizer|runtime error/);
  };
  await until(async () => { try { return (await get(srv.port, '/healthz', who)).status === 200; } catch { return false; } },
    5000, 'GET https /healthz', 20);
  return srv;
}

const FAILURES = 'wsio_tls_handshake_failures_total';

test('required client certificates: the CA\'s connects and its subject reaches the app; none or another CA\'s fails the handshake, counted and logged', async () => {
  const srv = await startMtls(['--tls-client-ca', f('clientca.pem')]);
  try {
    assert.match(srv.stderr(), /TLS: certificate .* loaded; client certificates required, from .*clientca\.pem/);
    const subject = 'CN=device-1,OU=sensors,O=Acme'; // RFC 2253: the most specific first
    // Node ws: an echo, and the subject of /tls-peer-ws (the upgrade hook and the open connection agree)
    const { ws } = await wss(srv.port, '/echo', device);
    assert.equal(await echo(ws, 'hello over mutual TLS'), 'hello over mutual TLS');
    const peer = await wss(srv.port, '/tls-peer-ws', device, { wantFirst: true });
    assert.equal(peer.first, subject);
    peer.ws.close();
    // an HTTP handler sees it too
    assert.deepEqual(await get(srv.port, '/tls-peer', device), { status: 200, body: subject });
    // wsio-cat --cert/--key
    const cat = await runCat(['--ca', f('serverca.pem'), '--cert', device.crt, '--key', device.key, '-n',
      `wss://localhost:${srv.port}/echo`]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'hello\n');
    const before0 = await metric(srv.port, FAILURES, device);
    assert.equal(before0, 0);
    // no certificate, and another CA's: Node ws, https, wsio-cat
    await refused(srv.port, '/echo', null, undefined, /alert certificate required/);
    await refused(srv.port, '/echo', intruder, undefined, /alert unknown ca/);
    await assert.rejects(get(srv.port, '/tls-peer', null));
    // the alert reaches wsio-cat too: its TLS exit status (7) and the reason
    for (const [who, why] of [[[], /alert certificate required/],
      [['--cert', intruder.crt, '--key', intruder.key], /alert unknown ca/]]) {
      const r = await runCat(['--ca', f('serverca.pem'), ...who, '-n', `wss://localhost:${srv.port}/echo`]);
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, '');
    }
    // 2 (ws) + 1 (https) + 2 (wsio-cat); the server counts them as it reads the closes
    await until(async () => (await metric(srv.port, FAILURES, device)) === 5, 5000, `${FAILURES} 5`);
    assert.match(srv.stderr(), /debug .*TLS handshake failed: .*peer did not return a certificate/);
    assert.match(srv.stderr(), /debug .*TLS handshake failed: .*certificate verify failed: client certificate: unable to get local issuer certificate/);
    // still serving the right ones
    assert.equal(await echo(ws, 'still here'), 'still here');
    ws.close();
  } finally { await srv.stop(); }
});

test('optional client certificates: none connects without a subject; the CA\'s gives one; another CA\'s fails', async () => {
  const srv = await startMtls(['--tls-client-ca', f('clientca.pem'), '--tls-client-auth', 'optional'], null);
  try {
    assert.match(srv.stderr(), /client certificates optional, verified against .*clientca\.pem/);
    const anon = await wss(srv.port, '/tls-peer-ws', null, { wantFirst: true });
    assert.equal(anon.first, '');
    assert.equal(await echo((await wss(srv.port, '/echo', null)).ws, 'anonymous'), 'anonymous');
    assert.deepEqual(await get(srv.port, '/tls-peer', null), { status: 200, body: '' });
    const known = await wss(srv.port, '/tls-peer-ws', device, { wantFirst: true });
    assert.equal(known.first, 'CN=device-1,OU=sensors,O=Acme');
    known.ws.close();
    anon.ws.close();
    const cat = await runCat(['--ca', f('serverca.pem'), '-n', `wss://localhost:${srv.port}/echo`]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(await metric(srv.port, FAILURES, null), 0);
    await refused(srv.port, '/echo', intruder);
    const bad = await runCat(['--ca', f('serverca.pem'), '--cert', intruder.crt, '--key', intruder.key, '-n',
      `wss://localhost:${srv.port}/echo`]);
    assert.notEqual(bad.code, 0, bad.stderr);
    await until(async () => (await metric(srv.port, FAILURES, null)) === 2, 5000, `${FAILURES} 2`);
  } finally { await srv.stop(); }
});

test('--tls-sni names verify client certificates too', async () => {
  const srv = await startMtls(['--tls-sni', `a.test:${f('sni.pem')}:${f('sni.key')}`, '--tls-client-ca', f('clientca.pem')]);
  try {
    const peer = await wss(srv.port, '/tls-peer-ws', device, { servername: 'a.test', wantFirst: true });
    assert.equal(peer.first, 'CN=device-1,OU=sensors,O=Acme');
    peer.ws.close();
    await until(() => /server name a\.test: the certificate of --tls-sni a\.test/.test(srv.stderr()), 3000, 'the SNI log line');
    await refused(srv.port, '/echo', null, { servername: 'a.test' });
    await refused(srv.port, '/echo', intruder, { servername: 'a.test' });
  } finally { await srv.stop(); }
});

test('SIGHUP switches trust to a new CA file for new connections; open ones stay; a broken file keeps the old CA', async () => {
  const caFile = f('trust.pem');
  fs.copyFileSync(f('clientca.pem'), caFile);
  const srv = await startMtls(['--tls-client-ca', caFile]);
  try {
    const { ws: old } = await wss(srv.port, '/echo', device);
    await refused(srv.port, '/echo', device2);
    fs.copyFileSync(f('clientca2.pem'), caFile);
    srv.signal('SIGHUP');
    await until(() => /certificate .* reloaded; client certificates required/.test(srv.stderr()), 5000, 'the reload log line');
    const peer = await wss(srv.port, '/tls-peer-ws', device2, { wantFirst: true });
    assert.equal(peer.first, 'CN=device-2');
    peer.ws.close();
    await refused(srv.port, '/echo', device);
    assert.equal(await echo(old, 'accepted before the reload'), 'accepted before the reload');
    // a CA file that does not load: the whole previous set stays
    fs.writeFileSync(caFile, 'not a certificate\n');
    srv.signal('SIGHUP');
    await until(() => /previous certificate stays in use/.test(srv.stderr()), 5000, 'the failed reload log line');
    assert.match(srv.stderr(), /error .*trust\.pem/);
    const again = await wss(srv.port, '/echo', device2);
    assert.equal(await echo(again.ws, 'still trusted'), 'still trusted');
    again.ws.close();
    old.close();
    fs.copyFileSync(f('clientca2.pem'), caFile); // for the /healthz of stop's checks
  } finally { await srv.stop(); }
});

test('from a --config file and WSIO_TLS_CLIENT_CA/WSIO_TLS_CLIENT_AUTH', async () => {
  const conf = f('mtls.conf');
  fs.writeFileSync(conf, `tls-client-ca = ${f('clientca.pem')}\ntls-client-auth = optional\n`);
  for (const how of [{ args: ['--config', conf] }, { args: [], env: { WSIO_TLS_CLIENT_CA: f('clientca.pem'), WSIO_TLS_CLIENT_AUTH: 'optional' } }]) {
    const srv = await startMtls(how.args, null, { env: how.env });
    try {
      assert.match(srv.stderr(), /client certificates optional, verified against .*clientca\.pem/);
      assert.deepEqual(await get(srv.port, '/tls-peer', device), { status: 200, body: 'CN=device-1,OU=sensors,O=Acme' });
      await refused(srv.port, '/echo', intruder);
    } finally { await srv.stop(); }
  }
});

test('a client CA file that does not load stops the server at start, named; option misuse is a usage error', async () => {
  const badCert = await startServer(['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', srvCert.key], { expectListen: false });
  const certCode = (await badCert.waitExit(5000)).code;
  assert.notEqual(certCode, 0);
  fs.writeFileSync(f('garbage-ca.pem'), 'not a certificate\n');
  for (const [file, why] of [[f('missing-ca.pem'), /cannot read the client CA file .*missing-ca\.pem: No such file/],
    [f('garbage-ca.pem'), /garbage-ca\.pem/], [srvCert.key, /server\.key/]]) {
    const srv = await startServer(['--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--tls-client-ca', file], { expectListen: false });
    const r = await srv.waitExit(5000);
    assert.equal(r.code, certCode, 'the exit status of a bad --tls-cert');
    assert.match(srv.stderr(), why);
    assert.doesNotMatch(srv.stderr(), /listening on/);
  }
  for (const [args, why] of [[['--tls-client-ca', f('clientca.pem')], /--tls-client-ca needs --tls-cert/],
    [['--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--tls-client-auth', 'optional'], /--tls-client-auth needs --tls-client-ca/],
    [['--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--tls-client-ca', f('clientca.pem'), '--tls-client-auth', 'maybe'], /require or optional/]]) {
    const srv = await startServer(args, { expectListen: false });
    const r = await srv.waitExit(5000);
    assert.equal(r.code, 2, srv.stderr());
    assert.match(srv.stderr(), why);
  }
});

/* A socket.io-client connection to nsp presenting `who`: resolves ['connected', the
 * tls-peer ack, the transport] or ['refused', message, data]. */
function sio(port, nsp, who, transports) {
  return withTimeout(new Promise((resolve) => {
    const opts = { ca: serverCa, transports, reconnection: false, forceNew: true, timeout: 4000 };
    if (who) Object.assign(opts, { cert: who.cert, key: who.keyPem });
    const s = sioConnect(`https://127.0.0.1:${port}${nsp}`, opts);
    s.on('connect', () => s.emit('tls-peer', (peer) => { resolve(['connected', peer, s.io.engine.transport.name]); s.close(); }));
    s.on('connect_error', (e) => { resolve(['refused', e.message, e.data]); s.close(); });
  }), 6000, `socket.io ${nsp}`);
}

test('Socket.IO middlewares read the handshake\'s client certificate subject (polling, websocket, upgrade)', async () => {
  const srv = await startMtls(['--tls-client-ca', f('clientca.pem'), '--tls-client-auth', 'optional'], null);
  try {
    const subject = 'CN=device-1,OU=sensors,O=Acme';
    for (const t of [['polling'], ['websocket'], ['polling', 'websocket']]) {
      const last = t[t.length - 1];
      assert.deepEqual(await sio(srv.port, '/', device, t), ['connected', subject, last], t.join('+'));
      assert.deepEqual(await sio(srv.port, '/sensors', device, t), ['connected', subject, last], t.join('+'));
      assert.deepEqual(await sio(srv.port, '/', camera, t), ['connected', 'CN=cam-1,OU=cameras,O=Acme', last]);
      assert.deepEqual(await sio(srv.port, '/sensors', camera, t), ['refused', 'not a sensor', { code: 403 }]);
      assert.deepEqual(await sio(srv.port, '/', null, t), ['connected', null, last]);
      assert.deepEqual(await sio(srv.port, '/sensors', null, t), ['refused', 'certificate required', { code: 403 }]);
    }
  } finally { await srv.stop(); }
});

test('--tls-crl: a revoked certificate fails the handshake, counted and logged; SIGHUP brings a new list', async () => {
  const list = f('revoked.crl');
  fs.copyFileSync(crl(dir, 'clientca', cas.clientca, [stolen]), list);
  const srv = await startMtls(['--tls-client-ca', f('clientca.pem'), '--tls-crl', list]);
  try {
    assert.match(srv.stderr(), /client certificates required, from .*clientca\.pem, revocations from .*revoked\.crl/);
    const peer = await wss(srv.port, '/tls-peer-ws', device, { wantFirst: true });
    assert.equal(peer.first, 'CN=device-1,OU=sensors,O=Acme');
    const { ws: open } = await wss(srv.port, '/echo', device);
    await refused(srv.port, '/echo', stolen, undefined, /alert certificate revoked/);
    const cat = await runCat(['--ca', f('serverca.pem'), '--cert', stolen.crt, '--key', stolen.key, '-n',
      `wss://localhost:${srv.port}/echo`]);
    assert.equal(cat.code, 7, cat.stderr);
    assert.match(cat.stderr, /alert certificate revoked/);
    assert.deepEqual(await sio(srv.port, '/sensors', stolen, ['websocket']).catch((e) => ['error', e.message]),
      ['refused', 'websocket error', undefined]);
    await until(async () => (await metric(srv.port, FAILURES, device)) === 3, 5000, `${FAILURES} 3`);
    assert.match(srv.stderr(), /debug .*TLS handshake failed: .*client certificate: certificate revoked/);
    // a new list revoking device-1 too: new connections of it fail, the open one stays
    fs.copyFileSync(crl(dir, 'clientca', cas.clientca, [stolen, device]), list);
    srv.signal('SIGHUP');
    await until(() => /reloaded; client certificates required, from .*, revocations from/.test(srv.stderr()), 5000, 'the reload log line');
    await refused(srv.port, '/echo', device, undefined, /alert certificate revoked/);
    assert.equal(await echo(open, 'accepted before the reload'), 'accepted before the reload');
    assert.equal(await echo((await wss(srv.port, '/echo', camera)).ws, 'not revoked'), 'not revoked');
    // an expired list does not replace the current one
    const day = 86400e3;
    fs.copyFileSync(crl(dir, 'clientca', cas.clientca, [], { last: new Date(Date.now() - 2 * day), next: new Date(Date.now() - day) }), list);
    srv.signal('SIGHUP');
    await until(() => /previous certificate stays in use/.test(srv.stderr()), 5000, 'the failed reload log line');
    assert.match(srv.stderr(), /error .*CRL of CN=wsio test client CA in .*revoked\.crl has expired/);
    await refused(srv.port, '/echo', device);
    open.close();
    peer.ws.close();
    fs.copyFileSync(crl(dir, 'clientca', cas.clientca, [stolen]), list); // for stop's /healthz as device
  } finally { await srv.stop(); }
});

test('--tls-crl lists that would refuse every client of a CA stop the server at start, named; without --tls-client-ca a usage error', async () => {
  const day = 86400e3;
  const expired = crl(dir, 'expired', cas.clientca, [], { last: new Date(Date.now() - 2 * day), next: new Date(Date.now() - day) });
  const other = crl(dir, 'otherca', cas.otherca, []);
  const both = f('two-cas.pem');
  fs.writeFileSync(both, fs.readFileSync(f('clientca.pem')) + fs.readFileSync(f('clientca2.pem')));
  const onlyOne = crl(dir, 'clientca-only', cas.clientca, []);
  fs.writeFileSync(f('not-a-crl.pem'), fs.readFileSync(f('clientca.pem')));
  for (const [ca, list, why] of [
    [f('clientca.pem'), expired, /CRL of CN=wsio test client CA in .*expired\.crl has expired/],
    [f('clientca.pem'), other, /CRL of CN=someone else in .*otherca\.crl: its issuer is not one of the client CAs/],
    [both, onlyOne, /client CA CN=wsio test client CA 2 has no CRL in .*clientca-only\.crl/],
    [f('clientca.pem'), f('not-a-crl.pem'), /no CRL in .*not-a-crl\.pem/],
    [f('clientca.pem'), f('missing.crl'), /cannot read the CRL file .*missing\.crl: No such file/]]) {
    const srv = await startServer(['--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--tls-client-ca', ca, '--tls-crl', list],
      { expectListen: false });
    const r = await srv.waitExit(5000);
    assert.equal(r.code, 1, srv.stderr());
    assert.match(srv.stderr(), why);
    assert.doesNotMatch(srv.stderr(), /listening on/);
  }
  const srv = await startServer(['--tls-cert', srvCert.crt, '--tls-key', srvCert.key, '--tls-crl', onlyOne], { expectListen: false });
  assert.equal((await srv.waitExit(5000)).code, 2);
  assert.match(srv.stderr(), /--tls-crl needs --tls-client-ca/);
});
