'use strict';
// tests/client/sio.test.js — the library's Socket.IO client role (src/client/sio_client.c
// and eio_client.c) through wsio-cat --sio, against wsio-server --app conformance,
// against Node socket.io 4.8 (tests/client/sio_server.js) and against raw HTTP servers
// that break Engine.IO on purpose.
//
// Owns: what the client sends, prints and exits with in Socket.IO mode. Every server
// listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const servers = require('../sio/servers.js');

const { CAT, catRunner, jsonLines, startNode, rawServer, handshakeThen, sleep, waitFor } = require('./helpers.js');

// wsio-cat --sio; input (string) is written then stdin ends, unless `open` keeps it
// open for the test to write. c.lines(): stdout so far as JSON lines.
const runCat = catRunner({ timeout: 30000 });

// Events printed by wsio-cat, without the recovery offset Node appends (a string last
// argument) when `strip` is set.
function events(lines, name, strip = true) {
  return lines.filter((l) => Array.isArray(l) && l[0] === name).map((l) => (strip ? l.slice(1, -1) : l.slice(1)));
}

// ---- against wsio-server and Node: transports, namespaces, acks, binary ---------------

for (const kind of ['wsio', 'node']) {
  test(`${kind}: polling with upgrade, polling only and websocket only: acks and binary both ways`, async () => {
    const srv = kind === 'wsio' ? await servers.start('wsio', 'conformance') : await startNode();
    try {
      const url = `http://127.0.0.1:${srv.port}`;
      for (const [t, want] of [[[], 'websocket'], [['-T', 'polling'], null], [['-T', 'websocket'], null]]) {
        const input = 'ack ' + (kind === 'wsio' ? 'message-with-ack' : 'echo') +
          ' {"a":[1,"ü"]} {"_binary":"00ff10"} "x"\n';
        // With an upgrade to come, the emit waits for it: over kept-alive polling
        // connections the whole exchange can end before the probe is answered.
        const c = runCat(['-n', '-v', '--sio', url, ...t], { open: !!want, input });
        if (want) {
          await waitFor(() => /upgraded to websocket/.test(c.err()), 15000, 'the upgrade');
          c.child.stdin.end(input);
        }
        const r = await c.done;
        assert.equal(r.code, 0, r.stderr);
        const acks = jsonLines(r.stdout).filter((l) => l.ack);
        assert.deepEqual(acks[0].args, [{ a: [1, 'ü'] }, { _binary: '00ff10' }, 'x'], r.stdout);
        if (want) assert.match(r.stderr, /upgraded to websocket/);
        else assert.doesNotMatch(r.stderr, /upgraded/);
        if (t[1] === 'websocket') assert.doesNotMatch(r.stderr, /eio polling/);
        // Engine.IO packets are traced with their transport, and the binary attachment
        // went out as a binary message.
        assert.match(r.stderr, /> eio (polling|websocket) binary message, 3 bytes/);
        assert.match(r.stderr, /< eio (polling|websocket) binary message, 3 bytes/);
      }
    } finally {
      await srv.stop();
    }
  });

  test(`${kind}: a refused namespace is a clear connect_error and exit 2; auth reaches the server`, async () => {
    const srv = kind === 'wsio' ? await servers.start('wsio', 'conformance') : await startNode();
    try {
      const url = `http://127.0.0.1:${srv.port}`;
      const nsp = kind === 'wsio' ? '/nope' : '/secure';
      const r = await runCat(['-n', '--sio', url, '-N', nsp, '-a', '{"token":"no"}'], { input: 'emit x 1\n' }).done;
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, kind === 'wsio' ? /connect_error: \{"message":"Invalid namespace"\}/ : /connect_error: \{"message":"bad token"\}/);
      const okNsp = kind === 'wsio' ? '/custom' : '/secure';
      const c = runCat(['-n', '--sio', url, '-N', okNsp, '-a', '{"token":"ok"}', '-H', 'X-Test: yes'], { open: true });
      await waitFor(() => c.lines().length > 0, 15000, 'the first event');
      c.child.stdin.end();
      const ok = await c.done;
      assert.equal(ok.code, 0, ok.stderr);
      const first = jsonLines(ok.stdout)[0];
      if (kind === 'wsio') assert.deepEqual(first.slice(0, 2), ['auth', { token: 'ok' }]);
      else {
        assert.deepEqual(first[1].auth, { token: 'ok' });
        assert.equal(first[1].xtest, 'yes', 'extra headers reach the server');
      }
    } finally {
      await srv.stop();
    }
  });
}

