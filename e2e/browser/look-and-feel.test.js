// The shell around the transfers: dark mode (system and the persisted switch, by computed
// colours), the empty state (this page's address as a link and a QR code), the session history
// (what, with whom, verified; kept over a reload), notifications for an offer that arrives while
// the tab is hidden (permission asked only from a click), and every control reachable with Tab
// with a visible focus ring.
//
// Headless Chromium never hides a page, so "hidden" is the page's own visibilitychange with
// document.visibilityState overridden (as in keep-awake.test.js); the Notification is the real
// constructor with the permission granted to the context.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { useServerAndBrowser, openApp, openPair, inState, selfName } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

const env = useServerAndBrowser();

/** Relative luminance (WCAG) of a computed `rgb(…)` colour. @param {string} css */
function luminance(css) {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** @param {import('playwright-core').Page} page */
async function colours(page) {
  return page.evaluate(() => {
    const root = getComputedStyle(document.documentElement);
    const card = document.querySelector('[data-testid="no-peers"]') ?? document.body;
    return { bg: root.backgroundColor, fg: root.color, card: getComputedStyle(card).backgroundColor, scheme: root.colorScheme };
  });
}

test('dark mode follows the system, and the switch overrides it and is kept', async () => {
  const { context, page } = await openApp(env.browser, env.server.url);
  try {
    await page.emulateMedia({ colorScheme: 'light' });
    let c = await colours(page);
    assert.ok(luminance(c.bg) > 0.8 && luminance(c.fg) < 0.1, `light by default: ${JSON.stringify(c)}`);

    await page.emulateMedia({ colorScheme: 'dark' });
    c = await colours(page);
    assert.ok(luminance(c.bg) < 0.05 && luminance(c.fg) > 0.7, `dark with a dark system: ${JSON.stringify(c)}`);
    assert.ok(luminance(c.card) < 0.1, 'cards are dark too');
    assert.equal(c.scheme, 'dark', 'form controls are drawn dark');

    // Light chosen on a dark system, then kept across a reload.
    await page.getByTestId('settings-toggle').click();
    await page.getByTestId('theme-select').selectOption('light');
    c = await colours(page);
    assert.ok(luminance(c.bg) > 0.8, 'Light wins over the dark system');
    await page.reload();
    await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    assert.equal(await page.getByTestId('theme-select').inputValue(), 'light');
    assert.ok(luminance((await colours(page)).bg) > 0.8, 'still light after the reload');

    // Dark chosen on a light system.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.getByTestId('settings-toggle').click();
    await page.getByTestId('theme-select').selectOption('dark');
    assert.ok(luminance((await colours(page)).bg) < 0.05, 'Dark wins over the light system');
    await page.getByTestId('theme-select').selectOption('auto');
    assert.ok(luminance((await colours(page)).bg) > 0.8, 'System follows the system again');
    assert.equal(await page.evaluate(() => localStorage.getItem('ferry-theme')), null);
  } finally {
    await context.close();
  }
});

test('the empty list shows this page\'s address as a link and a QR code', async () => {
  const { context, page } = await openApp(env.browser, env.server.url);
  try {
    const empty = page.getByTestId('no-peers');
    assert.ok(await empty.isVisible());
    const url = `${new URL(env.server.url).origin}/`;
    assert.equal(await empty.getByTestId('empty-url').textContent(), url);
    assert.equal(await empty.getByTestId('empty-url').getAttribute('href'), url);
    // 127.0.0.1 is no use to a phone: the page says where the usable addresses are.
    assert.ok(await empty.getByTestId('empty-local').isVisible());
    // A QR code of the same encoder as the rooms view: an SVG with many modules.
    const modules = await empty.getByTestId('empty-qr').locator('svg path, svg rect').count();
    assert.ok(modules > 0, 'the QR code is drawn');
    // headless Linux Chromium has no navigator.share: the Share button is hidden, not dead.
    assert.equal(await page.evaluate(() => typeof navigator.share), 'undefined');
    assert.equal(await empty.getByTestId('empty-share').isVisible(), false);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await empty.getByTestId('empty-copy').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  } finally {
    await context.close();
  }
});

test('history: each side lists what it sent or received, with whom and how much was verified, over a reload', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  const files = makeFiles({ 'report.pdf': 200_000, 'photo.jpg': 50_000 });
  try {
    collectDownloads(p.b.page);
    for (const page of [p.a.page, p.b.page]) assert.ok(await page.getByTestId('history-empty').isVisible());
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await inState(p.cardAB.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });

    const sent = p.a.page.getByTestId('history-entry');
    const got = p.b.page.getByTestId('history-entry');
    await sent.waitFor();
    await got.waitFor();
    assert.equal(await sent.getAttribute('data-direction'), 'send');
    assert.equal(await got.getAttribute('data-direction'), 'receive');
    assert.equal(await sent.getByTestId('history-who').textContent(), `Sent to ${p.nameB}`);
    assert.equal(await got.getByTestId('history-who').textContent(), `Received from ${p.nameA}`);
    for (const entry of [sent, got]) {
      assert.match((await entry.getByTestId('history-what').textContent()) ?? '', /report\.pdf, photo\.jpg|photo\.jpg, report\.pdf/);
      assert.equal(await entry.getAttribute('data-verified'), '2');
      assert.equal(await entry.getByTestId('history-verified').textContent(), '✓ 2 of 2 verified');
    }
    assert.equal(await p.a.page.getByTestId('history-empty').isVisible(), false);

    // A declined offer is history too, with nothing verified.
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths.slice(0, 1));
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-decline').click();
    await inState(p.a.page.getByTestId('history-entry').first(), 'declined').waitFor();
    assert.equal(await p.a.page.getByTestId('history-entry').count(), 2);

    await p.b.page.reload();
    await p.b.page.getByTestId('history-entry').first().waitFor();
    assert.equal(await p.b.page.getByTestId('history-entry').count(), 2, 'the tab keeps its history over a reload');
  } finally {
    await p.close();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test('an offer to a hidden tab raises a notification; permission is asked only from a click', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url, { queryB: '?test=1' });
  const files = makeFiles({ 'ping.txt': 'hello' });
  try {
    // A browser that would ask (Playwright's contexts deny by default; CDP sets "prompt"). Never
    // asked on load: still "default"; the first offer dialog offers the switch where it is useful.
    const cdp = await p.b.context.newCDPSession(p.b.page);
    const { targetInfo } = await cdp.send('Target.getTargetInfo');
    const setPermission = (/** @type {'prompt' | 'granted'} */ setting) =>
      cdp.send('Browser.setPermission', {
        permission: { name: 'notifications' },
        setting,
        origin: new URL(env.server.url).origin,
        browserContextId: targetInfo.browserContextId,
      });
    await setPermission('prompt');
    assert.equal(await p.b.page.evaluate(() => Notification.permission), 'default');
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor();
    assert.ok(await dialog.getByTestId('offer-notify').isVisible(), 'the first offer dialog offers notifications');
    await dialog.getByTestId('offer-decline').click();

    // Granted (as a click on the switch would get it), switched on in the settings.
    await setPermission('granted');
    await p.b.page.getByTestId('settings-toggle').click();
    await p.b.page.getByTestId('notify-switch').check();
    assert.equal(await p.b.page.getByTestId('notify-switch').isChecked(), true);
    assert.equal(await p.b.page.evaluate(() => localStorage.getItem('ferry-notify')), 'on');

    await p.b.page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').waitFor();
    const shown = await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.notifications.map((/** @type {Notification} */ n) => ({ title: n.title, body: n.body })));
    assert.deepEqual(shown, [{ title: `ferry: ${p.nameA} wants to send you something`, body: '1 file(s), 5 B' }]);
    assert.match(await p.b.page.title(), /^\(1\) ferry/);
    assert.equal(await p.b.page.getByTestId('offer-dialog').getByTestId('offer-notify').count(), 0, 'no ask once it is on');

    await p.b.page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.equal(await p.b.page.title(), 'ferry');
    // A visible tab gets the dialog only.
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-decline').click();
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').waitFor();
    assert.equal(await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.notifications.length), 1);
  } finally {
    await p.close();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test('every control is reachable with Tab and shows a focus ring', { timeout: 60_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  try {
    const page = p.a.page;
    await page.getByTestId('settings-toggle').click();
    await page.locator('body').click({ position: { x: 1, y: 400 } });
    /** @type {Map<string, {outline: string, width: number}>} */
    const reached = new Map();
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const f = await page.evaluate(() => {
        const el = /** @type {HTMLElement | null} */ (document.activeElement);
        if (!el || el === document.body) return null;
        // A file input is drawn by its label, which carries the ring (:focus-within).
        const drawn = el.matches('input[type=file]') ? /** @type {HTMLElement} */ (el.closest('label')) : el;
        const s = getComputedStyle(drawn);
        return { id: el.dataset.testid ?? el.getAttribute('href') ?? el.tagName, outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
      });
      if (f && !reached.has(f.id)) reached.set(f.id, { outline: f.outline, width: f.width });
    }
    for (const id of ['#peers', 'lang-select', 'settings-toggle', 'create-room', 'join-code-input', 'join-code-submit', 'select-all-peers', 'peer-select', 'peer-send-files', 'peer-send-folder', 'call-start', 'pair-button', 'chat-input', 'chat-send']) {
      const r = reached.get(id);
      assert.ok(r, `${id} is reachable with Tab (reached: ${[...reached.keys()].join(', ')})`);
      assert.ok(r.outline !== 'none' && r.width >= 2, `${id} shows a focus ring (${r.outline} ${r.width}px)`);
    }
    // The name the peer card's file picker is announced with.
    assert.equal(await p.cardAB.getByTestId('chat-input').getAttribute('aria-label'), `Message to ${p.nameB}`);
    assert.ok(await selfName(page));
  } finally {
    await p.close();
  }
});
