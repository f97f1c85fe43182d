'use strict';
// bench/soak/worker-ws.js — one raw-WebSocket load process of the soak (bench/soak.sh).
// Forked by driver.js with its share of the connections in argv[2] (JSON). It holds
// `echo` connections on /echo and, in the worker given `bcast` > 0, a group on
// /broadcast, and keeps them busy until the driver says 'stop' (or its own deadline
// passes: it never outlives the soak by more than a minute).
//
// What it checks, per connection, and reports back as counters:
// - /echo: each connection has one message out at a time, `E<id>:<seq>`, and must get
//   exactly that back (same text, next seq): anything else is `wrong`, an echo not back
//   in ECHO_TIMEOUT_MS is `lost`.
// - /broadcast: `senders` of the group send `B<id>:<seq>` one at a time (the next once
//   its own copy came back: /broadcast includes the sender). Every receiver checks per
//   sender that the seqs it gets are contiguous from the first one (no gap = nothing
//   lost, no repeat or step back = exactly once, in order), and that it did not miss
//   one sent after it opened (`mustFrom`). At the end every receiver must have the
//   sender's last seq.
// Churn: every second `churn` idle connections close cleanly (1000) and as many new
// ones open; `drops` idle connections have their TCP socket destroyed (no close frame)
// and reconnect, continuing their sequence ("forced drops that recover"). Only idle
// connections (nothing outstanding) are closed or dropped, so every message sent is
// owed an answer.

const WebSocket = require('ws');

const cfg = JSON.parse(process.argv[2]);
const URL_BASE = `ws://127.0.0.1:${cfg.port}`;
const ECHO_TIMEOUT_MS = 15000;
const OPEN_CONCURRENCY = 100;

const stats = {
  opened: 0, openFailed: 0, closedByServer: 0, churned: 0, dropped: 0, reconnected: 0,
  echoSent: 0, echoOk: 0, wrong: 0, lost: 0,
  bcastSent: 0, bcastDelivered: 0, bcastGap: 0, bcastDup: 0, bcastMissedAtEnd: 0,
};
const errors = [];
function fail(kind, msg) {
  stats[kind]++;
  if (errors.length < 20) errors.push(`${kind}: ${msg}`);
}

let stopping = false;
let received = 0; // broadcast messages received (for SOAK_INJECT_LOSS)
let nextId = cfg.idBase;
const echoConns = new Set();
const bcastConns = new Set();
const senders = []; // broadcast senders: {id, nextSeq, lastConfirmed, conn}

function open(path) {
  return new Promise((resolve) => {
    const ws = new WebSocket(URL_BASE + path, { perMessageDeflate: false });
    let settled = false;
    ws.on('open', () => { settled = true; stats.opened++; resolve(ws); });
    ws.on('error', () => { if (!settled) { settled = true; stats.openFailed++; resolve(null); } });
  });
}

// ---- /echo ------------------------------------------------------------------------

function attachEcho(st, ws) {
  st.ws = ws;
  st.expect = null;
  ws.on('message', (data) => {
    const text = data.toString();
    if (st.expect === null || text !== st.expect) fail('wrong', `echo got ${text.slice(0, 40)}, expected ${st.expect}`);
    else { stats.echoOk++; st.expect = null; st.sentAt = 0; }
  });
  ws.on('close', () => {
    if (st.ws !== ws) return;
    st.ws = null;
    if (st.expect !== null && !st.dropping) fail('lost', `echo ${st.expect} (connection closed)`);
    st.expect = null;
    if (!st.leaving && !st.dropping && !stopping) { stats.closedByServer++; reopenEcho(st); }
  });
}

async function newEcho() {
  const st = { id: nextId++, seq: 0, ws: null, expect: null, sentAt: 0, leaving: false, dropping: false };
  const ws = await open('/echo');
  if (!ws) return;
  attachEcho(st, ws);
  echoConns.add(st);
}

