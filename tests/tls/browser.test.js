'use strict';
// Chromium over TLS: the chat demo served over https:// (its Socket.IO client polls,
// then upgrades to wss://), and a page's own WebSocket to wss:///echo. Chromium trusts
// the test server's key through --ignore-certificate-errors-spki-list (Chromium's
// switch for test certificates: only that key is accepted, every other check stays).
// Skipped, with the reason, where Chromium or playwright-core is missing.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, until, ROOT } = require('../product/helpers.js');
const { selfSigned } = require('./certs.js');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function spkiHash(certPem) {
  const spki = new crypto.X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

test('Chromium: the chat demo over https (Socket.IO upgrades to wss) and a page WebSocket over wss', async (t) => {
  let chromium;
  try { ({ chromium } = require('playwright-core')); } catch { return t.skip('playwright-core is not installed'); }
  if (!fs.existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-tls-browser-'));
  let srv;
  let browser;
  try {
    const { key, crt } = selfSigned(dir, 'localhost', { san: 'DNS:localhost,IP:127.0.0.1' });
    // The demo as installed: the page and the official client bundle under vendor/.
    const site = path.join(dir, 'static');
    fs.cpSync(path.join(ROOT, 'static'), site, { recursive: true });
    fs.mkdirSync(path.join(site, 'vendor'), { recursive: true }); // make build copies it there too
    fs.copyFileSync(path.join(ROOT, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'), path.join(site, 'vendor', 'socket.io.min.js'));
    srv = await startServer(['--tls-cert', crt, '--tls-key', key, '--static', site], { ready: false });
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-dev-shm-usage', `--ignore-certificate-errors-spki-list=${spkiHash(fs.readFileSync(crt))}`],
    });
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10000);
    const logs = [];
    const sockets = [];
    page.on('websocket', (w) => sockets.push(w.url()));
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    page.on('requestfailed', (r) => logs.push(`failed ${r.url()} ${r.failure()?.errorText}`));
    const base = `https://localhost:${srv.port}`;
    await until(async () => { try { return (await page.goto(base + '/')).ok(); } catch { return false; } }, 10000, 'the demo page over https');
    assert.equal(new URL(page.url()).protocol, 'https:');
    await page.fill('#name', 'Tess');
    await page.fill('#room', 'tls');
    await page.waitForFunction(() => !document.getElementById('join-button').disabled).catch((e) => { throw new Error(`join stays disabled: ${logs.join(' | ')}`, { cause: e }); });
    await page.click('#join-button');
    await page.locator('#chat-view').waitFor({ state: 'visible' });
    await page.waitForFunction(() => ['connected', 'recovered'].includes(document.getElementById('conn').dataset.state));
    await page.fill('#text', 'over TLS');
    await page.press('#text', 'Enter');
    await page.locator('#messages li.msg.mine:not(.pending)', { hasText: 'over TLS' }).first().waitFor();
    await until(() => sockets.some((u) => u.startsWith(`wss://localhost:${srv.port}/socket.io/`)), 10000,
      `the Socket.IO upgrade to wss (sockets: ${sockets.join(', ')})`);
    const echoed = await page.evaluate((url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ws.send('page says hi');
      ws.onmessage = (e) => { resolve(e.data); ws.close(); };
      ws.onerror = () => reject(new Error('wss error'));
    }), `wss://localhost:${srv.port}/echo`);
    assert.equal(echoed, 'page says hi');
  } finally {
    if (browser) await browser.close();
    if (srv) await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
