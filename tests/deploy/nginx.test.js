'use strict';
// nginx in front of wsio-server, with the documented sample config docs/nginx/wsio.conf.
//
// Two wsio-server instances (the sample's upstream has two) on free loopback ports, then
// Debian's /usr/sbin/nginx as a non-daemon on another free loopback port, with that file
// included into a minimal nginx.conf. The file is used as written except for the lines
// the test must change: the listen address, the two upstream ports, and the proxy
// timeouts (75 s -> 3 s, still longer than the servers' ping interval + timeout of 1 + 1
// s, so an idle connection outlives the proxy timeout only because of the heartbeat).
// Each of those lines must be found exactly once, so the test breaks loudly if the doc
// is edited out of its shape.
//
// Checked through nginx: /healthz, /metrics, WebSocket echo (text + 70 KB binary and
// text), Socket.IO chat over websocket-only, polling-only and default (polling, then
// the upgrade to websocket) transports, sticky polling (every request of a session to
// one upstream, from nginx's access log), idle connections surviving proxy_read_timeout,
// and a graceful drain: SIGTERM to the instance serving a client, which reconnects
// through nginx to the other one. Also: docs/wsio.service with `systemd-analyze verify`
// (when systemd-analyze exists) and its WSIO_* defaults accepted by wsio-server.
//
// Installs nothing: nginx comes from scripts/install-deps.sh (Debian package `nginx`).
// Env: WSIO_SERVER (default build/wsio-server), NGINX (default /usr/sbin/nginx).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const { io } = require('socket.io-client');
const { runCat } = require('../client/helpers.js');
const { withTimeout, sleep } = require('../sio/helpers');
// A loopback port that was free a moment ago (nginx start retries if it was taken).
const { freePort } = require('../cluster/redis');
const { swapper, mainConfig } = require('./helpers');

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER = process.env.WSIO_SERVER || path.join(ROOT, 'build', 'wsio-server');
const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const SAMPLE = path.join(ROOT, 'docs', 'nginx', 'wsio.conf');
const UNIT = path.join(ROOT, 'docs', 'wsio.service');
const PING_INTERVAL = 1; // seconds, wsio-server --ping-interval
const PING_TIMEOUT = 1; // seconds, wsio-server --ping-timeout
const PROXY_TIMEOUT = 3; // seconds, replaces the sample's proxy_read/send_timeout
const DRAIN = 2; // seconds, wsio-server --drain-timeout

// ---------------------------------------------------------------------------------------
// helpers: bounded waits, processes

const children = new Set(); // every process started here, killed by PID at the end
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) try { process.kill(c.pid, 'SIGKILL'); } catch {}
});

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/* Sends `sig`, waits up to ms for the exit, then SIGKILL. Resolves to {code, signal}. */
async function stop(child, sig, ms) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child && { code: child.exitCode, signal: child.signalCode };
  try { process.kill(child.pid, sig); } catch {}
  try {
    return await withTimeout(exited(child), ms, `pid ${child.pid} to exit after ${sig}`);
  } catch {
    try { process.kill(child.pid, 'SIGKILL'); } catch {}
    return withTimeout(exited(child), 3000, `pid ${child.pid} to exit after SIGKILL`).catch(() => ({}));
  }
}

/* Starts wsio-server on a free loopback port; resolves to {child, port, log()}. */
function startWsio(extra = []) {
  const args = ['--host', '127.0.0.1', '--port', '0', '--ping-interval', String(PING_INTERVAL),
    '--ping-timeout', String(PING_TIMEOUT), '--drain-timeout', String(DRAIN), ...extra];
  const child = spawn(SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr.setEncoding('utf8');
  return withTimeout(new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on \S+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), log: () => err });
    });
    child.once('error', reject);
    child.once('exit', (code, sig) => reject(new Error(`wsio-server exited (${code ?? sig}) before listening:\n${err}`)));
  }), 5000, `"listening on" from ${SERVER}`);
}

