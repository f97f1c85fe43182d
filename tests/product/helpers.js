'use strict';
// Helpers for the product tests (wsio-server as a whole: /metrics, options, logs,
// signals). Each test starts its own server on 127.0.0.1 with --port 0 and finds the
// port in the 'listening on' log line. Every wait has a deadline, so a broken server
// fails a test instead of hanging it. Servers started here are killed (SIGKILL, by
// PID) when the test file ends, whatever happened.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { after } = require('node:test');

const ROOT = path.resolve(__dirname, '..', '..');
const SERVER = process.env.WSIO_SERVER ? path.resolve(process.env.WSIO_SERVER) : path.join(ROOT, 'build', 'wsio-server');

// Bounded waits, as the Socket.IO tests have them.
const { sleep, withTimeout, until } = require('../sio/helpers');

// ---------------------------------------------------------------------------------------
// the server process

const running = new Set();
after(() => {
  for (const p of running) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/*
 * Runs wsio-server with `args` (no --host/--port added when `raw`), returns
 * {proc, port, stderr(), stdout(), exited (promise of {code, signal, at}), signal(sig),
 * waitExit(ms), stop()}. Resolves once 'listening on' was logged (to stderr, or to
 * `logFile` when given) and GET /healthz was answered (unless `ready: false`); with
 * `expectListen: false` resolves at once.
 */
async function startServer(args = [], { env = {}, raw = false, logFile = null, expectListen = true, ready = true, cwd = ROOT } = {}) {
  const argv = raw ? args : ['--host', '127.0.0.1', '--port', '0', ...args];
  const fullEnv = { ...process.env };
  for (const k of Object.keys(fullEnv)) if (k.startsWith('WSIO_') && k !== 'WSIO_SERVER') delete fullEnv[k];
  Object.assign(fullEnv, env);
  const logStart = logFile ? readIfExists(logFile).length : 0; // a reused file: only what this run adds
  const proc = spawn(SERVER, argv, { env: fullEnv, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let err = '';
  let out = '';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { running.delete(proc); resolve({ code, signal, at: Date.now() }); });
    proc.on('error', (e) => { running.delete(proc); resolve({ code: null, signal: null, error: e, at: Date.now() }); });
  });
  const srv = {
    proc,
    port: null,
    exited,
    stderr: () => err,
    stdout: () => out,
    logText: () => (logFile ? readIfExists(logFile) : err),
    signal: (sig) => { try { proc.kill(sig); } catch { /* gone */ } },
    waitExit: (ms = 5000) => withTimeout(exited, ms, `wsio-server to exit (stderr: ${err.slice(-500)})`),
    async stop(ms = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      srv.signal('SIGTERM');
      try { return await srv.waitExit(ms); } catch (e) { srv.signal('SIGKILL'); throw e; }
    },
  };
  if (!expectListen) return srv;
  const m = await withTimeout(Promise.race([
    until(() => /listening on [^\s]+:(\d+)/.exec(srv.logText().slice(logStart)), 5000, 'the listening line', 10),
    exited.then((x) => { throw new Error(`wsio-server exited (${x.code}) before listening: ${err}`); }),
  ]), 6000, `wsio-server ${argv.join(' ')} to listen`);
  srv.port = Number(m[1]);
  // 'listening on' is logged before the event loop (and its signal handling) runs; a
  // request answered proves the loop runs, so signals sent from now on are handled.
  if (ready) await until(async () => { try { return (await httpGet(srv.port, '/healthz')).status === 200; } catch { return false; } }, 5000, 'GET /healthz', 10);
  return srv;
}

function readIfExists(file) {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

/* Runs wsio-server to completion (for options that must fail or exit at once). */
async function runServer(args, { env = {}, ms = 3000 } = {}) {
  const srv = await startServer(args, { env, raw: true, expectListen: false });
  const t0 = Date.now();
  let res;
  try {
    res = await srv.waitExit(ms);
  } catch (e) {
    srv.signal('SIGKILL');
    throw e;
  }
  return { code: res.code, signal: res.signal, stdout: srv.stdout(), stderr: srv.stderr(), ms: res.at - t0 };
}

/* A TCP port free right now (for servers whose log does not say which port they got). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// ---------------------------------------------------------------------------------------
// raw HTTP (byte-exact, so the tests can account for wsio_received_bytes_total)

/* The exact request rawGet sends for `p`. */
function getRequest(p) {
  return `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
}

/* Sends `raw`, a WebSocket handshake request, on a fresh connection; resolves to the
 * answer's head (and body, for a refusal) and closes the connection at once, so no
 * WebSocket stays open. */
function handshakeAnswer(port, raw) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = () => { sock.destroy(); resolve(buf); };
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      buf += d;
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      if (/^HTTP\/1\.1 101 /.test(buf)) return done();
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, he));
      if (cl && buf.length >= he + 4 + Number(cl[1])) done();
    });
    sock.on('end', done);
    sock.on('error', (e) => (buf ? done() : reject(e)));
    sock.write(raw);
  }), 3000, 'a WebSocket handshake answer');
}

/* Sends `raw` on a fresh connection; resolves to the raw answer once the server closed
 * the connection, or a complete Content-Length response arrived (then closes it). */
function rawExchange(port, raw, ms = 3000) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = () => { if (!done) { done = true; sock.destroy(); resolve(buf.toString('latin1')); } };
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      const s = buf.toString('latin1');
      const he = s.indexOf('\r\n\r\n');
      if (he < 0) return;
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(s.slice(0, he));
      if (cl && buf.length >= Buffer.byteLength(s.slice(0, he + 4), 'latin1') + Number(cl[1])) finish();
    });
    sock.on('error', (e) => { if (!done) { done = true; if (buf.length) resolve(buf.toString('latin1')); else reject(e); } });
    sock.on('close', finish);
    sock.write(raw);
  }), ms, `raw exchange on port ${port}`);
}

/* GET p: resolves to {status, headers (lower-case names), body}. */
async function httpGet(port, p) {
  const text = await rawExchange(port, getRequest(p));
  const he = text.indexOf('\r\n\r\n');
  if (he < 0) throw new Error(`no complete response head for GET ${p}: ${JSON.stringify(text.slice(0, 200))}`);
  const lines = text.slice(0, he).split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = Buffer.from(text.slice(he + 4), 'latin1').toString('utf8');
  return { status, headers, body };
}

// ---------------------------------------------------------------------------------------
// Prometheus text format (0.0.4)

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/* Parses a label set body `a="x",b="y"` (escapes \\ \" \n). */
function parseLabels(s, line) {
  const labels = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = s.slice(i, eq).trim();
    if (!LABEL_RE.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (s[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let j = eq + 2;
    let v = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        j++;
        v += s[j] === 'n' ? '\n' : s[j];
      } else {
        v += s[j];
      }
    }
    if (j >= s.length) throw new Error(`unterminated label value in: ${line}`);
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    labels[name] = v;
    i = j + 1;
    while (i < s.length && s[i] === ' ') i++;
    if (i < s.length) {
      if (s[i] !== ',') throw new Error(`expected ',' between labels in: ${line}`);
      i++;
    }
  }
  return labels;
}

function parseValue(v, line) {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad sample value in: ${line}`);
  return Number(v);
}

/*
 * Parses an exposition into {families: Map name -> {type, help, samples: [{name, labels, value}]}}
 * and checks the format: HELP/TYPE before the family's samples, one TYPE per family,
 * every sample belongs to a family with a TYPE (histogram/summary samples by their
 * _bucket/_sum/_count suffixes), no duplicate series, the text ends with a newline.
 */
function parseProm(text) {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const families = new Map();
  const seen = new Set();
  const fam = (name) => {
    if (!families.has(name)) families.set(name, { name, type: null, help: null, samples: [] });
    return families.get(name);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME_RE.test(name)) throw new Error(`bad metric name in: ${line}`);
      const f = fam(name);
      if (kind === 'TYPE') {
        if (f.type) throw new Error(`second TYPE for ${name}`);
        if (f.samples.length) throw new Error(`TYPE after samples for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type in: ${line}`);
        f.type = rest;
      } else {
        if (f.help !== null) throw new Error(`second HELP for ${name}`);
        f.help = rest;
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, name, , lab, val] = m;
    const labels = lab !== undefined ? parseLabels(lab, line) : {};
    const value = parseValue(val, line);
    let owner = families.get(name);
    if (!owner || !owner.type) {
      const base = /^(.*)_(bucket|sum|count)$/.exec(name);
      const f = base && families.get(base[1]);
      if (f && (f.type === 'histogram' || f.type === 'summary')) owner = f;
    }
    if (!owner || !owner.type) throw new Error(`sample without a TYPE: ${line}`);
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',')}}`;
    if (seen.has(key)) throw new Error(`duplicate series ${key}`);
    seen.add(key);
    owner.samples.push({ name, labels, value });
  }
  return { families, text };
}

/* Checks the naming conventions and histogram consistency; throws on a violation. */
function checkConventions(parsed) {
  for (const f of parsed.families.values()) {
    if (!f.type) throw new Error(`${f.name}: HELP without TYPE`);
    if (!f.help) throw new Error(`${f.name}: no HELP text`);
    if (!f.name.startsWith('wsio_')) throw new Error(`${f.name}: no wsio_ prefix`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`${f.name}: a counter not ending in _total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) throw new Error(`${f.name}: a ${f.type} ending in _total`);
    for (const s of f.samples) {
      if (f.type === 'counter' || f.type === 'gauge') {
        if (s.name !== f.name) throw new Error(`${s.name}: sample name differs from its family ${f.name}`);
      }
      if (f.type === 'counter' && !(s.value >= 0)) throw new Error(`${s.name}: negative counter`);
    }
    if (f.type === 'histogram') checkHistogram(f);
  }
}

