// The same shell in Firefox ESR (puppeteer-core, WebDriver BiDi): with Firefox set to a dark
// theme (the pref behind prefers-color-scheme) the page is dark and the switch turns it light;
// axe-core finds no serious or critical violation in either; the shell worker controls the page
// and has cached it; a page on the server shows the empty state with its address and QR code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { startServer } from '../lib/server.js';
import { launchFirefox, openFirefoxApp } from '../lib/firefox.js';
import { tempDir } from '../lib/transfer.js';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('puppeteer-core').Browser} */
let firefox;
const downloads = tempDir('ferry-e2e-ff-look-');

before(async () => {
  server = await startServer();
  // 0 = dark: what prefers-color-scheme reports to pages.
  firefox = await launchFirefox({ downloadDir: downloads, prefs: { 'layout.css.prefers-color-scheme.content-override': 0 } });
});
after(async () => {
  await firefox?.close();
  await server?.stop();
  rmSync(downloads, { recursive: true, force: true });
});

/** @param {import('puppeteer-core').Page} page */
async function seriousViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE_PATH });
  return page.evaluate(async () => {
    const r = await /** @type {any} */ (window).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((/** @type {any} */ v) => v.impact === 'serious' || v.impact === 'critical').map((/** @type {any} */ v) => `${v.id}: ${v.nodes.map((/** @type {any} */ n) => n.target.join(' ')).join(', ')}`);
  });
}

/** @param {import('puppeteer-core').Page} page */
const background = (page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);

test('Firefox: dark by the system, light by the switch, no serious axe violation, shell worker in control', { timeout: 120_000 }, async () => {
  const { context, page, errors } = await openFirefoxApp(firefox, server.url);
  try {
    assert.equal(await background(page), 'rgb(17, 20, 24)', 'the dark background');
    assert.deepEqual(await seriousViolations(page), [], 'dark');
    await page.click('[data-testid="settings-toggle"]');
    await page.select('[data-testid="theme-select"]', 'light');
    assert.equal(await background(page), 'rgb(246, 247, 249)', 'the light background');
    assert.deepEqual(await seriousViolations(page), [], 'light');

    const url = await page.$eval('[data-testid="empty-url"]', (a) => a.textContent);
    assert.equal(url, `${new URL(server.url).origin}/`);
    assert.ok(await page.$('[data-testid="empty-qr"] svg'));

    await page.waitForFunction(() => navigator.serviceWorker.controller !== null && document.body.dataset.shell === 'cached', { timeout: 30_000 });
    const controller = await page.evaluate(() => new URL(navigator.serviceWorker.controller?.scriptURL ?? 'http://x/').pathname);
    assert.equal(controller, '/app/shell-sw.js');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
