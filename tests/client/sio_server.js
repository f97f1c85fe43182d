'use strict';
// tests/client/sio_server.js — a Node socket.io 4.8 server for tests/client/sio.test.js
// (the Socket.IO client role through wsio-cat --sio). Not a test file itself.
//
//   node sio_server.js [--port P] [--ping-interval MS] [--ping-timeout MS]
//                      [--tls-cert PEM --tls-key PEM [--client-ca PEM]]
//                      [--keep-alive-ms MS]
//
// With --tls-cert/--tls-key it serves https (tests/client/sio_tls.test.js); with
// --client-ca too it requires a client certificate signed by that CA (requestCert,
// rejectUnauthorized: tests/client/client_cert.test.js); --keep-alive-ms sets Node's
// idle keep-alive timeout (default 5000).
//
// Listens on 127.0.0.1, prints `listening on 127.0.0.1:PORT` on stderr. Connection
// state recovery is on (maxDisconnectionDuration 60 s). Handlers on "/" (and "/secure",
// which refuses a CONNECT whose auth.token is not "ok"):
//   on connection: emit("hello", {recovered, transport, auth, xtest: the X-Test header})
//   echo(...a)     -> emit("echo", ...a) and ack(...a) when asked
//   log(x)         -> remembered (this process); count() acks the list
//   reasons()      -> acks the disconnect reasons seen so far (this process)
//   whoami()       -> ack(transport name)
//   slow()         -> never acks
//   drop()         -> the connection is closed under the socket ("forced close",
//                     recoverable), then io.emit("tick", "missed-1"), ("missed-2")
//   bye()          -> socket.disconnect() ("io server disconnect")
//   conns()        -> acks the number of TCP connections accepted so far
//   peer()         -> acks the CN of the client certificate on the connection of the
//                     current transport (the WebSocket's, or the handshake
//                     request's for polling; "" without one)
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { Server } = require('socket.io');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};

const mtls = opt('--client-ca')
  ? { ca: fs.readFileSync(opt('--client-ca')), requestCert: true, rejectUnauthorized: true }
  : {};
const httpServer = opt('--tls-cert')
  ? https.createServer({ cert: fs.readFileSync(opt('--tls-cert')), key: fs.readFileSync(opt('--tls-key')), ...mtls })
  : http.createServer();
if (opt('--keep-alive-ms')) httpServer.keepAliveTimeout = Number(opt('--keep-alive-ms'));
let conns = 0;
httpServer.on('connection', () => { conns++; });
const io = new Server(httpServer, {
  pingInterval: Number(opt('--ping-interval', 25000)),
  pingTimeout: Number(opt('--ping-timeout', 20000)),
  connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true },
});
const logs = [];
const reasons = [];

function handlers(socket) {
  socket.emit('hello', { recovered: socket.recovered, transport: socket.conn.transport.name, auth: socket.handshake.auth, xtest: socket.handshake.headers['x-test'] });
  socket.on('echo', (...a) => {
    const ack = typeof a[a.length - 1] === 'function' ? a.pop() : null;
    socket.emit('echo', ...a);
    if (ack) ack(...a);
  });
  socket.on('log', (x) => { logs.push(x); });
  socket.on('count', (ack) => ack(logs));
  socket.on('reasons', (ack) => ack(reasons));
  socket.on('disconnect', (reason) => reasons.push(reason));
  socket.on('whoami', (ack) => ack(socket.conn.transport.name));
  socket.on('slow', () => {});
  socket.on('drop', () => {
    setImmediate(() => {
      socket.conn.close();
      setTimeout(() => { io.emit('tick', 'missed-1'); io.emit('tick', 'missed-2'); }, 200);
    });
  });
  socket.on('bye', () => socket.disconnect());
  socket.on('conns', (ack) => ack(conns));
  socket.on('peer', (ack) => {
    const t = socket.conn.transport;
    const tls = t.name === 'websocket' ? t.socket._socket : socket.conn.request.socket;
    const c = tls.getPeerCertificate?.();
    ack((c && c.subject && c.subject.CN) || '');
  });
}

io.on('connection', handlers);
io.of('/secure').use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === 'ok') next();
  else next(new Error('bad token'));
});
io.of('/secure').on('connection', handlers);

httpServer.listen(Number(opt('--port', 0)), '127.0.0.1', () => {
  process.stderr.write(`listening on 127.0.0.1:${httpServer.address().port}\n`);
});
const stop = () => { io.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
