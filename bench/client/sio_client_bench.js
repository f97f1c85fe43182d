'use strict';
// bench/client/sio_client_bench.js — the workload of sio_client_bench.c with Node's
// socket.io-client: C connections, each keeping D "echo" events in flight; after a
// warm-up, counts echoes and reports messages/s and this process's CPU time per
// message as one JSON line.
//   node sio_client_bench.js --url http://127.0.0.1:PORT [-c 100] [-d 16] [-s 32] [-t 5] [-w 1] [--polling]
const { io } = require('socket.io-client');

const argv = process.argv.slice(2);
const arg = (names, def) => {
  for (const n of names) {
    const i = argv.indexOf(n);
    if (i >= 0) return argv[i + 1];
  }
  return def;
};
const url = arg(['--url', '-u']);
const conns = Number(arg(['-c'], 100));
const depth = Number(arg(['-d'], 16));
const size = Number(arg(['-s'], 32));
const duration = Number(arg(['-t'], 5));
const warmup = Number(arg(['-w'], 1));
const polling = argv.includes('--polling');
if (!url) { console.error('usage: node sio_client_bench.js --url http://HOST:PORT [-c N] [-d D] [-s B] [-t S] [-w S]'); process.exit(1); }

const payload = 'x'.repeat(size);
let measuring = false, count = 0, connected = 0, errors = 0, t0 = 0, c0 = null;
const sockets = [];
for (let i = 0; i < conns; i++) {
  const s = io(url, { transports: [polling ? 'polling' : 'websocket'], forceNew: true });
  s.on('connect', () => { connected++; for (let k = 0; k < depth; k++) s.emit('echo', payload); });
  s.on('echo', () => { if (measuring) count++; s.emit('echo', payload); });
  s.on('connect_error', () => { errors++; });
  sockets.push(s);
}
setTimeout(() => { measuring = true; count = 0; t0 = process.hrtime.bigint(); c0 = process.cpuUsage(); }, warmup * 1000);
setTimeout(() => {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(c0);
  const used = (u.user + u.system) / 1e6;
  process.stdout.write(JSON.stringify({
    client: 'node-socket.io-client', transport: polling ? 'polling' : 'websocket', connections: conns, connected,
    in_flight: depth, size, seconds: Number(secs.toFixed(2)), messages: count, msgs_per_s: Math.round(count / secs),
    cpu_s: Number(used.toFixed(3)), cpu_us_per_msg: count ? Number((used * 1e6 / count).toFixed(3)) : 0, errors,
  }) + '\n');
  for (const s of sockets) s.close();
  process.exit(connected === conns && count ? 0 : 2);
}, (warmup + duration) * 1000);
