// Launches Debian's chromium through playwright-core (never a downloaded browser) with the flags
// WebRTC on loopback needs, and opens pages of the app in separate contexts (separate tabs with
// their own sessionStorage, like two devices).

import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from './server.js';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** @param {string[]} [extraArgs] more Chromium flags */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...extraArgs],
    headless: true,
  });
}

/**
 * A fresh context (own storage, own downloads) with the permissions that make Chromium reveal
 * loopback ICE candidates (and hold a wake lock), and a page opened at `url`.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 */
export async function openApp(browser, url) {
  const context = await browser.newContext({
    acceptDownloads: true,
    // A permission list replaces the defaults: screen-wake-lock is what Chromium grants a
    // visible page without asking (see browser/keep-awake.test.js).
    permissions: ['camera', 'microphone', 'screen-wake-lock'],
    locale: 'en-US',
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  if (process.env.FERRY_E2E_VERBOSE) page.on('console', (m) => console.error(`[console] ${m.text()}`));
  await page.goto(url);
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  return { context, page };
}

/** @param {import('playwright-core').Page} page */
export async function selfName(page) {
  return (await page.getByTestId('self-name').textContent())?.trim() ?? '';
}

/**
 * The peer card for a display name.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export function peerCard(page, name) {
  return page.getByTestId('peer').filter({ has: page.getByTestId('peer-name').getByText(name, { exact: true }) });
}

/**
 * Two tabs that see each other; `a` and `b` with their display names.
 * @param {import('playwright-core').Browser} browser @param {string} url
 * @param {{queryA?: string, queryB?: string}} [opts]
 */
export async function openPair(browser, url, opts = {}) {
  const a = await openApp(browser, url + (opts.queryA ?? ''));
  const b = await openApp(browser, url + (opts.queryB ?? ''));
  const nameA = await selfName(a.page);
  const nameB = await selfName(b.page);
  await peerCard(a.page, nameB).waitFor();
  await peerCard(b.page, nameA).waitFor();
  return {
    a, b, nameA, nameB,
    /** a's card for b */
    cardAB: peerCard(a.page, nameB),
    /** b's card for a */
    cardBA: peerCard(b.page, nameA),
    close: async () => {
      await a.context.close().catch(() => {});
      await b.context.close().catch(() => {});
    },
  };
}

/** A locator narrowed to elements whose data-state is `state`. @param {import('playwright-core').Locator} loc @param {string} state */
export function inState(loc, state) {
  return loc.and(loc.page().locator(`[data-state="${state}"]`));
}

/**
 * Starts a real `ferry serve` and one Chromium for the calling test file (node:test hooks), and
 * stops both after its tests. Read `env.server` / `env.browser` inside tests, not at import time.
 * @param {{chromiumArgs?: string[]}} [opts] more Chromium flags
 * @returns {{server: Awaited<ReturnType<typeof import('./server.js').startServer>>, browser: import('playwright-core').Browser}}
 */
export function useServerAndBrowser(opts = {}) {
  const env = /** @type {ReturnType<typeof useServerAndBrowser>} */ ({});
  before(async () => {
    env.server = await startServer();
    env.browser = await launchBrowser(opts.chromiumArgs);
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}
