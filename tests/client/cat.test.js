'use strict';
// tests/client/cat.test.js — wsio-cat (and through it the library's WebSocket client
// role, src/client) against wsio-server's /echo, against Node `ws` servers written
// here, and against raw TCP servers that break RFC 6455 on purpose.
//
// Owns: what wsio-cat prints, sends and exits with. Every server listens on 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { WebSocketServer } = require('ws');
const { startServer } = require('../interop/server.js');
const { CAT, runCat, rawServer, handshakeThen, sleep, waitFor } = require('./helpers.js'); // runCat: 15 s, `input` or feed(child) on stdin

function wsServer(opts = {}) {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: opts.port || 0, ...opts });
    wss.on('listening', () => resolve(wss));
  });
}

test('wsio-cat against wsio-server /echo: lines go out, echoes come back, exit 0 and the -v trace', async () => {
  const server = await startServer();
  try {
    const url = `ws://127.0.0.1:${server.port}/echo`;
    const r = await runCat(['-v', '--no-reconnect', url], { input: 'hello\nworld ü\n' }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\nworld ü\n');
    assert.match(r.stderr, /^> GET \/echo HTTP\/1\.1$/m);
    assert.match(r.stderr, /^> Sec-WebSocket-Version: 13$/m);
    assert.match(r.stderr, /^< HTTP\/1\.1 101 Switching Protocols$/m);
    assert.match(r.stderr, /^< Sec-WebSocket-Accept: \S{28}$/m);
    assert.match(r.stderr, /^\* frame out: opcode=1 \(text\) fin=1 rsv=0 len=5 masked=1$/m);
    assert.match(r.stderr, /^\* frame in: opcode=1 \(text\) fin=1 rsv=0 len=5 masked=0$/m);
    assert.match(r.stderr, /^\* frame out: opcode=8 \(close\) fin=1 rsv=0 len=2 masked=1$/m);
    assert.match(r.stderr, /^\* close: code=1000 reason=$/m);
    // --binary: echoed as binary, printed in hex.
    const b = await runCat(['--binary', '--no-reconnect', url], { input: 'AB\n' }).done;
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, '4142\n');
    // A route that is not there: refused with its status, exit 2.
    const n = await runCat(['--no-reconnect', `ws://127.0.0.1:${server.port}/nope`]).done;
    assert.equal(n.code, 2);
    assert.match(n.stderr, /404/);
  } finally {
    await server.stopClean();
  }
});

