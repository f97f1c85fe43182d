'use strict';
// tests/cluster/helpers.js — what the cluster test files share besides Redis itself
// (./redis.js): a websocket client of a node, one /metrics sample, and two nodes that
// count each other with a client of each in one room. Not a test file itself (node
// --test picks *.test.js).
//
//   const a = await join(A);                        // closeAll(joined) in after()
//   await metric(A, 'wsio_redis_adapter_up');       // 1, or NaN when absent
//   const [a, b] = await twoInRoom(A, B, 'room');   // then the test's own exchange

const { client, connected, call, until } = require('../sio/helpers');

/* Every client join() made, for the test file's after() to close. */
const joined = [];

/* A websocket client of node, once connected. */
async function join(node) {
  const s = client(node.url, 'websocket');
  joined.push(s);
  await connected(s);
  return s;
}

/* The value of an unlabelled sample of node's /metrics (NaN when it is not there). */
async function metric(node, name) {
  const res = await fetch(`${node.url}/metrics`);
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : NaN;
}

/* A client of A and one of B, once both nodes count each other (serverCount 2) and
 * both clients are in room as A sees it (fetchSockets, a request over Redis). */
async function twoInRoom(A, B, room) {
  const a = await join(A);
  const b = await join(B);
  await until(async () => (await call(a, 'server-count')) === 2 && (await call(b, 'server-count')) === 2,
    15000, 'both nodes counted', 100);
  await call(a, 'join', room);
  await call(b, 'join', room);
  await until(async () => (await call(a, 'fetch', room)).length === 2, 10000, 'both in the room', 100);
  return [a, b];
}

module.exports = { joined, join, metric, twoInRoom };