/* GET through node:http on a fresh connection: {status, headers, text}. */
function get(port, p, ms = 5000) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), ms, `GET ${p}`);
}

// ---------------------------------------------------------------------------------------
// the config: docs/nginx/wsio.conf with the addresses and timeouts swapped

const swapOnce = swapper(SAMPLE, __filename);

function siteConfig(listenPort, up1, up2) {
  let c = fs.readFileSync(SAMPLE, 'utf8');
  c = swapOnce(c, /^(\s*)listen 80;$/, `$1listen 127.0.0.1:${listenPort};`, 'IPv4 listen line');
  c = swapOnce(c, /^\s*listen \[::\]:80;\n/, '', 'IPv6 listen line');
  c = swapOnce(c, /(^\s*server )127\.0\.0\.1:3000( |;)/, `$1127.0.0.1:${up1}$2`, 'upstream server 127.0.0.1:3000');
  c = swapOnce(c, /(^\s*server )127\.0\.0\.1:3001( |;)/, `$1127.0.0.1:${up2}$2`, 'upstream server 127.0.0.1:3001');
  c = swapOnce(c, /(^\s*proxy_read_timeout )\d+s;/, `$1${PROXY_TIMEOUT}s;`, 'proxy_read_timeout');
  c = swapOnce(c, /(^\s*proxy_send_timeout )\d+s;/, `$1${PROXY_TIMEOUT}s;`, 'proxy_send_timeout');
  return c;
}

// ---------------------------------------------------------------------------------------
// setup / teardown

const sockets = new Set(); // socket.io-client sockets, closed by after()
let tmp; // prefix dir
let ngx; // nginx master process
let port; // nginx's port
const wsio = []; // the two instances
let nginxErr = '';

function nginxLogs() {
  let s = nginxErr;
  for (const f of ['error.log']) {
    try { s += `\n--- ${f}\n` + fs.readFileSync(path.join(tmp, f), 'utf8').slice(-4000); } catch {}
  }
  return s;
}

