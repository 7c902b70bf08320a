// A call whose media must go through the embedded TURN server: both pages gather relay
// candidates only (`?test=1&iceRelay=1` → iceTransportPolicy 'relay'), the server relays to
// loopback for the test (`--turn-allow-loopback`). The ICE servers are the ones `welcome` hands
// out, as for every call.

import { test } from 'node:test';
import { before, after } from 'node:test';
import { startServer } from '../lib/server.js';
import { launchBrowser, openPair, inState } from '../lib/browser.js';
import { FAKE_MEDIA_ARGS, framesGrowing, pollUntil, rtpStats } from '../lib/call.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
before(async () => {
  server = await startServer(['--turn-allow-loopback']);
  browser = await launchBrowser(FAKE_MEDIA_ARGS);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('call: over TURN, video and audio both ways, the quality line says relay', { timeout: 180_000 }, async () => {
  const q = '/?test=1&iceRelay=1';
  const p = await openPair(browser, server.url, { queryA: q, queryB: q });
  try {
    await p.cardAB.getByTestId('call-start').click();
    await p.cardBA.getByTestId('call-accept').click({ timeout: 30_000 });
    await inState(p.cardAB.getByTestId('call-state'), 'active').waitFor({ timeout: 30_000 });
    await framesGrowing(p.b.page, p.nameA);
    await framesGrowing(p.a.page, p.nameB);
    await pollUntil(() => rtpStats(p.b.page, p.nameA), (s) => (s.inAudio?.packetsReceived ?? 0) > 0, 'audio over TURN');
    for (const [card, page] of [[p.cardAB, p.a.page], [p.cardBA, p.b.page]]) {
      await /** @type {any} */ (card).getByTestId('call-quality').and(/** @type {any} */ (page).locator('[data-path="relay"]')).waitFor({ timeout: 15_000 });
      await /** @type {any} */ (card).getByTestId('peer-path').and(/** @type {any} */ (page).locator('[data-path="relay"]')).waitFor({ timeout: 15_000 });
    }
  } finally {
    await p.close();
  }
});
