'use strict';
// common.js: what the Node peers share: loading the native uWebSockets.js binary (never
// the package's silent ws-based fallback) and the Socket.IO bench app, the same as
// `wsio-server --app bench` (src/app/app_bench.c):
//   echo(...args)  -> "echo" with the same arguments to the sender (or, when the client
//                     asked for an ack, the ack with them)
//   join(room)     -> joins the room
//   bcast(payload) -> "bcast" with the payload to the rooms the sender joined (its own id
//                     room left out), sender included; nothing when it joined none
const path = require('path');

/* The native binary of npm @trufflesuite/uws-js-unofficial; exits 3 when it does not load. */
function loadUws(who) {
  const pkg = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(path.join(pkg, 'binaries', name));
  } catch (e) {
    process.stderr.write(`${who}: native binary ${name} not loadable: ${e.message}\n`);
    process.exit(3);
  }
}

/* Installs the bench app's handlers on a socket.io Server. */
function benchApp(io) {
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
}

module.exports = { loadUws, benchApp };
