'use strict';
// wsio-server's options: --help documents every option of main.c's table with its
// default; --version; invalid values fail at start (exit 2, fast) with a message naming
// the option and where the value came from; WSIO_* environment variables and a --config
// file work, with the precedence command line > environment > file; --static off; every
// --app starts.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  ROOT, withTimeout, until, startServer, runServer, httpGet, wsOpen,
} = require('./helpers.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-product-config-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let nfile = 0;
function writeConfig(text) {
  const f = path.join(tmp, `c${++nfile}.conf`);
  fs.writeFileSync(f, text);
  return f;
}

/* main.c's option table: [{name, def}] (def null when the table has NULL). */
function optionTable() {
  const src = fs.readFileSync(path.join(ROOT, 'src', 'app', 'main.c'), 'utf8');
  const start = src.indexOf('static const opt_def opts[]');
  assert.ok(start >= 0, 'option table in main.c');
  const body = src.slice(start, src.indexOf('};', start));
  const rows = [];
  const re = /\{\s*"([a-z-]+)",\s*"[^"]*",\s*T_[A-Z]+,\s*(NULL|"((?:[^"\\]|\\.)*)")/g;
  for (let m; (m = re.exec(body));) rows.push({ name: m[1], def: m[2] === 'NULL' ? null : m[3] });
  assert.ok(rows.length >= 15, `parsed ${rows.length} options from main.c`);
  return rows;
}

/* Sends one message of `size` bytes on /echo; resolves to 'echo' or the close code. */
async function echoOrClose(port, size) {
  const c = await wsOpen(port, '/echo');
  c.send(Buffer.alloc(size, 120));
  const r = await withTimeout(Promise.race([
    until(() => c.messages.length > 0, 3000, 'echo').then(() => 'echo'),
    c.closed.then((x) => x.code),
  ]), 3500, `echo of ${size} bytes`);
  c.terminate();
  return r;
}

test('--help lists every option of main.c with its default, and exits 0', async () => {
  const r = await runServer(['--help']);
  assert.equal(r.code, 0);
  const help = r.stdout;
  for (const { name, def } of optionTable()) {
    const line = help.split('\n').find((l) => new RegExp(`^\\s+--${name}(?=\\s)`).test(l));
    assert.ok(line, `--help documents --${name}`);
    if (def !== null) assert.ok(line.includes(`(default ${def})`), `--${name} shows its default ${def}: ${line}`);
  }
  assert.match(help, /--help\b/);
  assert.match(help, /--version\b/);
  assert.match(help, /WSIO_/, 'the environment variables are explained');
  assert.match(help, /--config/);
  assert.match(help, /SIGTERM/);
  assert.match(help, /SIGHUP/);
  const h2 = await runServer(['-h']);
  assert.equal(h2.code, 0);
  assert.equal(h2.stdout, help);
});

test('--version prints the version and exits 0', async () => {
  const r = await runServer(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^wsio-server \d+\.\d+\.\d+\n$/);
  const cm = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8').match(/project\(wsio VERSION (\d+\.\d+\.\d+)/);
  if (cm) assert.equal(r.stdout.trim(), `wsio-server ${cm[1]}`);
});

const INVALID = [
  [['--port', '70000'], '--port', '70000'],
  [['--port=-1'], '--port', '-1'],
  [['--max-message-size', '12XB'], '--max-message-size', '12XB'],
  [['--max-message-size', '0'], '--max-message-size', '0'],
  [['--max-backpressure', 'lots'], '--max-backpressure', 'lots'],
  [['--ping-interval', '-1'], '--ping-interval', '-1'],
  [['--ping-timeout', '0'], '--ping-timeout', '0'],
  [['--drain-timeout', '1.'], '--drain-timeout', '1.'],
  [['--max-headers', '0'], '--max-headers', '0'],
  [['--max-headers', '257'], '--max-headers', '257'],
  [['--max-connections', 'many'], '--max-connections', 'many'],
  [['--log-level', 'loud'], '--log-level', 'loud'],
  [['--log-format', 'xml'], '--log-format', 'xml'],
  [['--app', 'nope'], '--app', 'nope'],
  [['--host', ''], '--host', ''],
];

test('invalid values on the command line: exit 2 at once, naming the option and the source', async () => {
  for (const [args, opt, value] of INVALID) {
    const r = await runServer(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit code (stderr ${r.stderr})`);
    assert.ok(r.ms < 1500, `${args.join(' ')}: failed fast (${r.ms} ms)`);
    assert.ok(r.stderr.includes(opt), `${args.join(' ')}: message names ${opt}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`'${value}'`), `${args.join(' ')}: message quotes the value: ${r.stderr}`);
    assert.match(r.stderr, /command line/, `${args.join(' ')}: message names the source`);
    assert.match(r.stderr, /expected /, `${args.join(' ')}: message says what is expected`);
    assert.doesNotMatch(r.stderr, /listening on/);
  }
});

test('unknown options, stray arguments and missing values: exit 2 with a clear message', async () => {
  const cases = [
    [['--nope'], /unknown option '--nope'/],
    [['--nope=1'], /unknown option '--nope=1'/],
    [['stray'], /unexpected argument 'stray'/],
    [['--port'], /--port needs a value/],
    [['--log-file'], /--log-file needs a value/],
    [['--config'], /--config needs a value/],
  ];
  for (const [args, re] of cases) {
    const r = await runServer(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit code (stderr ${r.stderr})`);
    assert.ok(r.ms < 1500, `${args.join(' ')}: failed fast`);
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('invalid values from the environment name the variable', async () => {
  const cases = [
    [{ WSIO_PORT: '70000' }, '--port', 'environment WSIO_PORT'],
    [{ WSIO_MAX_MESSAGE_SIZE: '12XB' }, '--max-message-size', 'environment WSIO_MAX_MESSAGE_SIZE'],
    [{ WSIO_PING_INTERVAL: '-1' }, '--ping-interval', 'environment WSIO_PING_INTERVAL'],
    [{ WSIO_LOG_LEVEL: 'loud' }, '--log-level', 'environment WSIO_LOG_LEVEL'],
    [{ WSIO_APP: 'nope' }, '--app', 'environment WSIO_APP'],
  ];
  for (const [env, opt, source] of cases) {
    const r = await runServer([], { env });
    assert.equal(r.code, 2, `${JSON.stringify(env)}: exit code (stderr ${r.stderr})`);
    assert.ok(r.stderr.includes(opt) && r.stderr.includes(source), `${JSON.stringify(env)}: ${r.stderr}`);
  }
});

test('invalid config files name the file and the line', async () => {
  const bad = writeConfig('# a comment\n\nport = 0\nmax-headers = 0\n');
  let r = await runServer(['--config', bad]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes('--max-headers') && r.stderr.includes(`${bad} line 4`), r.stderr);

  const unknown = writeConfig('port 0\nnope = 3\n');
  r = await runServer(['--config', unknown]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes("'nope'") && r.stderr.includes(`${unknown} line 2`), r.stderr);

  r = await runServer(['--config', path.join(tmp, 'missing.conf')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config .*missing\.conf/);

  // The environment's WSIO_CONFIG names a file too.
  r = await runServer([], { env: { WSIO_CONFIG: bad } });
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${bad} line 4`), r.stderr);
});

// load_config_file reads with fgets into a 1024-byte buffer: the rest of a longer line is
// read as a line of its own (a long comment's tail becomes an "unknown option", with the
// wrong line number), and every later line number is off by one.
test('config file lines longer than 1 KiB (a long comment) are read as one line', async () => {
    const f = writeConfig(`port = 0\n# ${'x'.repeat(1100)}\nhost = 127.0.0.1\nmax-headers = 0\n`);
    const r = await runServer(['--config', f]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes('--max-headers') && r.stderr.includes(`${f} line 4`),
      `the error is about line 4's max-headers: ${r.stderr}`);
  });

test('WSIO_PORT=0 and WSIO_MAX_MESSAGE_SIZE=1KiB take effect', async () => {
  const srv = await startServer([], { raw: true, env: { WSIO_HOST: '127.0.0.1', WSIO_PORT: '0', WSIO_MAX_MESSAGE_SIZE: '1KiB' } });
  try {
    assert.notEqual(srv.port, 3000, 'port 0: an ephemeral port');
    assert.ok(srv.port > 0);
    assert.equal(await echoOrClose(srv.port, 1024), 'echo');
    assert.equal(await echoOrClose(srv.port, 2048), 1009);
  } finally {
    await srv.stop();
  }
});

test('a config file sets options (comments, "name = value", "name value", "name=value")', async () => {
  const f = writeConfig([
    '# wsio-server configuration',
    '   # an indented comment',
    '',
    'host = 127.0.0.1',
    'port 0',
    'max-message-size=1KiB\t',
    '  log-format  =  json  ',
    '\tapp\tchat',
    '',
  ].join('\n'));
  const srv = await startServer(['--config', f], { raw: true });
  try {
    const first = srv.stderr().split('\n')[0];
    const line = JSON.parse(first); // log-format json came from the file
    assert.match(line.msg, /listening on 127\.0\.0\.1:\d+ \(app chat/);
    assert.equal(await echoOrClose(srv.port, 1000), 'echo');
    assert.equal(await echoOrClose(srv.port, 1500), 1009);
  } finally {
    await srv.stop();
  }
});

test('precedence: the command line wins over the environment, which wins over the file', async () => {
  const f = writeConfig('host = 127.0.0.1\nport = 0\nmax-message-size = 1KiB\n');
  // file 1 KiB, environment 4 KiB: the environment wins.
  let srv = await startServer(['--config', f], { raw: true, env: { WSIO_MAX_MESSAGE_SIZE: '4KiB' } });
  try {
    assert.equal(await echoOrClose(srv.port, 2048), 'echo');
    assert.equal(await echoOrClose(srv.port, 5000), 1009);
  } finally {
    await srv.stop();
  }
  // file 1 KiB, environment 4 KiB, command line 8 KiB: the command line wins.
  srv = await startServer(['--config', f, '--max-message-size', '8KiB'], { raw: true, env: { WSIO_MAX_MESSAGE_SIZE: '4KiB' } });
  try {
    assert.equal(await echoOrClose(srv.port, 6000), 'echo');
    assert.equal(await echoOrClose(srv.port, 9000), 1009);
  } finally {
    await srv.stop();
  }
  // The command line wins even when it comes before --config.
  srv = await startServer(['--max-message-size=8KiB', `--config=${f}`], { raw: true });
  try {
    assert.equal(await echoOrClose(srv.port, 6000), 'echo');
  } finally {
    await srv.stop();
  }
  // An invalid file value is reported even when the command line would override it
  // (every source is validated).
  const bad = writeConfig('port = 0\nmax-message-size = 12XB\n');
  const r = await runServer(['--config', bad, '--max-message-size', '1KiB']);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${bad} line 2`), r.stderr);
});

test('--static off serves 404 at /; the default serves the demo page', async () => {
  const off = await startServer(['--static', 'off']);
  try {
    const r = await httpGet(off.port, '/');
    assert.equal(r.status, 404);
    assert.equal((await httpGet(off.port, '/healthz')).status, 200);
  } finally {
    await off.stop();
  }
  if (!fs.existsSync(path.join(ROOT, 'static', 'index.html'))) return;
  const on = await startServer([]);
  try {
    const r = await httpGet(on.port, '/');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/html/);
  } finally {
    await on.stop();
  }
});

test('--static with a missing folder starts anyway, with a warning', async () => {
  const srv = await startServer(['--static', path.join(tmp, 'no-such-dir')]);
  try {
    assert.match(srv.stderr(), / warn wsio-server: static folder .*no-such-dir.* not served/);
    assert.equal((await httpGet(srv.port, '/')).status, 404);
  } finally {
    await srv.stop();
  }
});

test('every --app starts and serves its endpoints', async () => {
  for (const app of ['chat', 'conformance', 'bench', 'test']) {
    const srv = await startServer(['--app', app, '--static', 'off']);
    try {
      assert.match(srv.stderr(), new RegExp(`listening on 127\\.0\\.0\\.1:${srv.port} \\(app ${app},`));
      assert.equal((await httpGet(srv.port, '/healthz')).status, 200, `${app}: /healthz`);
      assert.equal((await httpGet(srv.port, '/metrics')).status, 200, `${app}: /metrics`);
      const eio = await httpGet(srv.port, '/socket.io/?EIO=4&transport=polling');
      assert.equal(eio.status, 200, `${app}: Socket.IO handshake`);
      assert.match(eio.body, /^0\{"sid":"/);
      assert.equal(await echoOrClose(srv.port, 10), 'echo', `${app}: /echo`);
      const res = await srv.stop();
      assert.equal(res.code, 0, `${app}: exit code after SIGTERM`);
    } finally {
      await srv.stop().catch(() => {});
    }
  }
});

test('heartbeat options reach Socket.IO: --ping-interval / --ping-timeout in the handshake', async () => {
  const srv = await startServer(['--ping-interval', '1.5', '--ping-timeout', '0.25']);
  try {
    const r = await httpGet(srv.port, '/socket.io/?EIO=4&transport=polling');
    const hs = JSON.parse(r.body.slice(1));
    assert.equal(hs.pingInterval, 1500);
    assert.equal(hs.pingTimeout, 250);
  } finally {
    await srv.stop();
  }
});

test('--max-connections: upgrades over the limit get 503', async () => {
  const srv = await startServer(['--max-connections', '2']);
  const open = [];
  try {
    open.push(await wsOpen(srv.port, '/echo'), await wsOpen(srv.port, '/echo'));
    await assert.rejects(wsOpen(srv.port, '/echo'), /503/);
  } finally {
    for (const c of open) c.terminate();
    await srv.stop();
  }
});