test('-v shows heartbeats with their timing (wsio --app conformance: pingInterval 300 ms)', async () => {
  const srv = await servers.start('wsio', 'conformance');
  try {
    for (const t of ['websocket', 'polling']) {
      const c = runCat(['-v', '-n', '-T', t, '--sio', `http://127.0.0.1:${srv.port}`], { open: true });
      await waitFor(() => (c.err().match(/> eio pong/g) || []).length >= 2, 15000, 'two pongs');
      c.child.stdin.end();
      const d = await c.done;
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stderr, new RegExp(`^\\* \\d+\\.\\d{3} < eio ${t} ping $`, 'm'));
      assert.match(d.stderr, new RegExp(`^\\* \\d+\\.\\d{3} > eio pong \\(${t}\\) \\d+ ms after the server's ping$`, 'm'));
    }
  } finally {
    await srv.stop();
  }
});

// ---- Node socket.io 4.8 only: timeouts, volatile, server disconnect ---------------------

test('an ack that never comes times out (exit 4); volatile emits are dropped while not connected', async () => {
  const srv = await startNode();
  try {
    const url = `http://127.0.0.1:${srv.port}`;
    const t0 = Date.now();
    const r = await runCat(['-n', '-t', '1', '--sio', url], { input: 'ack slow 1\n' }).done;
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /ack slow: timed out/);
    assert.ok(Date.now() - t0 < 8000);

    const c = runCat(['-n', '-T', 'websocket', '--sio', url], { open: true });
    c.child.stdin.write('volatile log "v-early"\nemit log "e1"\n');
    await waitFor(() => events(c.lines(), 'hello').length === 1, 15000, 'hello');
    c.child.stdin.write('volatile log "v-late"\n');
    await sleep(200);
    c.child.stdin.end('ack count\n');
    const d = await c.done;
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /log dropped \(volatile: not connected or not writable\)/);
    const count = jsonLines(d.stdout).find((l) => l.ack === 'count');
    assert.deepEqual(count.args, [['e1', 'v-late']]);
  } finally {
    await srv.stop();
  }
});

test('the server disconnecting the socket ends with "io server disconnect" and exit 0', async () => {
  const srv = await startNode();
  try {
    const c = runCat(['--sio', `http://127.0.0.1:${srv.port}`], { open: true });
    await waitFor(() => events(c.lines(), 'hello').length === 1, 15000, 'hello');
    c.child.stdin.write('emit bye\n');
    const d = await c.done;
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /disconnect: io server disconnect/);
    c.child.stdin.end();
  } finally {
    await srv.stop();
  }
});

test('polling: packets queued behind an in-flight POST at close still go out, the close last', async () => {
  // Regression: the session was freed when the POST in flight at close time came back,
  // dropping what was queued behind it (DISCONNECT and the close packet included), and
  // the long-poll GET was cut, which Node takes for a broken session.
  const srv = await startNode();
  try {
    const url = `http://127.0.0.1:${srv.port}`;
    let input = '';
    for (let i = 1; i <= 20; i++) input += `emit log ${i}\n`;
    const r = await runCat(['-n', '-v', '-T', 'polling', '--sio', url], { input }).done;
    assert.equal(r.code, 0, r.stderr);
    // The first emit left alone in the first POST, the rest queued behind it.
    assert.match(r.stderr, /> eio polling message 2\["log",20\]\n.*> eio polling message 1\n.*> eio polling close/s);
    const q = await runCat(['-n', '--sio', url], { input: 'ack count\nack reasons\n' }).done;
    const lines = jsonLines(q.stdout);
    // Node drops events that share a payload with the socket's DISCONNECT (its
    // dispatch runs on the next tick, after the socket left): only their order is
    // certain.
    const got = lines.find((l) => l.ack === 'count').args[0];
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
    assert.deepEqual(lines.find((l) => l.ack === 'reasons').args[0], ['client namespace disconnect']);
  } finally {
    await srv.stop();
  }
});

