'use strict';
// bench/soak/driver.js — the soak's conductor (run by bench/soak.sh, which starts the
// server). Forks the load processes (worker-ws.js, worker-sio.js), samples the server
// once a second while they run (RSS and open descriptors from /proc, event-loop lag
// and connection gauges from /metrics) into a CSV, stops the load after SOAK_SECONDS of
// full load, collects every worker's checks and prints the verdict; exit 0 only when
// it passes:
//   - nothing lost, nothing twice or out of order, every ack back (the workers' checks);
//   - RSS flat after warm-up: the median of the last 10 samples within SOAK_MAX_DRIFT
//     (2%) of the median of the first 10 after warm-up (fewer in a short run: half the
//     samples each);
//   - event-loop lag p99 (wsio_event_loop_lag_seconds over the full-load phase after
//     warm-up) at most SOAK_MAX_LAG_MS (10 ms);
//   - memory per client: the RSS the load added (the median of the last samples less
//     the idle server's RSS before the first client), divided by the clients held, at
//     most SOAK_MAX_RSS_PER_CLIENT bytes (768): drift alone would not see a server that
//     holds each client in twice the memory from the start;
//   - the server still alive and answering at the end.
// Usage: node driver.js PORT SERVER_PID OUT_PREFIX (the rest comes from SOAK_* variables,
// see bench/soak.sh).

const { fork } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const [port, serverPid, outPrefix] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const C = {
  seconds: env('SOAK_SECONDS', 600),
  ws: env('SOAK_WS', 10000),
  wsWorkers: env('SOAK_WS_WORKERS', 2),
  bcast: env('SOAK_WS_BCAST', 500),
  bcastSenders: env('SOAK_WS_BCAST_SENDERS', 5),
  bcastIntervalMs: env('SOAK_WS_BCAST_INTERVAL_MS', 500),
  echoIntervalMs: env('SOAK_WS_INTERVAL_MS', 10000),
  wsChurn: env('SOAK_WS_CHURN', 20),
  wsDrops: env('SOAK_WS_DROPS', 5),
  sio: env('SOAK_SIO', 2000),
  sioWorkers: env('SOAK_SIO_WORKERS', 2),
  group: env('SOAK_SIO_GROUP', 20),
  sioIntervalMs: env('SOAK_SIO_INTERVAL_MS', 5000),
  sioChurn: env('SOAK_SIO_CHURN', 4),
  sioDrops: env('SOAK_SIO_DROPS', 4),
  maxDrift: env('SOAK_MAX_DRIFT', 0.02),
  maxLagMs: env('SOAK_MAX_LAG_MS', 10),
  maxRssPerClient: env('SOAK_MAX_RSS_PER_CLIENT', 768),
  rampTimeoutS: env('SOAK_RAMP_TIMEOUT', 180),
  // Tests the checks themselves: each load process ignores every Nth broadcast or room
  // message it receives, as if it had been lost; the soak must then fail.
  injectLoss: env('SOAK_INJECT_LOSS', 0),
};
// Warm-up: the first 20% (at most 120 s: the test app keeps a dropped session's events
// that long), but at least half of a short run (the CI's 60 s): until then RSS still
// climbs as buffers and tables reach their working size.
C.warmupS = env('SOAK_WARMUP', Math.round(Math.max(Math.min(120, C.seconds * 0.2), Math.min(C.seconds / 2, 40))));
const deadlineMs = (C.rampTimeoutS + C.seconds + 120) * 1000;

const log = (...a) => console.log(`[soak ${((Date.now() - T0) / 1000).toFixed(0).padStart(4)}s]`, ...a);
const T0 = Date.now();

// ---- the server, seen from outside -----------------------------------------------