async function startNginx() {
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    fs.writeFileSync(path.join(tmp, 'wsio.conf'), siteConfig(port, wsio[0].port, wsio[1].port));
    const t = spawnSync(NGINX, ['-t', '-q', '-p', tmp, '-e', path.join(tmp, 'error.log'), '-c', path.join(tmp, 'nginx.conf')],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(t.status, 0, `nginx -t rejected the config built from the sample:\n${t.stderr}`);
    nginxErr = '';
    ngx = spawn(NGINX, ['-p', tmp, '-e', path.join(tmp, 'error.log'), '-c', path.join(tmp, 'nginx.conf'),
      '-g', 'daemon off; master_process on;'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(ngx);
    ngx.stderr.setEncoding('utf8');
    ngx.stderr.on('data', (d) => { nginxErr += d; });
    const deadline = Date.now() + 5000;
    for (;;) {
      if (ngx.exitCode !== null || ngx.signalCode !== null) break;
      const r = await get(port, '/healthz', 1000).catch(() => null);
      if (r && r.status === 200) return;
      if (Date.now() > deadline) throw new Error(`nginx did not answer /healthz within 5 s:\n${nginxLogs()}`);
      await sleep(50);
    }
    if (attempt < 3 && /Address already in use/.test(nginxLogs())) continue; // port taken since freePort()
    throw new Error(`nginx exited (${ngx.exitCode ?? ngx.signalCode}) at start:\n${nginxLogs()}`);
  }
}

before(async () => {
  if (!fs.existsSync(NGINX)) {
    throw new Error(`${NGINX} is missing: this test runs Debian's nginx in front of wsio-server. ` +
      'Install it with `apt-get install -y nginx` (scripts/install-deps.sh does), or set NGINX=/path/to/nginx.');
  }
  if (!fs.existsSync(SERVER)) throw new Error(`${SERVER} is missing: run \`make build\` (or set WSIO_SERVER)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-nginx-'));
  fs.chmodSync(tmp, 0o755);
  fs.mkdirSync(path.join(tmp, 'tmp'));
  fs.writeFileSync(path.join(tmp, 'nginx.conf'), mainConfig(tmp, 'wsio.conf',
    "'$request_method $request_uri $status upstream=$upstream_addr'"));
  wsio.push(await startWsio(), await startWsio());
  await startNginx();
});

after(async () => {
  for (const s of sockets) s.close(); // no reconnect attempts while things stop
  await stop(ngx, 'SIGQUIT', 5000); // graceful: workers finish, then the master exits
  await Promise.all(wsio.map((w) => stop(w.child, 'SIGTERM', (DRAIN + 3) * 1000)));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Socket.IO helpers

const url = () => `http://127.0.0.1:${port}`;

function connect(opts) {
  const s = io(url(), { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  sockets.add(s);
  return s;
}

function once(emitter, ev, ms, what) {
  return withTimeout(new Promise((r) => emitter.once(ev, (...a) => r(a))), ms, what || ev);
}

async function connected(s, what) {
  if (s.connected) return;
  const err = once(s, 'connect_error', 6000).then(([e]) => { throw new Error(`${what}: connect_error ${e && e.message}`); });
  await Promise.race([once(s, 'connect', 6000, `${what}: connect through nginx`), err]);
}

/* The chat app: join(room), then message({room, message}) comes back to the sender. */
async function chatRoundTrip(s, room, text) {
  const got = once(s, 'message', 5000, `chat message "${text}" back through nginx`);
  s.emit('join', room);
  s.emit('message', { room, message: text });
  const [m] = await got;
  assert.equal(m, text);
}

function accessLog() {
  try { return fs.readFileSync(path.join(tmp, 'access.log'), 'utf8'); } catch { return ''; }
}

// ---------------------------------------------------------------------------------------
// the checks

test('GET /healthz through nginx: 200 ok', async () => {
  const r = await get(port, '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.text.trim(), 'ok');
});

test('WebSocket /echo through nginx: text, 70 KB binary and 70 KB text come back unchanged', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { maxPayload: 1 << 20 });
  try {
    await withTimeout(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }), 5000, 'WebSocket open through nginx');
    const next = () => withTimeout(new Promise((r) => ws.once('message', (data, isBinary) => r({ data, isBinary }))), 5000, 'echo');
    let p = next();
    ws.send('hello through nginx');
    let m = await p;
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'hello through nginx');

    const bin = crypto.randomBytes(70 * 1024);
    p = next();
    ws.send(bin);
    m = await p;
    assert.equal(m.isBinary, true);
    assert.ok(Buffer.compare(m.data, bin) === 0, '70 KB binary message changed on the way');

    const txt = 'é'.repeat(35 * 1024); // 70 KB of UTF-8
    p = next();
    ws.send(txt);
    m = await p;
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), txt);

    const closed = withTimeout(new Promise((r) => ws.once('close', (code) => r(code))), 5000, 'close handshake through nginx');
    ws.close(1000);
    assert.equal(await closed, 1000);
  } finally {
    ws.terminate();
  }
});

test('Socket.IO websocket-only through nginx: connect, join, message back', async () => {
  const s = connect({ transports: ['websocket'] });
  await connected(s, 'websocket-only');
  assert.equal(s.io.engine.transport.name, 'websocket');
  await chatRoundTrip(s, 'room-ws', 'hi over websocket');
  s.close();
});

test('Socket.IO polling-only through nginx: connect, join, message back; the session sticks to one upstream', async () => {
  const s = connect({ transports: ['polling'] });
  await connected(s, 'polling-only');
  assert.equal(s.io.engine.transport.name, 'polling');
  const sid = s.io.engine.id;
  await chatRoundTrip(s, 'room-poll', 'hi over polling');
  await chatRoundTrip(s, 'room-poll', 'and again');
  s.close();
  await sleep(200); // nginx writes the access log line when a request completes
  const lines = accessLog().split('\n').filter((l) => l.includes(`sid=${sid}`));
  assert.ok(lines.length >= 3, `expected the session's polling requests in nginx's access log:\n${accessLog()}`);
  const ups = new Set(lines.map((l) => /upstream=(\S+)/.exec(l)[1]));
  assert.equal(ups.size, 1, `one polling session reached several upstreams (ip_hash not sticky?):\n${lines.join('\n')}`);
  for (const l of lines) assert.doesNotMatch(l, / (400|502|504) /, `a polling request failed through nginx: ${l}`);
});

test('Socket.IO default transports through nginx: polling, then the upgrade to websocket', async () => {
  const s = connect({});
  await connected(s, 'default transports');
  if (s.io.engine.transport.name !== 'websocket') {
    await once(s.io.engine, 'upgrade', 5000, 'the Engine.IO upgrade to websocket through nginx');
  }
  assert.equal(s.io.engine.transport.name, 'websocket');
  assert.equal(s.io.engine.upgrading, false);
  await chatRoundTrip(s, 'room-up', 'hi after the upgrade');
  s.close();
});

// The C Socket.IO client (wsio-cat --sio, src/client) through the same proxy: the
// polling handshake, long-polls and POSTs must stick to one upstream, and the upgrade
// must pass the Upgrade headers.
test('wsio-cat --sio through nginx: polling, websocket and the upgrade; join, then the message back', async () => {
  for (const t of [['-T', 'polling'], ['-T', 'websocket'], []]) {
    const run = runCat(['-n', '-v', '--sio', url(), ...t], { open: true, timeout: null });
    children.add(run.child);
    run.child.stdin.write('emit join "room-cat"\nemit message {"room":"room-cat","message":"hi from C"}\n');
    const t0 = Date.now();
    while (!run.out().includes('"hi from C"') && Date.now() - t0 < 10000) await sleep(20);
    run.child.stdin.end();
    const { code, signal, stdout: out, stderr: err } = await withTimeout(run.done, 10000, 'wsio-cat to exit at the end of its input');
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `${t.join(' ')}: ${err}`);
    assert.match(out, /^\["message","hi from C"/m, `${t.join(' ')}: ${err}`);
    if (!t.length) assert.match(err, /upgraded to websocket/);
  }
});

test(`idle connections outlive proxy_read_timeout ${PROXY_TIMEOUT}s through nginx (ping ${PING_INTERVAL}s + ${PING_TIMEOUT}s)`, async () => {
  const ws = connect({ transports: ['websocket'] });
  const poll = connect({ transports: ['polling'] });
  await Promise.all([connected(ws, 'idle websocket'), connected(poll, 'idle polling')]);
  const drops = [];
  const pings = { ws: 0, poll: 0 };
  ws.on('disconnect', (r) => drops.push(`websocket: ${r}`));
  poll.on('disconnect', (r) => drops.push(`polling: ${r}`));
  ws.io.engine.on('ping', () => pings.ws++);
  poll.io.engine.on('ping', () => pings.poll++);
  await sleep((PROXY_TIMEOUT + 1) * 1000); // idle: nothing sent by the application
  assert.deepEqual(drops, [], `disconnected while idle through nginx:\n${nginxLogs()}`);
  assert.ok(pings.ws >= 2 && pings.poll >= 2, `expected Engine.IO pings while idle, got ${JSON.stringify(pings)}`);
  await chatRoundTrip(ws, 'room-idle', 'still here (websocket)');
  await chatRoundTrip(poll, 'room-idle', 'still here (polling)');
  ws.close();
  poll.close();
});

test('GET /metrics through nginx: Prometheus text', async () => {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] || '', /^text\/plain/);
  assert.match(r.text, /^# TYPE wsio_connections gauge$/m);
  assert.match(r.text, /^wsio_build_info\{version="[^"]+"\} 1$/m);
  assert.match(r.text, /^wsio_http_requests_total \d+$/m);
});

test('docs/wsio.service: systemd-analyze verify, WSIO_* defaults accepted, TimeoutStopSec > drain timeout', async (t) => {
  const unit = fs.readFileSync(UNIT, 'utf8');
  const env = {};
  for (const m of unit.matchAll(/^Environment=(\w+)=(\S*)$/gm)) env[m[1]] = m[2];
  assert.ok(env.WSIO_DRAIN_TIMEOUT, 'docs/wsio.service sets no Environment=WSIO_DRAIN_TIMEOUT');
  const stopSec = Number((/^TimeoutStopSec=(\d+)s?$/m.exec(unit) || [])[1]);
  assert.ok(stopSec > Number(env.WSIO_DRAIN_TIMEOUT) + 5,
    `TimeoutStopSec=${stopSec} must exceed WSIO_DRAIN_TIMEOUT=${env.WSIO_DRAIN_TIMEOUT} by a margin`);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/wsio-server$/m);
  // The defaults are options wsio-server accepts (it validates the environment, then --help exits 0).
  const h = spawnSync(SERVER, ['--help'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 5000 });
  assert.equal(h.status, 0, `wsio-server rejected the unit's Environment= defaults:\n${h.stderr}`);

  const sa = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
  if (!sa) { t.skip('systemd-analyze not installed'); return; }
  // verify wants ExecStart's binary to exist: point it at the build's.
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-unit-'));
  try {
    fs.writeFileSync(path.join(d, 'wsio.service'), unit.replace(/^ExecStart=\/usr\/local\/bin\/wsio-server/m, `ExecStart=${path.resolve(SERVER)}`));
    const v = spawnSync(sa, ['verify', path.join(d, 'wsio.service')], { encoding: 'utf8', timeout: 20000, cwd: d });
    const out = `${v.stdout}${v.stderr}`.split('\n').filter((l) => l.includes('wsio.service')).join('\n');
    assert.equal(v.status, 0, `systemd-analyze verify docs/wsio.service failed:\n${v.stdout}${v.stderr}`);
    assert.equal(out, '', `systemd-analyze verify complained:\n${out}`);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

// Last: it stops one instance.
test('SIGTERM drains the serving instance (1001); the client reconnects through nginx to the other', async () => {
  const s = io(url(), { forceNew: true, transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 500, timeout: 5000 });
  sockets.add(s);
  await connected(s, 'drain client');
  // Which instance holds it: ask each directly.
  const counts = await Promise.all(wsio.map(async (w) => {
    const r = await get(w.port, '/metrics');
    return Number((/^wsio_connections\{transport="websocket"\} (\d+)$/m.exec(r.text) || [])[1]);
  }));
  const i = counts.findIndex((n) => n >= 1);
  assert.ok(i >= 0, `no instance reports the connection: ${counts}`);
  const reasons = [];
  s.on('disconnect', (why) => reasons.push(why));
  const disc = once(s, 'disconnect', (DRAIN + 3) * 1000, 'disconnect on the drain');
  const t0 = Date.now();
  const st = await stop(wsio[i].child, 'SIGTERM', (DRAIN + 3) * 1000);
  const took = Date.now() - t0;
  assert.deepEqual(st, { code: 0, signal: null }, `wsio-server did not exit 0 on SIGTERM:\n${wsio[i].log()}`);
  // Every client answers the 1001 at once, so the drain must not run into --drain-timeout.
  // It does when nginx hands the reconnect to the draining instance over a pooled upstream
  // keepalive connection (see the upstream block of the sample).
  assert.ok(took < (DRAIN * 1000) / 2, `drain took ${took} ms of --drain-timeout ${DRAIN}s:\n${wsio[i].log()}`);
  const [reason] = await disc;
  assert.equal(reason, 'transport close');
  if (!s.connected) await once(s, 'connect', 5000, 'reconnect through nginx to the other instance');
  await chatRoundTrip(s, 'room-drain', 'hi from the other instance');
  const r = await get(wsio[1 - i].port, '/metrics');
  assert.match(r.text, /^wsio_connections\{transport="websocket"\} 1$/m);
  assert.deepEqual(reasons, ['transport close'], 'the client should be disconnected once, by the drain');
  s.close();
});
