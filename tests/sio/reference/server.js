#!/usr/bin/env node
'use strict';
// Reference implementation of the wsio-server Socket.IO apps, on Node's own socket.io 4.8
// (engine.io 6.6). The tests in tests/sio/ run against this and against
// `wsio-server --app <app>`; both must behave the same.
//
//   node tests/sio/reference/server.js --app conformance|chat|bench|test [--port N] [--host H]
//        [--redis redis://host:port [--redis-key-prefix P] [--redis-request-timeout S] [--redis-adapter sharded|streams] [--redis-cluster] [--redis-tls-ca FILE [--redis-tls-cert FILE --redis-tls-key FILE]]]
//
// With --redis the server joins a cluster through @socket.io/redis-adapter (createAdapter,
// node-redis v4 clients; createShardedAdapter with --redis-adapter sharded), as
// wsio-server --redis does (tests/cluster).
//
// Prints `listening on 127.0.0.1:PORT` to stderr once it accepts connections, like
// wsio-server. SIGTERM/SIGINT: exit 0. The apps are specified in tests/sio/TEST_APP.md.

const http = require('node:http');
const { Server } = require('socket.io');
const engine = require('engine.io');

function parseArgs(argv) {
  const opts = { app: 'chat', port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--app') opts.app = value();
    else if (a === '--port') opts.port = Number(value());
    else if (a === '--host') opts.host = value();
    // Seconds, as wsio-server takes them; only --app conformance uses them.
    else if (a === '--ping-interval') opts.pingInterval = Math.round(Number(value()) * 1000);
    else if (a === '--ping-timeout') opts.pingTimeout = Math.round(Number(value()) * 1000);
    else if (a === '--redis') opts.redis = value();
    else if (a === '--redis-key-prefix') opts.redisKey = value();
    else if (a === '--redis-adapter') opts.redisAdapter = value();
    else if (a === '--redis-subscription-mode') opts.redisSubscriptionMode = value(); // sharded: Node's subscriptionMode
    else if (a === '--redis-cluster') opts.redisCluster = true; // the URL is a Redis Cluster's seed
    else if (a === '--redis-tls-ca') opts.redisTlsCa = value(); // rediss://: the CA its certificate is signed by
    else if (a === '--redis-tls-cert') opts.redisTlsCert = value(); // rediss://: a client certificate (PEM) ...
    else if (a === '--redis-tls-key') opts.redisTlsKey = value(); // ... and its key, as node-redis' socket.cert/key
    else if (a === '--redis-request-timeout') opts.redisTimeout = Number(value()) * 1000;
    else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

// Anything that is not /socket.io/ nor /engine.io/ (both handled by the engines attached
// below, which pass other requests on to the listeners that were there before them).
function fallback(req, res) {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found');
}

const popAck = (args) => (typeof args[args.length - 1] === 'function' ? args.pop() : null);

// ---------------------------------------------------------------------------------------
// --app conformance

function conformance(httpServer, opts) {
  const pingInterval = opts.pingInterval || 300;
  const pingTimeout = opts.pingTimeout || 200;
  const io = new Server(httpServer, {
    path: '/socket.io/',
    pingInterval,
    pingTimeout,
    maxHttpBufferSize: 1e6,
    connectTimeout: 1000,
    cors: { origin: '*' },
  });
  const onConnection = (socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...args) => {
      socket.emit('message-back', ...args);
    });
    socket.on('message-with-ack', (...args) => {
      const ack = popAck(args);
      if (ack) ack(...args);
    });
  };
  io.of('/').on('connection', onConnection);
  io.of('/custom').on('connection', onConnection);

  // Raw Engine.IO echo next to it: every message (text or binary) is sent back.
  const eio = new engine.Server({
    pingInterval,
    pingTimeout,
    maxHttpBufferSize: 1e6,
    cors: { origin: '*' },
  });
  eio.attach(httpServer, { path: '/engine.io/', destroyUpgrade: false });
  eio.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(data));
  });
  return io;
}

// ---------------------------------------------------------------------------------------
// --app chat

function chat(httpServer) {
  // Recovery on: the demo page shows "recovered" after a network blip.
  const io = new Server(httpServer, {
    path: '/socket.io/',
    cors: { origin: '*' },
    connectionStateRecovery: { maxDisconnectionDuration: 120000 },
  });
  io.on('connection', (socket) => {
    socket.on('join', (room) => {
      socket.join(room);
      socket.to(room).emit('user-joined', socket.id);
    });
    socket.on('message', (msg) => {
      if (!msg || typeof msg !== 'object') return;
      io.to(msg.room).emit('message', msg.message);
    });
    socket.on('typing', (room) => {
      socket.to(room).emit('typing', socket.id);
    });
  });
  return io;
}

