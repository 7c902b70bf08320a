// Phones suspend pages whose screen locks, which stops their transfers. While a transfer moves
// data both pages hold a screen wake lock and release it afterwards; a phone on a plain-http LAN
// address has no wake lock API, so it is asked to keep the screen on, and told afterwards when the
// page was in the background during the transfer.
//
// Headless Chromium never hides a page (bringToFront, minimizing: the page stays `visible`), so
// the background episode is the page's own `visibilitychange` with `document.visibilityState`
// overridden on that document; the wake lock, the transfer and the notice are real. The receiver
// writes through the `?test=1&sinkRate=` throttle (a slow disk), which keeps the transfer running
// long enough to look at it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { launchBrowser, openPair, inState, peerCard, selfName } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** @param {import('playwright-core').Page} page */
const wakeLock = (page) => page.getByTestId('keep-awake-notice').getAttribute('data-wake-lock');

/** @param {import('playwright-core').Page} page */
function waitRunning(page) {
  return page.waitForFunction(() => {
    const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="file-progress"]'));
    return bar !== null && bar.value > 0;
  });
}

test('a running transfer holds a screen wake lock on both pages and releases it when done', { timeout: 180_000 }, async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  const p = await openPair(browser, server.url, { queryB: '?test=1&sinkRate=4000000' });
  const files = makeFiles({ 'awake.bin': 12 * 1024 * 1024 });
  try {
    for (const page of [p.a.page, p.b.page]) assert.equal(await wakeLock(page), 'released');
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await waitRunning(p.b.page);
    // The receiver's disk stalls (test hook), so the transfer stays running, however slow the
    // machine, while both pages are looked at: a 3 s transfer on a loaded machine could end
    // before the sender's page was read (seen once beside a soak).
    await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.holdSink());
    for (const page of [p.a.page, p.b.page]) {
      await page.waitForFunction(() => document.querySelector('[data-testid="keep-awake-notice"]')?.getAttribute('data-wake-lock') === 'held', null, { polling: 100 });
      // A desktop holding the lock needs no notice.
      assert.equal(await page.getByTestId('keep-awake-notice').isVisible(), false);
    }
    await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.releaseSink());
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 120_000 });
    await inState(p.cardAB.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30_000 });
    for (const page of [p.a.page, p.b.page]) {
      await page.waitForFunction(() => document.querySelector('[data-testid="keep-awake-notice"]')?.getAttribute('data-wake-lock') === 'released');
    }
  } finally {
    await p.close();
    await browser.close();
    await server.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test('a phone on plain http is asked to keep the screen on, and told when it was in the background', { timeout: 180_000 }, async () => {
  const server = await startServer();
  const browser = await launchBrowser(['--host-resolver-rules=MAP ferry.test 127.0.0.1']);
  const url = server.url.replace('//127.0.0.1:', '//ferry.test:');
  const desk = await browser.newContext({ acceptDownloads: true, locale: 'en-US' });
  const phone = await browser.newContext({
    acceptDownloads: true,
    locale: 'en-US',
    userAgent: IPHONE_UA,
    isMobile: true,
    hasTouch: true,
    viewport: { width: 390, height: 844 },
  });
  const files = makeFiles({ 'pocket.bin': 12 * 1024 * 1024 + 5 });
  try {
    const a = await desk.newPage();
    const b = await phone.newPage();
    await a.goto(url);
    await b.goto(`${url}/?test=1&sinkRate=2000000`);
    for (const page of [a, b]) await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
    assert.equal(await b.evaluate(() => 'wakeLock' in navigator), false, 'no wake lock on a plain-http page');
    assert.equal(await wakeLock(b), 'unsupported');
    const downloads = collectDownloads(b);
    const cardAB = peerCard(a, await selfName(b));
    const cardBA = peerCard(b, await selfName(a));
    await cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await b.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await waitRunning(b);
    const notice = b.getByTestId('keep-awake-notice');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /screen on/);

    // The phone goes to the background and comes back while the transfer runs.
    const flip = (/** @type {'hidden' | 'visible'} */ state) =>
      b.evaluate((state) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    await flip('hidden');
    await flip('visible');
    await b.waitForFunction(() => /background/.test(document.querySelector('[data-testid="keep-awake-notice"]')?.textContent ?? ''));

    await inState(cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 120_000 });
    await notice.waitFor({ state: 'hidden' });
    const d = await downloads.get('pocket.bin');
    assert.equal(d.sha, files.sha['pocket.bin'], 'byte for byte through the throttled sink');
  } finally {
    await desk.close();
    await phone.close();
    await browser.close();
    await server.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});
