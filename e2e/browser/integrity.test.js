// A frame corrupted in flight (test hook on the sender page, ?test=1) is caught by the receiver's
// SHA-256 check: the file is shown as a hash mismatch on both sides, and its download fails
// (streamed) or never starts (kept in the OPFS, offered only once verified); the next file of
// the same transfer still arrives intact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, keptNames } from '../lib/transfer.js';

const env = useServerAndBrowser();

for (const sink of ['opfs', 'stream']) {
  test(`a corrupted frame is a hash mismatch the user sees (received into ${sink})`, { timeout: 120_000 }, async () => {
    const p = await openPair(env.browser, env.server.url, { queryA: '/?test=1', queryB: `/?sink=${sink}` });
    await p.b.page.waitForFunction((kind) => document.body.dataset.storage === kind, sink);
    const downloads = collectDownloads(p.b.page);
    const files = makeFiles({ 'corrupt-me.bin': 1_000_000, 'fine.bin': 300_000 });
    await p.a.page.evaluate(() => {
      /** @type {any} */ (window).__ferryTest.corruptNextFrame = true;
    });
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    const got = p.cardBA.getByTestId('transfer').first();
    const sent = p.cardAB.getByTestId('transfer').first();
    await inState(got, 'done').waitFor({ timeout: 60_000 });
    await inState(sent, 'done').waitFor({ timeout: 30_000 });
    const bad = got.getByTestId('transfer-file').and(p.b.page.locator('[data-path="corrupt-me.bin"]'));
    assert.equal(await bad.getAttribute('data-state'), 'mismatch');
    assert.match((await bad.getByTestId('file-state').textContent()) ?? '', /mismatch/i);
    assert.match((await got.getByTestId('transfer-error').textContent()) ?? '', /hash mismatch/);
    assert.equal(await sent.getByTestId('transfer-file').and(p.a.page.locator('[data-path="corrupt-me.bin"]')).getAttribute('data-state'), 'mismatch');
    const ok = await downloads.get('fine.bin');
    assert.equal(ok.failure, null, 'the intact file downloads');
    assert.equal(ok.sha, files.sha['fine.bin']);
    if (sink === 'stream') {
      // Streamed, the corrupt file's download had started: it must end failed, not complete.
      const d = await downloads.get('corrupt-me.bin');
      assert.notEqual(d.failure, null, 'the corrupt download is not completed');
    } else {
      // Kept, it is offered only once verified: never, and its kept bytes are gone (a file that
      // failed its hash is no prefix to resume from).
      assert.equal(downloads.all.has('corrupt-me.bin'), false, 'the corrupt file is never offered as a download');
      const kept = await keptNames(p.b.page);
      // What is left is fine.bin's, verified and waiting for its download to copy it out.
      assert.equal(kept.filter((n) => n.endsWith('.part')).length, 1, `only the verified file's data is left: ${kept}`);
      assert.equal(kept.filter((n) => n.endsWith('.json')).length, 0, `nothing is resumable: ${kept}`);
    }
    await p.close();
  });
}

test('without ?test=1 there is no test hook', async () => {
  const p = await openPair(env.browser, env.server.url);
  assert.equal(await p.a.page.evaluate(() => 'ferryTest' in window || '__ferryTest' in window), false);
  await p.close();
});
