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

function spawnRedis(port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
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
  return { child, ready, exited };
}

async function startRedis() {
  const port = await freePort();
  let cur = spawnRedis(port);
  await cur.ready;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => cur.child.pid,
    /* SIGKILL: Redis gone at once, as a crash. */
    async kill() {
      cur.child.kill('SIGKILL');
      await cur.exited;
    },
    async restart() {
      cur = spawnRedis(port);
      await cur.ready;
    },
    async stop() {
      if (cur.child.exitCode === null && cur.child.signalCode === null) {
        cur.child.kill('SIGTERM');
        await cur.exited;
      }
    },
  };
}

module.exports = { startRedis, freePort };
