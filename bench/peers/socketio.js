'use strict';
// socketio.js: the Node socket.io 4.8 peer for bench/run.sh's Socket.IO workloads, the
// same bench app as `wsio-server --app bench` (src/app/app_bench.c), on the default
// namespace "/" at /socket.io/ with the default options (transports polling and
// websocket, pingInterval 25000, pingTimeout 20000, no CORS, no recovery):
//   echo(...args)  -> "echo" with the same arguments to the sender (or, when the client
//                     asked for an ack, the ack with them)
//   join(room)     -> joins the room
//   bcast(payload) -> "bcast" with the payload to the rooms the sender joined (its own id
//                     room left out), sender included; nothing when it joined none
// Usage: node socketio.js PORT (0 picks one) [REDIS_URL=redis://...]; prints "listening on 127.0.0.1:PORT" to
// stderr like the other peers. PING_INTERVAL / PING_TIMEOUT (ms) in the environment
// override the defaults (to check that the load generator answers pings).
const http = require('http');
const { Server } = require('socket.io');
const { benchApp } = require('./common');

const port = Number(process.argv[2] || 0);
const server = http.createServer();
const opts = {};
if (process.env.PING_INTERVAL) opts.pingInterval = Number(process.env.PING_INTERVAL);
if (process.env.PING_TIMEOUT) opts.pingTimeout = Number(process.env.PING_TIMEOUT);
const io = new Server(server, opts);

benchApp(io);

// REDIS_URL in the environment: a cluster node (@socket.io/redis-adapter, node-redis v4),
// for the cross-node broadcast benchmark (docs/cluster.md).
async function start() {
  if (process.env.REDIS_URL) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
    process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`);
  });
}
start();
process.on('SIGTERM', () => process.exit(0));
