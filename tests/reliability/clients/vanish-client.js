'use strict';
// A client process for vanish.test.js: one socket.io-client socket (WebSocket, with
// connection state recovery on the server) and one raw WebSocket on /echo. The test
// SIGSTOPs this process (it vanishes without a FIN: the kernel still holds its sockets
// open) and later SIGCONTs it. Reports on stdout, one JSON object a line: ready,
// disconnect (the client-side reason), connect (recovered or not), missed (an event
// emitted to it while it was away), ws-close. Exits by
// itself after argv[3] ms.
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const port = Number(process.argv[2]);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sock = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
let first = true;
let wsOpen = false;
let hello = false;
const maybeReady = () => { if (hello && wsOpen && first) { first = false; say({ ev: 'ready', id: sock.id }); } };
// Recovery needs an offset: the client must have received an event first (as in Node).
sock.on('hello', () => { hello = true; maybeReady(); });
sock.on('missed', (v) => say({ ev: 'missed', v }));
sock.on('connect', () => {
  if (first) sock.emit('self', 'hello');
  else say({ ev: 'connect', id: sock.id, recovered: sock.recovered });
});
sock.on('disconnect', (reason) => say({ ev: 'disconnect', reason }));
ws.on('open', () => { wsOpen = true; maybeReady(); });
ws.on('close', (code) => say({ ev: 'ws-close', code }));
ws.on('error', () => {});
setTimeout(() => process.exit(0), Number(process.argv[3] || 30000));
