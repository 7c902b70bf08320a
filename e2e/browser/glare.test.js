// Both peers start a connection at the same moment (glare): perfect negotiation settles it and
// one connection carries both sides' files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

const env = useServerAndBrowser();

test('both sides send at the same time', { timeout: 120_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const p = await openPair(env.browser, env.server.url);
    const da = collectDownloads(p.a.page);
    const db = collectDownloads(p.b.page);
    const fa = makeFiles({ [`from-a-${round}.bin`]: 200_000 });
    const fb = makeFiles({ [`from-b-${round}.bin`]: 300_000 });
    await Promise.all([
      p.cardAB.getByTestId('peer-send-files').setInputFiles(fa.paths),
      p.cardBA.getByTestId('peer-send-files').setInputFiles(fb.paths),
    ]);
    await Promise.all([
      p.a.page.getByTestId('offer-dialog').getByTestId('offer-accept').click(),
      p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click(),
    ]);
    await inState(p.cardAB.getByTestId('transfer').and(p.a.page.locator('[data-direction="send"]')), 'done').waitFor({ timeout: 30_000 });
    await inState(p.cardBA.getByTestId('transfer').and(p.b.page.locator('[data-direction="send"]')), 'done').waitFor({ timeout: 30_000 });
    assert.equal((await db.get(`from-a-${round}.bin`)).sha, fa.sha[`from-a-${round}.bin`]);
    assert.equal((await da.get(`from-b-${round}.bin`)).sha, fb.sha[`from-b-${round}.bin`]);
    await p.close();
  }
});
