'use strict';
// Asynchronous middleware through --app test's "/slow" namespace (tests/sio/TEST_APP.md):
// next() called from a timer 50 ms after the CONNECT (as after a database lookup), a late
// refusal with data, a middleware that never completes (the server's middleware timeout,
// 500 ms in the test app, refuses with "middleware timeout"), and a client that leaves
// before its middleware completes (the server must neither crash nor connect it).

const assert = require('node:assert/strict');
const { eachTarget } = require('./suite.js');
const { sleep, connect, connectError, call, ack, client } = require('./helpers.js');

const TRANSPORTS = ['websocket', 'polling'];

eachTarget('test', (ctx) => {
  for (const tr of TRANSPORTS) {
    const conn = async (opts) => ctx.track(await connect(ctx.url, tr, opts));

    ctx.test(`${tr}: a middleware completed 50 ms later connects the socket`, async () => {
      const t0 = Date.now();
      const s = await conn({ nsp: '/slow', auth: { slow: true } });
      assert.ok(Date.now() - t0 >= 40, 'the CONNECT reply waited for the middleware');
      const info = await call(s, 'info');
      assert.equal(info.nsp, '/slow');
      assert.deepEqual(await ack(s, 'echo', 1, 'two'), [1, 'two']);
      // Several connections waiting at once complete independently.
      const many = await Promise.all([1, 2, 3].map(() => conn({ nsp: '/slow', auth: { slow: true } })));
      for (const m of many) assert.ok(m.connected);
    });

    ctx.test(`${tr}: a middleware refusing 50 ms later sends its message and data`, async () => {
      const err = await connectError(ctx.url, tr, { nsp: '/slow', auth: { slow: true, slowRefuse: true } });
      assert.equal(err.message, 'slow refused');
      assert.deepEqual(err.data, { after: 50 });
    });

    ctx.test(`${tr}: a middleware that never completes gets "middleware timeout"`, async () => {
      const t0 = Date.now();
      const err = await connectError(ctx.url, tr, { nsp: '/slow', auth: { never: true } }, 5000);
      assert.equal(err.message, 'middleware timeout');
      assert.ok(Date.now() - t0 >= 400, `refused after ${Date.now() - t0} ms`);
      // The main namespace on a new connection still works.
      const s = await conn();
      assert.deepEqual(await ack(s, 'echo', 'after'), ['after']);
    });

    ctx.test(`${tr}: a client that leaves before its middleware completes is never connected`, async () => {
      const watcher = await conn({ nsp: '/slow', auth: { slow: true } });
      const gone = client(ctx.url, tr, { nsp: '/slow', auth: { late: true } });
      await sleep(100);
      gone.disconnect();
      gone.io.engine && gone.io.engine.close();
      await sleep(500); // the middleware completes at 400 ms, after the client left
      assert.ok(!gone.connected);
      const ids = await call(watcher, 'fetch', null);
      assert.deepEqual(ids, [watcher.id]);
      assert.deepEqual(await ack(watcher, 'echo', 'still'), ['still']);
    });
  }
});
