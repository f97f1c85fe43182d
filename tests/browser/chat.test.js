'use strict';
// End-to-end browser test of the chat demo (static/index.html + app.js) served by wsio-server,
// driven through playwright-core with Debian's Chromium (/usr/bin/chromium, or $CHROMIUM).
//
//   node --test tests/browser/            (the wsio-server from $WSIO_SERVER or build/)
//
// Two browser contexts (two users, Alice and Bob) in their own rooms, then in a shared room:
// messages stay in their room, travel both ways with the sender's name and a time, typing
// shows and fades, the connection survives the page's "Test reconnect" button, a real
// network cut (the message sent meanwhile arrives once, through connection state recovery)
// and a restart of the server on the same port; /stats counts the connections.
// Screenshots go to tests/browser/output/ (their paths are printed). With
// WSIO_UPDATE_DOCS_SCREENSHOT=1 the clean chat screenshot also replaces
// docs/screenshot-chat.png (the README's picture).
//
// A missing Chromium fails the test (it is not skipped): install it with
// `apt-get install chromium` (scripts/install-deps.sh does).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const SERVER_BIN = process.env.WSIO_SERVER || path.join(REPO, 'build', 'wsio-server');
const STATIC_DIR = path.join(REPO, 'static');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = path.join(__dirname, 'output');
const DOCS_SHOT = path.join(REPO, 'docs', 'screenshot-chat.png');
const VIEWPORT = { width: 1280, height: 800 };

const START_TIMEOUT_MS = 10000;   // server: until "listening on"
const STOP_TIMEOUT_MS = 8000;     // server: SIGTERM until exit, then SIGKILL
const WAIT_MS = 10000;            // the default wait for something to show in a page
const RECONNECT_MS = 20000;       // reconnection (the client backs off up to 5 s)
const TYPING_FADE_MS = 3000 + 600; // app.js TYPING_SHOW_MS + the CSS fade

// ---- the server -------------------------------------------------------------------------

