/* wsio live stats page: polls /metrics (Prometheus text exposition format 0.0.4) once a
 * second and shows connections, messages per second, rooms and Socket.IO sockets.
 *
 * Metrics read:
 *   wsio_connections{transport="websocket"|"polling"}   gauge
 *   wsio_messages_received_total, wsio_messages_sent_total   counters (rates from deltas)
 *   wsio_rooms, wsio_sio_sockets                        gauges
 * When /metrics is missing, unreachable or has none of them, the page says "metrics
 * unavailable" and keeps trying. parseMetrics is exported for Node so it can be tested
 * without a browser. */
(function () {
  'use strict';

  /* ---- the text format ---------------------------------------------------------------- */

  var NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  var LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

  function parseValue(s) {
    if (s === '+Inf' || s === 'Inf') return Infinity;
    if (s === '-Inf') return -Infinity;
    if (s === 'NaN') return NaN;
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
    return Number(s);
  }

  /* Parses one label set starting after '{'; returns [labels, index after '}'] or null. */
  function parseLabels(line, i) {
    var labels = {};
    for (;;) {
      while (line[i] === ' ' || line[i] === '\t' || line[i] === ',') i++;
      if (line[i] === '}') return [labels, i + 1];
      var m = LABEL.exec(line.slice(i));
      if (!m) return null;
      i += m[0].length;
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (line[i] !== '=') return null;
      i++;
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (line[i] !== '"') return null;
      i++;
      var v = '';
      for (;;) {
        if (i >= line.length) return null;
        var c = line[i++];
        if (c === '"') break;
        if (c === '\\') {
          var e = line[i++];
          v += e === 'n' ? '\n' : e; /* \\ \" \n are the only escapes */
        } else {
          v += c;
        }
      }
      labels[m[0]] = v;
    }
  }

  /* Returns {samples: [{name, labels, value}], types: {family: type}}. Lines that do not
   * parse are skipped, as a scraper would report and move on. */
  function parseMetrics(text) {
    var samples = [], types = {};
    var lines = String(text).split(/\r?\n/);
    for (var k = 0; k < lines.length; k++) {
      var line = lines[k].replace(/^[ \t]+/, '');
      if (!line) continue;
      if (line[0] === '#') {
        var t = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
        if (t) types[t[1]] = t[2];
        continue;
      }
      var m = NAME.exec(line);
      if (!m) continue;
      var i = m[0].length, labels = {};
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (line[i] === '{') {
        var r = parseLabels(line, i + 1);
        if (!r) continue;
        labels = r[0];
        i = r[1];
      }
      var rest = line.slice(i).trim().split(/[ \t]+/);
      var value = parseValue(rest[0]);
      if (value === undefined) continue;
      samples.push({ name: m[0], labels: labels, value: value });
    }
    return { samples: samples, types: types };
  }

  /* The sum of the samples named name whose labels include want (all of them when want
   * is omitted); null when there is none. */
  function metric(parsed, name, want) {
    var sum = null;
    parsed.samples.forEach(function (s) {
      if (s.name !== name) return;
      for (var key in want || {}) if (s.labels[key] !== want[key]) return;
      sum = (sum || 0) + s.value;
    });
    return sum;
  }

  if (typeof module !== 'undefined' && module.exports) {
    module.exports = { parseMetrics: parseMetrics, metric: metric };
  }
  if (typeof document === 'undefined') return;

  /* ---- the page ---------------------------------------------------------------------- */

  var POLL_MS = 1000;
  var RETRY_MS = 5000; /* while /metrics is unavailable */
  var HISTORY = 120; /* samples in the chart */

  function $(id) { return document.getElementById(id); }

  var prev = null;          /* {t, rin, rout} of the last good scrape */
  var history = [];         /* [{rin, rout}] rates, newest last */
  var timer = null;
  var nf = new Intl.NumberFormat();

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    return nf.format(Math.round(v));
  }

  function fmtRate(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    return v < 10 && v > 0 ? v.toFixed(1) : nf.format(Math.round(v));
  }

  function set(id, text) { $(id).textContent = text; }

  function setConn(state, text) {
    $('conn').dataset.state = state;
    $('conn-text').textContent = text;
  }

  function unavailable(why) {
    $('unavailable').hidden = false;
    set('unavailable-why', why);
    setConn('disconnected', 'No metrics');
    prev = null;
  }

  function drawChart() {
    var peak = 0;
    history.forEach(function (h) { peak = Math.max(peak, h.rin || 0, h.rout || 0); });
    var top = peak > 0 ? peak * 1.15 : 1;
    function points(key) {
      var off = HISTORY - history.length;
      return history.map(function (h, i) {
        var v = h[key] || 0;
        return (off + i) + ',' + (100 - (v / top) * 100).toFixed(2);
      }).join(' ');
    }
    $('line-in').setAttribute('points', points('rin'));
    $('line-out').setAttribute('points', points('rout'));
    set('v-peak', fmtRate(peak));
  }

  function drawRaw(parsed) {
    var body = $('raw-rows');
    body.textContent = '';
    parsed.samples.forEach(function (s) {
      if (s.name.indexOf('wsio_') !== 0) return;
      var tr = document.createElement('tr');
      var name = document.createElement('td');
      var code = document.createElement('code');
      var labels = Object.keys(s.labels).map(function (k) { return k + '="' + s.labels[k] + '"'; });
      code.textContent = s.name + (labels.length ? '{' + labels.join(',') + '}' : '');
      name.append(code);
      var val = document.createElement('td');
      val.textContent = Number.isInteger(s.value) ? nf.format(s.value) : String(s.value);
      tr.append(name, val);
      body.append(tr);
    });
  }

  function show(parsed, t) {
    var ws = metric(parsed, 'wsio_connections', { transport: 'websocket' });
    var poll = metric(parsed, 'wsio_connections', { transport: 'polling' });
    var conns = metric(parsed, 'wsio_connections');
    var rin = metric(parsed, 'wsio_messages_received_total');
    var rout = metric(parsed, 'wsio_messages_sent_total');
    var rooms = metric(parsed, 'wsio_rooms');
    var sockets = metric(parsed, 'wsio_sio_sockets');
    if ([conns, rin, rout, rooms, sockets].every(function (v) { return v === null; })) {
      unavailable('/metrics has none of the wsio_* metrics this page reads');
      return false;
    }
    $('unavailable').hidden = true;
    setConn('connected', 'Live');

    set('v-conn', fmt(conns));
    set('v-conn-ws', fmt(ws));
    set('v-conn-poll', fmt(poll));
    set('v-rooms', fmt(rooms));
    set('v-sockets', fmt(sockets));
    set('v-total-in', fmt(rin));
    set('v-total-out', fmt(rout));

    /* Rates from counter deltas; a counter that went down means the server restarted. */
    var rate = { rin: null, rout: null };
    if (prev && t > prev.t) {
      var dt = (t - prev.t) / 1000;
      if (rin !== null && prev.rin !== null && rin >= prev.rin) rate.rin = (rin - prev.rin) / dt;
      if (rout !== null && prev.rout !== null && rout >= prev.rout) rate.rout = (rout - prev.rout) / dt;
      history.push(rate);
      if (history.length > HISTORY) history.shift();
      drawChart();
    }
    prev = { t: t, rin: rin, rout: rout };
    set('v-rate-in', fmtRate(rate.rin));
    set('v-rate-out', fmtRate(rate.rout));
    set('updated', 'Updated ' + new Date(t).toLocaleTimeString() + ' from /metrics.');
    drawRaw(parsed);
    return true;
  }

  function poll() {
    var ok = false;
    clearTimeout(timer);
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var abort = ctl && setTimeout(function () { ctl.abort(); }, 4000);
    fetch('/metrics', { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (res) {
        if (!res.ok) throw new Error('GET /metrics answered ' + res.status);
        return res.text();
      })
      .then(function (text) { ok = show(parseMetrics(text), Date.now()); })
      .catch(function (err) {
        unavailable(err && err.name === 'AbortError' ? 'no answer from /metrics' :
                    err && err.message && /answered/.test(err.message) ? err.message : 'cannot reach the server');
      })
      .then(function () {
        clearTimeout(abort);
        if (!document.hidden) timer = setTimeout(poll, ok ? POLL_MS : RETRY_MS);
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      clearTimeout(timer);
    } else {
      prev = null; /* a long pause would average the rate over it */
      poll();
    }
  });

  poll();
})();
