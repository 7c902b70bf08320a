// The installable app: Chromium's own installability check passes (CDP
// Page.getInstallabilityErrors: manifest, icons, a service worker controlling the page), the
// manifest says what the app is and where shares go, the app shell worker controls the page at /
// (the download worker keeps /app/), the page loads and says it is offline with the server gone,
// and a Web Share Target POST (what Android's share sheet sends: multipart/form-data, navigated
// in the app's window) reaches the device chosen after it, byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { useServerAndBrowser, openApp, openPair, inState, CHROMIUM_ARGS } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { collectDownloads, tempDir } from '../lib/transfer.js';

const env = useServerAndBrowser();

/** Waits until the shell worker controls the page and has cached what the page loaded. @param {import('playwright-core').Page} page */
async function shellReady(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null && document.body.dataset.shell === 'cached', null, { timeout: 30_000 });
}

test('installable: manifest fields, icons, and Chromium reports no installability error', { timeout: 90_000 }, async () => {
  // A profile on disk: Chromium never installs from an incognito context, which every
  // browser.newContext() is.
  const profile = tempDir('ferry-e2e-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    await page.goto(env.server.url);
    await shellReady(page);
    const href = await page.locator('link[rel="manifest"]').getAttribute('href');
    assert.equal(href, '/app/manifest.webmanifest');
    const res = await page.request.get(new URL(href, env.server.url).href);
    assert.equal(res.headers()['content-type'], 'application/manifest+json');
    const m = await res.json();
    assert.equal(m.name, 'ferry');
    assert.equal(m.short_name, 'ferry');
    assert.equal(m.start_url, '/');
    assert.equal(m.scope, '/');
    assert.equal(m.display, 'standalone');
    assert.ok(m.theme_color && m.background_color);
    const sizes = new Set(m.icons.filter((/** @type {any} */ i) => i.type === 'image/png').map((/** @type {any} */ i) => i.sizes));
    assert.ok(sizes.has('192x192') && sizes.has('512x512'), 'PNG icons of 192 and 512 px');
    assert.ok(m.icons.some((/** @type {any} */ i) => i.purpose === 'maskable'));
    for (const icon of m.icons.filter((/** @type {any} */ i) => i.type === 'image/png')) {
      const [w, h] = await page.evaluate(async (src) => {
        const img = new Image();
        img.src = src;
        await img.decode();
        return [img.naturalWidth, img.naturalHeight];
      }, icon.src);
      assert.equal(`${w}x${h}`, icon.sizes, `${icon.src} is as big as it says`);
    }
    assert.deepEqual(m.share_target, {
      action: '/?share-target=1',
      method: 'POST',
      enctype: 'multipart/form-data',
      params: { title: 'title', text: 'text', url: 'url', files: [{ name: 'files', accept: ['*/*'] }] },
    });

    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, [], 'Chromium finds the app installable');
    const parsed = await cdp.send('Page.getAppManifest');
    assert.deepEqual(parsed.errors, [], 'Chromium parses the manifest without errors');
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test('the shell worker controls the page at /; downloads keep their own worker under /app/', async () => {
  const { context, page } = await openApp(env.browser, env.server.url);
  try {
    await shellReady(page);
    const regs = await page.evaluate(async () => {
      const all = await navigator.serviceWorker.getRegistrations();
      return {
        controller: new URL(navigator.serviceWorker.controller?.scriptURL ?? 'http://x/').pathname,
        scopes: all.map((r) => new URL(r.scope).pathname).sort(),
      };
    });
    assert.equal(regs.controller, '/app/shell-sw.js');
    await page.waitForFunction(() => document.body.dataset.storage === 'opfs');
    const scopes = await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).map((r) => new URL(r.scope).pathname).sort());
    assert.deepEqual(scopes, ['/', '/app/']);
  } finally {
    await context.close();
  }
});

