'use strict';
// Helpers for the reliability tests (wsio-server under faults: slow consumers,
// slowloris, vanished clients, descriptor exhaustion, SIGTERM under load, leaks).
// Everything of tests/product/helpers.js (server start/stop by PID, /metrics scrape,
// raw WebSocket frames, deadlines on every wait), plus what these tests need: the
// server's RSS and CPU time from /proc, many connections opened with bounded
// concurrency, and latency percentiles. Every server listens on 127.0.0.1.

const fs = require('node:fs');
const base = require('../product/helpers');

/* Resident set size of `pid` in bytes. */
function rssBytes(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024;
}

/* CPU seconds (user + system) `pid` has used so far. */
function cpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/* Open descriptors of `pid`. */
function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/* Runs `fn(i)` for i in [0, n) with at most `conc` in flight; resolves to the results. */
async function pool(n, conc, fn) {
  const out = new Array(n);
  let i = 0;
  const run = async () => { while (i < n) { const k = i++; out[k] = await fn(k); } };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, run));
  return out;
}

/* The p-th percentile (0..100) of the numbers in `a` (nearest rank). */
function percentile(a, p) {
  if (!a.length) return NaN;
  const b = [...a].sort((x, y) => x - y);
  return b[Math.min(b.length - 1, Math.max(0, Math.ceil((p / 100) * b.length) - 1))];
}

/* Samples `fn()` every `ms` until stop() is called; stop() resolves to the samples. */
function sampler(fn, ms) {
  const samples = [];
  const t = setInterval(() => { try { samples.push(fn()); } catch { /* the process is gone */ } }, ms);
  return { samples, stop: () => { clearInterval(t); return samples; } };
}

/* The soft descriptor limit of this process (the tests size themselves under it). */
function fdLimit() {
  const m = /Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

module.exports = { ...base, rssBytes, cpuSeconds, fdCount, pool, percentile, sampler, fdLimit };
