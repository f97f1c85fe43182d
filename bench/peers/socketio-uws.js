'use strict';
// socketio-uws.js: Node socket.io 4.8 attached to uWebSockets.js (`io.attachApp(app)`,
// npm @trufflesuite/uws-js-unofficial), the fastest way Node users run Socket.IO: the
// same bench app as socketio.js and `wsio-server --app bench` (src/app/app_bench.c), on
// "/" at /socket.io/ with the default options. With attachApp, socket.io patches its
// in-memory adapter so that room broadcasts go through uWS topics (one publish per
// room, framed once in C++). The app's handlers are in common.js.
// Usage: node socketio-uws.js PORT (0 picks one); prints "listening on 127.0.0.1:PORT" to
// stderr like the other peers. Exits 3 when the native uWS binary does not load.
const { Server } = require('socket.io');
const { loadUws, benchApp } = require('./common');

const uWS = loadUws('socketio-uws');
const port = Number(process.argv[2] || 0);
const app = uWS.App();
const io = new Server();
io.attachApp(app);
benchApp(io);

app.listen('127.0.0.1', port, (ls) => {
  if (!ls) {
    process.stderr.write('socketio-uws: listen failed\n');
    process.exit(1);
  }
  process.stderr.write(`listening on 127.0.0.1:${uWS.us_socket_local_port(ls)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
