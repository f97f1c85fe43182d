'use strict';
// wsio-server when it cannot listen: a port already in use fails at start with the
// system's reason ("Address already in use", not "system call failed") and exit 1.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { runServer } = require('./helpers.js');

test('a port in use: exit 1 with "Address already in use"', async () => {
  const blocker = net.createServer();
  await new Promise((resolve, reject) => {
    blocker.once('error', reject);
    blocker.listen(0, '127.0.0.1', resolve);
  });
  const port = blocker.address().port;
  try {
    const r = await runServer(['--host', '127.0.0.1', '--port', String(port), '--static', 'off'], { ms: 5000 });
    assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
    assert.doesNotMatch(r.stderr, /system call failed/);
  } finally {
    blocker.close();
  }
});
