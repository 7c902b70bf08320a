// The app on a plain-http address that is not localhost, as a phone on the LAN opens it
// (http://192.168.1.20:8080): `--host-resolver-rules` maps the name ferry.test to 127.0.0.1,
// so Chromium treats http://ferry.test:PORT as insecure (no crypto.subtle, no service worker)
// while the traffic stays on loopback. The relay's end-to-end encryption then runs on the
// vendored noble libraries (against each other and against the Rust CLI); received files are
// held in memory; the page says so once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { inState, openApp, openPair, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { assertRelayPath, collectDownloads, makeFiles, sendAndCheck, sparseFile } from '../lib/transfer.js';
import { runFerry } from '../lib/cli.js';

const env = useServerAndBrowser({ chromiumArgs: ['--host-resolver-rules=MAP ferry.test 127.0.0.1'] });
/** The test server under a name that is not localhost. */
const insecureUrl = () => env.server.url.replace('//127.0.0.1:', '//ferry.test:');

test('plain-http origin: no WebCrypto, no service worker; the notice says what that costs, once, in en and zh-CN', { timeout: 120_000 }, async () => {
  const { context, page } = await openApp(env.browser, insecureUrl());
  assert.deepEqual(await page.evaluate(() => [isSecureContext, typeof crypto.subtle, 'serviceWorker' in navigator]), [false, 'undefined', false]);
  await page.waitForFunction(() => document.body.dataset.storage === 'memory');
  const notice = page.getByTestId('insecure-notice');
  await notice.waitFor();
  const en = (await page.getByTestId('insecure-notice-text').textContent()) ?? '';
  assert.ok(en.includes(new URL(insecureUrl()).origin), en);
  assert.match(en, /held in memory/);
  assert.match(en, /HTTPS/);
  assert.match(en, /installed/);
  await page.getByTestId('lang-select').selectOption('zh-CN');
  const zh = (await page.getByTestId('insecure-notice-text').textContent()) ?? '';
  assert.match(zh, /内存/);
  assert.match(zh, /HTTPS/);
  assert.equal(await page.getByTestId('insecure-notice-dismiss').textContent(), '知道了');
  await page.getByTestId('lang-select').selectOption('en');
  await page.getByTestId('insecure-notice-dismiss').click();
  assert.equal(await notice.isVisible(), false);
  // Once: the same device opening the page again is not told again.
  await page.reload();
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  assert.equal(await notice.isVisible(), false);
  await context.close();

  // A secure context (http://127.0.0.1 counts as one) gets no notice, and keeps what it receives.
  const secure = await openApp(env.browser, env.server.url);
  await secure.page.waitForFunction(() => document.body.dataset.storage === 'opfs');
  assert.equal(await secure.page.getByTestId('insecure-notice').isVisible(), false);
  await secure.context.close();
});

test('plain-http origin: relay transfers both ways byte for byte; a big offer warns before accepting', { timeout: 300_000 }, async () => {
  const pair = await openPair(env.browser, insecureUrl(), { queryA: '/?relay=1' });
  /** @type {string[]} */
  const errors = [];
  for (const p of [pair.a.page, pair.b.page]) p.on('pageerror', (e) => errors.push(e.message));
  await sendAndCheck(pair, 'a', { 'insecure-a.bin': 3 * 1024 * 1024 + 7, 'insecure-one.bin': 1, 'insecure-empty.bin': 0 });
  await assertRelayPath(pair);
  await sendAndCheck(pair, 'b', { 'insecure-b.bin': 2 * 1024 * 1024 + 1, 'insecure-note.txt': 'héllo 👋\n' });
  for (const card of [pair.cardAB, pair.cardBA]) assert.equal(((await card.getByTestId('peer-error').textContent()) ?? '').trim(), '');

  // Without deviceMemory (secure contexts only) the budget is 256 MiB; 400 MB is over it.
  const big = sparseFile('insecure-big.bin', 400_000_000);
  await pair.cardAB.getByTestId('peer-send-files').setInputFiles(big.path);
  const dialog = pair.b.page.getByTestId('offer-dialog');
  const warning = dialog.getByTestId('offer-memory-warning');
  await warning.waitFor();
  assert.match((await warning.textContent()) ?? '', /400 MB.*memory/);
  await dialog.getByTestId('offer-decline').click();
  await inState(pair.cardAB.getByTestId('transfer').first(), 'declined').waitFor({ timeout: 30_000 });
  rmSync(big.dir, { recursive: true, force: true });
  assert.deepEqual(errors, []);
  await pair.close();
});

test('plain-http origin: ferry send --relay → the page, Rust and noble encryption agree byte for byte', { timeout: 300_000 }, async () => {
  const files = makeFiles({ 'insecure-cli.bin': 2 * 1024 * 1024 + 9 });
  const sender = runFerry(['send', '--yes', ...files.paths, '--relay'], env.server.url);
  const room = await sender.event('room');
  const welcome = await sender.event('welcome');
  const b = await openApp(env.browser, room.link.replace('//127.0.0.1:', '//ferry.test:'));
  assert.equal(await b.page.evaluate(() => typeof crypto.subtle), 'undefined');
  const downloads = collectDownloads(b.page);
  const dialog = b.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  const connected = await sender.event('connected');
  assert.equal(connected.path, 'websocket');
  const { code } = await sender.event('security-code');
  const codeEl = peerCard(b.page, welcome.name).getByTestId('security-code');
  await codeEl.waitFor({ state: 'visible' });
  assert.equal(await codeEl.getAttribute('data-code'), code);
  await dialog.getByTestId('offer-accept').click();
  assert.equal(await sender.exit(), 0, sender.stderr());
  const d = await downloads.get('insecure-cli.bin');
  assert.equal(d.failure, null);
  assert.equal(d.sha, files.sha['insecure-cli.bin'], 'byte for byte');
  rmSync(files.dir, { recursive: true, force: true });
  await b.context.close();
});