// ---------------------------------------------------------------------------------------
// --app bench

function bench(httpServer) {
  const io = new Server(httpServer, { path: '/socket.io/', cors: { origin: '*' } });
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = popAck(args);
      socket.emit('echo', ...args);
      if (ack) ack(...args);
    });
    socket.on('join', (room) => {
      socket.join(room);
    });
    socket.on('bcast', (payload) => {
      io.to([...socket.rooms]).emit('bcast', payload);
    });
  });
  return io;
}

// ---------------------------------------------------------------------------------------
// --app test (tests/sio/TEST_APP.md is the contract; keep the two in step)

function testApp(httpServer) {
  const io = new Server(httpServer, {
    path: '/socket.io/',
    pingInterval: 1000,
    pingTimeout: 2000,
    maxHttpBufferSize: 1e6,
    connectTimeout: 1000,
    cors: { origin: '*' },
    connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true },
    // Engine.IO handshakes whose query has forbidden=1 are refused: 403 {"code":4,"message":"Forbidden"}.
    allowRequest: (req, cb) => {
      const q = new URL(req.url, 'http://x').searchParams;
      cb(null, q.get('forbidden') !== '1');
    },
  });

  const ownRooms = (socket) => [...socket.rooms].filter((r) => r !== socket.id).sort();
  const toList = (r) => (Array.isArray(r) ? r : [r]);

  const handlers = (socket) => {
    const nsp = socket.nsp;
    // `name(...args)`: runs fn(ack?, ...args); when the client asked for an ack and fn
    // returns without acking itself, ack() with no arguments after the action.
    const on = (name, fn, { selfAck = false } = {}) => {
      socket.on(name, (...args) => {
        const ack = popAck(args);
        const done = (result) => {
          if (ack && !selfAck) {
            if (result === undefined) ack();
            else ack(result);
          }
        };
        const result = fn(ack, ...args);
        if (result instanceof Promise) result.then(done);
        else done(result);
      });
    };

    on('echo', (ack, ...args) => {
      if (ack) ack(...args);
      else socket.emit('echo', ...args);
    }, { selfAck: true });
    on('info', () => ({
      id: socket.id,
      nsp: nsp.name,
      rooms: ownRooms(socket),
      recovered: socket.recovered,
      auth: socket.handshake.auth,
      data: socket.data,
    }));
    on('set-data', (ack, value) => {
      socket.data = value;
    });
    on('join', (ack, rooms) => {
      socket.join(toList(rooms));
      return ownRooms(socket);
    });
    on('leave', (ack, room) => {
      socket.leave(room);
      return ownRooms(socket);
    });
    on('to-room', (ack, rooms, ev, ...args) => {
      socket.to(rooms).emit(ev, ...args);
    });
    on('in-room', (ack, rooms, ev, ...args) => {
      nsp.in(rooms).emit(ev, ...args);
    });
    on('except-room', (ack, rooms, ev, ...args) => {
      nsp.except(rooms).emit(ev, ...args);
    });
    on('to-except', (ack, rooms, except, ev, ...args) => {
      socket.to(rooms).except(except).emit(ev, ...args);
    });
    on('broadcast', (ack, ev, ...args) => {
      socket.broadcast.emit(ev, ...args);
    });
    on('all', (ack, ev, ...args) => {
      nsp.emit(ev, ...args);
    });
    on('self', (ack, ev, ...args) => {
      socket.emit(ev, ...args);
    });
    on('volatile', (ack, ev, ...args) => {
      socket.volatile.emit(ev, ...args);
    });
    on('volatile-room', (ack, rooms, ev, ...args) => {
      nsp.volatile.in(rooms).emit(ev, ...args);
    });
    on('ask', (ack, ms, ...args) => new Promise((resolve) => {
      socket.timeout(ms).emit('question', ...args, (err, ...responses) => {
        resolve(err ? 'timeout' : responses);
      });
    }));
    on('ask-room', (ack, rooms, ms, ...args) => new Promise((resolve) => {
      nsp.in(rooms).timeout(ms).emit('question', ...args, (err, responses) => {
        resolve({ timeout: !!err, responses: [...responses].sort() });
      });
    }));
    on('fetch', async (ack, rooms) => {
      const sockets = rooms == null ? await nsp.fetchSockets() : await nsp.in(rooms).fetchSockets();
      return sockets.map((s) => s.id).sort();
    });
    on('sockets-join', (ack, rooms, newRooms) => {
      nsp.in(rooms).socketsJoin(newRooms);
    });
    on('sockets-leave', (ack, rooms, oldRooms) => {
      nsp.in(rooms).socketsLeave(oldRooms);
    });
    on('kick-room', (ack, rooms, close) => {
      nsp.in(rooms).disconnectSockets(close === true);
    });
    // No ack: the socket is gone when it would be sent.
    socket.on('kick', (close) => {
      socket.disconnect(close === true);
    });
    // Across a cluster (tests/cluster).
    on('all-rooms', async () => {
      try {
        return { timeout: false, rooms: [...(await nsp.adapter.allRooms())].sort() };
      } catch {
        return { timeout: true, rooms: [] };
      }
    });
    on('server-count', async () => nsp.adapter.serverCount());
    on('sse', (ack, ev, ...args) => {
      nsp.serverSideEmit(ev, ...args);
    });
    on('sse-ack', (ack, ev, ...args) => new Promise((resolve) => {
      nsp.serverSideEmit(ev, ...args, (err, responses) => {
        resolve({ timeout: !!err, responses: [...(responses || [])].map(String).sort() });
      });
    }));
    on('local-all', (ack, ev, ...args) => {
      nsp.local.emit(ev, ...args);
    });
  };

  // Another node's serverSideEmit("ping-nodes", ...args): the sockets of this node get
  // "server-event" with the args; an asked answer is "node".
  const serverEvents = (nsp) => {
    nsp.on('ping-nodes', (...args) => {
      const cb = popAck(args);
      nsp.local.emit('server-event', ...args);
      if (cb) cb('node');
    });
  };
  serverEvents(io.of('/'));

  io.of('/').use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.refuse === true) next(new Error('refused'));
    else next();
  });
  io.of('/').on('connection', handlers);

  const priv = io.of('/private');
  priv.use((socket, next) => {
    if (!socket.handshake.auth || socket.handshake.auth.token !== 'secret') {
      const err = new Error('not authorized');
      err.data = { code: 401 };
      next(err);
    } else {
      next();
    }
  });
  priv.on('connection', handlers);

  // /slow: an asynchronous middleware (tests/sio/TEST_APP.md); Node has no middleware
  // timeout, so the 500 ms one of the wsio test app is a timer here.
  const slow = io.of('/slow');
  slow.use((socket, next) => {
    const auth = socket.handshake.auth || {};
    if (auth.never === true) {
      setTimeout(() => next(new Error('middleware timeout')), 500);
      return;
    }
    setTimeout(() => {
      if (auth.slowRefuse === true) {
        const err = new Error('slow refused');
        err.data = { after: 50 };
        next(err);
      } else {
        next();
      }
    }, auth.late === true ? 400 : 50);
  });
  slow.on('connection', handlers);

  io.of(/^\/dyn-.+$/).on('connection', handlers);
  return io;
}

