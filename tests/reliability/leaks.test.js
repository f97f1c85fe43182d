'use strict';
// LeakSanitizer. `make test` runs the interop and Socket.IO suites a second time against
// the ASan+UBSan build (scripts/run-tests.sh, asan half) with detect_leaks=1, and those
// suites stop every server with SIGTERM and fail unless it exits 0 — LeakSanitizer's
// report at exit makes the status non-zero, so a leak fails them. Three things make that
// chain trustworthy, and are checked here:
//  1. LeakSanitizer works on this machine (it needs ptrace-like access, which some
//     containers deny): a program that leaks, built with -fsanitize=address, must be
//     reported ("detected memory leaks", a non-zero exit).
//  2. scripts/run-tests.sh sets detect_leaks=1 before the ASan suites, and the suites'
//     server helpers require exit 0 on SIGTERM.
//  3. The ASan wsio-server, through a session that uses every part (WebSocket echo and
//     broadcast, Socket.IO over WebSocket and long-polling, rooms, acks, a dropped and
//     recovered session, an upgrade, malformed input), exits 0 with no LeakSanitizer
//     report. Skipped, with the reason, when build-asan/ has not been built (make asan).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, spawn } = require('node:child_process');
const { io } = require('socket.io-client');
const h = require('./helpers');

const ASAN_SERVER = path.resolve(h.ROOT, process.env.ASAN_BUILD || 'build-asan', 'wsio-server');
/* scripts/run-tests.sh runs this file again after building the ASan server. */
function skipAsan() {
  if (process.env.WSIO_NO_ASAN === '1') return 'WSIO_NO_ASAN=1: run-tests.sh runs it in its asan half';
  return fs.existsSync(ASAN_SERVER) ? false : `${ASAN_SERVER} not built (make asan)`;
}
const LSAN_ENV = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:halt_on_error=1' };

test('LeakSanitizer reports a leak on this machine (the check can fail)', { timeout: 60000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-lsan-'));
  try {
    const src = path.join(dir, 'leak.c');
    fs.writeFileSync(src, '#include <stdlib.h>\nvoid *keep;\nint main(void) { keep = malloc(64); keep = 0; return 0; }\n');
    const cc = spawnSync('cc', ['-g', '-O0', '-fsanitize=address', '-o', path.join(dir, 'leak'), src], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `cc -fsanitize=address: ${cc.stderr}`);
    const run = spawnSync(path.join(dir, 'leak'), [], { encoding: 'utf8', env: LSAN_ENV });
    assert.match(run.stderr, /LeakSanitizer: detected memory leaks/, `stderr: ${run.stderr.slice(0, 500)}`);
    assert.notEqual(run.status, 0, 'a leak makes the exit status non-zero (23 with clang, 1 with gcc\'s libasan)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('make test runs the ASan suites with detect_leaks=1 and they require exit 0', () => {
  const script = fs.readFileSync(path.join(h.ROOT, 'scripts', 'run-tests.sh'), 'utf8');
  const opt = script.indexOf('export ASAN_OPTIONS=detect_leaks=1');
  const asanRun = script.indexOf('run_set asan');
  assert.ok(opt > 0 && asanRun > opt, 'ASAN_OPTIONS=detect_leaks=1 is exported before run_set asan');
  const setBody = script.slice(script.indexOf('run_set() {'), script.indexOf('\n}\n', script.indexOf('run_set() {')));
  assert.match(setBody, /interop-node/);
  assert.match(setBody, /socket\.io/);
  assert.match(fs.readFileSync(path.join(h.ROOT, 'tests', 'sio', 'servers.js'), 'utf8'), /did not exit 0 on SIGTERM/);
  assert.match(fs.readFileSync(path.join(h.ROOT, 'tests', 'interop', 'server.js'), 'utf8'), /did not exit 0 on SIGTERM/);
});

test('the ASan wsio-server: a session through every layer, then SIGTERM: exit 0, no leak reported',
  { timeout: 60000, skip: skipAsan() }, async () => {
    const proc = spawn(ASAN_SERVER, ['--host', '127.0.0.1', '--port', '0', '--app', 'test'], { env: LSAN_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    try {
      const port = Number((await h.until(() => /listening on [^\s]+:(\d+)/.exec(err), 15000, 'the ASan server'))[1]);
      // Raw WebSocket: echo, broadcast, a protocol error, a half-sent frame.
      const e = await h.wsOpen(port, '/echo');
      e.send('x'.repeat(70000));
      await h.until(() => e.messages.length === 1, 5000, 'echo');
      const b1 = await h.wsOpen(port, '/broadcast');
      const b2 = await h.wsOpen(port, '/broadcast');
      b1.send('to all');
      await h.until(() => b2.messages.length === 1, 5000, 'broadcast');
      const bad = await h.rawWsOpen(port, '/echo');
      bad.sock.write(Buffer.from([0x81, 0x05, 1, 2])); // unmasked and cut short
      bad.sock.resume();
      const cut = await h.rawWsOpen(port, '/echo');
      cut.sock.write(h.clientFrame(1, 'half').subarray(0, 5));
      // Socket.IO over both transports, rooms, acks; one polling client upgrades.
      const a = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnectionDelay: 100 });
      const p = io(`http://127.0.0.1:${port}`, { transports: ['polling'] });
      const u = io(`http://127.0.0.1:${port}`, { transports: ['polling', 'websocket'] });
      await h.until(() => a.connected && p.connected && u.connected, 10000, 'Socket.IO clients');
      await a.timeout(5000).emitWithAck('join', 'room');
      await p.timeout(5000).emitWithAck('join', ['room', 'other']);
      const got = [];
      a.on('ev', (v) => got.push(v));
      await p.timeout(5000).emitWithAck('in-room', 'room', 'ev', { bin: Buffer.from([1, 2, 3]) });
      await h.until(() => got.length === 1, 5000, 'the room event');
      await a.timeout(5000).emitWithAck('ask', 2000, 'q?').catch(() => {}); // server -> client ack, unanswered: times out
      // A dropped and recovered session, with an event missed meanwhile.
      a.io.engine.close();
      await p.timeout(5000).emitWithAck('in-room', 'room', 'ev', 'missed');
      await h.until(() => a.connected && got.length === 2, 10000, 'recovery');
      assert.equal(a.recovered, true);
      // Malformed Socket.IO input over polling.
      await h.rawExchange(port, 'POST /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
      // Leave some things open at SIGTERM: the drain must free them too.
      p.close();
      proc.kill('SIGTERM');
      const res = await h.withTimeout(exited, 20000, 'the ASan server to exit');
      for (const c of [a, u]) c.close();
      for (const c of [e, b1, b2]) c.terminate();
      bad.sock.destroy();
      cut.sock.destroy();
      assert.doesNotMatch(err, /LeakSanitizer|AddressSanitizer|runtime error/, err.slice(-3000));
      assert.equal(res.code, 0, `exit (stderr: ${err.slice(-2000)})`);
    } finally {
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
    }
  });
