// Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core) with Chromium and
// with the native CLI, through one real `ferry serve`: files both ways over WebRTC, the
// WebSocket relay, the streamed download through the service worker (http://127.0.0.1 is a
// secure context in Firefox too), and Firefox on a plain-http LAN address (no WebCrypto: noble). One Firefox and one Chromium for the whole file, a fresh
// context per device.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../lib/server.js';
import { launchBrowser, openApp, peerCard, selfName, inState } from '../lib/browser.js';
import { firefoxDownload, firefoxPeerCard, launchFirefox, openFirefoxApp } from '../lib/firefox.js';
import { collectDownloads, makeFiles, sha256File, tempDir } from '../lib/transfer.js';
import { runFerry } from '../lib/cli.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let chromium;
/** @type {import('puppeteer-core').Browser} */
let firefox;
const downloads = tempDir('ferry-e2e-firefox-dl-');
/** @type {string[]} */
const temps = [downloads];

before(async () => {
  server = await startServer();
  [chromium, firefox] = await Promise.all([launchBrowser(), launchFirefox({
    downloadDir: downloads,
    // ferry.test resolves to 127.0.0.1 but is not localhost: a plain-http LAN address, insecure.
    prefs: { 'network.dns.localDomains': 'ferry.test' },
  })]);
});
after(async () => {
  await firefox?.close();
  await chromium?.close();
  await server?.stop();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** @param {Record<string, number | string>} spec */
function files(spec) {
  const f = makeFiles(spec);
  temps.push(f.dir);
  return f;
}

/**
 * A Chromium page and a Firefox page that see each other.
 * @param {string} [chromiumQuery] @param {string} [firefoxQuery] @param {string} [firefoxBase] Firefox's origin
 */
async function openMixedPair(chromiumQuery = '', firefoxQuery = '', firefoxBase = server.url) {
  const c = await openApp(chromium, server.url + chromiumQuery);
  const f = await openFirefoxApp(firefox, firefoxBase + firefoxQuery);
  const cName = await selfName(c.page);
  await peerCard(c.page, f.name).waitFor();
  const fCard = await firefoxPeerCard(f.page, cName);
  return {
    c, f, cName,
    /** Chromium's card for Firefox */
    cCard: peerCard(c.page, f.name),
    /** selector of Firefox's card for Chromium */
    fCard,
    close: async () => {
      await c.context.close().catch(() => {});
      await f.context.close().catch(() => {});
    },
  };
}

/** Chromium → Firefox, accepted in Firefox; every file checked in Firefox's download folder. */
async function chromiumToFirefox(/** @type {Awaited<ReturnType<typeof openMixedPair>>} */ p, /** @type {Record<string, number | string>} */ spec) {
  const sent = files(spec);
  await p.cCard.getByTestId('peer-send-files').setInputFiles(sent.paths);
  await p.f.page.waitForSelector('[data-testid="offer-dialog"] [data-testid="offer-accept"]', { timeout: 60_000 });
  await p.f.page.click('[data-testid="offer-dialog"] [data-testid="offer-accept"]');
  await p.f.page.waitForSelector(`${p.fCard} [data-testid="transfer"][data-direction="receive"][data-state="done"]`, { timeout: 180_000 });
  await inState(p.cCard.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30_000 });
  for (const [rel, sha] of Object.entries(sent.sha)) {
    const size = typeof spec[rel] === 'number' ? spec[rel] : Buffer.byteLength(spec[rel]);
    assert.equal(await firefoxDownload(downloads, rel, size), sha, `${rel} byte for byte in Firefox`);
  }
}

/** Firefox → Chromium, accepted in Chromium; every download checked. */
async function firefoxToChromium(/** @type {Awaited<ReturnType<typeof openMixedPair>>} */ p, /** @type {Record<string, number | string>} */ spec) {
  const sent = files(spec);
  const got = collectDownloads(p.c.page);
  const input = await p.f.page.$(`${p.fCard} [data-testid="peer-send-files"]`);
  assert.ok(input, 'Firefox has a file input on its card');
  await /** @type {import('puppeteer-core').ElementHandle<HTMLInputElement>} */ (input).uploadFile(...sent.paths);
  const dialog = p.c.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  await dialog.getByTestId('offer-accept').click();
  await inState(p.cCard.getByTestId('transfer').first(), 'done').waitFor({ timeout: 180_000 });
  await p.f.page.waitForSelector(`${p.fCard} [data-testid="transfer"][data-direction="send"][data-state="done"]`, { timeout: 30_000 });
  for (const [rel, sha] of Object.entries(sent.sha)) {
    const d = await got.get(rel);
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte in Chromium`);
  }
}

/** @param {Awaited<ReturnType<typeof openMixedPair>>} p */
async function paths(p) {
  const c = await p.cCard.getByTestId('peer-path').getAttribute('data-path');
  const f = await p.f.page.$eval(`${p.fCard} [data-testid="peer-path"]`, (el) => el.getAttribute('data-path'));
  return { c, f };
}

/** Both browsers' security codes, once each shows one. @param {Awaited<ReturnType<typeof openMixedPair>>} p */
async function securityCodes(p) {
  const el = p.cCard.getByTestId('security-code');
  await el.waitFor({ state: 'visible', timeout: 30_000 });
  const cCode = await el.getAttribute('data-code');
  const sel = `${p.fCard} [data-testid="security-code"]:not([hidden])`;
  await p.f.page.waitForSelector(sel, { timeout: 30_000 });
  const fCode = await p.f.page.$eval(sel, (e) => e.getAttribute('data-code'));
  return { cCode, fCode };
}

test('Chromium ↔ Firefox over WebRTC, both ways byte for byte, same security code; Firefox keeps what arrives in its OPFS', { timeout: 300_000 }, async () => {
  const p = await openMixedPair();
  await p.f.page.waitForFunction(() => document.body.dataset.storage === 'opfs');
  await chromiumToFirefox(p, { 'ff-in-one.bin': 1, 'ff-in-big.bin': 12 * 1024 * 1024 + 3, 'ff-in-note.txt': 'héllo 👋\n' });
  await firefoxToChromium(p, { 'ff-out-one.bin': 1, 'ff-out-big.bin': 8 * 1024 * 1024 + 5 });
  await p.f.page.waitForSelector(`${p.fCard} [data-testid="peer-path"][data-path="direct"]`);
  assert.deepEqual(await paths(p), { c: 'direct', f: 'direct' });
  // The security code over DTLS: Chromium's and Firefox's fingerprints, the same six digits.
  const { cCode, fCode } = await securityCodes(p);
  assert.match(cCode ?? '', /^\d{3} \d{3}$/);
  assert.equal(fCode, cCode);
  assert.deepEqual(p.f.errors, []);
  await p.close();
});

test('Firefox on the WebSocket relay with Chromium: both ways byte for byte, same security code; Firefox streams to disk through the service worker', { timeout: 300_000 }, async () => {
  const p = await openMixedPair('', '/?relay=1&sink=stream');
  await p.f.page.waitForFunction(() => document.body.dataset.storage === 'stream');
  await chromiumToFirefox(p, { 'ff-relay-in.bin': 3 * 1024 * 1024 + 7 });
  await firefoxToChromium(p, { 'ff-relay-out.bin': 2 * 1024 * 1024 + 1 });
  assert.deepEqual(await paths(p), { c: 'websocket', f: 'websocket' });
  const { cCode, fCode } = await securityCodes(p);
  assert.match(cCode ?? '', /^\d{3} \d{3}$/);
  assert.equal(fCode, cCode, 'both browsers show the same security code');
  assert.deepEqual(p.f.errors, []);
  await p.close();
});

test('Firefox on a plain-http address (no WebCrypto, no service worker): relay with Chromium both ways, noble ↔ WebCrypto; the notice is shown', { timeout: 300_000 }, async () => {
  const p = await openMixedPair('', '/?relay=1', server.url.replace('//127.0.0.1:', '//ferry.test:'));
  assert.deepEqual(await p.f.page.evaluate(() => [isSecureContext, typeof crypto.subtle, 'serviceWorker' in navigator]), [false, 'undefined', false]);
  await p.f.page.waitForFunction(() => document.body.dataset.storage === 'memory');
  await p.f.page.waitForSelector('[data-testid="insecure-notice"]:not([hidden])');
  // Received into memory, saved as a Blob download when verified.
  await chromiumToFirefox(p, { 'ff-insecure-in.bin': 3 * 1024 * 1024 + 1, 'ff-insecure-in-one.bin': 1 });
  await firefoxToChromium(p, { 'ff-insecure-out.bin': 2 * 1024 * 1024 + 7 });
  assert.deepEqual(await paths(p), { c: 'websocket', f: 'websocket' });
  const { cCode, fCode } = await securityCodes(p);
  assert.equal(fCode, cCode);
  assert.deepEqual(p.f.errors, []);
  await p.close();
});

test('ferry send → Firefox opening the link; Firefox in a room → ferry receive', { timeout: 300_000 }, async () => {
  const spec = { 'ff-cli-in-one.bin': 1, 'ff-cli-in.bin': 3 * 1024 * 1024 + 5 };
  const sent = files(spec);
  const sender = runFerry(['send', '--yes', ...sent.paths], server.url);
  const room = await sender.event('room');
  const f = await openFirefoxApp(firefox, room.link);
  await f.page.waitForSelector('[data-testid="offer-dialog"] [data-testid="offer-accept"]', { timeout: 60_000 });
  await f.page.click('[data-testid="offer-dialog"] [data-testid="offer-accept"]');
  assert.equal(await sender.exit(), 0, sender.stderr());
  for (const [rel, sha] of Object.entries(sent.sha)) {
    assert.equal(await firefoxDownload(downloads, rel, spec[/** @type {keyof typeof spec} */ (rel)]), sha, `${rel} byte for byte in Firefox`);
  }
  assert.equal((await sender.event('connected')).path, 'direct');
  await f.context.close();

  const g = await openFirefoxApp(firefox, server.url);
  await g.page.click('[data-testid="create-room"]');
  await g.page.waitForSelector('[data-testid="room-code"]');
  const code = await g.page.$eval('[data-testid="room-code"]', (el) => el.textContent?.trim() ?? '');
  const out = tempDir('ferry-e2e-firefox-cli-out-');
  temps.push(out);
  const receiver = runFerry(['receive', code, '--out', out, '--yes'], server.url);
  const welcome = await receiver.event('welcome');
  const back = files({ 'ff-cli-out-one.bin': 1, 'ff-cli-out.bin': 2 * 1024 * 1024 + 3 });
  const card = await firefoxPeerCard(g.page, welcome.name);
  const input = await g.page.$(`${card} [data-testid="peer-send-files"]`);
  await /** @type {import('puppeteer-core').ElementHandle<HTMLInputElement>} */ (input).uploadFile(...back.paths);
  assert.equal(await receiver.exit(), 0, receiver.stderr());
  assert.equal((await receiver.event('done')).failed, 0);
  assert.deepEqual(readdirSync(out).sort(), Object.keys(back.sha).sort());
  for (const [rel, sha] of Object.entries(back.sha)) assert.equal(await sha256File(path.join(out, rel)), sha, `${rel} byte for byte from Firefox`);
  assert.deepEqual([...f.errors, ...g.errors], []);
  await g.context.close();
});