// ---- reconnection and recovery ----------------------------------------------------------

test('reconnect while the server restarts: backoff observed, emits made offline flushed in order, none twice', async () => {
  let srv = await startNode();
  const port = srv.port;
  const c = runCat(['-v', '--sio', `http://127.0.0.1:${port}`], { open: true, timeout: 60000 });
  try {
    await waitFor(() => events(c.lines(), 'hello').length === 1, 15000, 'hello');
    c.child.stdin.write('emit log "before"\n');
    await sleep(300);
    await srv.stop();
    await waitFor(() => /disconnect: transport (close|error) \(reconnecting\)/.test(c.err()), 15000, 'disconnect');
    for (let i = 1; i <= 5; i++) c.child.stdin.write(`emit log ${i}\n`);
    // At least two failed attempts, so the backoff grows.
    await waitFor(() => /reconnect: attempt 3 in/.test(c.err()), 30000, 'attempt 3');
    srv = await startNode(['--port', String(port)]);
    await waitFor(() => events(c.lines(), 'hello').length === 2, 20000, 'second hello');
    c.child.stdin.end('ack count\n');
    const d = await c.done;
    assert.equal(d.code, 0, d.stderr);
    const count = jsonLines(d.stdout).find((l) => l.ack === 'count');
    assert.deepEqual(count.args, [[1, 2, 3, 4, 5]], 'the new server got each buffered emit once, in order');
    const delays = [...d.stderr.matchAll(/reconnect: attempt (\d+) in (\d+) ms/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.ok(delays.length >= 3, d.stderr);
    // 1 s * 2^(n-1), +-50 %, capped at 5 s.
    for (const [n, ms] of delays) {
      const base = Math.min(1000 * 2 ** (n - 1), 5000);
      assert.ok(ms >= base * 0.5 - 1 && ms <= Math.min(base * 1.5, 5000) + 1, `attempt ${n}: ${ms} ms`);
    }
    assert.match(d.stderr, /reconnected after \d+ attempt/);
  } finally {
    c.child.kill('SIGKILL');
    await srv.stop();
  }
});

for (const kind of ['wsio', 'node']) {
  test(`${kind} --app test restarts (SIGTERM): the client reconnects, emits made offline arrive in order, once`, async () => {
    let srv = await servers.start(kind, 'test');
    const port = srv.port;
    const c = runCat(['-v', '--sio', `http://127.0.0.1:${port}`], { open: true, timeout: 60000 });
    try {
      await waitFor(() => /connected: namespace sid/.test(c.err()), 15000, 'connected');
      await srv.stop();
      await waitFor(() => /disconnect: transport (close|error) \(reconnecting\)/.test(c.err()), 15000, 'disconnect');
      for (let i = 1; i <= 5; i++) c.child.stdin.write(`emit self "n" ${i}\n`);
      srv = await servers.start(kind, 'test', ['--port', String(port)]);
      await waitFor(() => events(c.lines(), 'n', false).length >= 5, 20000, 'the five echoes');
      c.child.stdin.end('ack info\n');
      const d = await c.done;
      assert.equal(d.code, 0, d.stderr);
      // `self` replies with socket.emit: with recovery on, each carries an offset.
      assert.deepEqual(events(jsonLines(d.stdout), 'n'), [[1], [2], [3], [4], [5]]);
      assert.match(d.stderr, /reconnected after \d+ attempt/);
    } finally {
      c.child.kill('SIGKILL');
      await srv.stop();
    }
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`recovery after a forced drop (${transport}): pid and offset resent, missed events delivered exactly once`, async () => {
    const srv = await startNode();
    const c = runCat(['-v', '-T', transport, '--sio', `http://127.0.0.1:${srv.port}`], { open: true, timeout: 60000 });
    try {
      await waitFor(() => events(c.lines(), 'hello').length === 1, 15000, 'hello');
      c.child.stdin.write('emit echo "e1"\n');
      await waitFor(() => events(c.lines(), 'echo').length === 1, 15000, 'echo');
      c.child.stdin.write('emit drop\n');
      await waitFor(() => /\(recovered\)/.test(c.err()), 20000, 'recovered');
      await waitFor(() => events(c.lines(), 'tick').length >= 2, 15000, 'ticks');
      await sleep(300);
      c.child.stdin.end('ack whoami\n');
      const d = await c.done;
      assert.equal(d.code, 0, d.stderr);
      const lines = jsonLines(d.stdout);
      assert.deepEqual(events(lines, 'tick'), [['missed-1'], ['missed-2']]);
      // Node runs the connection handler again, with socket.recovered set.
      assert.deepEqual(events(lines, 'hello').map((h) => h[0].recovered), [false, true]);
      assert.equal(jsonLines(d.stdout).find((l) => l.ack === 'whoami').args[0], transport);
      // The CONNECT after the drop carried the pid and the last offset seen.
      assert.match(d.stderr, /> eio \w+ message 0\{"pid":"[^"]+","offset":"[^"]+"\}/);
    } finally {
      c.child.kill('SIGKILL');
      await srv.stop();
    }
  });
}

// A TCP proxy in front of a server, whose connections the test can cut (a network
// failure both ends see as "transport close", which recovery covers).
function cutProxy(port) {
  const conns = new Set();
  return new Promise((resolve) => {
    const srv = net.createServer((c) => {
      const u = net.connect(port, '127.0.0.1');
      for (const x of [c, u]) { conns.add(x); x.on('error', () => {}); x.on('close', () => conns.delete(x)); }
      c.pipe(u);
      u.pipe(c);
    });
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port,
      cut: () => { for (const x of conns) x.destroy(); },
      close: () => { for (const x of conns) x.destroy(); srv.close(); },
    }));
  });
}

