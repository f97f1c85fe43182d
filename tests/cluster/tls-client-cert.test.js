'use strict';
// Redis over TLS with client certificates (docs/cluster.md, "TLS to Redis"): a
// redis-server with --tls-auth-clients yes (Redis's own default with TLS) checks that
// each client presents a certificate signed by its CA. Certificates from a test CA made
// here by openssl, as tests/cluster/tls.test.js. wsio nodes with --redis-tls-cert and
// --redis-tls-key join it (options on the command line, or in a --config file) and a
// room broadcast crosses, also between a wsio node and a Node node (node-redis with
// socket: {cert, key}). Without a certificate, or with one from another CA: a clear
// error line naming the options, local work goes on, retried with backoff (Redis sees
// the attempts), as when Redis is unreachable; a certificate renewed in place is read
// again at the next reconnection. Cert without key, key without cert: a usage error
// (exit 2); a key of another certificate, an encrypted key, a missing file: the server
// refuses to start naming the file (exit 1, as a --redis-tls-ca that does not load).
//
//   WSIO_SERVER=build/wsio-server [CLUSTER_PAIRS=...] node --test tests/cluster/tls-client-cert.test.js

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { start } = require('../sio/servers');
const { call, logged, until, closeAll } = require('../sio/helpers');
const { startRedisTls } = require('./redis');
const { joined, join, metric, twoInRoom } = require('./helpers');
const { openssl, makeCa, signed, selfSigned, encryptKey } = require('../tls/certs.js');

let dir;
let caFiles; // the test CA's key and certificate
let ca;      // its certificate file
let redis;
const f = (name) => path.join(dir, name);

/* A certificate signed by the test CA (key and certificate in dir, as name.key/.pem), as
 * {cert, key} (the names redis.js and the tests use). */
function signedBy(name, opts) {
  const c = signed(dir, name, caFiles, opts);
  return { cert: c.crt, key: c.key };
}

function makeCerts() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-redis-mtls-'));
  caFiles = makeCa(dir, 'ca', 'wsio redis mTLS test CA');
  ca = caFiles.crt;
  const server = signedBy('redis', { san: 'DNS:localhost,IP:127.0.0.1' });
  signedBy('node-a', { eku: 'clientAuth' });
  signedBy('node-b', { eku: 'clientAuth' });
  // A client certificate from no CA Redis knows (self-signed), a key of no certificate
  // here, and node-a's key under a passphrase.
  selfSigned(dir, 'stranger');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('other.key'));
  encryptKey(f('node-a.key'), f('encrypted.key'));
  return { ...server, ca, authClients: 'yes' };
}

const certArgs = (name) => ['--redis-tls-cert', f(`${name}.pem`), '--redis-tls-key', f(`${name}.key`)];

/* Both nodes count each other, then a room broadcast crosses both ways. */
async function crossNode(A, B) {
  const [a, b] = await twoInRoom(A, B, 'mtls-room');
  await call(a, 'in-room', 'mtls-room', 'over-mtls', 'x');
  assert.equal((await logged(b, 'over-mtls', 1))[0][1], 'x');
  await call(b, 'in-room', 'mtls-room', 'back', 2);
  assert.equal((await logged(a, 'back', 1))[0][1], 2);
}

/* Start must fail: resolves to the error's text (exit status and the server's output). */
async function startFails(args) {
  let err;
  await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca, ...args]).then(async (node) => {
    await node.stop();
  }, (e) => { err = e; });
  assert.ok(err, `started with ${args.join(' ')}`);
  return err.message;
}

/* Redis's log lines about clients refused at the handshake (no certificate, or one it
 * does not trust): one per attempt. */
const refusedByRedis = () => (redis.output().match(/Error accepting a client connection/g) || []).length;

