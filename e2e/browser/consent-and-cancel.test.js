// Consent and cancelling: a declined offer saves nothing; a transfer cancelled mid-way by either
// side stops on both, both UIs say so, and no partial file is presented as complete: streamed,
// its download fails; kept in the OPFS (the default), none is offered, and what arrived is
// removed on this side's own cancel and kept to resume from on the sender's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, keptNames } from '../lib/transfer.js';

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

for (const sink of ['opfs', 'stream']) {
  for (const who of ['sender', 'receiver']) {
    test(`cancel mid-transfer by the ${who} (received into ${sink})`, { timeout: 120_000 }, async () => {
      const p = await openPair(env.browser, env.server.url, { queryB: `/?sink=${sink}` });
      await p.b.page.waitForFunction((kind) => document.body.dataset.storage === kind, sink);
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
      if (sink === 'stream') {
        const d = await downloads.get('large.bin', 30_000);
        assert.notEqual(d.failure, null, 'the partial download failed instead of completing');
      } else {
        // Kept, nothing is offered as a download before it is verified; this side's own cancel
        // removes what arrived, the sender's leaves it to resume from if the file comes again.
        const resumable = async () => (await keptNames(p.b.page)).filter((n) => n.endsWith('.json')).length;
        if (who === 'receiver') {
          for (let i = 0; i < 100 && (await keptNames(p.b.page)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
          assert.deepEqual(await keptNames(p.b.page), [], 'its own cancel keeps nothing');
        } else {
          assert.equal(await resumable(), 1, 'the sender cancelled: what arrived can resume');
        }
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(downloads.all.has('large.bin'), false, 'nothing partial is offered as a download');
      }
      await p.close();
    });
  }
}