async function reopenEcho(st) {
  const ws = await open('/echo');
  st.dropping = false;
  if (!ws) { echoConns.delete(st); return; }
  stats.reconnected++;
  attachEcho(st, ws);
}

function echoTick(now) {
  for (const st of echoConns) {
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN) continue;
    if (st.expect !== null) {
      if (now - st.sentAt > ECHO_TIMEOUT_MS) { fail('lost', `echo ${st.expect} not back after ${ECHO_TIMEOUT_MS} ms`); st.expect = null; }
      continue;
    }
    if (stopping || Math.random() * cfg.echoIntervalMs > 1000) continue; // ~1 send per interval
    st.expect = `E${st.id}:${st.seq++}`;
    st.sentAt = now;
    stats.echoSent++;
    st.ws.send(st.expect);
  }
}

// ---- /broadcast -------------------------------------------------------------------

function attachBcast(st, ws) {
  st.ws = ws;
  st.last = new Map();     // sender id -> last seq received
  st.mustFrom = new Map(); // sender id -> first seq sent after this connection opened
  for (const s of senders) st.mustFrom.set(s.id, s.nextSeq);
  ws.on('message', (data) => {
    if (cfg.injectLoss && ++received % cfg.injectLoss === 0) return; // the checks' own test: pretend it was lost
    const m = /^B(\d+):(\d+)$/.exec(data.toString());
    if (!m) { fail('wrong', `broadcast got ${data.toString().slice(0, 40)}`); return; }
    const sid = Number(m[1]);
    const n = Number(m[2]);
    const last = st.last.get(sid);
    if (last === undefined) {
      const from = st.mustFrom.has(sid) ? st.mustFrom.get(sid) : 0;
      if (n > from) fail('bcastGap', `receiver ${st.id} first got ${sid}:${n}, owed from ${from}`);
    } else if (n <= last) fail('bcastDup', `receiver ${st.id} got ${sid}:${n} after ${last}`);
    else if (n !== last + 1) fail('bcastGap', `receiver ${st.id} got ${sid}:${n} after ${last}`);
    st.last.set(sid, n);
    stats.bcastDelivered++;
    if (st.sender && sid === st.sender.id) {
      st.sender.lastConfirmed = n;
      st.sender.outstanding = false;
    }
  });
  ws.on('close', () => {
    if (st.ws !== ws) return;
    st.ws = null;
    bcastConns.delete(st);
    if (!st.leaving && !stopping) {
      stats.closedByServer++;
      if (st.sender) fail('lost', `broadcast sender ${st.sender.id} closed by the server`);
    }
    if (!stopping && !st.leaving && !st.sender) newBcast(); // keep the group's size
  });
}

async function newBcast(sender = null) {
  const st = { id: nextId++, ws: null, sender, leaving: false };
  const ws = await open('/broadcast');
  if (!ws) return null;
  attachBcast(st, ws);
  bcastConns.add(st);
  return st;
}

function bcastTick(now) {
  if (stopping) return;
  for (const s of senders) {
    if (!s.conn.ws || s.conn.ws.readyState !== WebSocket.OPEN) continue;
    if (s.outstanding) {
      if (now - s.sentAt > ECHO_TIMEOUT_MS) fail('lost', `broadcast ${s.id}:${s.nextSeq - 1} not back to its sender`);
      continue;
    }
    if (Math.random() * cfg.bcastIntervalMs > 100) continue;
    s.outstanding = true;
    s.sentAt = now;
    stats.bcastSent++;
    s.conn.ws.send(`B${s.id}:${s.nextSeq++}`);
  }
}

// ---- churn ------------------------------------------------------------------------

function pickIdle(set, n, filter) {
  const out = [];
  for (const st of set) {
    if (out.length >= n) break;
    if (Math.random() < 0.5) continue; // spread the victims around
    if (st.ws && st.ws.readyState === WebSocket.OPEN && filter(st)) out.push(st);
  }
  return out;
}

