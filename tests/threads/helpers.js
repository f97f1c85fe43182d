'use strict';
// Helpers of the --threads tests: /metrics as a map, WebSocket open and next message.

const http = require('node:http');
const WebSocket = require('ws');

/* GET /metrics on a fresh connection; resolves to Map(sample name with labels -> number). */
function metrics(port) { return metricsOver(port, null); }

/* The same over https (ca: the server's certificate) when ca is given. */
function metricsOver(port, ca) {
  const mod = ca ? require('node:https') : http;
  const agent = new mod.Agent(ca ? { keepAlive: false, ca } : { keepAlive: false });
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
  const { startServer } = require('../interop/server.js');
  const was = process.env.WSIO_THREADS_ACCEPT; // (the servers started after get it back)
  process.env.WSIO_THREADS_ACCEPT = 'reuseport';
  try {
    return await startServer(args);
  } finally {
    if (was === undefined) delete process.env.WSIO_THREADS_ACCEPT;
    else process.env.WSIO_THREADS_ACCEPT = was;
  }
}

module.exports = { metrics, metricsOver, openWs, nextMessage, startHashed };