test('headers, subprotocol and origin reach the server; binary and text both ways', async () => {
  const wss = await wsServer({ handleProtocols: (set) => (set.has('chat') ? 'chat' : false) });
  let seen = null;
  const got = [];
  wss.on('connection', (ws, req) => {
    seen = { headers: req.headers, protocol: ws.protocol };
    ws.on('message', (data, isBinary) => {
      got.push({ data: data.toString(), isBinary });
      ws.send(Buffer.from([0, 255]), { binary: true });
    });
  });
  try {
    const r = await runCat(['-v', '--binary', '-H', 'X-Token: abc 1', '--subprotocol', 'other', '--subprotocol', 'chat',
      '--origin', 'http://example.test', '--no-reconnect', `ws://127.0.0.1:${wss.address().port}/p?q=1`],
    { feed: (c) => { c.stdin.write('bin\n'); setTimeout(() => c.stdin.end(), 400); } }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(seen.headers['x-token'], 'abc 1');
    assert.equal(seen.headers['sec-websocket-protocol'], 'other, chat');
    assert.equal(seen.headers.origin, 'http://example.test');
    assert.equal(seen.protocol, 'chat');
    assert.deepEqual(got, [{ data: 'bin', isBinary: true }]);
    assert.equal(r.stdout, '00ff\n');
    assert.match(r.stderr, /^\* open, subprotocol chat$/m);
  } finally {
    wss.close();
  }
});

test('--ping: the server sees pings, -v shows pongs with round-trip times', async () => {
  const wss = await wsServer();
  let pings = 0;
  wss.on('connection', (ws) => ws.on('ping', () => { pings++; }));
  try {
    const r = await runCat(['-v', '--ping', '0.1', '--no-reconnect', `ws://127.0.0.1:${wss.address().port}/`],
      { feed: (c) => setTimeout(() => c.stdin.end(), 700) }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(pings >= 2, `pings seen: ${pings}`);
    assert.match(r.stderr, /^\* frame out: opcode=9 \(ping\) fin=1 rsv=0 len=0 masked=1$/m);
    assert.match(r.stderr, /^\* pong: len=0 rtt=\d+ ms$/m);
  } finally {
    wss.close();
  }
});

test('close codes and reasons both ways', async () => {
  const wss = await wsServer();
  const closes = [];
  wss.on('connection', (ws, req) => {
    ws.on('close', (code, reason) => closes.push([code, reason.toString()]));
    if (req.url === '/server-closes') setTimeout(() => ws.close(4001, 'go away'), 100);
  });
  try {
    const port = wss.address().port;
    const a = await runCat(['--close', '4000:bye now', '--no-reconnect', `ws://127.0.0.1:${port}/`], { input: '' }).done;
    assert.equal(a.code, 0, a.stderr);
    await waitFor(() => closes.length === 1);
    assert.deepEqual(closes[0], [4000, 'bye now']);
    const b = await runCat(['-v', `ws://127.0.0.1:${port}/server-closes`], { feed: () => {} }).done;
    assert.equal(b.code, 0, b.stderr); // a close handshake by the server with 4001 is its decision: no reconnect
    assert.match(b.stderr, /^\* close: code=4001 reason=go away/m);
  } finally {
    wss.close();
  }
});

test('exit codes: refused (2), network (5), timeout (4), unsupported (6), usage (1)', async () => {
  const s503 = await rawServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
  });
  const silent = await rawServer((sock) => sock.on('error', () => {}));
  const closed = await rawServer(() => {});
  const closedPort = closed.address().port;
  closed.close();
  try {
    const r = await runCat(['--no-reconnect', `ws://127.0.0.1:${s503.address().port}/`]).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /503 Service Unavailable/);
    const n = await runCat(['--no-reconnect', `ws://127.0.0.1:${closedPort}/`]).done;
    assert.equal(n.code, 5);
    assert.match(n.stderr, /Connection refused/);
    const t0 = Date.now();
    const t = await runCat(['--no-reconnect', '--timeout', '0.5', `ws://127.0.0.1:${silent.address().port}/`]).done;
    assert.equal(t.code, 4);
    assert.match(t.stderr, /handshake timed out/);
    assert.ok(Date.now() - t0 < 5000);
    // wss:// is supported now: a closed port is a network error (TLS: tests/client/tls.test.js).
    assert.equal((await runCat(['--no-reconnect', `wss://127.0.0.1:${closedPort}/`]).done).code, 5);
    assert.equal((await runCat(['http://x/']).done).code, 1);
    assert.equal((await runCat([]).done).code, 1);
    const h = await runCat(['--help']).done;
    assert.equal(h.code, 0);
    assert.match(h.stdout, /exit codes:/);
  } finally {
    s503.close();
    silent.close();
  }
});

// A malicious or broken server: each case gets a clear error and exit code 3, never a crash.
const evil = [
  ['a masked frame', (s) => s.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x69 ^ 1, 0x69 ^ 2])), /masked frame from the server/],
  ['an oversize frame', (s) => s.write(Buffer.from([0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0])), /over max_message_size/],
  ['invalid UTF-8', (s) => s.write(Buffer.from([0x81, 0x02, 0xc3, 0x28])), /invalid UTF-8/],
  ['a reserved opcode', (s) => s.write(Buffer.from([0x83, 0x00])), /reserved opcode/],
];
for (const [name, send, re] of evil) {
  test(`malicious server: ${name} → exit 3 and a clear error`, async () => {
    let closeFrame = null;
    const srv = await handshakeThen((sock) => {
      sock.on('data', (d) => { if ((d[0] & 0x0f) === 8) closeFrame = d; });
      send(sock);
    });
    try {
      const r = await runCat(['--no-reconnect', `ws://127.0.0.1:${srv.address().port}/`], { feed: () => {} }).done;
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.signal, null);
      await waitFor(() => closeFrame !== null, 2000).catch(() => {});
      assert.ok(closeFrame, 'the client sent a close frame before closing');
    } finally {
      srv.close();
    }
  });
}

