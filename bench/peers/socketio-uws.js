'use strict';
// socketio-uws.js: Node socket.io 4.8 attached to uWebSockets.js (`io.attachApp(app)`,
// npm @trufflesuite/uws-js-unofficial), the fastest way Node users run Socket.IO: the
// same bench app as socketio.js and `wsio-server --app bench` (src/app/app_bench.c), on
// "/" at /socket.io/ with the default options. With attachApp, socket.io patches its
// in-memory adapter so that room broadcasts go through uWS topics (one publish per
// room, framed once in C++).
//   echo(...args)  -> "echo" with the same arguments to the sender (or the ack)
//   join(room)     -> joins the room
//   bcast(payload) -> "bcast" with the payload to the rooms the sender joined (its own id
//                     room left out), sender included
// Usage: node socketio-uws.js PORT (0 picks one); prints "listening on 127.0.0.1:PORT" to
// stderr like the other peers. Exits 3 when the native uWS binary does not load.
const path = require('path');
const { Server } = require('socket.io');

function loadNative() {
  const pkg = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(path.join(pkg, 'binaries', name));
  } catch (e) {
    process.stderr.write(`socketio-uws: native binary ${name} not loadable: ${e.message}\n`);
    process.exit(3);
  }
}

const uWS = loadNative();
const port = Number(process.argv[2] || 0);
const app = uWS.App();
const io = new Server();
io.attachApp(app);

io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit('echo', ...args);
  });
  socket.on('join', (room) => {
    if (typeof room === 'string') socket.join(room);
  });
  socket.on('bcast', (payload) => {
    const rooms = [...socket.rooms].filter((r) => r !== socket.id);
    if (rooms.length) io.to(rooms).emit('bcast', payload);
  });
});

app.listen('127.0.0.1', port, (ls) => {
  if (!ls) {
    process.stderr.write('socketio-uws: listen failed\n');
    process.exit(1);
  }
  process.stderr.write(`listening on 127.0.0.1:${uWS.us_socket_local_port(ls)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
