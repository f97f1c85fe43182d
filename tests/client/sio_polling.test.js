'use strict';
// tests/client/sio_polling.test.js — the Socket.IO client's long-polling connections
// (src/client/eio_client.c), through wsio-cat --sio: requests share kept-alive
// connections (one for the GETs, one for the POSTs); a kept connection that the server
// closes while idle (Node's keepAliveTimeout) is replaced without the session noticing;
// a request written on a kept connection that the server closes before answering goes
// again on a new one, once, so nothing is lost or sent twice; host names are resolved
// (off the loop) and an unknown one is a clear network error. Every server listens on
// 127.0.0.1.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { catRunner, jsonLines, startNode, sleep } = require('./helpers.js');

const runCat = catRunner({ timeout: 20000 });

test('node, polling only: requests share two kept-alive connections', async () => {
  const srv = await startNode();
  try {
    const input = Array.from({ length: 20 }, (_, i) => `ack echo ${i}\n`).join('') + 'ack conns\n';
    const r = await runCat(['-n', '--sio', `http://localhost:${srv.port}`, '-T', 'polling'], { input }).done;
    assert.equal(r.code, 0, r.stderr);
    const acks = jsonLines(r.stdout).filter((l) => l.ack);
    assert.deepEqual(acks.slice(0, 20).map((a) => a.args[0]), Array.from({ length: 20 }, (_, i) => i));
    // 40+ requests; one connection per request before keep-alive.
    assert.ok(acks[20].args[0] <= 3, `${acks[20].args[0]} TCP connections`);
  } finally {
    await srv.stop();
  }
});

test("node, polling only: a kept connection closed by the server's idle timeout is replaced unnoticed", async () => {
  const srv = await startNode(['--keep-alive-ms', '200']);
  try {
    const c = runCat(['-n', '-v', '--sio', `http://127.0.0.1:${srv.port}`, '-T', 'polling'], { open: true });
    c.child.stdin.write('ack echo 1\n');
    const t0 = Date.now();
    while (!/"ack"/.test(c.out()) && Date.now() - t0 < 10000) await sleep(20);
    // The POST connection idles past 200 ms: Node closes it (its timer has about
    // a second of slack).
    await sleep(2000);
    c.child.stdin.end('ack echo 2\nack conns\n');
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    const acks = jsonLines(r.stdout).filter((l) => l.ack);
    assert.deepEqual(acks.slice(0, 2).map((a) => a.args[0]), [1, 2]);
    assert.ok(acks[2].args[0] >= 3, `the server closed a kept connection (${acks[2].args[0]} connections)`);
    assert.doesNotMatch(r.stderr, /disconnect: (?!io client disconnect)|reconnect|error/, r.stderr);
  } finally {
    await srv.stop();
  }
});

test('a request cut on a kept connection goes again on a new one: nothing lost, nothing twice', async () => {
  const posts = [];
  let postSockets = 0, cut = 0;
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    let buf = Buffer.alloc(0), served = 0, isPost = false;
    const reply = (body) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = /^POST/.test(head) ? Number(/Content-Length: (\d+)/i.exec(head)[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('latin1');
        buf = buf.subarray(end + 4 + len);
        if (/^POST/.test(head)) {
          if (!isPost) { isPost = true; postSockets++; }
          // The first POST connection's second request: closed unanswered, as a
          // server whose idle timeout crossed the request does.
          if (postSockets === 1 && served === 1) { cut++; s.destroy(); return; }
          posts.push(body);
          served++;
          reply('ok');
        } else if (!/sid=/.test(head)) {
          reply('0{"sid":"abc","upgrades":[],"pingInterval":5000,"pingTimeout":5000,"maxPayload":100000}');
        } else if (served++ === 0) {
          reply('40{"sid":"s1"}');
        } // later long-polls are held until the client goes
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const c = runCat(['-n', '--sio', `http://127.0.0.1:${srv.address().port}`, '-T', 'polling'], { open: true });
    const t0 = Date.now();
    while (posts.length < 1 && Date.now() - t0 < 10000) await sleep(20);
    await sleep(100);
    c.child.stdin.end('emit a 1\n');
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(cut, 1, 'the server cut one request');
    assert.deepEqual(posts.join('\x1e').split('\x1e'), ['40', '42["a",1]', '41', '1']);
    assert.equal(postSockets, 2, 'the cut request went on a new connection');
  } finally {
    srv.close();
  }
});

test('host names are resolved; an unknown one is a network error (exit 5)', async () => {
  const r = await runCat(['-n', '-t', '5', '--sio', 'http://nonexistent.invalid:1', '-T', 'polling'], { input: 'emit x 1\n' }).done;
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /cannot resolve nonexistent\.invalid/);
});
