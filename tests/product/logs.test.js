'use strict';
// wsio-server's logs: one line per event worth knowing (listen, stop, abnormal closes,
// errors), to stderr by default; --log-format text|json; --log-level; --log-file PATH
// instead of stderr, reopened on SIGHUP (logrotate: rename, SIGHUP, a new file at PATH).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  until, startServer, runServer, freePort, httpGet, wsOpen, readIfExists, sleep,
} = require('./helpers.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-product-logs-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXT_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info|warn|error) wsio-server: (.+)$/;

const lines = (text) => text.split('\n').filter((l) => l !== '');

function parseText(text) {
  return lines(text).map((l) => {
    const m = TEXT_LINE.exec(l);
    assert.ok(m, `a text log line has a timestamp, a level and a message: ${JSON.stringify(l)}`);
    return { time: m[1], level: m[2], msg: m[3] };
  });
}

function parseJson(text) {
  return lines(text).map((l) => {
    let o;
    assert.doesNotThrow(() => { o = JSON.parse(l); }, `a JSON log line: ${JSON.stringify(l)}`);
    assert.equal(typeof o.time, 'string');
    assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level), `level ${o.level}`);
    assert.equal(typeof o.msg, 'string');
    return o;
  });
}

/* Makes one abnormal close (1006) happen and waits until the server saw it. */
async function abnormalClose(port) {
  const c = await wsOpen(port, '/echo');
  c._socket.destroy();
  await until(async () => /wsio_connections\{transport="websocket"\} 0\n/.test((await httpGet(port, '/metrics')).body),
    3000, 'the server noticed the lost connection');
}

test('text format: timestamp, level and message on every line; listen and stop lines', async () => {
  const srv = await startServer([]);
  await abnormalClose(srv.port);
  const res = await srv.stop();
  assert.equal(res.code, 0);
  const ls = parseText(srv.stderr());
  const msgs = ls.map((l) => `${l.level} ${l.msg}`);
  assert.ok(msgs.some((m) => new RegExp(`^info listening on 127\\.0\\.0\\.1:${srv.port} \\(app chat, version \\d+\\.\\d+\\.\\d+\\)$`).test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^info abnormal close \(1006\) of 127\.0\.0\.1/.test(m)), `abnormal close logged at info:\n${msgs.join('\n')}`);
  assert.ok(msgs.some((m) => /^info received SIGTERM: shutting down gracefully$/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^info stopped \(1 WebSocket connections served\)$/.test(m)), msgs.join('\n'));
  // One line per event, not per request: the /metrics polls logged nothing.
  assert.ok(ls.length <= 6, `few lines: ${msgs.join('\n')}`);
  // The timestamps are now-ish (UTC) and in order.
  const times = ls.map((l) => Date.parse(l.time));
  for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1], 'timestamps in order');
  assert.ok(Math.abs(times[0] - Date.now()) < 60000, 'timestamps are UTC now');
  assert.equal(srv.stdout(), '', 'nothing on stdout');
});

test('--log-format json: one valid JSON object per line with time, level and msg', async () => {
  const srv = await startServer(['--log-format', 'json']);
  await abnormalClose(srv.port);
  const res = await srv.stop();
  assert.equal(res.code, 0);
  const ls = parseJson(srv.stderr());
  assert.ok(ls.some((o) => o.level === 'info' && o.msg.startsWith(`listening on 127.0.0.1:${srv.port}`)));
  assert.ok(ls.some((o) => o.level === 'info' && o.msg.startsWith('abnormal close (1006)')));
  assert.ok(ls.some((o) => o.msg.startsWith('stopped')));
});

test('--log-format json escapes what needs escaping', async () => {
  // A static folder with a quote, a backslash and a tab in its name: the warning quotes it.
  const odd = path.join(tmp, 'odd "dir"\\\tname');
  const srv = await startServer(['--log-format', 'json', '--static', odd]);
  await srv.stop();
  const ls = parseJson(srv.stderr());
  const w = ls.find((o) => o.level === 'warn');
  assert.ok(w, 'the missing static folder is a warning');
  assert.ok(w.msg.includes(odd), `the path survives JSON escaping: ${w.msg}`);
});

test('--log-level warn hides info lines, keeps warnings', async () => {
  const port = await freePort(); // the listening line is info: hidden, so choose the port here
  const srv = await startServer(['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn',
    '--static', path.join(tmp, 'missing')], { raw: true, expectListen: false });
  await until(async () => { try { return (await httpGet(port, '/healthz')).status === 200; } catch { return false; } },
    5000, 'server up');
  await abnormalClose(port);
  const res = await srv.stop();
  assert.equal(res.code, 0);
  const ls = parseText(srv.stderr());
  assert.ok(ls.length >= 1, 'the warning is there');
  for (const l of ls) assert.ok(l.level === 'warn' || l.level === 'error', `no ${l.level} line: ${l.msg}`);
  assert.match(ls[0].msg, /static folder .*missing.* not served/);
});

