'use strict';
// bench/soak/worker-sio.js — one Socket.IO load process of the soak (bench/soak.sh),
// against `wsio-server --app test` (tests/sio/TEST_APP.md). Forked by driver.js with
// its share of the clients in argv[2] (JSON); stops when the driver says 'stop' or at
// its own deadline.
//
// Clients: half WebSocket-only, half long-polling-only; in each half, half are
// "recovering" clients (socket.io-client reconnects and the server restores the
// session: connection state recovery) and half are "plain" clients (a lost session is
// replaced by a new client, a new identity). Clients are in groups of `group`; each
// group is a room, and all of a group lives in this process, so the checks below need
// no cross-process bookkeeping.
//
// Each client, about once per `intervalMs`, does one of:
//  - in-room(group, "m", {s, n}) with an ack: the server emits "m" to every member
//    (sender included). One message out at a time per sender; n counts up per identity.
//  - echo({k, n}) with an ack: the ack must carry the same object.
//  - join(tmp room) then leave(tmp room): both acks must list / not list the room.
// Every ack must arrive (within ACK_TIMEOUT_MS). Every receiver checks per sender that
// the seqs it gets are contiguous from the first (nothing lost, nothing twice, in
// order), that it missed none sent after its join was acknowledged (`mustFrom`), and at
// the end that it has each sender's last acknowledged message — recovered clients
// included: what was emitted to them while they were away must be replayed.
// Churn: every second `churn` idle plain clients disconnect (socket.disconnect()) and a
// new client replaces each; `drops` idle recovering clients (that have received an
// event: the offset recovery starts from) have their Engine.IO transport closed under
// them and must come back with socket.recovered === true.

const { io } = require('socket.io-client');

const cfg = JSON.parse(process.argv[2]);
const URL = `http://127.0.0.1:${cfg.port}`;
const ACK_TIMEOUT_MS = 20000;
const OPEN_CONCURRENCY = 50;

const stats = {
  connected: 0, connectFailed: 0, churned: 0, dropped: 0, recovered: 0, recoveryFailed: 0,
  unexpectedDisconnects: 0, sent: 0, acked: 0, ackMissing: 0, ackWrong: 0,
  echoes: 0, roomOps: 0, delivered: 0, gap: 0, dup: 0, missedAtEnd: 0,
};
const reasons = {};
const errors = [];
function fail(kind, msg) {
  stats[kind]++;
  if (errors.length < 20) errors.push(`${kind}: ${msg}`);
}

let stopping = false;
let nextKey = 0;
const clients = new Set();
const groups = []; // {name, senders: Map key -> {nextSeq, lastAcked}, members: Set}

function groupOf(i) {
  const g = Math.floor((i - cfg.idBase) / cfg.group);
  while (groups.length <= g) groups.push({ name: `g${cfg.idBase}-${groups.length}`, senders: new Map(), members: new Set() });
  return groups[g];
}

function newSession(st) {
  st.key = `${st.idx}.${nextKey++}`; // unique per identity: a replaced client is someone new
  st.seq = 0;
  st.last = new Map();
  st.mustFrom = null; // set when the join is acknowledged
  st.group.senders.set(st.key, { nextSeq: 0, lastAcked: -1 });
  st.outstanding = true;
  st.sock.timeout(ACK_TIMEOUT_MS).emit('join', st.group.name, (err, rooms) => {
    st.outstanding = false;
    if (err) { fail('ackMissing', `join of ${st.key}`); return; }
    stats.acked++;
    if (!Array.isArray(rooms) || !rooms.includes(st.group.name)) fail('ackWrong', `join ack ${JSON.stringify(rooms)}`);
    st.mustFrom = new Map();
    for (const [k, s] of st.group.senders) st.mustFrom.set(k, s.nextSeq);
    st.group.members.add(st);
  });
}

let received = 0; // for SOAK_INJECT_LOSS
function onMessage(st, p) {
  if (cfg.injectLoss && ++received % cfg.injectLoss === 0) return; // the checks' own test: pretend it was lost
  const s = p && p.s;
  const n = p && p.n;
  if (typeof s !== 'string' || typeof n !== 'number') { fail('gap', `bad payload ${JSON.stringify(p)}`); return; }
  stats.delivered++;
  st.got = (st.got || 0) + 1;
  const last = st.last.get(s);
  if (last === undefined) {
    const from = st.mustFrom ? (st.mustFrom.get(s) ?? 0) : Infinity;
    if (n > from) fail('gap', `${st.key} first got ${s}:${n}, owed from ${from}`);
  } else if (n <= last) fail('dup', `${st.key} got ${s}:${n} after ${last}`);
  else if (n !== last + 1) fail('gap', `${st.key} got ${s}:${n} after ${last}`);
  st.last.set(s, n);
}

