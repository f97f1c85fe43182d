'use strict';
// Client-side helpers for the Socket.IO tests: bounded waits, raw HTTP, raw Engine.IO over
// long-polling and WebSocket (npm `ws`), and socket.io-client sockets with an event log.
// Every wait here has a deadline, so a broken server fails a test instead of hanging it.

const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const { io } = require('socket.io-client');

const RS = '\x1e'; // Engine.IO v4 polling payload separator

/* Rejects with `what` in the message if `promise` has not settled within `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Polls `fn` (sync or async) every `every` ms until it returns truthy; returns that value. */
async function until(fn, ms, what, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------
// raw HTTP

/*
 * One HTTP request on its own connection (body sent with a Content-Length). Resolves to
 * {status, headers, body (Buffer), text}; rejects on a connection error or after `timeout` ms.
 */
function request(port, { method = 'GET', path = '/', headers = {}, body = null, timeout = 5000 } = {}) {
  if (body !== null) {
    // Like browsers and socket.io-client: a Content-Length, never a chunked body.
    body = Buffer.from(body);
    headers = { 'Content-Length': String(body.length), ...headers };
  }
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  }), timeout, `${method} ${path}`);
}

/*
 * Sends `raw` bytes on a fresh TCP connection and resolves to everything the server
 * wrote until it closed the connection (or `ms` passed: then resolves with what came).
 */
function rawExchange(port, raw, ms = 3000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); }, ms);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => { clearTimeout(timer); if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1')); else reject(e); });
    sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
    sock.write(raw);
  });
}

// ---------------------------------------------------------------------------------------
// Engine.IO v4 packets

/* The query string of an Engine.IO request. */
function eioPath(base, params) {
  const q = new URLSearchParams(params).toString();
  return `${base}?${q}`;
}

/* Splits a v4 polling payload into packets: {type:'4', data:'...'} or {binary: Buffer}. */
function decodePayload(text) {
  if (text === '') return [];
  return text.split(RS).map((p) => {
    if (p[0] === 'b') return { binary: Buffer.from(p.slice(1), 'base64') };
    return { type: p[0], data: p.slice(1) };
  });
}

function encodePayload(packets) {
  return packets.map((p) => (Buffer.isBuffer(p) ? `b${p.toString('base64')}` : p)).join(RS);
}

