'use strict';
// nginx in front of a cluster, with the documented config docs/nginx/wsio-cluster.conf:
// two wsio-server nodes and a Node socket.io 4.8 node (tests/sio/reference/server.js with
// @socket.io/redis-adapter), all running the test app (tests/sio/TEST_APP.md) on one
// real redis-server (tests/cluster/redis.js), and Debian's nginx on a free loopback port.
// The file is used as written except for the listen line and the three upstream ports,
// each of which must be found exactly once.
//
// The config hashes the client address. Every client of this test comes from loopback,
// so each one binds its own source address (127.0.0.x, through an http.Agent with
// localAddress, which engine.io-client hands to both its polling requests and its
// WebSocket) and the test finds out from nginx's access log which node each address
// lands on, then picks a client address per node.
//
// Checked through nginx: polling-only and polling-then-upgrade sessions on every node
// keep every request on their node (access log) and never meet 400 "Session ID unknown";
// messages to a room cross all three nodes through Redis, both ways, binary intact.
//
// Env: WSIO_SERVER (default build/wsio-server), NGINX (default /usr/sbin/nginx).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const { start } = require('../sio/servers');
const { client, connected, ack, call, logged, until, sleep, normalize, closeAll, upgraded } = require('../sio/helpers');
const { startRedis, freePort } = require('../cluster/redis');
const { swapper, mainConfig } = require('./helpers');

const ROOT = path.resolve(__dirname, '..', '..');
const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const SAMPLE = path.join(ROOT, 'docs', 'nginx', 'wsio-cluster.conf');
const DEFAULT_PORTS = [3001, 3002, 3003];

const swapOnce = swapper(SAMPLE, __filename);

function siteConfig(listenPort, ups) {
  let c = fs.readFileSync(SAMPLE, 'utf8');
  c = swapOnce(c, /^(\s*)listen 80;$/, `$1listen 127.0.0.1:${listenPort};`, 'listen line');
  DEFAULT_PORTS.forEach((p, i) => {
    c = swapOnce(c, new RegExp(`(^\\s*server )127\\.0\\.0\\.1:${p}( |;)`), `$1127.0.0.1:${ups[i]}$2`, `upstream server :${p}`);
  });
  return c;
}

