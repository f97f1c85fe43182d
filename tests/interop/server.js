'use strict';
// Starts and stops one wsio-server process for an interop test file.
//
// Owns: spawning the binary named by $WSIO_SERVER (default <repo>/build/wsio-server) on
// 127.0.0.1 with an ephemeral port, learning the port from its "listening on HOST:PORT"
// stderr line, keeping a bounded tail of its output for failure messages, and stopping it
// by PID. It must not know any protocol: clients live in the test files.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { withTimeout } = require('../sio/helpers');

const REPO = path.resolve(__dirname, '..', '..');
const SERVER_BIN = process.env.WSIO_SERVER || path.join(REPO, 'build', 'wsio-server');
const LISTENING_RE = /listening on \S+:(\d+)/;
const TAIL_BYTES = 16 * 1024;
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

// Servers not yet exited; killed by PID if the test process exits without stopping them.
const live = new Set();
process.on('exit', () => {
  for (const server of live) server.signal('SIGKILL');
});

class WsioServer {
  constructor(child) {
    this.child = child;
    this.pid = child.pid;
    this.port = 0;
    this.stopping = false;
    this.exitInfo = null;
    this._tail = '';
    live.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(this);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  _append(chunk) {
    this._tail = (this._tail + chunk).slice(-TAIL_BYTES);
  }

  /* The last TAIL_BYTES of the server's stdout+stderr, for assertion messages. */
  output() {
    return this._tail;
  }

  url(pathname = '/') {
    return `ws://127.0.0.1:${this.port}${pathname}`;
  }

  httpUrl(pathname = '/') {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  /* True while the process has not exited. */
  alive() {
    return this.exitInfo === null;
  }

  /* Sends `signal` to the server's PID (and nothing else). */
  signal(sig) {
    if (this.alive()) process.kill(this.pid, sig);
  }

  /*
   * Stops the server with `sig` (SIGTERM by default), then SIGKILL if it has not exited
   * within STOP_TIMEOUT_MS; resolves to {code, signal}. Calling it again returns the same.
   * Throws if the server had already exited on its own before stop() was first called (a
   * crash during the tests), so an after() hook that calls stop() reports it.
   */
  async stop(sig = 'SIGTERM') {
    if (!this.alive() && !this.stopping) {
      const { code, signal } = this.exitInfo;
      throw new Error(`wsio-server (pid ${this.pid}) died during the tests: code=${code} ` +
        `signal=${signal}\n--- server output ---\n${this.output()}`);
    }
    this.stopping = true;
    this.signal(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /*
   * stop(), then throws unless the exit was code 0: a clean SIGTERM shutdown, which under
   * the sanitizer build also means no ASan/UBSan/leak report.
   */
  async stopClean() {
    const { code, signal } = await this.stop();
    if (code !== 0) {
      throw new Error(`wsio-server (pid ${this.pid}) did not exit 0 on SIGTERM: code=${code} ` +
        `signal=${signal}\n--- server output ---\n${this.output()}`);
    }
  }
}

/*
 * Spawns wsio-server with `args` (after --host 127.0.0.1 --port 0) and resolves once it
 * prints its listening line. Rejects (and kills the child) if it exits first or takes
 * longer than START_TIMEOUT_MS.
 */
async function startServer(args = []) {
  if (!fs.existsSync(SERVER_BIN)) {
    throw new Error(`wsio-server binary not found at ${SERVER_BIN} (build it, or set WSIO_SERVER)`);
  }
  // WSIO_SERVER_ARGS (e.g. "--threads 2") runs the whole suite against another mode.
  const envArgs = (process.env.WSIO_SERVER_ARGS || '').split(/\s+/).filter(Boolean);
  const argv = ['--host', '127.0.0.1', '--port', '0', ...envArgs, ...args];
  const child = spawn(SERVER_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = new WsioServer(child);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  // Always drain both pipes: a server that logs a lot must never block on a full pipe.
  child.stdout.on('data', (s) => server._append(s));

  let stderrLine = '';
  const listening = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stderr.on('data', (s) => {
      server._append(s);
      if (server.port) return;
      stderrLine += s;
      const m = LISTENING_RE.exec(stderrLine);
      if (m) {
        server.port = Number(m[1]);
        resolve(server);
      }
    });
    server.exited.then(({ code, signal }) => reject(new Error(
      `wsio-server exited before listening: code=${code} signal=${signal} ` +
      `argv=${JSON.stringify(argv)}\n--- server output ---\n${server.output()}`)));
  });
  try {
    return await withTimeout(listening, START_TIMEOUT_MS, `wsio-server ${argv.join(' ')} to print its listening line`);
  } catch (err) {
    server.stopping = true;
    server.signal('SIGKILL');
    throw err;
  }
}

module.exports = { startServer, withTimeout, SERVER_BIN, REPO };