test('malicious server: a bad accept key and an endless handshake response → exit 3', async () => {
  const bad = await handshakeThen(() => {}, { accept: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
  const endless = await rawServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\n');
      const t = setInterval(() => { if (!sock.destroyed) sock.write('X-Filler: ' + 'x'.repeat(1000) + '\r\n'); else clearInterval(t); }, 1);
      sock.on('close', () => clearInterval(t));
    });
  });
  try {
    const a = await runCat(['--no-reconnect', `ws://127.0.0.1:${bad.address().port}/`]).done;
    assert.equal(a.code, 3);
    assert.match(a.stderr, /bad Sec-WebSocket-Accept/);
    const b = await runCat(['--no-reconnect', `ws://127.0.0.1:${endless.address().port}/`]).done;
    assert.equal(b.code, 3);
    assert.match(b.stderr, /response head is over 16384 bytes/);
  } finally {
    bad.close();
    endless.close();
  }
});

test('reconnect while the server restarts: backoff observed, offline lines flushed in order, nothing twice', async () => {
  let wss = await wsServer();
  const port = wss.address().port;
  const got = [];
  const attach = (s) => s.on('connection', (ws) => ws.on('message', (d) => got.push(d.toString())));
  attach(wss);
  const run = runCat(['-v', `ws://127.0.0.1:${port}/`], { feed: () => {} });
  const { child } = run;
  try {
    await waitFor(() => run.err().includes('* open'));
    child.stdin.write('one\n');
    await waitFor(() => got.length === 1);
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
    await waitFor(() => /\* reconnect: attempt 1 in \d+ ms/.test(run.err()));
    child.stdin.write('two\nthree\n');
    await waitFor(() => /\* reconnect: attempt 2 in \d+ ms/.test(run.err()), 8000);
    wss = await wsServer({ port });
    attach(wss);
    await waitFor(() => got.length === 3, 15000);
    child.stdin.write('four\n');
    await waitFor(() => got.length === 4);
    child.stdin.end();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(got, ['one', 'two', 'three', 'four']);
    const delays = [...r.stderr.matchAll(/\* reconnect: attempt (\d+) in (\d+) ms/g)].map((m) => [+m[1], +m[2]]);
    // Node's formula: attempt n waits min * 2^(n-1) +- 50%, capped at 5000.
    assert.ok(delays[0][1] >= 500 && delays[0][1] <= 1500, JSON.stringify(delays));
    assert.ok(delays[1][1] >= 1000 && delays[1][1] <= 3000, JSON.stringify(delays));
    for (const [, d] of delays) assert.ok(d <= 5000);
    assert.equal((r.stderr.match(/^\* open$/gm) || []).length, 2);
  } finally {
    child.kill('SIGKILL');
    wss.close();
  }
});

