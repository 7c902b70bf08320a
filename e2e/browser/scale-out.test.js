// Browser ↔ browser through two `ferry serve --redis` instances sharing a real redis-server: the
// pages meet in the LAN room (both are on loopback) although each signals through its own
// instance, and a transfer arrives byte for byte. Skipped, with the reason, only where
// redis-server is missing and cannot be installed (not root); CI installs it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import path from 'node:path';
import { launchBrowser, openApp, selfName, peerCard } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

function hasRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.getuid?.() === 0) throw new Error('redis-server is not installed: scripts/install-test-deps installs it');
    return false;
  }
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = /** @type {import('node:net').AddressInfo} */ (s.address()).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once redis-server answers PING on `port` (hang guard: 20 s). */
async function redisReady(/** @type {number} */ port) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const c = connect(port, '127.0.0.1', () => c.write('PING\r\n'));
      c.on('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not answer');
}

/** Resolves once the instance's /metrics says it is linked to Redis. */
async function redisUp(/** @type {string} */ url) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (/^ferry_redis_up 1$/m.test(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never linked to Redis`);
}

const skip = hasRedis() ? false : 'redis-server is not installed (apt-get install redis-server)';
/** @type {import('node:child_process').ChildProcess | undefined} */
let redis;
/** @type {Awaited<ReturnType<typeof startServer>>[]} */
const instances = [];
/** @type {import('playwright-core').Browser | undefined} */
let browser;

before(async () => {
  if (skip) return;
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await redisReady(port);
  for (let i = 0; i < 2; i++) {
    const inst = await startServer(['--no-turn', '--redis', `redis://127.0.0.1:${port}/0`, '--secret', 'e2e-scale-out']);
    instances.push(inst);
    await redisUp(inst.url);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const i of instances) await i.stop();
  redis?.kill();
});

test('two pages on two instances meet and transfer byte for byte', { skip, timeout: 300_000 }, async () => {
  const b = /** @type {import('playwright-core').Browser} */ (browser);
  const a = await openApp(b, instances[0].url);
  const c = await openApp(b, instances[1].url);
  const aName = await selfName(a.page);
  const cName = await selfName(c.page);
  await peerCard(a.page, cName).waitFor();
  await peerCard(c.page, aName).waitFor();

  const files = makeFiles({ 'across.bin': 8 * 1024 * 1024 + 3 });
  const downloads = collectDownloads(c.page);
  await peerCard(a.page, cName).getByTestId('peer-send-files').setInputFiles(files.paths);
  const dialog = c.page.getByTestId('offer-dialog');
  await dialog.waitFor();
  await dialog.getByTestId('offer-accept').click();
  const sent = peerCard(a.page, cName).getByTestId('transfer').first();
  await sent.and(a.page.locator('[data-state="done"]')).waitFor({ timeout: 180_000 });
  const d = await downloads.get(path.basename(files.paths[0]));
  assert.equal(d.failure, null);
  assert.equal(d.sha, files.sha['across.bin'], 'byte for byte');

  // A page that leaves is seen leaving on the other instance.
  await c.context.close();
  await peerCard(a.page, cName).and(a.page.locator('[data-left="true"]')).waitFor({ timeout: 20_000 });
  await a.context.close();
});