function get(p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

function metrics(text) {
  const m = { lag: [] };
  for (const line of text.split('\n')) {
    let r;
    if ((r = /^wsio_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)/.exec(line))) m.lag.push([r[1] === '+Inf' ? Infinity : Number(r[1]), Number(r[2])]);
    else if ((r = /^wsio_connections\{transport="(\w+)"\} (\d+)/.exec(line))) m[`conn_${r[1]}`] = Number(r[2]);
    else if ((r = /^wsio_sio_sockets (\d+)/.exec(line))) m.sio = Number(r[1]);
    else if ((r = /^wsio_heap_(bytes|free_bytes) (\d+)/.exec(line))) m[`heap_${r[1]}`] = Number(r[2]);
    else if ((r = /^wsio_sio_recovered_sessions_total (\d+)/.exec(line))) m.recovered = Number(r[1]);
    else if ((r = /^wsio_backpressure_closes_total (\d+)/.exec(line))) m.bpCloses = Number(r[1]);
  }
  return m;
}

function rssKiB() {
  const s = fs.readFileSync(`/proc/${serverPid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}
const fds = () => fs.readdirSync(`/proc/${serverPid}/fd`).length;

/* p99 of the lag observed between two cumulative bucket snapshots: the upper bound of
 * the bucket holding the 99th percentile (the histogram's resolution). */
function lagP99(a, b) {
  const d = b.map(([le, v], i) => [le, v - (a ? a[i][1] : 0)]);
  const total = d[d.length - 1][1];
  if (!total) return { p99: 0, n: 0, max: 0 };
  let p99 = Infinity;
  for (const [le, v] of d) if (v >= 0.99 * total) { p99 = le; break; }
  let max = 0;
  for (let i = 0; i < d.length; i++) if (d[i][1] > (i ? d[i - 1][1] : 0)) max = d[i][0];
  return { p99, n: total, max };
}

// ---- the load --------------------------------------------------------------------

const workers = [];
function startWorker(file, cfg, label) {
  const w = { label, ready: false, result: null, last: null, open: 0 };
  w.proc = fork(path.join(__dirname, file), [JSON.stringify({ ...cfg, port, deadlineMs })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  w.proc.on('message', (m) => {
    if (m.type === 'ready') { w.ready = true; w.open = m.open; log(`${label}: ${m.open} open`); }
    else if (m.type === 'stats') { w.last = m.stats; w.open = m.open; }
    else if (m.type === 'result') w.result = m;
  });
  w.exited = new Promise((r) => w.proc.on('exit', (code) => { w.code = code; r(); }));
  workers.push(w);
}

function split(total, n, i) { return Math.floor(total / n) + (i < total % n ? 1 : 0); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  log(`config ${JSON.stringify(C)}`);
  const idleKiB = rssKiB(); // before any client: the process, its libraries and buffers
  for (let i = 0; i < C.wsWorkers; i++) {
    const n = split(C.ws, C.wsWorkers, i);
    const bcast = i === 0 ? Math.min(C.bcast, n) : 0;
    startWorker('worker-ws.js', {
      idBase: 1e6 * (i + 1), echo: n - bcast, bcast, bcastSenders: C.bcastSenders, bcastIntervalMs: C.bcastIntervalMs,
      echoIntervalMs: C.echoIntervalMs, injectLoss: C.injectLoss, churn: split(C.wsChurn, C.wsWorkers, i), drops: split(C.wsDrops, C.wsWorkers, i),
    }, `ws${i}`);
  }
  for (let i = 0; i < C.sioWorkers; i++) {
    startWorker('worker-sio.js', {
      idBase: 1e6 * (i + 1), clients: split(C.sio, C.sioWorkers, i), group: C.group, intervalMs: C.sioIntervalMs, injectLoss: C.injectLoss,
      churn: split(C.sioChurn, C.sioWorkers, i), drops: split(C.sioDrops, C.sioWorkers, i),
    }, `sio${i}`);
  }

  const csv = fs.createWriteStream(`${outPrefix}.csv`);
  // heap_*: wsio_heap_bytes (in use) and wsio_heap_free_bytes (freed, kept by malloc):
  // an RSS that grows while the heap in use does not is fragmentation, not a leak (glibc).
  csv.write('t_s,phase,rss_kib,fds,lag_max_ms,ws_conns,polling_conns,sio_sockets,client_msgs_total,heap_used_kib,heap_free_kib\n');
  const samples = [];
  let phase = 'ramp';
  let rampEnd = null;
  let warmEnd = null;
  let lagAtWarm = null;
  let lagLast = null;
  let lagPrev = null;
  let scrapeFailures = 0;
  const sampler = setInterval(async () => {
    const t = (Date.now() - T0) / 1000;
    let m;
    let rss;
    let nfd;
    try { rss = rssKiB(); nfd = fds(); } catch { return; } // the server is gone: checked below
    try { m = metrics((await get('/metrics')).body); } catch { scrapeFailures++; return; }
    const lagNow = lagP99(lagPrev, m.lag);
    lagPrev = m.lag;
    lagLast = m.lag;
    if (phase === 'measured' && !lagAtWarm) lagAtWarm = m.lag;
    let msgs = 0;
    for (const w of workers) if (w.last) msgs += (w.last.echoOk || 0) + (w.last.bcastDelivered || 0) + (w.last.delivered || 0) + (w.last.acked || 0);
    samples.push({ t, phase, rss, nfd });
    csv.write(`${t.toFixed(1)},${phase},${rss},${nfd},${lagNow.n ? lagNow.max * 1000 : 0},${m.conn_websocket || 0},${m.conn_polling || 0},${m.sio || 0},${msgs},${m.heap_bytes !== undefined ? Math.round(m.heap_bytes / 1024) : ''},${m.heap_free_bytes !== undefined ? Math.round(m.heap_free_bytes / 1024) : ''}\n`);
  }, 1000);

  const rampDeadline = Date.now() + C.rampTimeoutS * 1000;
  while (!workers.every((w) => w.ready) && Date.now() < rampDeadline && workers.every((w) => w.code === undefined)) await sleep(200);
  if (!workers.every((w) => w.ready)) log('RAMP INCOMPLETE: not every worker reported ready');
  rampEnd = (Date.now() - T0) / 1000;
  phase = 'warmup';
  log(`full load: ${workers.reduce((a, w) => a + w.open, 0)} clients open; warm-up ${C.warmupS} s, then ${C.seconds - C.warmupS} s measured`);
  const loadStart = Date.now();
  let lastReport = 0;
  while (Date.now() - loadStart < C.seconds * 1000) {
    await sleep(500);
    const el = (Date.now() - loadStart) / 1000;
    if (phase === 'warmup' && el >= C.warmupS) { phase = 'measured'; warmEnd = (Date.now() - T0) / 1000; }
    if (el - lastReport >= 30) {
      lastReport = el;
      const s = samples[samples.length - 1];
      log(`${el.toFixed(0)} s: rss ${s ? (s.rss / 1024).toFixed(1) : '?'} MiB, fds ${s ? s.nfd : '?'}, clients ${workers.reduce((a, w) => a + w.open, 0)}`);
    }
    try { process.kill(serverPid, 0); } catch { log('the server died'); break; }
  }
  const loadEnd = (Date.now() - T0) / 1000;
  clearInterval(sampler);
  phase = 'stop';
  for (const w of workers) if (w.code === undefined) w.proc.send({ type: 'stop' });
  await Promise.race([Promise.all(workers.map((w) => w.exited)), sleep(90000)]);
  for (const w of workers) if (w.code === undefined) { try { w.proc.kill('SIGKILL'); } catch { /* gone */ } }
  csv.end();

  // ---- verdict -------------------------------------------------------------------
  const failures = [];
  const tot = {};
  const reasons = {};
  for (const w of workers) {
    if (!w.result) { failures.push(`${w.label}: no result (exit ${w.code})`); continue; }
    for (const [k, v] of Object.entries(w.result.stats)) tot[k] = (tot[k] || 0) + v;
    for (const [k, v] of Object.entries(w.result.reasons || {})) reasons[k] = (reasons[k] || 0) + v;
    for (const e of w.result.errors) console.log(`  ${w.label}: ${e}`);
  }
  const bad = ['openFailed', 'wrong', 'lost', 'bcastGap', 'bcastDup', 'bcastMissedAtEnd', 'connectFailed', 'recoveryFailed',
    'unexpectedDisconnects', 'ackMissing', 'ackWrong', 'gap', 'dup', 'missedAtEnd', 'closedByServer'];
  for (const k of bad) if (tot[k]) failures.push(`${k}: ${tot[k]}`);
  let alive = true;
  try { process.kill(serverPid, 0); await get('/healthz'); } catch { alive = false; failures.push('the server is not alive at the end'); }

  const post = samples.filter((s) => s.phase === 'measured');
  const med = (a) => { const b = a.map((s) => s.rss).sort((x, y) => x - y); return b[Math.floor(b.length / 2)]; };
  let drift = null;
  const win = Math.min(10, Math.floor(post.length / 2));
  if (win >= 3) {
    const a = med(post.slice(0, win));
    const b = med(post.slice(-win));
    drift = (b - a) / a;
    if (Math.abs(drift) > C.maxDrift) failures.push(`RSS drift ${(drift * 100).toFixed(2)}% (limit ${C.maxDrift * 100}%)`);
  } else failures.push(`too few samples after warm-up (${post.length}) to judge RSS`);
  const lag = lagAtWarm && lagLast ? lagP99(lagAtWarm, lagLast) : { p99: NaN, n: 0, max: NaN };
  if (!(lag.p99 * 1000 <= C.maxLagMs)) failures.push(`event-loop lag p99 ${lag.p99 * 1000} ms (limit ${C.maxLagMs} ms)`);

  const clientsHeld = workers.reduce((a, w) => a + (w.open || 0), 0);
  const lastKiB = win >= 3 ? med(post.slice(-win)) : null;
  const perClient = lastKiB && clientsHeld ? Math.round(((lastKiB - idleKiB) * 1024) / clientsHeld) : null;
  if (perClient !== null && perClient > C.maxRssPerClient) failures.push(`RSS per client ${perClient} B (limit ${C.maxRssPerClient} B)`);
  const summary = {
    config: C, port, rampSeconds: rampEnd, warmupEndSeconds: warmEnd, loadEndSeconds: loadEnd,
    clientsHeld, peakFds: Math.max(...samples.map((s) => s.nfd)),
    rss: { idleKiB, firstKiB: win >= 3 ? med(post.slice(0, win)) : null, lastKiB,
      maxKiB: Math.max(...samples.map((s) => s.rss)), drift, perClientBytes: perClient },
    lag: { p99Seconds: lag.p99, maxBucketSeconds: lag.max, samples: lag.n },
    checked: {
      wsEchoes: tot.echoOk, wsBroadcastDeliveries: tot.bcastDelivered, wsBroadcastsSent: tot.bcastSent,
      sioRoomMessagesAcked: tot.sent, sioDeliveries: tot.delivered, sioAcks: tot.acked,
      sioEchoAcks: tot.echoes, sioRoomJoinLeaves: tot.roomOps,
    },
    churn: { wsClosedAndReopened: tot.churned, wsDroppedAndReconnected: tot.dropped, wsReconnects: tot.reconnected,
      sioDisconnectedAndReplaced: tot.churned, sioDroppedAndRecovered: tot.recovered, sioDisconnectReasons: reasons },
    totals: tot, scrapeFailures, serverAlive: alive, failures, pass: failures.length === 0,
  };
  // The two kinds of worker share counter names: report them apart.
  const sum = (label, k) => workers.filter((w) => w.label.startsWith(label) && w.result).reduce((a, w) => a + (w.result.stats[k] || 0), 0);
  summary.churn.wsClosedAndReopened = sum('ws', 'churned');
  summary.churn.sioDisconnectedAndReplaced = sum('sio', 'churned');
  summary.churn.wsDroppedAndReconnected = sum('ws', 'dropped');
  summary.churn.sioDropped = sum('sio', 'dropped');
  fs.writeFileSync(`${outPrefix}.json`, JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));
  log(summary.pass ? 'PASS' : `FAIL: ${failures.join('; ')}`);
  process.exit(summary.pass ? 0 : 1);
}

setTimeout(() => { log('driver deadline passed'); for (const w of workers) { try { w.proc.kill('SIGKILL'); } catch { /* gone */ } } process.exit(2); }, deadlineMs + 60000).unref();
main().catch((e) => { console.error(e); for (const w of workers) { try { w.proc.kill('SIGKILL'); } catch { /* gone */ } } process.exit(2); });