test('examples/ws_client: a client and a server route on one app and loop', async (t) => {
  const bin = path.join(path.dirname(CAT), 'examples', 'example_ws_client');
  if (!fs.existsSync(bin)) return t.skip('examples not built here');
  const r = await new Promise((resolve) => {
    const c = spawn(bin, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    const k = setTimeout(() => c.kill('SIGKILL'), 10000);
    c.on('exit', (code) => { clearTimeout(k); resolve({ code, out }); });
  });
  assert.equal(r.code, 0);
  assert.equal(r.out, 'open (subprotocol none)\necho: first\necho: second\necho: third\nclosed: 1000 \n');
});

test('reconnect across a wsio-server restart: its 1001 is retried, the offline line is echoed once', async () => {
  let server = await startServer();
  const port = server.port;
  const run = runCat(['-v', `ws://127.0.0.1:${port}/echo`], { feed: () => {} });
  try {
    await waitFor(() => run.err().includes('* open'));
    run.child.stdin.write('before\n');
    await waitFor(() => run.out() === 'before\n');
    await server.stopClean(); // SIGTERM: a graceful stop closes WebSockets with 1001
    await waitFor(() => /\* close: code=1001 .*\(reconnecting\)/.test(run.err()));
    run.child.stdin.write('during\n');
    server = await startServer(['--port', String(port)]);
    await waitFor(() => run.out() === 'before\nduring\n', 15000);
    run.child.stdin.end();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'before\nduring\n');
  } finally {
    run.child.kill('SIGKILL');
    await server.stopClean().catch(() => {});
  }
});

// Garbage from a server (after a good handshake, or instead of one): the client always
// ends with an exit code that names a reason, never a signal or a hang.
test('random bytes from a server never crash or hang the client', async () => {
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let round = 0; round < 16; round++) {
    const bytes = Buffer.alloc(1 + (rand() % 300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff;
    if (round % 4 === 1) bytes[0] = 0x81; // a text frame header with random length and payload
    if (round % 4 === 2) bytes[0] = 0x88; // a close frame with random contents
    const withHandshake = round % 4 !== 3;
    const srv = withHandshake
      ? await handshakeThen((sock) => { sock.write(bytes); setTimeout(() => sock.end(), 200); })
      : await rawServer((sock) => { sock.on('error', () => {}); sock.once('data', () => sock.end(bytes)); });
    try {
      const r = await runCat(['--no-reconnect', '--timeout', '2', `ws://127.0.0.1:${srv.address().port}/`],
        { feed: () => {} }).done;
      assert.equal(r.signal, null, `round ${round}: ${r.stderr}`);
      assert.ok([0, 2, 3, 5].includes(r.code), `round ${round}: exit ${r.code} ${r.stderr}`);
      if (r.code !== 0) assert.match(r.stderr, /wsio-cat: error: /, `round ${round}`);
    } finally {
      srv.close();
    }
  }
});

test('max_backpressure: a server that stops reading gets sends refused, not unbounded memory', async () => {
  const wss = await wsServer();
  wss.on('connection', (ws) => ws._socket.pause());
  const line = 'x'.repeat(100000) + '\n';
  const run = runCat(['--no-reconnect', `ws://127.0.0.1:${wss.address().port}/`], { feed: () => {} });
  try {
    await waitFor(() => run.child.pid);
    await sleep(300);
    for (let i = 0; i < 300 && !/line not sent/.test(run.err()); i++) {
      if (!run.child.stdin.write(line)) await new Promise((r) => run.child.stdin.once('drain', r));
    }
    await waitFor(() => /line not sent: .*(buffer|dropped)/i.test(run.err()), 10000);
  } finally {
    run.child.kill('SIGKILL');
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  }
});

test('malicious server: a subprotocol or an extension that was not offered → exit 3', async () => {
  const cases = [
    ['Sec-WebSocket-Protocol: evil\r\n', ['--subprotocol', 'chat'], /subprotocol that was not offered/],
    ['Sec-WebSocket-Protocol: chat\r\n', [], /subprotocol that was not offered/],
    // permessage-deflate is offered by default now (tests/client/deflate.test.js).
    ['Sec-WebSocket-Extensions: permessage-deflate\r\n', ['--no-deflate'], /extension that was not offered/],
    ['Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n', [], /extension that was not offered/],
  ];
  for (const [extra, args, re] of cases) {
    const srv = await handshakeThen(() => {}, { extra });
    try {
      const r = await runCat([...args, '--no-reconnect', `ws://127.0.0.1:${srv.address().port}/`]).done;
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, re);
    } finally {
      srv.close();
    }
  }
});