for (const kind of ['wsio', 'node']) {
  for (const transport of ['websocket', 'polling']) {
    test(`${kind} --app test: a cut connection is recovered (${transport}), events emitted meanwhile arrive once`, async () => {
      const srv = await servers.start(kind, 'test');
      const proxy = await cutProxy(srv.port);
      const a = runCat(['-v', '-T', transport, '--sio', `http://127.0.0.1:${proxy.port}`], { open: true, timeout: 60000 });
      try {
        await waitFor(() => /connected: namespace sid/.test(a.err()), 15000, 'connected');
        // An event first: recovery needs an offset to resume from (as the JS client,
        // the last offset seen is sent; without one the server starts afresh).
        a.child.stdin.write('ack join "r"\nack self "hi" 1\n');
        await waitFor(() => events(a.lines(), 'hi').length === 1, 15000, 'hi');
        proxy.cut();
        await waitFor(() => /disconnect: transport (close|error) \(reconnecting\)/.test(a.err()), 15000, 'disconnect');
        const b = await runCat(['-n', '--sio', `http://127.0.0.1:${srv.port}`],
          { input: 'ack in-room "r" "news" "m1"\nack in-room "r" "news" "m2"\n' }).done;
        assert.equal(b.code, 0, b.stderr);
        await waitFor(() => /\(recovered\)/.test(a.err()), 20000, 'recovered');
        a.child.stdin.write('ack info\n');
        await waitFor(() => a.lines().some((l) => l.ack === 'info'), 15000, 'info');
        a.child.stdin.end();
        const d = await a.done;
        assert.equal(d.code, 0, d.stderr);
        const lines = jsonLines(d.stdout);
        assert.deepEqual(events(lines, 'news'), [['m1'], ['m2']]);
        assert.match(d.stderr, /> eio \w+ message 0\{"pid":"[^"]+","offset":"[^"]+"\}/);
        const info = lines.find((l) => l.ack === 'info').args[0];
        assert.equal(info.recovered, true);
        assert.deepEqual(info.rooms, ['r']);
      } finally {
        a.child.kill('SIGKILL');
        proxy.close();
        await srv.stop();
      }
    });
  }
}

// ---- malicious and broken servers ----------------------------------------------------------