function makeClient(i, recovering, transport) {
  const st = {
    idx: i, recovering, transport, group: groupOf(i), key: null, sock: null,
    outstanding: false, dropping: false, leaving: false, ever: false,
  };
  const sock = io(URL, {
    transports: [transport], forceNew: true, reconnection: recovering,
    reconnectionDelay: 200, reconnectionDelayMax: 1000, timeout: 20000,
  });
  st.sock = sock;
  clients.add(st);
  return new Promise((resolve) => {
    sock.on('connect', () => {
      if (!st.ever) { st.ever = true; stats.connected++; newSession(st); resolve(st); return; }
      // A reconnection (recovering clients only).
      const wasDropped = st.dropping;
      st.dropping = false;
      if (sock.recovered) { stats.recovered++; return; }
      fail('recoveryFailed', `${st.key} (${transport}) reconnected without recovery (dropped by us: ${wasDropped}; ` +
        `${st.got} events received, the last offset ${JSON.stringify(st.offsetAtDrop)}, ${Date.now() - st.droppedAt} ms away)`);
      st.group.members.delete(st);
      newSession(st);
    });
    sock.on('connect_error', (e) => {
      if (st.ever) return; // the manager retries
      stats.connectFailed++;
      if (errors.length < 20) {
        const d = e.description;
        const detail = d && typeof d === 'object' ? (d.message || d.code || JSON.stringify(d)) : d;
        const ctx = e.context && (e.context.status !== undefined ? ` status ${e.context.status} ${String(e.context.responseText || '').slice(0, 80)}` : '');
        errors.push(`connect_error (${transport}): ${e.message} ${detail === undefined ? '' : detail}${ctx || ''}`);
      }
      sock.close();
      clients.delete(st);
      resolve(null);
    });
    sock.on('m', (p) => onMessage(st, p));
    sock.on('disconnect', (reason) => {
      reasons[reason] = (reasons[reason] || 0) + 1;
      if (st.leaving || st.dropping || stopping) return;
      stats.unexpectedDisconnects++;
      if (errors.length < 20) errors.push(`disconnect ${st.key}: ${reason}`);
      if (!recovering) { // a plain client is replaced by a new one
        st.group.members.delete(st);
        clients.delete(st);
        sock.close();
        makeClient(st.idx, recovering, transport);
      }
    });
  });
}

function act(st) {
  const r = Math.random();
  const sock = st.sock;
  if (r < 0.7) {
    const sender = st.group.senders.get(st.key);
    const n = sender.nextSeq++;
    st.outstanding = true;
    stats.sent++;
    sock.timeout(ACK_TIMEOUT_MS).emit('in-room', st.group.name, 'm', { s: st.key, n }, (err) => {
      st.outstanding = false;
      if (err) { fail('ackMissing', `in-room ${st.key}:${n}`); return; }
      stats.acked++;
      sender.lastAcked = n;
    });
  } else if (r < 0.9) {
    const n = Math.floor(Math.random() * 1e9);
    st.outstanding = true;
    sock.timeout(ACK_TIMEOUT_MS).emit('echo', { k: st.key, n }, (err, v) => {
      st.outstanding = false;
      if (err) { fail('ackMissing', `echo ${st.key}`); return; }
      stats.acked++;
      stats.echoes++;
      if (!v || v.n !== n || v.k !== st.key) fail('ackWrong', `echo ack ${JSON.stringify(v)}`);
    });
  } else {
    const room = `t${st.idx}`;
    st.outstanding = true;
    sock.timeout(ACK_TIMEOUT_MS).emit('join', room, (err, rooms) => {
      if (err) { st.outstanding = false; fail('ackMissing', `join ${room}`); return; }
      stats.acked++;
      if (!rooms.includes(room)) fail('ackWrong', `join ack without ${room}`);
      sock.timeout(ACK_TIMEOUT_MS).emit('leave', room, (err2, rooms2) => {
        st.outstanding = false;
        if (err2) { fail('ackMissing', `leave ${room}`); return; }
        stats.acked++;
        stats.roomOps++;
        if (rooms2.includes(room) || !rooms2.includes(st.group.name)) fail('ackWrong', `leave ack ${JSON.stringify(rooms2)}`);
      });
    });
  }
}

