// The peer closing its tab mid-transfer: the other side shows it within seconds, and nothing
// partial is presented as complete (the receiver keeps it in its OPFS, to resume from). "Within seconds" is checked against 20 s: generous for a
// loaded machine, yet well short of the ~30 s an ICE consent timeout would take, which is the
// slow path this test exists to rule out (the server's peer-left and the DataChannel's close
// must be what tells the page).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, keptNames } from '../lib/transfer.js';

const env = useServerAndBrowser();

// 'receiver-crash' is a device that vanishes without unloading the page (battery, killed
// browser): no pagehide, so no SCTP ABORT; the server's peer-left plus ICE going silent (~8 s
// in Chromium) must end the transfer, still well before the consent timeout.
for (const who of ['sender', 'receiver', 'receiver-crash']) {
  const what = who === 'receiver-crash' ? "the receiver's renderer crashes" : `the ${who} closes its tab`;
  test(`${what} mid-transfer`, { timeout: 120_000 }, async (t) => {
    const p = await openPair(env.browser, env.server.url);
    const downloads = collectDownloads(p.b.page);
    const files = makeFiles({ 'interrupted.bin': 64 * 1024 * 1024 });
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await p.b.page.waitForFunction(() => {
      const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="file-progress"]'));
      return bar !== null && bar.value > 2 * 1024 * 1024;
    });
    const t0 = Date.now();
    if (who === 'sender') {
      await p.a.context.close();
      const got = p.cardBA.getByTestId('transfer').first();
      await inState(got, 'failed').waitFor({ timeout: 20_000 });
      assert.match((await got.getByTestId('transfer-error').textContent()) ?? '', /connection lost/i);
      await p.cardBA.getByTestId('peer-error').waitFor({ state: 'visible', timeout: 20_000 });
      assert.match((await p.cardBA.getByTestId('peer-error').textContent()) ?? '', /left/);
      // Kept in the OPFS (the default sink): nothing was offered as a download, and what
      // arrived is there to resume from when the file comes again.
      assert.equal(downloads.all.has('interrupted.bin'), false, 'nothing partial is offered as a download');
      assert.equal((await keptNames(p.b.page)).filter((n) => n.endsWith('.json')).length, 1, 'what arrived is kept to resume');
    } else {
      if (who === 'receiver') await p.b.context.close();
      else (await p.b.context.newCDPSession(p.b.page)).send('Page.crash').catch(() => {});
      // A closing tab may first cancel its download (the sender then shows the receiver's
      // "download was cancelled"), or just drop the connection ("connection lost"): either is
      // an honest end; what must not happen is a transfer that keeps waiting or says done.
      const sent = p.cardAB.getByTestId('transfer').first();
      await sent.and(p.a.page.locator('[data-state="failed"], [data-state="cancelled"]')).waitFor({ timeout: 20_000 });
      t.diagnostic(`sender shows ${await sent.getAttribute('data-state')}: ${await sent.getByTestId('transfer-error').textContent()}`);
    }
    t.diagnostic(`noticed after ${Date.now() - t0} ms`);
    assert.ok(Date.now() - t0 < 20_000, `noticed after ${Date.now() - t0} ms`);
    await p.close();
  });
}
