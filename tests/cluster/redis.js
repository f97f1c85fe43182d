'use strict';
// A real redis-server for the cluster tests: started on 127.0.0.1 and a free port with
// nothing persisted, stopped (and restartable on the same port) by its PID.
//
//   const r = await startRedis(); r.url; await r.kill(); await r.restart(); await r.stop();

const { spawn } = require('node:child_process');
const net = require('node:net');

const READY_RE = /Ready to accept connections/;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

function spawnRedis(port, extra = []) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const exited = new Promise((resolve) => child.once('exit', () => { live.delete(child); resolve(); }));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}:\n${out}`)), 10000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s) => {
      out += s;
      if (READY_RE.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    exited.then(() => { clearTimeout(timer); reject(new Error(`redis-server exited:\n${out}`)); });
  });
  return { child, ready, exited, output: () => out };
}

/*
 * Ports are picked free, but another process can take one before redis-server binds it
 * (the suites run side by side): a start that fails is tried again on other ports, up to
 * five times, after stopping whatever it had started (a redis-server left running would
 * keep this test process alive).
 */
async function retried(startOnce) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

function killNow(cur) {
  try { cur.child.kill('SIGKILL'); } catch { /* gone */ }
  return cur.exited;
}

/* SIGTERM unless it already exited; resolves once it did. */
async function stopNow(cur) {
  if (cur.child.exitCode === null && cur.child.signalCode === null) {
    cur.child.kill('SIGTERM');
    await cur.exited;
  }
}

/* Waits until it accepts connections; one that does not is killed before the error
 * goes on (retried starts it again elsewhere). */
async function readyOrKilled(cur) {
  try {
    await cur.ready;
  } catch (err) {
    await killNow(cur);
    throw err;
  }
}

function startRedis() {
  return retried(startRedisOnce);
}

async function startRedisOnce() {
  const port = await freePort();
  let cur = spawnRedis(port);
  await readyOrKilled(cur);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => cur.child.pid,
    /* SIGKILL: Redis gone at once, as a crash. */
    kill: () => killNow(cur),
    async restart() {
      cur = spawnRedis(port);
      await cur.ready;
    },
    stop: () => stopNow(cur),
  };
}

/* A redis-server speaking TLS only (--tls-port; the plain port off) with cert/key
 * (PEM files); clients are not asked for certificates unless authClients is 'yes'
 * (Redis's own default: a certificate signed by ca required) or 'optional'.
 * url: rediss://localhost:PORT. */
function startRedisTls(tls) {
  return retried(() => startRedisTlsOnce(tls));
}

async function startRedisTlsOnce({ cert, key, ca, authClients = 'no', protocols = null }) {
  const port = await freePort();
  const cur = spawnRedis(port, ['--port', '0', '--tls-port', String(port), '--tls-cert-file', cert,
    '--tls-key-file', key, '--tls-ca-cert-file', ca, '--tls-auth-clients', authClients,
    ...(protocols ? ['--tls-protocols', protocols] : [])]);
  await readyOrKilled(cur);
  return {
    port,
    url: `rediss://localhost:${port}`,
    output: () => cur.output(), /* its log: a client refused at its handshake is logged there */
    stop: () => stopNow(cur),
  };
}

/* A port p for a cluster node: p + 10000 (its cluster bus) must be a valid, free port too. */
async function clusterPort() {
  for (;;) {
    const p = await freePort();
    if (p > 55535) continue;
    const ok = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p + 10000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${code}\n${out}`))));
  });
}

/* A Redis Cluster of n masters, no replicas, on loopback (nodes.conf in a temporary
 * folder, so a master killed and restarted on its port rejoins with its slots).
 * url: the first master (the seed); masters[i].kill()/restart(); stop() ends all.
 * tls ({cert, key, ca}): TLS only, the cluster bus too (tls-cluster); url rediss://. */
function startRedisCluster(n = 3, tls = null) {
  return retried(() => startRedisClusterOnce(n, tls));
}

async function startRedisClusterOnce(n, tls) {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-rcluster-'));
  const ports = [];
  for (let i = 0; i < n; i++) {
    let p;
    do p = await clusterPort(); while (ports.includes(p));
    ports.push(p);
  }
  const extra = (port) => ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
    '--dir', dir, '--cluster-node-timeout', '2000',
    ...(tls ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-cert-file', tls.cert,
      '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'] : [])];
  const cli = tls ? ['--tls', '--cacert', tls.ca] : [];
  const scheme = tls ? 'rediss' : 'redis';
  const masters = [];
  const started = [];
  try {
    await startMasters();
    await run('redis-cli', [...cli, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0',
      '--cluster-yes']);
  } catch (err) {
    await Promise.all(started.map((cur) => killNow(cur)));
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  async function startMasters() {
    for (const port of ports) {
      let cur = spawnRedis(port, extra(port));
      started.push(cur);
      await cur.ready;
      masters.push({
        port,
        url: `${scheme}://127.0.0.1:${port}`,
        kill: () => killNow(cur),
        async restart() { cur = spawnRedis(port, extra(port)); await cur.ready; },
        stop: () => stopNow(cur),
      });
    }
  }
  const c = {
    cluster: true,
    port: ports[0],
    url: masters[0].url,
    urls: masters.map((m) => m.url),
    masters,
    /* Every master answers cluster_state:ok. */
    async ready(ms = 20000) {
      const deadline = Date.now() + ms;
      for (;;) {
        let ok = true;
        for (const p of ports) {
          const info = await run('redis-cli', [...cli, '-p', String(p), 'cluster', 'info']).catch(() => '');
          if (!/cluster_state:ok/.test(info)) ok = false;
        }
        if (ok) return;
        if (Date.now() > deadline) throw new Error('Redis Cluster not ok');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill() { for (const m of masters) await m.kill(); },
    async restart() { for (const m of masters) await m.restart(); await c.ready(); },
    async stop() {
      for (const m of masters) await m.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await c.ready();
  return c;
}

module.exports = { startRedis, startRedisCluster, startRedisTls, freePort };
