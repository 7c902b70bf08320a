// Every main screen of the app, in light and dark, checked by axe-core (no serious or critical
// violation), laid out without a sideways scroll at 320 px and at a phone's and a tablet's width,
// and photographed at a desktop and a phone viewport into docs/screenshots/ (the README shows two):
// empty, settings (with the rename form), peers, offer, transfer running, done, call. The screens are real: two Chromium pages,
// a real transfer (the receiver writes through the `sinkRate` throttle so "running" lasts),
// a real call with Chromium's fake camera.
// FERRY_SCREENSHOTS_DIR writes the pictures elsewhere (e.g. a soak run that must not touch docs/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { useServerAndBrowser, openApp, openPair, inState } from '../lib/browser.js';
import { repoRoot } from '../lib/server.js';
import { FAKE_MEDIA_ARGS } from '../lib/call.js';
import { makeFiles } from '../lib/transfer.js';
import { assertNoSeriousA11yViolations, assertFitsWidth } from '../lib/a11y.js';

const env = useServerAndBrowser({ chromiumArgs: FAKE_MEDIA_ARGS });
const OUT = process.env.FERRY_SCREENSHOTS_DIR ?? path.join(repoRoot, 'docs', 'screenshots');

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const CHECK_WIDTHS = [320, 390, 820];

/**
 * Checks one screen (axe in light and dark, layout at each width) and writes its pictures.
 * @param {import('playwright-core').Page} page @param {string} screen
 */
async function screen(page, screen) {
  for (const scheme of /** @type {const} */ (['light', 'dark'])) {
    await page.emulateMedia({ colorScheme: scheme });
    const passed = await assertNoSeriousA11yViolations(page, `${screen} (${scheme})`);
    assert.ok(passed >= 10, `axe-core ran its rules on ${screen} (${passed} passed)`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  for (const width of CHECK_WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    await assertFitsWidth(page, `${screen} at ${width} px`);
  }
  for (const [name, size] of /** @type {const} */ ([['desktop', DESKTOP], ['phone', PHONE]])) {
    await page.setViewportSize(size);
    const file = path.join(OUT, `${screen}-${name}.png`);
    await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
    assert.ok(statSync(file).size > 5_000, `${file} is a picture`);
  }
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(OUT, `${screen}-phone-dark.png`), animations: 'disabled', caret: 'hide' });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
}

test('each screen: accessible, fits 320 px to tablet, photographed at desktop and phone size', { timeout: 300_000 }, async () => {
  mkdirSync(OUT, { recursive: true });
  const alone = await openApp(env.browser, env.server.url);
  await alone.page.getByTestId('no-peers').waitFor();
  await screen(alone.page, 'empty');
  // The settings menu and the rename form, open.
  await alone.page.getByTestId('settings-toggle').click();
  await alone.page.getByTestId('rename').click();
  await screen(alone.page, 'settings');
  await alone.context.close();

  const p = await openPair(env.browser, env.server.url, { queryA: '?test=1', queryB: '?test=1&sinkRate=400000' });
  const files = makeFiles({ 'holiday-photos.zip': 3 * 1024 * 1024, 'notes.txt': 'what to bring\n' });
  try {
    await screen(p.b.page, 'peers');

    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor();
    await screen(p.b.page, 'offer');

    await dialog.getByTestId('offer-accept').click();
    await p.b.page.waitForFunction(() => {
      const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="file-progress"]'));
      return bar !== null && bar.value > 0;
    });
    await screen(p.b.page, 'transfer');

    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 120_000 });
    await p.b.page.getByTestId('history-entry').first().waitFor();
    await screen(p.b.page, 'done');

    await p.cardAB.getByTestId('call-start').click();
    await p.cardBA.getByTestId('call-accept').click();
    await inState(p.cardAB.getByTestId('call-state'), 'active').waitFor({ timeout: 60_000 });
    await p.a.page.waitForFunction(() => {
      const v = /** @type {HTMLVideoElement | null} */ (document.querySelector('[data-testid="call-remote-video"]'));
      return v !== null && v.videoWidth > 0;
    });
    await screen(p.a.page, 'call');
    await p.cardAB.getByTestId('call-hangup').click();
  } finally {
    await p.close();
    rmSync(files.dir, { recursive: true, force: true });
  }
});
