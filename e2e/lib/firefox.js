// Launches Debian's firefox-esr through puppeteer-core over WebDriver BiDi (never a downloaded
// browser), with the prefs WebRTC on loopback needs, and drives the app in it. Playwright cannot
// drive a stock Firefox (it needs its own patched build); puppeteer's BiDi driver can.
//
// Downloads: Firefox is told to save every download into one folder without asking; a file is
// complete when it has its full size and Firefox's `.part` file beside it is gone (Firefox writes
// into NAME.part and renames it over NAME when the download succeeds, and removes both when it
// fails).

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { sha256File } from './transfer.js';

/** The prefs that make Firefox offer plain loopback host candidates and skip permission prompts. */
export const FIREFOX_PREFS = {
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.navigator.permission.disabled': true,
};

/** @param {string} dir */
function downloadPrefs(dir) {
  return {
    'browser.download.folderList': 2,
    'browser.download.dir': dir,
    'browser.download.useDownloadDir': true,
    'browser.download.start_downloads_in_tmp_dir': false,
    'browser.download.always_ask_before_handling_new_types': false,
    'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream,text/plain',
    'browser.download.alwaysOpenPanel': false,
    'browser.download.manager.showWhenStarting': false,
  };
}

/**
 * @param {{downloadDir: string, prefs?: Record<string, unknown>}} opts every download of this
 *   browser lands in `downloadDir`; `prefs` are more Firefox prefs
 */
export async function launchFirefox(opts) {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_BIN ?? '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: { ...FIREFOX_PREFS, ...downloadPrefs(opts.downloadDir), ...opts.prefs },
  });
}

/**
 * A fresh browser context (one device) with the app open at `url`, signaling open.
 * @param {import('puppeteer-core').Browser} browser @param {string} url
 */
export async function openFirefoxApp(browser, url) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => {
    const message = e instanceof Error ? e.message : String(e);
    errors.push(message);
    console.error(`[firefox page error] ${message}`);
  });
  if (process.env.FERRY_E2E_VERBOSE) page.on('console', (m) => console.error(`[firefox console] ${m.text()}`));
  await page.goto(url);
  await page.waitForSelector('[data-testid="conn-state"][data-state="open"]');
  const name = await page.$eval('[data-testid="self-name"]', (el) => el.textContent?.trim() ?? '');
  return { context, page, name, errors };
}

/**
 * The CSS selector of the peer card for a display name, once it is listed.
 * @param {import('puppeteer-core').Page} page @param {string} name @param {number} [timeout]
 */
export async function firefoxPeerCard(page, name, timeout = 30_000) {
  const handle = await page.waitForFunction(
    (/** @type {string} */ n) =>
      [...document.querySelectorAll('[data-testid="peer"]')]
        .find((el) => el.querySelector('[data-testid="peer-name"]')?.textContent?.trim() === n)
        ?.getAttribute('data-peer-id'),
    { timeout },
    name,
  );
  const id = await handle.jsonValue();
  return `[data-testid="peer"][data-peer-id="${id}"]`;
}

/**
 * Waits until Firefox has finished saving `name` in `dir` with `size` bytes; its SHA-256.
 * Polls the folder: the file system has no event for "Firefox renamed its .part file".
 * @param {string} dir @param {string} name @param {number} size @param {number} [timeout]
 */
export async function firefoxDownload(dir, name, size, timeout = 120_000) {
  const file = path.join(dir, name);
  const t0 = Date.now();
  for (;;) {
    if (existsSync(file) && !existsSync(`${file}.part`) && statSync(file).size === size) return sha256File(file);
    if (Date.now() - t0 > timeout) {
      const got = existsSync(file) ? `${statSync(file).size} bytes` : 'nothing';
      throw new Error(`Firefox did not save ${name} (${size} bytes) in ${timeout} ms; saw ${got}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
