// A call between Chromium and Firefox (Debian's firefox-esr over WebDriver BiDi): both browsers'
// fake devices (Chromium's flags, Firefox's `media.navigator.streams.fake`) are real media
// pipelines, so each side decodes the other's video and receives its audio, over the same peer
// connection as files; hanging up in Firefox ends the call in Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer } from '../lib/server.js';
import { launchBrowser, openApp, peerCard, selfName, inState } from '../lib/browser.js';
import { firefoxPeerCard, launchFirefox, openFirefoxApp } from '../lib/firefox.js';
import { tempDir } from '../lib/transfer.js';
import { FAKE_MEDIA_ARGS, framesGrowing, pollUntil, rtpStats } from '../lib/call.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let chromium;
/** @type {import('puppeteer-core').Browser} */
let firefox;
const downloads = tempDir('ferry-e2e-call-ff-');

before(async () => {
  server = await startServer();
  [chromium, firefox] = await Promise.all([
    launchBrowser(FAKE_MEDIA_ARGS),
    launchFirefox({ downloadDir: downloads, prefs: { 'media.navigator.streams.fake': true } }),
  ]);
});
after(async () => {
  await firefox?.close();
  await chromium?.close();
  await server?.stop();
  rmSync(downloads, { recursive: true, force: true });
});

/**
 * Firefox's RTP stats for its connection to the peer whose card is `cardSel`.
 * @param {import('puppeteer-core').Page} page @param {string} cardSel
 */
async function firefoxStats(page, cardSel) {
  const id = await page.$eval(cardSel, (el) => el.getAttribute('data-peer-id'));
  return page.evaluate(async (/** @type {string} */ peerId) => {
    const link = /** @type {any} */ (window).__ferryTest.links.get(peerId);
    /** @type {any[]} */
    const all = [];
    if (link?.pc) (await link.pc.getStats()).forEach((/** @type {any} */ s) => all.push(s));
    const inbound = (/** @type {string} */ kind) => all.filter((s) => s.type === 'inbound-rtp' && s.kind === kind).sort((x, y) => (y.packetsReceived ?? 0) - (x.packetsReceived ?? 0))[0] ?? null;
    return { framesDecoded: inbound('video')?.framesDecoded ?? 0, audioPackets: inbound('audio')?.packetsReceived ?? 0 };
  }, id);
}

test('call: Chromium calls Firefox, video and audio both ways, Firefox hangs up', { timeout: 180_000 }, async () => {
  const c = await openApp(chromium, `${server.url}/?test=1`);
  const f = await openFirefoxApp(firefox, `${server.url}/?test=1`);
  try {
    const cName = await selfName(c.page);
    await peerCard(c.page, f.name).waitFor();
    const fCard = await firefoxPeerCard(f.page, cName);
    const cCard = peerCard(c.page, f.name);

    await cCard.getByTestId('call-start').click();
    await f.page.waitForSelector(`${fCard} [data-testid="call-accept"]`, { visible: true, timeout: 30_000 });
    await f.page.click(`${fCard} [data-testid="call-accept"]`);
    await inState(cCard.getByTestId('call-state'), 'active').waitFor({ timeout: 30_000 });

    await framesGrowing(c.page, f.name);
    await pollUntil(() => rtpStats(c.page, f.name), (s) => (s.inAudio?.packetsReceived ?? 0) > 0, 'Firefox\'s audio in Chromium');
    const first = await pollUntil(() => firefoxStats(f.page, fCard), (s) => s.framesDecoded > 0 && s.audioPackets > 0, 'Chromium\'s media in Firefox');
    await pollUntil(() => firefoxStats(f.page, fCard), (s) => s.framesDecoded > first.framesDecoded + 10, 'frames to keep coming in Firefox');
    const width = await f.page.$eval(`${fCard} [data-testid="call-remote-video"]`, (v) => /** @type {HTMLVideoElement} */ (v).videoWidth);
    assert.ok(width > 0, 'Firefox shows Chromium\'s video');

    await f.page.click(`${fCard} [data-testid="call-hangup"]`);
    await cCard.getByTestId('call-panel').waitFor({ state: 'hidden', timeout: 15_000 });
    assert.equal(f.errors.length, 0, f.errors.join('\n'));
  } finally {
    await c.context.close().catch(() => {});
    await f.context.close().catch(() => {});
  }
});