/* Parses the open packet `0{...}`; throws if it is not one. */
function parseOpen(text) {
  if (typeof text !== 'string' || text[0] !== '0') throw new Error(`expected an open packet, got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(1));
}

/*
 * A long-polling Engine.IO session driven by hand. `open()` does the handshake; `get()`
 * long-polls once and returns the decoded packets; `post()` sends a payload.
 */
class Polling {
  constructor(port, base = '/socket.io/', extra = {}) {
    this.port = port;
    this.base = base;
    this.extra = extra;
    this.sid = null;
    this.handshake = null;
  }

  path(params = {}) {
    return eioPath(this.base, { EIO: '4', transport: 'polling', ...this.extra, ...(this.sid ? { sid: this.sid } : {}), ...params });
  }

  async open(headers = {}) {
    const res = await request(this.port, { path: this.path(), headers });
    if (res.status !== 200) throw new Error(`polling handshake: HTTP ${res.status} ${res.text}`);
    const packets = decodePayload(res.text);
    this.handshake = parseOpen(`${packets[0].type}${packets[0].data}`);
    this.sid = this.handshake.sid;
    this.openResponse = res;
    this.initialPackets = packets.slice(1);
    return this.handshake;
  }

  /* One GET; resolves to the full response plus `packets`. */
  async getRaw(timeout = 5000, headers = {}) {
    const res = await request(this.port, { path: this.path({ t: String(Date.now()) }), headers, timeout });
    res.packets = res.status === 200 ? decodePayload(res.text) : [];
    return res;
  }

  /* One GET that must succeed; resolves to its packets. */
  async get(timeout = 5000) {
    const res = await this.getRaw(timeout);
    if (res.status !== 200) throw new Error(`polling GET: HTTP ${res.status} ${res.text}`);
    return res.packets;
  }

  async post(body, headers = {}, timeout = 5000) {
    return request(this.port, {
      method: 'POST',
      path: this.path(),
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers },
      body,
      timeout,
    });
  }

  /*
   * GETs until `want` packets (pings answered with a pong POST and not counted) have come;
   * resolves to them.
   */
  async collect(want, ms = 5000, { answerPings = true } = {}) {
    const got = [];
    const deadline = Date.now() + ms;
    while (got.length < want) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`polling: only ${got.length} of ${want} packets in ${ms} ms: ${JSON.stringify(got)}`);
      const packets = await this.get(left);
      for (const p of packets) {
        if (answerPings && p.type === '2') await this.post('3');
        else if (p.type === '6') { /* noop */ } else got.push(p);
      }
    }
    return got;
  }

  /*
   * Resolves once the session is gone: a GET answered 400 (a close packet `1` or noops on
   * the way are fine). Rejects after `ms`.
   */
  async waitGone(ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`polling session ${this.sid} still open after ${ms} ms`);
      let res;
      try {
        res = await this.getRaw(left);
      } catch (err) {
        throw new Error(`polling session ${this.sid}: GET failed while waiting for the session to close: ${err.message}`);
      }
      if (res.status === 400) return res;
      if (res.status !== 200) throw new Error(`polling GET: unexpected HTTP ${res.status} ${res.text}`);
      for (const p of res.packets) {
        // Pings are answered, so that only the server's own reason can close the session.
        if (p.type === '2') await this.post('3').catch(() => {});
        else if (p.type !== '1' && p.type !== '6') {
          throw new Error(`session still delivering packets: ${JSON.stringify(res.text)}`);
        }
      }
    }
  }
}

/*
 * A raw WebSocket (npm ws) with a message queue. Messages are {text} or {binary: Buffer}.
 * With autoPong, Engine.IO pings (`2`) are answered with `3` and not queued.
 */
class RawWs {
  constructor(url, { autoPong = false, headers = {} } = {}) {
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false });
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.errors = [];
    this.pings = 0;
    this.closeInfo = null;
    this.ws.on('error', (err) => this.errors.push(err));
    this.ws.on('message', (data, isBinary) => {
      const msg = isBinary ? { binary: Buffer.from(data) } : { text: data.toString('utf8') };
      if (!isBinary && msg.text === '2') {
        this.pings++;
        if (this.autoPong) { this.send('3'); return; }
      }
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queue.push(msg);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w(null);
        resolve(this.closeInfo);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const err = new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`);
          err.status = res.statusCode;
          err.body = Buffer.concat(chunks).toString('utf8');
          err.headers = res.headers;
          reject(err);
        });
        res.on('error', () => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
      });
      this.ws.once('error', reject);
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
  }

  static async connect(port, base, params = {}, opts = {}) {
    const url = `ws://127.0.0.1:${port}${eioPath(base, { EIO: '4', transport: 'websocket', ...params })}`;
    const c = new RawWs(url, opts);
    await withTimeout(c.opened, 5000, `WebSocket open ${url}`);
    return c;
  }

  /* Opens a WebSocket-only Engine.IO session; resolves to [client, handshake]. */
  static async open(port, base = '/socket.io/', opts = {}) {
    const c = await RawWs.connect(port, base, {}, opts);
    const first = await c.next();
    c.handshake = parseOpen(first.text);
    return c;
  }

  send(data) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data);
  }

  async next(ms = 5000) {
    if (this.queue.length) return this.queue.shift();
    const closedError = () => new Error(`WebSocket closed (code ${this.closeInfo.code}) while waiting for a message`);
    if (this.closeInfo) throw closedError();
    const msg = await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, 'next WebSocket message');
    if (msg === null) throw closedError();
    return msg;
  }

  async nextText(ms = 5000) {
    const m = await this.next(ms);
    if (m.text === undefined) throw new Error(`expected a text message, got binary ${m.binary.toString('hex')}`);
    return m.text;
  }

  /* Resolves with the close info once the connection is closed; rejects after `ms`. */
  waitClosed(ms = 3000) {
    return withTimeout(this.closed, ms, 'WebSocket close by the server');
  }

  /* True when nothing arrived and the connection stayed open for `ms`. */
  async quiet(ms) {
    await sleep(ms);
    return this.queue.length === 0 && this.closeInfo === null;
  }

  terminate() {
    this.ws.terminate();
  }
}

// ---------------------------------------------------------------------------------------
// socket.io-client

const TRANSPORTS = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  default: {}, // polling first, then the upgrade to websocket
};