let redisTls; // the Redis side's files and settings (startRedisTls's argument)
before(async () => {
  redisTls = makeCerts();
  redis = await startRedisTls(redisTls);
});
after(async () => {
  closeAll(joined);
  await redis?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

for (const kind of ['pubsub', 'streams']) {
  describe(`rediss:// with client certificates, ${kind}`, { timeout: 60000 }, () => {
    it('two wsio nodes with --redis-tls-cert/--redis-tls-key (one from a --config file) join; a room broadcast crosses', async () => {
      const adapter = kind === 'pubsub' ? [] : ['--redis-adapter', kind];
      const conf = f(`node-b-${kind}.conf`);
      fs.writeFileSync(conf, `# the same options in a config file\nredis = ${redis.url}\nredis-tls-ca = ${ca}\n` +
        `redis-tls-cert = ${f('node-b.pem')}\nredis-tls-key = ${f('node-b.key')}\nredis-request-timeout = 2\n`);
      const A = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca, ...certArgs('node-a'),
        '--redis-request-timeout', '2', ...adapter]);
      const B = await start('wsio', 'test', ['--config', conf, ...adapter]);
      try {
        await crossNode(A, B);
        assert.equal(await metric(A, 'wsio_redis_adapter_up'), 1);
        assert.equal(await metric(B, 'wsio_redis_adapter_up'), 1);
        assert.match(A.output(), /Redis [a-z/ ]+ adapter, localhost:\d+ \(TLS, client certificate\)/);
        assert.match(B.output(), /\(TLS, client certificate\)/);
        assert.doesNotMatch(A.output() + B.output(), /cannot connect/);
      } finally {
        await A.stop();
        await B.stop();
      }
    });
  });
}

// CLUSTER_PAIRS as tests/cluster/cluster.test.js (the ASan run names wsio-wsio only).
const PAIRS = (process.env.CLUSTER_PAIRS || 'wsio-wsio,wsio-node,node-wsio').split(',');

describe('rediss:// with client certificates, mixed cluster', { timeout: 60000 }, () => {
  for (const pair of [['wsio', 'node'], ['node', 'wsio']]) {
    it(`${pair[0]} + ${pair[1]} (node-redis with socket: {ca, cert, key})`, { skip: !PAIRS.includes(pair.join('-')) }, async () => {
      const base = ['--redis', redis.url, '--redis-tls-ca', ca, '--redis-request-timeout', '2'];
      const A = await start(pair[0], 'test', [...base, ...certArgs('node-a')]);
      const B = await start(pair[1], 'test', [...base, ...certArgs('node-b')]);
      try {
        await crossNode(A, B);
      } finally {
        await A.stop();
        await B.stop();
      }
    });
  }
});