const liveServers = new Set();
process.on('exit', () => {
  for (const child of liveServers) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

function startServer(port) {
  if (!fs.existsSync(SERVER_BIN)) {
    return Promise.reject(new Error(`wsio-server not found at ${SERVER_BIN} (run make build, or set WSIO_SERVER)`));
  }
  const argv = ['--host', '127.0.0.1', '--port', String(port), '--static', STATIC_DIR, '--drain-timeout', '2'];
  const child = spawn(SERVER_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveServers.add(child);
  let log = '';
  const append = (s) => { log = (log + s).slice(-16384); };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    liveServers.delete(child);
    resolve({ code, signal });
  }));
  const server = { child, pid: child.pid, port: 0, exited, log: () => log, alive: () => liveServers.has(child) };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wsio-server did not print "listening on" within ${START_TIMEOUT_MS} ms\n${log}`));
    }, START_TIMEOUT_MS);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.stderr.on('data', () => {
      const m = /listening on \S+:(\d+)/.exec(log);
      if (m && !server.port) {
        server.port = Number(m[1]);
        clearTimeout(timer);
        resolve(server);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`wsio-server exited before listening (code ${code}, signal ${signal}): ` +
        `${JSON.stringify([SERVER_BIN, ...argv])}\n${log}`));
    });
  });
}

async function stopServer(server) {
  if (!server || !server.alive()) return server ? server.exited : null;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => { if (server.alive()) server.child.kill('SIGKILL'); }, STOP_TIMEOUT_MS);
  const info = await server.exited;
  clearTimeout(timer);
  return info;
}

// A port that was just released can still be busy for a moment: retry for a few seconds.
async function startServerOn(port) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await startServer(port);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---- the pages ---------------------------------------------------------------------------

// Runs in every page before its scripts: records every state the connection indicator
// shows (a short "reconnecting" must not slip between two polls) and page errors.
function recorder() {
  window.__connStates = [];
  window.__pageErrors = [];
  window.addEventListener('error', (e) => window.__pageErrors.push(String(e.message)));
  document.addEventListener('DOMContentLoaded', () => {
    const conn = document.getElementById('conn');
    const text = document.getElementById('conn-text');
    if (!conn || !text) return;
    const note = () => {
      const last = window.__connStates[window.__connStates.length - 1];
      const now = { state: conn.dataset.state, text: text.textContent };
      if (!last || last.state !== now.state || last.text !== now.text) window.__connStates.push(now);
    };
    note();
    new MutationObserver(note).observe(conn, { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

const connStates = (page) => page.evaluate(() => window.__connStates.slice());

// Waits until the indicator went through `states` in this order, from entry `from` of the
// page's history on; returns the history.
async function waitForStates(page, from, states, timeout) {
  try {
    await page.waitForFunction(([from, states]) => {
      let i = 0;
      for (const s of window.__connStates.slice(from)) if (s.state === states[i]) i++;
      return i >= states.length;
    }, [from, states], { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`connection indicator never went through ${states.join(' -> ')}; ` +
      `it showed ${JSON.stringify((await connStates(page).catch(() => [])).slice(from))}`, { cause: err });
  }
  return connStates(page);
}

async function connState(page) {
  return page.locator('#conn').getAttribute('data-state');
}

// Waits until the connection indicator shows one of `states` now.
async function waitConnected(page, timeout = RECONNECT_MS, states = ['connected', 'recovered']) {
  await page.waitForFunction((states) => states.includes(document.getElementById('conn').dataset.state),
    states, { timeout, polling: 100 }).catch(async (err) => {
    throw new Error(`page did not show ${states.join('/')} within ${timeout} ms; indicator: ` +
      `${JSON.stringify(await connStates(page).catch(() => []))}`, { cause: err });
  });
}

// Joins `room` as `name`; from a room, through the page's Leave button (the page reloads).
async function join(page, name, room) {
  if (await page.locator('#chat-view').isVisible()) {
    await page.click('#leave');
    await page.locator('#join-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  }
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join-button');
  await page.locator('#chat-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.locator('#room-title').textContent(), room);
  await waitConnected(page, WAIT_MS);
  await page.locator('#people .person', { hasText: name }).first().waitFor({ timeout: WAIT_MS });
}

// Sends `text` and waits until the server's echo replaced the pending row.
async function send(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.locator('#messages li.msg.mine:not(.pending)', { hasText: text }).first()
    .waitFor({ timeout: WAIT_MS });
  assert.equal(await page.inputValue('#text'), '', 'the composer is emptied after sending');
}

// Rows (li.msg) whose text is exactly `text`, as {who, time, datetime, mine}.
function rows(page, text) {
  return page.$$eval('#messages li.msg', (lis, text) => lis
    .filter((li) => li.querySelector('.text') && li.querySelector('.text').textContent === text)
    .map((li) => ({
      who: li.querySelector('.who').textContent,
      time: li.querySelector('time').textContent,
      datetime: li.querySelector('time').getAttribute('datetime'),
      mine: li.classList.contains('mine'),
      pending: li.classList.contains('pending'),
    })), text);
}

// Waits for a message from someone else and checks its sender and time.
async function expectMessage(page, text, from) {
  await page.waitForFunction((text) => Array.from(document.querySelectorAll('#messages li.msg .text'))
    .some((p) => p.textContent === text), text, { timeout: WAIT_MS, polling: 100 })
    .catch(async (err) => {
      const shown = await page.$$eval('#messages li', (lis) => lis.map((li) => li.textContent)).catch(() => []);
      throw new Error(`message ${JSON.stringify(text)} never showed; the page shows ${JSON.stringify(shown)}`, { cause: err });
    });
  const found = await rows(page, text);
  assert.equal(found.length, 1, `${JSON.stringify(text)} shown once`);
  const row = found[0];
  assert.equal(row.mine, false);
  assert.equal(row.who, from, 'the sender\'s name is shown');
  assert.match(row.time, /\d{1,2}[:.]\d{2}/, 'a clock time is shown');
  const sent = Date.parse(row.datetime);
  assert.ok(Math.abs(Date.now() - sent) < 5 * 60 * 1000, `a recent time (${row.datetime})`);
  return row;
}

async function messageTexts(page) {
  return page.$$eval('#messages li.msg .text', (ps) => ps.map((p) => p.textContent));
}

async function systemTexts(page) {
  return page.$$eval('#messages li.sys', (lis) => lis.map((li) => li.textContent));
}

// ---- the test ----------------------------------------------------------------------------

describe('chat page in Chromium', { timeout: 120000 }, () => {
  let chromium;
  let browser;
  let server;
  let port;
  let ctxA; let ctxB;
  let alice; let bob;
  let broken = false;
  const shots = [];
  const stamp = Date.now().toString(36);

  async function shoot(page, name, opts = {}) {
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const file = path.join(OUT_DIR, `${name}.png`);
    await page.screenshot({ path: file, animations: 'disabled', ...opts });
    shots.push(file);
    return file;
  }

  // A step runs only when the steps before it passed (they build the state it starts from).
  function step(name, fn) {
    it(name, async (t) => {
      if (broken) { t.skip('an earlier step failed'); return; }
      try {
        await fn(t);
      } catch (err) {
        broken = true;
        for (const [who, page] of [['alice', alice], ['bob', bob]]) {
          if (page && !page.isClosed()) {
            const file = await shoot(page, `failure-${who}`).catch(() => null);
            if (file) t.diagnostic(`screenshot: ${file}`);
          }
        }
        if (server) t.diagnostic(`server log tail:\n${server.log().slice(-3000)}`);
        throw err;
      }
    });
  }

  before(async () => {
    try {
      fs.accessSync(CHROMIUM, fs.constants.X_OK);
    } catch {
      throw new Error(`Chromium not found at ${CHROMIUM}: the browser test needs Debian's chromium ` +
        '(apt-get install -y chromium; scripts/install-deps.sh installs it) or $CHROMIUM pointing at one');
    }
    try {
      ({ chromium } = require('playwright-core'));
    } catch (err) {
      throw new Error('playwright-core is not installed: run npm install (or npm ci) in the repository root', { cause: err });
    }
    fs.rmSync(OUT_DIR, { recursive: true, force: true });
    fs.mkdirSync(OUT_DIR, { recursive: true });
    server = await startServer(0);
    port = server.port;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const base = `http://127.0.0.1:${port}`;
    ctxA = await browser.newContext({ baseURL: base, viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'UTC' });
    ctxB = await browser.newContext({ baseURL: base, viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'UTC' });
    for (const ctx of [ctxA, ctxB]) {
      ctx.setDefaultTimeout(WAIT_MS);
      await ctx.addInitScript(recorder);
    }
    alice = await ctxA.newPage();
    bob = await ctxB.newPage();
  });

  after(async () => {
    let timer;
    const closing = browser ? browser.close().then(() => false, () => false) : Promise.resolve(false);
    const timedOut = await Promise.race([closing, new Promise((r) => { timer = setTimeout(r, 10000, true); })]);
    clearTimeout(timer);
    if (timedOut && browser && browser.process && browser.process()) {
      try { process.kill(browser.process().pid, 'SIGKILL'); } catch { /* gone */ }
    }
    const info = await stopServer(server);
    if (shots.length) console.log(`browser test screenshots:\n  ${shots.join('\n  ')}`);
    if (info && !broken) assert.equal(info.code, 0, `wsio-server exit on SIGTERM: ${JSON.stringify(info)}\n${server.log()}`);
  });

  step('two pages join two rooms', async () => {
    await Promise.all([alice.goto('/'), bob.goto('/')]);
    await join(alice, 'Alice', 'alpha');
    await join(bob, 'Bob', 'beta');
  });

  step('messages stay in their room', async () => {
    const inAlpha = `only for alpha ${stamp}`;
    const inBeta = `only for beta ${stamp}`;
    await send(alice, inAlpha);
    await send(bob, inBeta);
    await sleep(500); // a wrongly routed message would have arrived by now
    assert.deepEqual(await rows(bob, inAlpha), [], 'a message in alpha does not reach beta');
    assert.deepEqual(await rows(alice, inBeta), [], 'a message in beta does not reach alpha');
    assert.equal(await alice.locator('#people-count').textContent(), '1');
    assert.equal(await bob.locator('#people-count').textContent(), '1');
  });

  step('both join the shared room and see each other', async () => {
    await join(alice, 'Alice', 'shared');
    await join(bob, 'Bob', 'shared');
    await alice.locator('#people .person', { hasText: 'Bob' }).waitFor();
    await bob.locator('#people .person', { hasText: 'Alice' }).waitFor();
    assert.equal(await alice.locator('#people-count').textContent(), '2');
    assert.equal(await bob.locator('#people-count').textContent(), '2');
    assert.deepEqual(await messageTexts(bob), [], 'the shared room starts empty (nothing from alpha)');
  });

  step('messages go both ways with the sender\'s name and time', async (t) => {
    const conversation = [
      [alice, bob, 'Alice', 'Hi Bob! This chat runs on wsio, a Socket.IO server written in C.'],
      [bob, alice, 'Bob', 'Hi Alice. Messages arrive at once, and everyone here is listed on the left.'],
      [alice, bob, 'Alice', 'Press "Test reconnect": the connection comes back without losing a message.'],
      [bob, alice, 'Bob', 'Nice. Watch the connection badge next to the logo while I try it.'],
    ];
    for (const [from, to, name, text] of conversation) {
      await send(from, text);
      await expectMessage(to, text, name);
      const own = await rows(from, text);
      assert.equal(own.length, 1);
      assert.equal(own[0].who, 'You');
    }
    await alice.locator('#text').blur();
    const file = await shoot(alice, 'chat', { caret: 'hide' });
    t.diagnostic(`screenshot: ${file}`);
    if (process.env.WSIO_UPDATE_DOCS_SCREENSHOT === '1') {
      fs.copyFileSync(file, DOCS_SHOT);
      t.diagnostic(`screenshot: ${DOCS_SHOT} (${fs.statSync(DOCS_SHOT).size} bytes)`);
    }
  });

  step('typing shows on the other page, then fades', async (t) => {
    await bob.locator('#text').pressSequentially('I am typing', { delay: 20 });
    const typing = alice.locator('#typing.show');
    await typing.waitFor({ timeout: WAIT_MS });
    assert.equal(await alice.locator('#typing').textContent(), 'Bob is typing…');
    t.diagnostic(`screenshot: ${await shoot(alice, 'typing')}`);
    assert.equal(await bob.locator('#typing.show').count(), 0, 'no indicator for one\'s own typing');
    // Bob stops typing: the indicator goes away by itself and fades to transparent.
    await alice.waitForFunction(() => !document.getElementById('typing').classList.contains('show'),
      null, { timeout: TYPING_FADE_MS + 3000, polling: 100 });
    await alice.waitForFunction(() => getComputedStyle(document.getElementById('typing')).opacity === '0',
      null, { timeout: 3000, polling: 100 });
    await bob.fill('#text', '');
  });

  step('"Test reconnect" drops the connection; it comes back recovered', async (t) => {
    const from = (await connStates(alice)).length;
    await alice.click('#drop');
    await waitForStates(alice, from, ['reconnecting', 'recovered'], RECONNECT_MS);
    await alice.locator('#messages li.sys', { hasText: 'Reconnected and recovered' }).first().waitFor();
    t.diagnostic(`screenshot: ${await shoot(alice, 'recovered-after-test-reconnect')}`);
    const text = `after the drop ${stamp}`;
    await send(bob, text);
    await expectMessage(alice, text, 'Bob');
  });

  step('a network cut: the message sent meanwhile arrives once after recovery', async (t) => {
    const from = (await connStates(alice)).length;
    const cutAt = Date.now();
    await ctxA.setOffline(true);
    await waitForStates(alice, from, ['reconnecting'], WAIT_MS);
    t.diagnostic(`screenshot: ${await shoot(alice, 'offline-reconnecting')}`);
    const missed = `sent while Alice was offline ${stamp}`;
    await send(bob, missed);
    await sleep(Math.max(0, 3000 - (Date.now() - cutAt))); // offline for about 3 s
    assert.deepEqual(await rows(alice, missed), [], 'nothing arrives while offline');
    await ctxA.setOffline(false);
    const states = await waitForStates(alice, from, ['reconnecting', 'recovered'], RECONNECT_MS);
    await expectMessage(alice, missed, 'Bob');
    await sleep(1000); // a duplicate would arrive right behind it
    assert.equal((await rows(alice, missed)).length, 1, 'the missed message is shown exactly once');
    const warnings = (await systemTexts(alice)).filter((s) => s.includes('new session'));
    assert.deepEqual(warnings, [], 'the session was recovered, not replaced');
    t.diagnostic(`indicator: ${states.slice(from).map((s) => s.text).join(' -> ')}`);
    t.diagnostic(`screenshot: ${await shoot(alice, 'recovered-after-network-cut')}`);
    const text = `back online ${stamp}`;
    await send(alice, text);
    await expectMessage(bob, text, 'Alice');
  });

  step('a server restart on the same port: both pages reconnect and talk again', async (t) => {
    const fromA = (await connStates(alice)).length;
    const fromB = (await connStates(bob)).length;
    const info = await stopServer(server);
    assert.equal(info.code, 0, `wsio-server exit on SIGTERM: ${JSON.stringify(info)}\n${server.log()}`);
    await Promise.all([
      waitForStates(alice, fromA, ['reconnecting'], WAIT_MS),
      waitForStates(bob, fromB, ['reconnecting'], WAIT_MS),
    ]);
    server = await startServerOn(port);
    assert.equal(server.port, port);
    await Promise.all([
      waitForStates(alice, fromA, ['reconnecting', 'connected'], RECONNECT_MS),
      waitForStates(bob, fromB, ['reconnecting', 'connected'], RECONNECT_MS),
    ]);
    // A new server knows no sessions: the pages say so and join the room again.
    for (const page of [alice, bob]) {
      await page.locator('#messages li.sys', { hasText: 'new session' }).first().waitFor();
    }
    const there = `after the restart ${stamp}`;
    const back = `still here ${stamp}`;
    await send(alice, there);
    await expectMessage(bob, there, 'Alice');
    await send(bob, back);
    await expectMessage(alice, back, 'Bob');
    t.diagnostic(`screenshot: ${await shoot(alice, 'after-server-restart-alice')}`);
    t.diagnostic(`screenshot: ${await shoot(bob, 'after-server-restart-bob')}`);
  });

  step('/stats counts the connections', async (t) => {
    const stats = await ctxB.newPage();
    try {
      await stats.goto('/stats');
      await stats.waitForFunction(() => Number(document.getElementById('v-conn').textContent) > 0,
        null, { timeout: WAIT_MS, polling: 100 }).catch(async (err) => {
        throw new Error(`/stats shows connections ${JSON.stringify(await stats.locator('#v-conn').textContent())}`, { cause: err });
      });
      const n = Number(await stats.locator('#v-conn').textContent());
      assert.ok(n >= 2, `at least the two chat pages are counted (${n})`);
      t.diagnostic(`/stats connections: ${n}`);
      // Rates need two samples a second apart; the screenshot looks better with them.
      await stats.waitForFunction(() => document.getElementById('v-rate-in').textContent !== '—',
        null, { timeout: 3000, polling: 100 }).catch(() => {});
      t.diagnostic(`screenshot: ${await shoot(stats, 'stats')}`);
    } finally {
      await stats.close();
    }
  });

  step('no script errors in the pages', async () => {
    for (const [who, page] of [['Alice', alice], ['Bob', bob]]) {
      const errors = await page.evaluate(() => window.__pageErrors);
      assert.deepEqual(errors, [], `${who}'s page threw`);
      assert.ok(['connected', 'recovered'].includes(await connState(page)));
    }
  });
});