function checkHistogram(f) {
  if (!/_(seconds|bytes)$/.test(f.name)) throw new Error(`${f.name}: a histogram without a base unit suffix`);
  const byKey = new Map(); // label set without le -> {buckets, sum, count}
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(rest);
    if (!byKey.has(key)) byKey.set(key, { buckets: [], sum: null, count: null });
    const h = byKey.get(key);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}_bucket without le`);
      h.buckets.push({ le: parseValue(le, le), value: s.value, leText: le });
    } else if (s.name === `${f.name}_sum`) h.sum = s.value;
    else if (s.name === `${f.name}_count`) h.count = s.value;
    else throw new Error(`${s.name}: not a histogram sample of ${f.name}`);
  }
  for (const h of byKey.values()) {
    if (h.sum === null || h.count === null) throw new Error(`${f.name}: _sum or _count missing`);
    if (!h.buckets.length) throw new Error(`${f.name}: no buckets`);
    for (let i = 1; i < h.buckets.length; i++) {
      if (!(h.buckets[i].le > h.buckets[i - 1].le)) throw new Error(`${f.name}: bucket bounds not increasing`);
      if (h.buckets[i].value < h.buckets[i - 1].value) throw new Error(`${f.name}: buckets not cumulative`);
    }
    const last = h.buckets[h.buckets.length - 1];
    if (last.leText !== '+Inf') throw new Error(`${f.name}: the last bucket is not le="+Inf"`);
    if (last.value !== h.count) throw new Error(`${f.name}: +Inf bucket ${last.value} != _count ${h.count}`);
    if (h.count === 0 && h.sum !== 0) throw new Error(`${f.name}: a sum without observations`);
  }
}

/* One scrape: {status, contentType, parsed, get(name, labels) -> number|undefined, bytesSent}. */
async function scrape(port) {
  const res = await httpGet(port, '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const parsed = parseProm(res.body);
  const all = new Map();
  for (const f of parsed.families.values()) {
    for (const s of f.samples) {
      const key = `${s.name}{${Object.keys(s.labels).sort().map((k) => `${k}="${s.labels[k]}"`).join(',')}}`;
      all.set(key, s.value);
    }
  }
  return {
    status: res.status,
    contentType: res.headers['content-type'],
    parsed,
    series: all,
    /* get('wsio_closes_total', {code: '1000'}) */
    get(name, labels = {}) {
      const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',')}}`;
      return all.get(key);
    },
    requestBytes: Buffer.byteLength(getRequest('/metrics')),
  };
}

