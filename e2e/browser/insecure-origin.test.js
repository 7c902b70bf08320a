// The app on a plain-http address that is not localhost, as a phone on the LAN opens it
// (http://192.168.1.20:8080): `--host-resolver-rules` maps the name ferry.test to 127.0.0.1,
// so Chromium treats http://ferry.test:PORT as insecure (no crypto.subtle, no service worker)
// while the traffic stays on loopback. The relay's end-to-end encryption then runs on the
// vendored noble libraries; received files are held in memory; the page says so once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { inState, openApp, openPair, useServerAndBrowser } from '../lib/browser.js';
import { assertRelayPath, sendAndCheck, sparseFile } from '../lib/transfer.js';

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

  // A secure context (http://127.0.0.1 counts as one) gets no notice.
  const secure = await openApp(env.browser, env.server.url);
  await secure.page.waitForFunction(() => document.body.dataset.storage === 'stream');
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