const idle = (st) => st.sock.connected && !st.outstanding && !st.dropping && !st.leaving && st.mustFrom;

function tick() {
  if (stopping) return;
  for (const st of clients) {
    if (idle(st) && Math.random() * cfg.intervalMs < 1000) act(st);
  }
}

function pick(n, filter) {
  const out = [];
  for (const st of clients) {
    if (out.length >= n) break;
    if (Math.random() < 0.7) continue;
    if (idle(st) && filter(st)) out.push(st);
  }
  return out;
}

function churnTick() {
  if (stopping) return;
  for (const st of pick(cfg.churn, (s) => !s.recovering)) {
    st.leaving = true;
    st.group.members.delete(st);
    clients.delete(st);
    st.sock.disconnect();
    stats.churned++;
    makeClient(st.idx, false, st.transport); // same group slot, a new identity (new session key)
  }
  // Only a client that has received an event can be recovered: its CONNECT carries the
  // last event's offset (socket.io-client, as with Node's server: no offset, no recovery).
  for (const st of pick(cfg.drops, (s) => s.recovering && s.sock._lastOffset !== undefined)) {
    st.dropping = true;
    st.droppedAt = Date.now();
    st.offsetAtDrop = st.sock._lastOffset; // socket.io-client's; what its CONNECT will carry
    stats.dropped++;
    st.sock.io.engine.close(); // the transport goes away; the manager reconnects
  }
}

function finalCheck() {
  for (const g of groups) {
    for (const st of g.members) {
      if (!st.sock.connected || !st.mustFrom) continue;
      for (const [k, s] of g.senders) {
        const from = st.mustFrom.get(k) ?? 0;
        if (s.lastAcked < from) continue;
        if (st.last.get(k) !== s.lastAcked) {
          fail('missedAtEnd', `${st.key} (${st.transport}${st.recovering ? ', recovering' : ''}) ends at ${k}:${st.last.get(k)}, sender acked ${s.lastAcked}`);
        }
      }
    }
  }
}

function settled() {
  for (const st of clients) if (st.outstanding || st.dropping || !st.sock.connected) return false;
  for (const g of groups) {
    for (const st of g.members) {
      if (!st.mustFrom) continue;
      for (const [k, s] of g.senders) {
        if (s.lastAcked >= (st.mustFrom.get(k) ?? 0) && st.last.get(k) !== s.lastAcked) return false;
      }
    }
  }
  return true;
}

async function stop() {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + ACK_TIMEOUT_MS + 5000;
  while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const st of clients) {
    if (st.outstanding) fail('ackMissing', `${st.key}: an ack still out at the end`);
    if (!st.sock.connected) fail('unexpectedDisconnects', `${st.key}: not connected at the end`);
  }
  finalCheck();
  for (const st of clients) { st.leaving = true; st.sock.disconnect(); }
  process.send({ type: 'result', stats, reasons, errors }, () => process.exit(0));
}

async function main() {
  let i = 0;
  const runners = [];
  const n = cfg.clients;
  for (let k = 0; k < Math.min(OPEN_CONCURRENCY, n); k++) {
    runners.push((async () => {
      while (i < n) {
        const me = i++;
        const transport = me % 2 === 0 ? 'websocket' : 'polling';
        const recovering = Math.floor(me / 2) % 2 === 0;
        await makeClient(cfg.idBase + me, recovering, transport);
      }
    })());
  }
  await Promise.all(runners);
  process.send({ type: 'ready', open: clients.size });
  setInterval(tick, 1000);
  setInterval(churnTick, 1000);
  setInterval(() => process.send({ type: 'stats', stats, open: clients.size }), 1000);
}

process.on('message', (m) => { if (m.type === 'stop') stop(); });
setTimeout(() => process.exit(3), cfg.deadlineMs).unref();
main().catch((e) => { errors.push(String(e.stack || e)); process.send({ type: 'result', stats, reasons, errors }, () => process.exit(1)); });