describe('rediss:// a Redis that checks client certificates', { timeout: 60000 }, () => {
  it('without a client certificate: an error naming the options; local work goes on; retried with backoff', async () => {
    const before0 = refusedByRedis();
    const A = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca]);
    try {
      await until(async () => /cannot connect/.test(A.output()), 10000, 'the failure logged');
      assert.match(A.output(), new RegExp('error [^\\n]*redis: cannot connect \\(TLS [^\\n]*certificate required; ' +
        'Redis at localhost, which asks for a client certificate: see --redis-tls-cert and --redis-tls-key\\); ' +
        'retrying with backoff'));
      // As with an unreachable Redis: this node's own clients are served.
      const a = await join(A);
      const b = await join(A);
      await call(b, 'join', 'solo');
      await call(a, 'in-room', 'solo', 'hello', 1);
      assert.equal((await logged(b, 'hello', 1))[0][1], 1);
      assert.deepEqual(await call(a, 'fetch', 'solo'), [b.id]);
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 0);
      // Retried: Redis sees more attempts (backoff from 100 ms), logged here only once
      // per connection (publish, subscribe).
      const seen = refusedByRedis() - before0;
      await until(async () => refusedByRedis() - before0 >= seen + 2, 10000, 'more attempts', 100);
      const lines = A.output().match(/asks for a client certificate/g).length;
      assert.ok(lines <= 2, `logged ${lines} times`);
    } finally {
      await A.stop();
    }
  });

  it('without a client certificate over TLS 1.2 (no "certificate required" alert there): the same hint', async () => {
    const r12 = await startRedisTls({ ...redisTls, protocols: 'TLSv1.2' });
    const A = await start('wsio', 'test', ['--redis', r12.url, '--redis-tls-ca', ca]);
    try {
      await until(async () => /cannot connect/.test(A.output()), 10000, 'the failure logged');
      assert.match(A.output(), new RegExp('error [^\\n]*redis: cannot connect \\(TLS [^\\n]*handshake failure; ' +
        'Redis at localhost, which asks for a client certificate: see --redis-tls-cert and --redis-tls-key\\)'));
    } finally {
      await A.stop();
      await r12.stop();
    }
  });

  it('a certificate from another CA is refused; the files renewed in place are read at the next attempt', async () => {
    // Files as an operator's, first holding a certificate Redis does not trust.
    const cert = f('rotating.pem');
    const key = f('rotating.key');
    fs.copyFileSync(f('stranger.pem'), cert);
    fs.copyFileSync(f('stranger.key'), key);
    const A = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca, '--redis-tls-cert', cert,
      '--redis-tls-key', key]);
    const B = await start('wsio', 'test', ['--redis', redis.url, '--redis-tls-ca', ca, ...certArgs('node-b')]);
    try {
      await until(async () => /cannot connect/.test(A.output()), 10000, 'the failure logged');
      assert.match(A.output(), /error [^\n]*redis: cannot connect \(TLS [^\n]*; Redis at localhost, which refused this node's client certificate \(--redis-tls-cert\)\); retrying with backoff/);
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 0);
      // Renewed as cert-manager or certbot do: new files renamed over the old ones, here
      // caught half-way first (the new certificate, still the old key): that set does
      // not load, said once, and the old one is kept.
      fs.copyFileSync(f('node-a.pem'), `${cert}.new`);
      fs.renameSync(`${cert}.new`, cert);
      await until(async () => /changed and no longer loads/.test(A.output()), 15000, 'the half-renewed set tried', 100);
      assert.match(A.output(), /warn [^\n]*redis: TLS: the client certificate \S*rotating\.pem changed and no longer loads \(the client key \S*rotating\.key does not match the client certificate \S*rotating\.pem\); keeping the one loaded before/);
      assert.equal(await metric(A, 'wsio_redis_adapter_up'), 0);
      fs.copyFileSync(f('node-a.key'), `${key}.new`);
      fs.renameSync(`${key}.new`, key);
      await until(async () => (await metric(A, 'wsio_redis_adapter_up')) === 1, 15000, 'A joined with the new certificate', 100);
      assert.match(A.output(), /info [^\n]*redis: TLS: the client key \S*rotating\.key changed: reloaded for new connections/);
      assert.equal(A.output().match(/no longer loads/g).length, 1, 'the half-renewed set said once');
      await crossNode(A, B);
    } finally {
      await A.stop();
      await B.stop();
    }
  });
});

describe('rediss:// client certificate options that cannot work: no start', { timeout: 60000 }, () => {
  it('--redis-tls-cert without --redis-tls-key, and the reverse: a usage error (exit 2)', async () => {
    let m = await startFails(['--redis-tls-cert', f('node-a.pem')]);
    assert.match(m, /code=2 /);
    assert.match(m, /--redis-tls-cert needs --redis-tls-key \(a client certificate and its key: both or neither\)/);
    m = await startFails(['--redis-tls-key', f('node-a.key')]);
    assert.match(m, /code=2 /);
    assert.match(m, /--redis-tls-key needs --redis-tls-cert/);
  });

  it('a key of another certificate, an encrypted key, a missing or non-PEM file: named, exit 1', async () => {
    let m = await startFails(['--redis-tls-cert', f('node-a.pem'), '--redis-tls-key', f('other.key')]);
    assert.match(m, /code=1 /);
    assert.match(m, /redis: TLS: the client key \S*other\.key does not match the client certificate \S*node-a\.pem/);
    m = await startFails(['--redis-tls-cert', f('node-a.pem'), '--redis-tls-key', f('encrypted.key')]);
    assert.match(m, /code=1 /);
    assert.match(m, /redis: TLS: the client key \S*encrypted\.key is encrypted/);
    m = await startFails(['--redis-tls-cert', f('missing.pem'), '--redis-tls-key', f('node-a.key')]);
    assert.match(m, /code=1 /);
    assert.match(m, /redis: TLS: cannot read the client certificate \S*missing\.pem: No such file or directory/);
    m = await startFails(['--redis-tls-cert', f('node-a.key'), '--redis-tls-key', f('node-a.key')]);
    assert.match(m, /code=1 /);
    assert.match(m, /redis: TLS: cannot load the client certificate \(PEM\) \S*node-a\.key/);
  });
});