function churnTick() {
  if (stopping) return;
  // Clean leaves (close 1000) replaced by new connections.
  const echoShare = Math.round(cfg.churn * (echoConns.size / Math.max(1, echoConns.size + bcastConns.size)));
  for (const st of pickIdle(echoConns, echoShare, (s) => s.expect === null)) {
    st.leaving = true;
    echoConns.delete(st);
    st.ws.close(1000);
    stats.churned++;
    newEcho();
  }
  for (const st of pickIdle(bcastConns, cfg.churn - echoShare, (s) => !s.sender)) {
    st.leaving = true;
    bcastConns.delete(st);
    st.ws.close(1000);
    stats.churned++;
    newBcast();
  }
  // Forced drops: the TCP connection goes away without a close frame; it reconnects.
  for (const st of pickIdle(echoConns, cfg.drops, (s) => s.expect === null)) {
    const ws = st.ws;
    st.dropping = true;
    st.ws = null; // its close event, when it comes, is then ignored
    stats.dropped++;
    ws._socket.destroy();
    reopenEcho(st);
  }
}

// ---- life cycle -------------------------------------------------------------------

async function openMany(n, fn) {
  let i = 0;
  const runners = [];
  for (let k = 0; k < Math.min(OPEN_CONCURRENCY, n); k++) {
    runners.push((async () => { while (i < n) { i++; await fn(); } })());
  }
  await Promise.all(runners);
}

function quiet() {
  for (const st of echoConns) if (st.expect !== null) return false;
  for (const s of senders) if (s.outstanding) return false;
  return true;
}

function finalCheck() {
  for (const st of bcastConns) {
    if (!st.ws) continue;
    for (const s of senders) {
      const from = st.mustFrom.get(s.id) ?? 0;
      if (s.lastConfirmed < from) continue; // nothing it was owed
      const last = st.last.get(s.id);
      if (last !== s.lastConfirmed) fail('bcastMissedAtEnd', `receiver ${st.id} ends at ${s.id}:${last}, sender at ${s.lastConfirmed}`);
    }
  }
}

async function stop() {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + ECHO_TIMEOUT_MS;
  while (!quiet() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  echoTick(Date.now() + ECHO_TIMEOUT_MS + 1); // whatever is still out is lost
  await new Promise((r) => setTimeout(r, 500)); // the last broadcasts reach everyone
  finalCheck();
  for (const st of [...echoConns, ...bcastConns]) { st.leaving = true; if (st.ws) st.ws.terminate(); }
  process.send({ type: 'result', stats, errors }, () => process.exit(0));
}

async function main() {
  if (cfg.bcast > 0) {
    for (let i = 0; i < cfg.bcastSenders; i++) {
      const s = { id: 0, nextSeq: 0, lastConfirmed: -1, outstanding: false, sentAt: 0, conn: null };
      s.id = nextId; // the sender's id is its connection's
      const conn = await newBcast(s);
      if (!conn) continue;
      s.conn = conn;
      senders.push(s);
    }
    await openMany(cfg.bcast - senders.length, () => newBcast());
  }
  await openMany(cfg.echo, newEcho);
  process.send({ type: 'ready', open: echoConns.size + bcastConns.size });
  setInterval(() => { const now = Date.now(); echoTick(now); }, 1000);
  setInterval(() => bcastTick(Date.now()), 100);
  setInterval(churnTick, 1000);
  setInterval(() => process.send({ type: 'stats', stats, open: echoConns.size + bcastConns.size }), 1000);
}

process.on('message', (m) => { if (m.type === 'stop') stop(); });
setTimeout(() => process.exit(3), cfg.deadlineMs).unref(); // never outlive the soak
main().catch((e) => { errors.push(String(e.stack || e)); process.send({ type: 'result', stats, errors }, () => process.exit(1)); });