// ---------------------------------------------------------------------------------------
// raw WebSocket over net (for clients that misbehave on purpose)

/* A masked client frame (mask key 0 when `zeroMask`, so payload bytes stay as they are). */
function clientFrame(opcode, payload, { fin = true, zeroMask = false } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]);
  else if (len < 65536) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255]);
  else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const key = zeroMask ? Buffer.alloc(4) : crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}

/*
 * Opens a WebSocket on `p` with a raw TCP socket; resolves to {sock, head (response
 * head text), rest (bytes after the head)} once the 101 arrived. The socket then belongs
 * to the caller (nothing reads it unless the caller does).
 */
function rawWsOpen(port, p = '/echo', ms = 3000) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    const onData = (c) => {
      buf = Buffer.concat([buf, c]);
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      sock.removeListener('data', onData);
      sock.pause();
      const head = buf.subarray(0, he).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(head)) { sock.destroy(); reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`)); return; }
      resolve({ sock, head, rest: buf.subarray(he + 4) });
    };
    sock.on('data', onData);
    sock.on('error', reject);
    sock.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  }), ms, `raw WebSocket open on ${p}`);
}

/* Parses server frames from `buf` (unmasked); returns [{fin, opcode, payload}] and the rest. */
function parseServerFrames(buf) {
  const frames = [];
  let i = 0;
  for (;;) {
    if (buf.length - i < 2) break;
    const b0 = buf[i];
    const b1 = buf[i + 1];
    let len = b1 & 127;
    let off = i + 2;
    if (len === 126) { if (buf.length < off + 2) break; len = buf.readUInt16BE(off); off += 2; }
    else if (len === 127) { if (buf.length < off + 8) break; len = Number(buf.readBigUInt64BE(off)); off += 8; }
    if (buf.length < off + len) break;
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 15, payload: buf.subarray(off, off + len) });
    i = off + len;
  }
  return { frames, rest: buf.subarray(i) };
}

// ---------------------------------------------------------------------------------------
// npm ws clients

let WebSocket;
function ws() {
  if (!WebSocket) WebSocket = require('ws');
  return WebSocket;
}

/* Opens a ws client; resolves once open (rejects on error/timeout). `events` records
 * messages and the close {code, reason}. */
function wsOpen(port, p = '/echo', opts = {}) {
  const W = ws();
  const c = new W(`ws://127.0.0.1:${port}${p}`, opts);
  c.messages = [];
  c.closeInfo = null;
  c.closed = new Promise((resolve) => {
    c.on('close', (code, reason) => { c.closeInfo = { code, reason: reason.toString() }; resolve(c.closeInfo); });
  });
  c.on('message', (data, isBinary) => c.messages.push({ data, isBinary }));
  c.on('error', () => {});
  return withTimeout(new Promise((resolve, reject) => {
    c.once('open', () => resolve(c));
    c.once('error', reject);
    c.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  }), 3000, `ws open ${p}`);
}

module.exports = {
  ROOT, SERVER, sleep, withTimeout, until, startServer, runServer, freePort, readIfExists,
  getRequest, rawExchange, handshakeAnswer, httpGet, parseProm, checkConventions, scrape,
  clientFrame, rawWsOpen, parseServerFrames, wsOpen,
};