test('with the server gone the page still opens and says it is offline', { timeout: 90_000 }, async () => {
  const own = await startServer();
  const { context, page } = await openApp(env.browser, own.url);
  try {
    await shellReady(page);
    await own.stop();
    await page.reload();
    await page.getByTestId('offline-notice').waitFor({ timeout: 30_000 });
    assert.match((await page.getByTestId('offline-notice').textContent()) ?? '', new RegExp(`cannot reach its server at ${new URL(own.url).origin.replace(/[.]/g, '\\.')}`));
    assert.equal(await page.getByTestId('conn-state').getAttribute('data-state'), 'waiting');
    // The whole shell came from the cache: styles applied, strings filled in.
    assert.equal(await page.getByTestId('create-room').textContent(), 'Create room');
    assert.notEqual(await page.evaluate(() => getComputedStyle(document.querySelector('.bar') ?? document.body).display), 'block');
  } finally {
    await context.close();
    await own.stop();
  }
});

test('a Web Share Target POST of files becomes an offer to the device chosen, of text a message', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  const dir = tempDir();
  try {
    await shellReady(p.a.page);
    const downloads = collectDownloads(p.b.page);
    const bytes = randomBytes(200_000);
    const file = path.join(dir, 'shared-photo.jpg');
    writeFileSync(file, bytes);
    // What the share sheet does: a multipart POST navigation to the manifest's action.
    await p.a.page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'POST';
      form.enctype = 'multipart/form-data';
      form.action = '/?share-target=1';
      form.innerHTML = '<input type="file" name="files" multiple><input name="title" value="Holiday">';
      form.dataset.testid = 'share-form';
      document.body.append(form);
    });
    await p.a.page.locator('[data-testid="share-form"] input[type=file]').setInputFiles([file]);
    await Promise.all([p.a.page.waitForURL(/\/\?shared=/), p.a.page.evaluate(() => /** @type {HTMLFormElement} */ (document.querySelector('[data-testid="share-form"]')).submit())]);
    const chooser = p.a.page.getByTestId('peer-chooser');
    await chooser.waitFor({ timeout: 30_000 });
    assert.equal(new URL(p.a.page.url()).search, '', 'the shared id is taken off the address');
    assert.match((await chooser.getByTestId('chooser-summary').textContent()) ?? '', /1 file\(s\), 200 KB/);
    await chooser.getByTestId('chooser-peer').filter({ hasText: p.nameB }).waitFor({ timeout: 30_000 });
    await chooser.getByTestId('chooser-peer').filter({ hasText: p.nameB }).click();
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor({ timeout: 60_000 });
    assert.equal(await dialog.getByTestId('offer-file').getAttribute('data-path'), 'shared-photo.jpg');
    await dialog.getByTestId('offer-accept').click();
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
    const d = await downloads.get('shared-photo.jpg');
    assert.equal(d.sha, createHash('sha256').update(bytes).digest('hex'), 'byte for byte');
    // Nothing of the share is left behind.
    assert.equal(await p.a.page.evaluate(async () => (await (await caches.open('ferry-shared')).keys()).length), 0);

    // Text (a link shared from a browser, say) becomes a message to the device chosen.
    await Promise.all([
      p.a.page.waitForURL(/\/\?shared=/),
      p.a.page.evaluate(() => {
        const form = document.createElement('form');
        form.method = 'POST';
        form.enctype = 'multipart/form-data';
        form.action = '/?share-target=1';
        form.innerHTML = '<input name="text" value="look at this"><input name="url" value="https://example.org/ferry">';
        document.body.append(form);
        form.submit();
      }),
    ]);
    const textChooser = p.a.page.getByTestId('peer-chooser');
    await textChooser.waitFor({ timeout: 30_000 });
    assert.match((await textChooser.getByTestId('chooser-summary').textContent()) ?? '', /look at this/);
    await textChooser.getByTestId('chooser-peer').filter({ hasText: p.nameB }).click();
    const got = p.cardBA.getByTestId('chat-message').and(p.b.page.locator('[data-mine="false"]')).getByTestId('chat-text');
    await got.first().waitFor({ timeout: 60_000 });
    assert.equal(await got.first().textContent(), 'look at this\nhttps://example.org/ferry');
  } finally {
    await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