function get(port, p, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, text: body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${p}: timeout`)));
    req.on('error', reject);
  });
}

describe('nginx in front of two wsio nodes and a Node node on one Redis (docs/nginx/wsio-cluster.conf)',
  { timeout: 120000 }, () => {
    let redis;
    const nodes = []; // wsio, wsio, node: the upstream order of the sample
    let tmp;
    let ngx;
    let port;
    let nginxErr = '';
    const sockets = [];
    const agents = [];
    const addrOf = new Map(); // upstream "127.0.0.1:port" -> client source addresses landing there

    const accessLog = () => { try { return fs.readFileSync(path.join(tmp, 'access.log'), 'utf8'); } catch { return ''; } };
    const nginxLogs = () => `${nginxErr}\n${(() => { try { return fs.readFileSync(path.join(tmp, 'error.log'), 'utf8').slice(-3000); } catch { return ''; } })()}`;
    const agentFor = (addr) => {
      const a = new http.Agent({ localAddress: addr });
      agents.push(a);
      return a;
    };
    /* A socket.io-client through nginx from source address addr. */
    const sock = async (addr, transport) => {
      const s = client(`http://127.0.0.1:${port}`, transport, { agent: agentFor(addr) });
      s.transport = transport;
      s.errors = [];
      s.on('connect_error', (e) => s.errors.push(e.message));
      sockets.push(s);
      await connected(s);
      return s;
    };

    before(async () => {
      if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} is missing: apt-get install -y nginx (scripts/install-deps.sh)`);
      redis = await startRedis();
      nodes.push(await start('wsio', 'test', ['--redis', redis.url]));
      nodes.push(await start('wsio', 'test', ['--redis', redis.url]));
      nodes.push(await start('node', 'test', ['--redis', redis.url]));
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-nginx-cluster-'));
      fs.chmodSync(tmp, 0o755);
      fs.mkdirSync(path.join(tmp, 'tmp'));
      fs.writeFileSync(path.join(tmp, 'nginx.conf'), mainConfig(tmp, 'wsio-cluster.conf',
        "'$remote_addr $request_method $status upstream=$upstream_addr $request_uri'"));
      port = await freePort();
      fs.writeFileSync(path.join(tmp, 'wsio-cluster.conf'), siteConfig(port, nodes.map((n) => n.port)));
      const args = ['-p', tmp, '-e', path.join(tmp, 'error.log'), '-c', path.join(tmp, 'nginx.conf')];
      const t = spawnSync(NGINX, ['-t', '-q', ...args], { encoding: 'utf8', timeout: 10000 });
      assert.equal(t.status, 0, `nginx -t rejected the config built from the sample:\n${t.stderr}`);
      ngx = spawn(NGINX, [...args, '-g', 'daemon off; master_process on;'], { stdio: ['ignore', 'ignore', 'pipe'] });
      ngx.stderr.setEncoding('utf8');
      ngx.stderr.on('data', (d) => { nginxErr += d; });
      process.on('exit', () => { try { process.kill(ngx.pid, 'SIGKILL'); } catch { /* gone */ } });
      await until(async () => (await get(port, '/socket.io/?EIO=4&transport=polling').catch(() => null))?.status === 200,
        5000, `nginx answering on ${port}: ${nginxLogs()}`, 50);

      // Which node each source address lands on: one handshake each, read back from the log.
      for (let i = 2; i < 64; i++) {
        const addr = `127.0.0.${i}`;
        await get(port, `/socket.io/?EIO=4&transport=polling&probe=${i}`, agentFor(addr));
      }
      await sleep(100);
      for (const line of accessLog().split('\n')) {
        const m = /^(\S+) GET 200 upstream=(\S+) .*probe=/.exec(line);
        if (!m) continue;
        if (!addrOf.has(m[2])) addrOf.set(m[2], []);
        addrOf.get(m[2]).push(m[1]);
      }
      for (const n of nodes) {
        assert.ok(addrOf.get(`127.0.0.1:${n.port}`)?.length >= 4,
          `hash $remote_addr spread 62 addresses over every node: ${JSON.stringify([...addrOf])}`);
      }
      // The nodes count each other before the cross-node checks.
      const probe = await sock(addrOf.get(`127.0.0.1:${nodes[0].port}`)[0], 'websocket');
      await until(async () => (await call(probe, 'server-count')) === 3, 10000, 'three nodes on Redis', 100);
      probe.disconnect();
    });

    after(async () => {
      closeAll(sockets);
      for (const a of agents) a.destroy();
      if (ngx && ngx.exitCode === null) {
        const gone = new Promise((r) => ngx.once('exit', r));
        ngx.kill('SIGQUIT');
        await Promise.race([gone, sleep(5000)]);
        if (ngx.exitCode === null && ngx.signalCode === null) ngx.kill('SIGKILL');
      }
      for (const n of nodes) await n.stop();
      await redis?.stop();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    /* Client addresses landing on node i: the first for polling, the second for upgrade. */
    const on = (i, k = 0) => addrOf.get(`127.0.0.1:${nodes[i].port}`)[k];

    it('polling-only and polling-then-upgrade sessions stay on their node (no "Session ID unknown")', async () => {
      const pairs = [];
      for (let i = 0; i < nodes.length; i++) {
        pairs.push([await sock(on(i, 0), 'polling'), nodes[i]], [await sock(on(i, 1), 'default'), nodes[i]]);
      }
      for (const [s] of pairs) {
        if (s.transport === 'default') await upgraded(s);
        for (let k = 0; k < 5; k++) assert.deepEqual(await ack(s, 'echo', k, 'x'.repeat(k * 1000)), [k, 'x'.repeat(k * 1000)]);
      }
      const sids = pairs.map(([s]) => s.io.engine.id);
      for (const [s] of pairs) {
        assert.deepEqual(s.errors, []);
        assert.equal(s.connected, true);
        s.disconnect();
      }
      await sleep(300); // nginx logs a request (a WebSocket too) when it completes
      const log = accessLog();
      for (const [k, [s, node]] of pairs.entries()) {
        const sid = sids[k];
        const lines = log.split('\n').filter((l) => l.includes(`sid=${sid}`));
        const ws = lines.filter((l) => / GET 101 .*transport=websocket/.test(l));
        assert.ok(lines.length >= 2, `the session's requests in nginx's access log (${sid}):\n${lines.join('\n')}`);
        assert.equal(ws.length, s.transport === 'default' ? 1 : 0, `the upgrade request of ${sid}:\n${lines.join('\n')}`);
        const ups = new Set(lines.map((l) => /upstream=(\S+)/.exec(l)[1]));
        assert.deepEqual([...ups], [`127.0.0.1:${node.port}`], `every request of ${sid} on its node (${node.kind})`);
        for (const l of lines) assert.doesNotMatch(l, / GET 400 | POST 400 /, `Session ID unknown: ${l}`);
      }
      assert.doesNotMatch(log, / 400 /, 'no request of any session answered 400');
    });

    it('a room spread over the three nodes: every message reaches every member through Redis, binary intact', async () => {
      // One member per node and transport: wsio (polling), wsio (upgrade), Node (polling), ...
      const members = [];
      for (let i = 0; i < nodes.length; i++) {
        members.push(await sock(on(i, 2), 'polling'), await sock(on(i, 3) || on(i, 0), 'default'));
      }
      const outsider = await sock(on(1, 0), 'polling');
      for (const s of members) await call(s, 'join', 'lobby');
      for (const [k, from] of members.entries()) {
        await call(from, 'in-room', 'lobby', 'said', k, Buffer.from([k, 0, 255]));
        for (const s of members) {
          await until(() => s.log.some((e) => e[0] === 'said' && e[1] === k), 5000, `message ${k} at every member`, 5);
          const e = s.log.find((x) => x[0] === 'said' && x[1] === k);
          assert.deepEqual(normalize(e[2]), Buffer.from([k, 0, 255]));
        }
      }
      // Node's reference server answers allRooms from every node: the room is on all three.
      const r = await call(members[4], 'all-rooms');
      assert.equal(r.timeout, false);
      assert.ok(r.rooms.includes('lobby'));
      assert.deepEqual(outsider.log.filter((e) => e[0] === 'said'), []);
      await logged(members[0], 'said', members.length);
    });
  });
