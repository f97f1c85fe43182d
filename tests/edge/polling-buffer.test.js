'use strict';
// --max-polling-buffer: a long-polling client that stops polling while messages for it
// pile up is closed once its pending output would pass the cap (logged, counted in
// wsio_polling_buffer_closes_total); its sid is then unknown. A client that keeps
// polling is not affected.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startServer, rawExchange, scrape, until, sleep, withTimeout } = require('../product/helpers.js');

const body = (raw) => raw.slice(raw.indexOf('\r\n\r\n') + 4);
const get = (port, q) => rawExchange(port, `GET /socket.io/?EIO=4&transport=polling${q} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
const post = (port, sid, data) => rawExchange(port, `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  `Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);

/* A raw polling Socket.IO client in room r1; returns its sid. */
async function pollingMember(port) {
  const open = body(await get(port, ''));
  const sid = JSON.parse(open.slice(1)).sid;
  assert.match(body(await post(port, sid, '40')), /ok/);
  assert.match(body(await get(port, `&sid=${sid}`)), /^40/);
  assert.match(body(await post(port, sid, '42["join","r1"]')), /ok/);
  return sid;
}

function sender(port) {
  return withTimeout(new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}/`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    s.on('connect', () => resolve(s));
    s.on('connect_error', reject);
  }), 5000, 'the sender to connect');
}

test('a polling session whose pending output passes --max-polling-buffer is closed and logged', async () => {
  const srv = await startServer(['--max-polling-buffer', '4KiB']);
  try {
    const sid = await pollingMember(srv.port);
    const s = await sender(srv.port);
    s.emit('join', 'r1');
    await sleep(100);
    for (let i = 0; i < 5; i++) s.emit('message', { room: 'r1', message: 'x'.repeat(500) });
    await sleep(200);
    assert.equal((await scrape(srv.port)).get('wsio_polling_buffer_closes_total'), 0, 'under the cap: still open');
    // the client keeps polling: what was queued is delivered, nothing is closed
    assert.match(body(await get(srv.port, `&sid=${sid}`)), /x{500}/);
    for (let i = 0; i < 20; i++) s.emit('message', { room: 'r1', message: 'x'.repeat(500) });
    const m = await until(async () => ((await scrape(srv.port)).get('wsio_polling_buffer_closes_total') === 1 ? true : null), 5000, 'the session closed');
    assert.ok(m);
    await until(() => /max-polling-buffer/.test(srv.stderr()), 3000, 'the log line');
    const after = await get(srv.port, `&sid=${sid}`);
    assert.equal(Number(after.split(' ')[1]), 400);
    assert.deepEqual(JSON.parse(body(after)), { code: 1, message: 'Session ID unknown' });
    s.close();
  } finally { await srv.stop(); }
});

test('without --max-polling-buffer nothing is closed', async () => {
  const srv = await startServer([]);
  try {
    const sid = await pollingMember(srv.port);
    const s = await sender(srv.port);
    s.emit('join', 'r1');
    await sleep(100);
    for (let i = 0; i < 25; i++) s.emit('message', { room: 'r1', message: 'x'.repeat(500) });
    await sleep(300);
    assert.equal((await scrape(srv.port)).get('wsio_polling_buffer_closes_total'), 0);
    assert.match(body(await get(srv.port, `&sid=${sid}`)), /x{500}/);
    s.close();
  } finally { await srv.stop(); }
});

// Once a packet for a session is refused at the cap, a later, smaller one must not be
// queued behind the gap: the client would get it (the session's held GET is answered
// with what is queued when it closes) and never learn what it missed. Two broadcasts
// in one POST (one iteration) that select different sockets, so they cannot share a
// batch: the first (room r1: the member) is over the cap, the second (room r2: the
// member and the sender) fits.
test('after a packet refused at --max-polling-buffer, nothing smaller is queued behind the gap', async () => {
  const srv = await startServer(['--app', 'test', '--max-polling-buffer', '4KiB']);
  try {
    const sid = await pollingMember(srv.port);
    assert.match(body(await post(srv.port, sid, '42["join","r2"]')), /ok/);
    const open = body(await get(srv.port, ''));
    const sender = JSON.parse(open.slice(1)).sid;
    assert.match(body(await post(srv.port, sender, '40')), /ok/);
    assert.match(body(await get(srv.port, `&sid=${sender}`)), /^40/);
    assert.match(body(await post(srv.port, sender, '42["join","r2"]')), /ok/);
    const held = get(srv.port, `&sid=${sid}`); // waits for output
    await sleep(150);
    const big = `42["in-room","r1","m","${'x'.repeat(5000)}"]`;
    const small = '42["in-room","r2","m","after-gap"]';
    assert.match(body(await post(srv.port, sender, `${big}\x1e${small}`)), /ok/);
    const answer = await held;
    assert.equal(Number(answer.split(' ')[1]), 200);
    assert.doesNotMatch(body(answer), /after-gap/);
    await until(async () => ((await scrape(srv.port)).get('wsio_polling_buffer_closes_total') === 1 ? true : null), 5000, 'the session closed');
    // The sender, under the cap, got the small one.
    assert.match(body(await get(srv.port, `&sid=${sender}`)), /after-gap/);
  } finally { await srv.stop(); }
});
