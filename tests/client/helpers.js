'use strict';
// tests/client/helpers.js — what the client tests share: runCat runs wsio-cat for the
// tests that drive it (tests/client/*.test.js, tests/tls/mtls.test.js): one child, both
// outputs collected, stdin fed the way the test asks, killed past a timeout; startNode
// starts the Node socket.io server of tests/client/sio_server.js; rawServer and
// handshakeThen are the raw TCP servers that break the protocol on purpose; waitFor polls
// a condition with a deadline. Not a test file itself (node --test picks *.test.js).
//
//   const r = await runCat(['-n', url], { input: 'hello\n' });  // {code, signal, stdout, stderr}
//   const run = runCat(['-v', url], { open: true });            // run.child, run.out(), run.err(), await run.done
//   const runCat = catRunner({ input: 'hello\n', timeout: 20000 }); // a file's own defaults
//   const srv = await startNode(['--tls-cert', crt, '--tls-key', key]); // srv.port, await srv.stop()
//   const srv = await handshakeThen((sock) => sock.end(bytes), { extra: 'X-A: b\r\n' }); // a net.Server
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const REPO = path.resolve(__dirname, '..', '..');
// The wsio-cat built next to the server under test (WSIO_CAT names another one).
const CAT = process.env.WSIO_CAT ||
  path.join(path.dirname(process.env.WSIO_SERVER || path.join(REPO, 'build', 'wsio-server')), 'wsio-cat');

// wsio-cat --sio prints one JSON value a line.
const jsonLines = (s) => s.split('\n').filter(Boolean).map((l) => JSON.parse(l));

/* Starts wsio-cat with `args`. Stdin, by the first option given:
 *   feed(child)  the test writes (and ends) it;
 *   endWhenOut   `input` is written; stdin ends once stdout is exactly this string (a
 *                server that drops echoes not yet sent when the client closes);
 *   open         it stays open for the test to write through run.child.stdin;
 *   upgrade      `input` is written, then stdin ends, once stderr says "upgraded to
 *                websocket" (-v; so an exchange cannot finish before the probe is answered);
 *   (none)       `input` is written and stdin ends.
 * `timeout` ms (null: none) kills it with SIGKILL (then code is null); `env` adds variables.
 * Returns the promise of {code, signal, stdout, stderr}, which also carries child, done
 * (itself), out() and err() (what was printed so far) and lines() (stdout as JSON lines). */
function runCat(args, { input = '', feed, open = false, upgrade = false, endWhenOut, timeout = 15000, env } = {}) {
  assert.ok(fs.existsSync(CAT), `wsio-cat not found at ${CAT}`);
  const child = spawn(CAT, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  let stdout = '', stderr = '';
  let upgraded = false;
  child.stdout.on('data', (d) => {
    stdout += d;
    if (endWhenOut !== undefined && stdout === endWhenOut) child.stdin.end();
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    if (upgrade && !upgraded && /upgraded to websocket/.test(stderr)) {
      upgraded = true;
      child.stdin.end(input);
    }
  });
  child.stdin.on('error', () => {});
  const done = new Promise((resolve) => {
    const t = timeout === null ? null : setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr }); });
  });
  if (feed) feed(child);
  else if (endWhenOut !== undefined) child.stdin.write(input);
  else if (!open && !upgrade) child.stdin.end(input);
  return Object.assign(done, { child, done, out: () => stdout, err: () => stderr, lines: () => jsonLines(stdout) });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Resolves once cond() (synchronous: a child's output so far, a list of events) is
 * true, checked every 20 ms; throws "timed out waiting [for what]" past ms. */
async function waitFor(cond, ms = 10000, what) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting${what === undefined ? '' : ` for ${what}`}`);
    await sleep(20);
  }
}

// runCat with a test file's own defaults (each call's options still win).
const catRunner = (defaults) => (args, opts = {}) => runCat(args, { ...defaults, ...opts });

/* A raw TCP server on 127.0.0.1 for the tests whose server breaks the protocol on
 * purpose: onConn(sock) per connection (socket errors ignored); resolves once it listens. */
function rawServer(onConn) {
  return new Promise((resolve) => {
    const srv = net.createServer((sock) => { sock.on('error', () => {}); onConn(sock); });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

/* A raw server that reads the whole request head and answers the WebSocket handshake
 * with 101 (Sec-WebSocket-Accept computed from the key unless `accept` is given;
 * `extra`: more header lines, each ending in CRLF), then runs after(sock). When after
 * is a Buffer its bytes go out in the head's write instead, so the client reads them
 * with the head. */
function handshakeThen(after, { accept, extra = '' } = {}) {
  return rawServer((sock) => {
    let buf = '';
    sock.on('data', function onData(d) {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      sock.removeListener('data', onData);
      const key = /Sec-WebSocket-Key: (.*)\r\n/i.exec(buf)[1];
      const acc = accept || crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      const head = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acc}\r\n${extra}\r\n`);
      if (Buffer.isBuffer(after)) sock.write(Buffer.concat([head, after]));
      else { sock.write(head); after(sock); }
    });
  });
}

/* tests/client/sio_server.js with these arguments, once it listens: {port, child, stop()}
 * (stop kills it and resolves once it exited); rejects if it exits first. */
function startNode(extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'sio_server.js'), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on \S+:(\d+)/.exec(err);
      if (m) resolve({ port: Number(m[1]), child, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGKILL'); }) });
    });
    child.on('exit', (code) => reject(new Error(`node server exited ${code}: ${err}`)));
  });
}

module.exports = { CAT, runCat, catRunner, jsonLines, startNode, rawServer, handshakeThen, sleep, waitFor };