/*
 * A socket.io-client socket on its own Manager (forceNew), no automatic reconnection
 * unless asked; `log` records every event as [name, ...args] (and, with markConnect,
 * 'connect' markers so tests can see the order).
 */
function client(url, transport, { nsp = '/', ...opts } = {}) {
  if (!(transport in TRANSPORTS)) throw new Error(`unknown transport ${transport}`);
  const socket = io(`${url}${nsp}`, {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    ...TRANSPORTS[transport],
    ...opts,
  });
  socket.log = [];
  socket.disconnects = [];
  socket.onAny((ev, ...args) => socket.log.push([ev, ...args]));
  socket.on('disconnect', (reason, desc) => socket.disconnects.push(desc && desc.description
    ? `${reason} (${desc.description.message || desc.description})` : reason));
  return socket;
}

/* For timeout messages: is the socket connected, and why did it disconnect before. */
function state(socket) {
  const why = socket.disconnects && socket.disconnects.length ? `, disconnected: ${socket.disconnects.join('; ')}` : '';
  return `${socket.nsp} ${socket.connected ? 'connected' : 'not connected'}${why}`;
}

/* Waits for `connect` (resolves the socket) or `connect_error` (rejects with it). */
function connected(socket, ms = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  return withTimeout(new Promise((resolve, reject) => {
    const ok = () => { socket.off('connect_error', bad); resolve(socket); };
    const bad = (err) => { socket.off('connect', ok); reject(err); };
    socket.once('connect', ok);
    socket.once('connect_error', bad);
  }), ms, `socket.io connect to ${socket.nsp}`);
}

async function connect(url, transport, opts = {}) {
  const s = client(url, transport, opts);
  try {
    return await connected(s);
  } catch (err) {
    s.disconnect();
    throw err;
  }
}

/* Resolves to the connect_error the server answers (fails if it connects instead). */
async function connectError(url, transport, opts = {}, ms = 5000) {
  const s = client(url, transport, opts);
  try {
    return await withTimeout(new Promise((resolve, reject) => {
      s.once('connect', () => reject(new Error(`${opts.nsp || '/'}: connected, expected a connect_error`)));
      s.once('connect_error', resolve);
    }), ms, 'connect_error');
  } finally {
    s.disconnect();
  }
}

/* Resolves to the arguments of the next `ev` on `socket`. */
function once(socket, ev, ms = 5000) {
  return withTimeout(new Promise((resolve) => socket.once(ev, (...args) => resolve(args))), ms, `event "${ev}"`);
}

/* Resolves to the `ev` entries of socket.log ([ev, ...args]) once there are `n`. */
function logged(socket, ev, n, ms = 5000) {
  const pick = () => socket.log.filter((e) => e[0] === ev);
  return until(() => (pick().length >= n ? pick() : null), ms,
    `${n} "${ev}" events (have ${pick().length}; ${state(socket)}; log ${JSON.stringify(socket.log).slice(0, 500)})`, 5);
}

/* emit with an ack; resolves to the ack's arguments (all of them). */
function ack(socket, ev, ...args) {
  let what = `ack for "${ev}"`;
  const p = new Promise((resolve) => socket.emit(ev, ...args, (...res) => resolve(res)));
  return withTimeout(p, 5000, what).catch((err) => {
    what = `${err.message} (${state(socket)})`;
    throw new Error(what);
  });
}

/* emit with an ack; resolves to the ack's first argument. */
async function call(socket, ev, ...args) {
  return (await ack(socket, ev, ...args))[0];
}

/* Resolves once the socket's engine runs on websocket (after the upgrade). */
function upgraded(socket, ms = 5000) {
  return until(() => socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.name === 'websocket',
    ms, 'transport upgrade to websocket');
}

function closeAll(sockets) {
  for (const s of sockets) {
    try { s.disconnect(); } catch { /* already closed */ }
  }
}

/* Buffers, ArrayBuffers and typed arrays -> Buffer, recursively, so deepEqual compares bytes. */
function normalize(v) {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = normalize(v[k]);
    return o;
  }
  return v;
}

module.exports = {
  RS,
  withTimeout,
  sleep,
  until,
  request,
  rawExchange,
  eioPath,
  decodePayload,
  encodePayload,
  parseOpen,
  Polling,
  RawWs,
  TRANSPORTS,
  client,
  connected,
  connect,
  connectError,
  once,
  logged,
  ack,
  call,
  upgraded,
  closeAll,
  normalize,
  state,
};
