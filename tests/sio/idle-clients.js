'use strict';
// A child process for heartbeat.test.js: holds N raw Engine.IO WebSocket sessions at
// /engine.io/ that do nothing but answer pings, so the server carries N idle sessions
// while the test measures heartbeats on a few more. It runs apart from the test process
// so that answering N pings every pingInterval does not delay the measuring clients.
//
//   node tests/sio/idle-clients.js PORT N
//
// Prints "ready" once all N are open, then, when stdin ends, one JSON line:
// {opened, closed, pings, errors, lagP99Ms, lagMaxMs}: closed counts sessions the server
// closed before the end, lag is this process's event-loop delay.
//
// The WebSocket client is written on plain TCP sockets: at pingInterval 50 ms, 1,000
// sessions are 20,000 pings a second, more than npm `ws` answered in time on the
// shared 2-core test machine (its answers fell behind by more than pingTimeout while
// its event loop never blocked as long). Here a ping costs a scan of a few bytes and
// one 7-byte write.

const net = require('node:net');
const crypto = require('node:crypto');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const [port, n] = process.argv.slice(2).map(Number);
const stats = { opened: 0, closed: 0, pings: 0, errors: 0 };
const sockets = [];
let ending = false;

// "3" (pong) as a masked text frame; the mask key is zero, so the payload stays "3".
const PONG = Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x33]);
const OP_TEXT = 1;
const OP_CLOSE = 8;

/* Consumes whole server frames from buf; returns the bytes left over. */
function frames(sock, buf) {
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const op = buf[off] & 0x0f;
    let len = buf[off + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      head = 10;
    }
    if (buf.length - off < head + len) break;
    if (op === OP_TEXT && len === 1 && buf[off + head] === 0x32) { // "2": ping
      stats.pings++;
      sock.write(PONG);
    } else if (op === OP_CLOSE) {
      sock.end();
    }
    off += head + len;
  }
  return off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
}

function openOne() {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sockets.push(sock);
    let upgraded = false;
    let pending = Buffer.alloc(0);
    let settled = false;
    const settle = () => { if (!settled) { settled = true; resolve(); } };
    sock.setNoDelay(true);
    sock.on('connect', () => {
      sock.write('GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`);
    });
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!pending.subarray(0, 12).toString('latin1').includes(' 101')) {
          stats.errors++;
          sock.destroy();
          settle();
          return;
        }
        upgraded = true;
        stats.opened++;
        settle();
        pending = pending.subarray(end + 4);
      }
      pending = frames(sock, pending);
    });
    sock.on('error', () => { stats.errors++; settle(); });
    sock.on('close', () => { if (upgraded && !ending) stats.closed++; settle(); });
  });
}

async function main() {
  const lag = monitorEventLoopDelay({ resolution: 5 });
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, openOne));
  lag.enable();
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    lag.disable();
    ending = true;
    const out = { ...stats, lagP99Ms: lag.percentile(99) / 1e6, lagMaxMs: lag.max / 1e6 };
    for (const s of sockets) s.destroy();
    process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
  });
}

main();
