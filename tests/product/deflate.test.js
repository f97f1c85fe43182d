'use strict';
// wsio-server's permessage-deflate options as an operator sets them: --deflate alone (a
// bare switch, also before another option), --deflate on|off, WSIO_DEFLATE, the config
// file, --deflate-threshold and --deflate-client-context-takeover, and a bad value
// failing at start.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, runServer, wsOpen, until } = require('./helpers.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-product-deflate-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/* What the server answered to a ws client's default deflate offer ('' = refused). */
async function negotiated(args, env = {}) {
  const srv = await startServer(args, { env });
  try {
    const c = await wsOpen(srv.port, '/echo', { perMessageDeflate: { threshold: 0 } });
    let answer = '';
    // ws keeps the accepted parameters; the offer was accepted when they are there
    const pmd = c._extensions && c._extensions['permessage-deflate'];
    if (pmd) answer = Object.keys(pmd.params).sort().join(',') || 'permessage-deflate';
    // a compressed round trip works either way
    const msg = 'y'.repeat(3000);
    c.send(msg);
    await until(() => c.messages.length === 1, 3000, 'echo');
    assert.equal(c.messages[0].data.toString(), msg);
    c.terminate();
    return answer;
  } finally {
    await srv.stop();
  }
}

test('--deflate is off by default', async () => {
  assert.equal(await negotiated([]), '');
});

test('a bare --deflate, last or before another option, turns it on', async () => {
  assert.equal(await negotiated(['--deflate']), 'client_no_context_takeover');
  assert.equal(await negotiated(['--deflate', '--max-headers', '64']), 'client_no_context_takeover');
  assert.equal(await negotiated(['--deflate=on']), 'client_no_context_takeover');
  assert.equal(await negotiated(['--deflate', 'off']), '');
});

test('WSIO_DEFLATE and the config file; the command line still wins', async () => {
  assert.equal(await negotiated([], { WSIO_DEFLATE: '1' }), 'client_no_context_takeover');
  const f = path.join(tmp, 'd.conf');
  fs.writeFileSync(f, 'deflate = on\ndeflate-client-context-takeover = on\ndeflate-threshold = 1\n');
  assert.equal(await negotiated(['--config', f]), 'permessage-deflate');
  assert.equal(await negotiated(['--config', f, '--deflate', 'off']), '');
});

test('invalid deflate values stop the server at start', async () => {
  for (const [args, opt] of [[['--deflate', 'maybe'], '--deflate'], [['--deflate-threshold', '0'], '--deflate-threshold'],
    [['--deflate-client-context-takeover', 'x'], '--deflate-client-context-takeover']]) {
    const r = await runServer(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(opt), r.stderr);
  }
});
