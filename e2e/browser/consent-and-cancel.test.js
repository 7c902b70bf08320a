// Consent and cancelling: a declined offer saves nothing; a transfer cancelled mid-way by either
// side stops on both, both UIs say so, and no partial file is presented as complete.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

const env = useServerAndBrowser();

test('decline: nothing is saved and the sender is told', { timeout: 60_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  const downloads = collectDownloads(p.b.page);
  const files = makeFiles({ 'secret.bin': 5000 });
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
  await p.b.page.getByTestId('offer-dialog').getByTestId('offer-decline').click();
  const sent = p.cardAB.getByTestId('transfer').first();
  await inState(sent, 'declined').waitFor();
  await inState(p.cardBA.getByTestId('transfer').first(), 'declined').waitFor();
  assert.match((await sent.getByTestId('transfer-error').textContent()) ?? '', /declined/i);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(downloads.all.size, 0, 'no download started');
  await p.close();
});

for (const who of ['sender', 'receiver']) {
  test(`cancel mid-transfer by the ${who}`, { timeout: 120_000 }, async () => {
    const p = await openPair(env.browser, env.server.url);
    const downloads = collectDownloads(p.b.page);
    const files = makeFiles({ 'large.bin': 64 * 1024 * 1024 });
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    const sent = p.cardAB.getByTestId('transfer').first();
    const got = p.cardBA.getByTestId('transfer').first();
    // Wait until data is really flowing (a few percent in), then cancel.
    await p.b.page.waitForFunction(() => {
      const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="transfer"] [data-testid="file-progress"]'));
      return bar !== null && bar.value > 2 * 1024 * 1024;
    });
    await (who === 'sender' ? sent : got).getByTestId('transfer-cancel').click();
    await inState(sent, 'cancelled').waitFor({ timeout: 30_000 });
    await inState(got, 'cancelled').waitFor({ timeout: 30_000 });
    const other = who === 'sender' ? got : sent;
    assert.match((await other.getByTestId('transfer-error').textContent()) ?? '', /cancelled/i, 'the other side says why');
    assert.equal(await inState(got.getByTestId('transfer-file'), 'verified').count(), 0);
    const d = await downloads.get('large.bin', 30_000);
    assert.notEqual(d.failure, null, 'the partial download failed instead of completing');
    await p.close();
  });
}
