'use strict';
// Starts and stops the servers the Socket.IO tests run against.
//
//   start(kind, app, extraArgs) -> {kind, app, url, port, pid, output(), alive(), stop()}
//
// kind "wsio": $WSIO_SERVER (default <repo>/build/wsio-server) --app APP --host 127.0.0.1 --port 0
// kind "node": node tests/sio/reference/server.js --app APP --port 0 (Node's socket.io 4.8)
// Both print `listening on HOST:PORT` to stderr; the port is read from it.
//
// targets() is the list from $SIO_TARGETS (comma separated, default "wsio,node"). A wsio
// binary that is missing, or that exits before listening (no --app support yet), makes
// start() reject, so every test of that target fails loudly: nothing is skipped.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const WSIO_BIN = process.env.WSIO_SERVER || path.join(REPO, 'build', 'wsio-server');
const REFERENCE = path.join(__dirname, 'reference', 'server.js');
const LISTENING_RE = /listening on \S+:(\d+)/;
const TAIL_BYTES = 16 * 1024;
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

// Servers not yet exited: killed by PID if the test process exits without stopping them.
const live = new Set();
process.on('exit', () => {
  for (const s of live) {
    try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

function targets() {
  const raw = process.env.SIO_TARGETS || 'wsio,node';
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of list) {
    if (t !== 'wsio' && t !== 'node') throw new Error(`SIO_TARGETS: unknown target "${t}" (wsio, node)`);
  }
  return list;
}

function command(kind, app, extraArgs) {
  if (kind === 'wsio') {
    if (!fs.existsSync(WSIO_BIN)) {
      throw new Error(`wsio-server binary not found at ${WSIO_BIN} (build it, or set WSIO_SERVER)`);
    }
    // WSIO_SERVER_ARGS (e.g. "--threads 2") runs the whole suite against another mode.
    const envArgs = (process.env.WSIO_SERVER_ARGS || '').split(/\s+/).filter(Boolean);
    return [WSIO_BIN, ['--app', app, '--host', '127.0.0.1', '--port', '0', ...envArgs, ...extraArgs]];
  }
  if (kind === 'node') {
    return [process.execPath, [REFERENCE, '--app', app, '--host', '127.0.0.1', '--port', '0', ...extraArgs]];
  }
  throw new Error(`unknown server kind "${kind}"`);
}

async function start(kind, app, extraArgs = []) {
  const [file, argv] = command(kind, app, extraArgs);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let exitInfo = null;
  let stopping = false;
  const append = (s) => { tail = (tail + s).slice(-TAIL_BYTES); };
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(server);
      resolve(exitInfo);
    });
  });
  const server = {
    kind,
    app,
    pid: child.pid,
    port: 0,
    url: '',
    output: () => tail,
    alive: () => exitInfo === null,
    exitInfo: () => exitInfo,
    exited,
    /*
     * SIGTERM (then SIGKILL after STOP_TIMEOUT_MS); throws if the server had died on its
     * own during the tests, or did not exit 0 on SIGTERM (a crash, a sanitizer report).
     */
    async stop() {
      if (exitInfo && !stopping) {
        throw new Error(`${kind} server (app ${app}, pid ${child.pid}) died during the tests: ` +
          `code=${exitInfo.code} signal=${exitInfo.signal}\n--- server output ---\n${tail}`);
      }
      if (stopping) return exited;
      stopping = true;
      if (!exitInfo) child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exitInfo) child.kill('SIGKILL'); }, STOP_TIMEOUT_MS);
      const info = await exited;
      clearTimeout(timer);
      if (info.code !== 0) {
        throw new Error(`${kind} server (app ${app}, pid ${child.pid}) did not exit 0 on SIGTERM: ` +
          `code=${info.code} signal=${info.signal}\n--- server output ---\n${tail}`);
      }
      return info;
    },
  };
  live.add(server);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', append);

  let seen = '';
  const listening = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stderr.on('data', (s) => {
      append(s);
      if (server.port) return;
      seen += s;
      const m = LISTENING_RE.exec(seen);
      if (m) {
        server.port = Number(m[1]);
        server.url = `http://127.0.0.1:${server.port}`;
        resolve(server);
      }
    });
    exited.then(({ code, signal }) => reject(new Error(
      `${kind} server exited before listening: code=${code} signal=${signal} ` +
      `argv=${JSON.stringify([file, ...argv])}\n--- server output ---\n${tail}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(
      `timed out after ${START_TIMEOUT_MS} ms waiting for "listening on" from ` +
      `${JSON.stringify([file, ...argv])}\n--- server output ---\n${tail}`)), START_TIMEOUT_MS);
  });
  try {
    return await Promise.race([listening, timeout]);
  } catch (err) {
    stopping = true;
    if (!exitInfo) child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

module.exports = { start, targets, REPO, WSIO_BIN };