test('--log-level off logs nothing; --log-level debug still logs the info lines', async () => {
  const port = await freePort();
  const off = await startServer(['--host', '127.0.0.1', '--port', String(port), '--log-level', 'off'], { raw: true, expectListen: false });
  await until(async () => { try { return (await httpGet(port, '/healthz')).status === 200; } catch { return false; } },
    5000, 'server up');
  await abnormalClose(port);
  assert.equal((await off.stop()).code, 0);
  assert.equal(off.stderr(), '');

  const dbg = await startServer(['--log-level', 'debug']);
  assert.equal((await dbg.stop()).code, 0);
  const ls = parseText(dbg.stderr());
  assert.ok(ls.some((l) => l.level === 'info' && l.msg.startsWith('listening on')));
});

test('errors are logged: a port already in use fails with a clear line and exit 1', async () => {
  const a = await startServer([]);
  try {
    const r = await runServer(['--host', '127.0.0.1', '--port', String(a.port)]);
    assert.equal(r.code, 1);
    const ls = parseText(r.stderr);
    assert.ok(ls.some((l) => l.level === 'error' && l.msg.includes(`cannot listen on 127.0.0.1:${a.port}`)), r.stderr);
  } finally {
    await a.stop();
  }
});

test('--log-file PATH: the log goes there, not to stderr', async () => {
  const file = path.join(tmp, 'server.log');
  const srv = await startServer(['--log-file', file], { logFile: file });
  await abnormalClose(srv.port);
  assert.equal((await srv.stop()).code, 0);
  assert.equal(srv.stderr(), '', 'nothing on stderr');
  const ls = parseText(readIfExists(file));
  assert.ok(ls.some((l) => l.msg.startsWith(`listening on 127.0.0.1:${srv.port}`)));
  assert.ok(ls.some((l) => l.msg.startsWith('abnormal close (1006)')));
  assert.ok(ls.some((l) => l.msg.startsWith('stopped')));

  // Appends: a second run adds to the same file.
  const before = ls.length;
  const again = await startServer(['--log-file', file], { logFile: file });
  await until(() => lines(readIfExists(file)).length > before, 3000, 'second run logs');
  assert.equal((await again.stop()).code, 0);
  assert.ok(lines(readIfExists(file)).length >= before + 3, 'appended, not truncated');
});

test('--log-file that cannot be opened: exit 2 naming the option', async () => {
  const r = await runServer(['--port', '0', '--log-file', path.join(tmp, 'no', 'such', 'dir', 'x.log')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--log-file .*x\.log/);
});

test('SIGHUP after renaming the log file: the server writes to a new file at PATH', async () => {
  const file = path.join(tmp, 'rotate.log');
  const rotated = `${file}.1`;
  const srv = await startServer(['--log-file', file], { logFile: file });
  try {
    fs.renameSync(file, rotated); // logrotate's "create" mode
    await abnormalClose(srv.port); // still written to the renamed file (same descriptor)
    await until(() => /abnormal close/.test(readIfExists(rotated)), 2000, 'the old file still receives lines');
    srv.signal('SIGHUP');
    await until(() => /SIGHUP: log file reopened/.test(readIfExists(file)), 3000, 'a new file at PATH after SIGHUP');
    await abnormalClose(srv.port);
    await until(() => /abnormal close/.test(readIfExists(file)), 2000, 'new lines in the new file');
  } finally {
    assert.equal((await srv.stop()).code, 0, 'SIGHUP did not stop the server');
  }
  const oldLines = parseText(readIfExists(rotated));
  const newLines = parseText(readIfExists(file));
  assert.ok(oldLines.some((l) => l.msg.startsWith('listening on')));
  assert.equal(oldLines.filter((l) => l.msg.startsWith('abnormal close')).length, 1);
  assert.ok(!oldLines.some((l) => l.msg.includes('SIGHUP')), 'nothing after the reopen goes to the old file');
  assert.equal(newLines.filter((l) => l.msg.startsWith('abnormal close')).length, 1);
  assert.ok(newLines.some((l) => l.msg.startsWith('stopped')));
  assert.equal(srv.stderr(), '');
});

test('SIGHUP without --log-file is harmless: the server keeps running', async () => {
  const srv = await startServer([]);
  try {
    srv.signal('SIGHUP');
    await sleep(200);
    assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
    assert.equal(srv.proc.exitCode, null);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
  parseText(srv.stderr());
});
