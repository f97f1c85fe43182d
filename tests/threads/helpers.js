'use strict';
// Helpers of the --threads tests: /metrics as a map, an Engine.IO polling request, a
// Socket.IO client and its acked calls, WebSocket open and next message.

const http = require('node:http');
const WebSocket = require('ws');
const { io } = require('socket.io-client');
const { startServer, withTimeout } = require('../interop/server.js');

/* http, or https trusting ca when ca is given, with an agent that opens a new connection
 * per request. */
function transport(ca) {
  const mod = ca ? require('node:https') : http;
  return { mod, agent: new mod.Agent(ca ? { keepAlive: false, ca } : { keepAlive: false }) };
}

/* GET /metrics on a fresh connection; resolves to Map(sample name with labels -> number). */
function metrics(port) { return metricsOver(port, null); }

/* The same over https (ca: the server's certificate) when ca is given. */
function metricsOver(port, ca) {
  const { mod, agent } = transport(ca);
  return new Promise((resolve, reject) => {
    mod.get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => {
        const m = new Map();
        for (const line of b.split('\n')) {
          if (!line || line.startsWith('#')) continue;
          const i = line.lastIndexOf(' ');
          m.set(line.slice(0, i), Number(line.slice(i + 1)));
        }
        resolve(m);
      });
    }).on('error', reject);
  });
}

/* An Engine.IO polling request on a new connection (so on either thread): method to
 * /socket.io/?EIO=4&transport=polling plus query, with body when given; over https
 * when ca (the server's certificate) is given. Resolves to {status, body}. */
function poll(port, method, query, body, ca) {
  const { mod, agent } = transport(ca);
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: '127.0.0.1', port, method, path: `/socket.io/?EIO=4&transport=polling${query}`, agent,
      headers: body ? { 'content-type': 'text/plain;charset=UTF-8' } : {} }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/* A socket.io-client socket of the server on port, once connected (websocket only
 * unless opts say otherwise; no reconnection). */
function connect(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/* Emits ev with args and resolves to the ack (10 s at most). */
const call = (s, ev, ...args) => withTimeout(s.emitWithAck(ev, ...args), 10000, `ack of ${ev}`);

function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws) {
  return new Promise((resolve) => ws.once('message', (d) => resolve(d)));
}

// For tests that need a client's connections to reach both threads while it opens
// them one at a time and few stay open (a long-poll handed over, a reconnect
// elsewhere, refusals or limits counted on both threads): they ask for a SO_REUSEPORT
// socket per thread (the default; said here so that a run with
// WSIO_THREADS_ACCEPT=shared, whose one socket wakes whichever loop waits, thread 0
// first, and spreads only the connections that stay open, keeps them meaningful).
async function startHashed(args) {
  const was = process.env.WSIO_THREADS_ACCEPT; // (the servers started after get it back)
  process.env.WSIO_THREADS_ACCEPT = 'reuseport';
  try {
    return await startServer(args);
  } finally {
    if (was === undefined) delete process.env.WSIO_THREADS_ACCEPT;
    else process.env.WSIO_THREADS_ACCEPT = was;
  }
}

module.exports = { metrics, metricsOver, poll, connect, call, openWs, nextMessage, startHashed };