// ---------------------------------------------------------------------------------------

async function useRedis(io, opts) {
  const { createClient, createCluster } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const read = (f) => require('node:fs').readFileSync(f);
  const tls = opts.redisTlsCa ? { socket: { tls: true, ca: read(opts.redisTlsCa),
    ...(opts.redisTlsCert ? { cert: read(opts.redisTlsCert), key: read(opts.redisTlsKey) } : {}) } } : {};
  const pub = opts.redisCluster ? createCluster({ rootNodes: [{ url: opts.redis }] })
    : createClient({ url: opts.redis, ...tls });
  const sub = pub.duplicate();
  pub.on('error', () => {}); // reconnects by itself
  sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  if (opts.redisAdapter === 'streams') { // @socket.io/redis-streams-adapter: one client, it duplicates its own
    const { createAdapter: createStreamsAdapter } = require('@socket.io/redis-streams-adapter');
    io.adapter(createStreamsAdapter(pub, { channelPrefix: opts.redisKey || 'socket.io' }));
    return;
  }
  if (opts.redisAdapter === 'sharded') { // createShardedAdapter, its default subscriptionMode "dynamic"
    const { createShardedAdapter } = require('@socket.io/redis-adapter');
    io.adapter(createShardedAdapter(pub, sub, {
      channelPrefix: opts.redisKey || 'socket.io',
      subscriptionMode: opts.redisSubscriptionMode || 'dynamic',
    }));
    return;
  }
  io.adapter(createAdapter(pub, sub, {
    key: opts.redisKey || 'socket.io',
    requestsTimeout: opts.redisTimeout || 5000,
  }));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const apps = { conformance, chat, bench, test: testApp };
  const app = apps[opts.app];
  if (!app) {
    process.stderr.write(`unknown app "${opts.app}" (conformance, chat, bench, test)\n`);
    process.exit(2);
  }
  const httpServer = http.createServer(fallback);
  const io = app(httpServer, opts);
  if (opts.redis) await useRedis(io, opts);
  httpServer.listen(opts.port, opts.host, () => {
    const { address, port } = httpServer.address();
    process.stderr.write(`listening on ${address}:${port}\n`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

main();