function httpOnce(body, { status = '200 OK', headers = '' } = {}) {
  return rawServer((s) => {
    s.once('data', () => {
      const b = Buffer.from(body);
      s.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${b.length}\r\n${headers}\r\n`), b]));
    });
  });
}

test('a garbage open packet, a huge Engine.IO payload, a refusal: clear errors and exit codes, no crash', async () => {
  const garbage = await httpOnce('0{"sid":');
  const notOpen = await httpOnce('4hello');
  const refused = await httpOnce('{"code":4,"message":"Forbidden"}', { status: '403 Forbidden' });
  const huge = await rawServer((s) => {
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 500000000\r\n\r\n0{'));
  });
  const endless = await rawServer((s) => {
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0');
      const chunk = Buffer.alloc(65536, 0x61);
      const pump = () => { while (s.writable && s.write(chunk)); };
      s.on('drain', pump);
      pump();
    });
  });
  const hugeWs = await handshakeThen((s) => {
    const hdr = Buffer.from([0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0]); // 256 MiB text frame
    s.write(hdr);
  });
  try {
    const cases = [
      [garbage, [], 3, /malformed Engine.IO open packet/],
      [notOpen, [], 3, /first Engine.IO packet is not an open packet/],
      [refused, [], 2, /answered 403 to a polling GET: \{"code":4,"message":"Forbidden"\}/],
      [huge, [], 3, /500000000-byte Engine.IO payload \(over max_payload/],
      [endless, [], 3, /polling response over \d+ bytes/],
      [hugeWs, ['-T', 'websocket'], 3, /over max_message_size/],
    ];
    for (const [srv, extra, code, re] of cases) {
      const r = await runCat(['-n', ...extra, '--sio', `http://127.0.0.1:${srv.address().port}`], { input: 'emit x 1\n' }).done;
      assert.equal(r.code, code, `${re}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.signal, null);
    }
    // Without --no-reconnect a refusal (4xx) or a garbage open packet is final too.
    const again = await runCat(['--sio', `http://127.0.0.1:${refused.address().port}`], { input: '', timeout: 10000 }).done;
    assert.equal(again.code, 2, again.stderr);
  } finally {
    for (const s of [garbage, notOpen, refused, huge, endless, hugeWs]) s.close();
  }
});

test('a server that stops answering is detected by the ping timeout (pingInterval + pingTimeout), exit 4', async () => {
  // A polling server: the open packet with short heartbeats, then GETs that hang.
  const srv = await rawServer((s) => {
    s.once('data', (d) => {
      if (/sid=/.test(d.toString())) return; // the long-poll: never answered
      const body = '0{"sid":"abc","upgrades":[],"pingInterval":200,"pingTimeout":300,"maxPayload":1000000}';
      s.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  });
  try {
    const t0 = Date.now();
    const r = await runCat(['-n', '-v', '--sio', `http://127.0.0.1:${srv.address().port}`], { input: '' }).done;
    const ms = Date.now() - t0;
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /engine closed: ping timeout/);
    assert.ok(ms >= 450 && ms < 8000, `${ms} ms`);
  } finally {
    srv.close();
  }
});

test('packets without pings do not keep a session alive: the ping timeout still ends it', async () => {
  // As engine.io-client: only the server's pings reset the timer (a server that still
  // answers polls but lost its heartbeat is broken).
  const srv = await rawServer((s) => {
    s.once('data', (d) => {
      const poll = /sid=/.test(d.toString());
      const body = poll ? '6' : '0{"sid":"abc","upgrades":[],"pingInterval":200,"pingTimeout":200,"maxPayload":1000000}';
      setTimeout(() => s.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`), poll ? 50 : 0);
    });
  });
  try {
    const r = await runCat(['-n', '-v', '--sio', `http://127.0.0.1:${srv.address().port}`], { input: '', timeout: 10000 }).done;
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /< eio polling noop/);
    assert.match(r.stderr, /engine closed: ping timeout/);
  } finally {
    srv.close();
  }
});

test("polling POSTs are cut at the server's maxPayload (one packet at least), in order", async () => {
  const posts = [];
  let gets = 0;
  const srv = await rawServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const head = buf.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const reply = (body) => s.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      if (head.startsWith('POST')) {
        const len = Number(/Content-Length: (\d+)/i.exec(head)[1]);
        if (buf.length < end + 4 + len) return;
        posts.push(buf.subarray(end + 4, end + 4 + len).toString('latin1'));
        return reply('ok');
      }
      if (!/sid=/.test(head)) return reply('0{"sid":"abc","upgrades":[],"pingInterval":5000,"pingTimeout":5000,"maxPayload":30}');
      if (++gets === 1) return reply('40{"sid":"s1"}');
      // later long-polls are held until the client goes
    });
  });
  try {
    const input = 'emit a "0123456789"\nemit b "0123456789"\nemit c "0123456789"\n';
    const r = await runCat(['-n', '--sio', `http://127.0.0.1:${srv.address().port}`], { input, timeout: 10000 }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(posts.join('\x1e').split('\x1e'),
      ['40', '42["a","0123456789"]', '42["b","0123456789"]', '42["c","0123456789"]', '41', '1']);
    for (const p of posts) assert.ok(p.length <= 30 || !p.includes('\x1e'), JSON.stringify(p));
    assert.ok(posts.length >= 4, JSON.stringify(posts)); // two events never share a POST
    assert.equal(posts[posts.length - 1], '1', 'the close packet alone, last');
  } finally {
    srv.close();
  }
});

test('wsio-cat --sio --help, and usage errors exit 1', async () => {
  const h = await runCat(['--sio', 'http://x', '--help']).done;
  assert.equal(h.code, 0);
  assert.match(h.stdout, /ack EVENT \[JSON\.\.\.\]/);
  assert.equal((await runCat(['--sio', 'ws://x/']).done).code, 1);
  assert.equal((await runCat(['--sio', 'http://127.0.0.1:1', '-T', 'carrier-pigeon']).done).code, 1);
  assert.equal((await runCat(['--sio', 'http://127.0.0.1:1', '-a', '[1]']).done).code, 1);
});

test('examples/sio_client: a Socket.IO client and server on one app and loop (buffered emit, binary ack)', async (t) => {
  const bin = path.join(path.dirname(CAT), 'examples', 'example_sio_client');
  if (!fs.existsSync(bin)) return t.skip('examples not built here'); // as cat.test.js (make asan builds none)
  const r = await new Promise((resolve) => {
    const child = spawn(bin, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^connected, sid \S+\nack: \[1,"two",\{"three":3\}\]\nack: \[\{"_placeholder":true,"num":0\}\] \+ 4 binary bytes\nclosed: io client disconnect\n$/);
});

test('random Engine.IO / Socket.IO payloads from a server never crash or hang the client', async () => {
  let seed = 0x5eed;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const pieces = ['4', '2', '3', '6', '1', '0', '40', '40{"sid":"abc"}', '42["x",1]', '42["x",', '43',
    '451-["x",{"_placeholder":true,"num":0}]', '461-1[{"_placeholder":true,"num":3}]', 'bAAAA', 'b!!', '\x1e',
    '\x1e\x1e', '{', '"', ']', '\xff\xfe', '4\x00', '49', '42/nope,["y"]', '41', '44{"message":"no"}'];
  let gets = 0;
  const srv = await rawServer((s) => {
    s.once('data', (d) => {
      const head = d.toString('latin1');
      let body;
      if (!/sid=/.test(head)) body = '0{"sid":"abc","upgrades":[],"pingInterval":5000,"pingTimeout":5000,"maxPayload":1000}';
      else if (head.startsWith('POST')) body = 'ok';
      else if (++gets % 4 === 0) body = '1';
      else { body = ''; const n = 1 + rnd(8); for (let i = 0; i < n; i++) body += pieces[rnd(pieces.length)]; }
      const b = Buffer.from(body, 'latin1');
      s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${b.length}\r\n\r\n`), b]));
    });
  });
  try {
    for (let i = 0; i < 25; i++) {
      const r = await runCat(['-n', '-t', '3', '--sio', `http://127.0.0.1:${srv.address().port}`], { input: 'emit x 1\n', timeout: 15000 }).done;
      assert.equal(r.signal, null, r.stderr);
      assert.ok([0, 3, 5].includes(r.code), `exit ${r.code}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /AddressSanitizer|LeakSanitizer/);
    }
  } finally {
    srv.close();
  }
});
