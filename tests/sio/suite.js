'use strict';
// Runs a block of tests once per target server ($SIO_TARGETS: wsio, node).
//
//   eachTarget('conformance', (ctx) => { ctx.test('name', async () => { ... ctx.port ... }); });
//
// ctx.port / ctx.url are the running server's; ctx.track(x) registers a client (anything
// with disconnect(), terminate() or close()) that is closed after the current test, pass
// or fail. The server is started in before() and stopped in after(), where a server that
// died or did not exit 0 on SIGTERM fails the suite. A server that cannot start (wsio
// binary missing, no --app support) or that died fails every test of the block: nothing
// is skipped.

const { describe, test, before, after, afterEach } = require('node:test');
const { start, targets } = require('./servers.js');

const TEST_TIMEOUT_MS = 20000;

function closeClient(c) {
  try {
    if (typeof c.disconnect === 'function') c.disconnect();
    else if (typeof c.terminate === 'function') c.terminate();
    else if (typeof c.close === 'function') c.close();
  } catch { /* already closed */ }
}

function eachTarget(app, body, { extraArgs = [] } = {}) {
  for (const target of targets()) {
    describe(`${target}: --app ${app}`, () => {
      const tracked = [];
      const ctx = {
        target,
        app,
        server: null,
        port: 0,
        url: '',
        track(c) { tracked.push(c); return c; },
        test(name, fn, ms = TEST_TIMEOUT_MS) {
          test(name, { timeout: ms }, async (t) => {
            if (startError) throw startError;
            if (!ctx.server) throw new Error(`${target} server for --app ${app} is not running`);
            if (!ctx.server.alive()) {
              throw new Error(`${target} server for --app ${app} died: ${JSON.stringify(ctx.server.exitInfo())}\n` +
                `--- server output ---\n${ctx.server.output()}`);
            }
            return fn(t);
          });
        },
      };
      let startError = null;
      // A server that cannot start is reported by every test of the block (as a failure,
      // not as cancelled), so a missing or too old wsio-server can never look like a pass.
      before(async () => {
        try {
          ctx.server = await start(target, app, extraArgs);
          ctx.port = ctx.server.port;
          ctx.url = ctx.server.url;
        } catch (err) {
          startError = new Error(`cannot start the ${target} server for --app ${app}: ${err.message}`);
        }
      });
      afterEach(() => {
        for (const c of tracked.splice(0)) closeClient(c);
      });
      after(async () => {
        for (const c of tracked.splice(0)) closeClient(c);
        if (ctx.server) await ctx.server.stop();
      });
      body(ctx);
    });
  }
}

module.exports = { eachTarget };
