// Where a page cannot stream to disk (no service worker, e.g. plain http on a LAN address), files
// are held in memory until verified and then saved; forced here with ?sink=memory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { rmSync } from 'node:fs';
import { makeFiles, collectDownloads, sparseFile } from '../lib/transfer.js';

const env = useServerAndBrowser();

test('in-memory receive saves verified files and warns about big offers', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url, { queryB: '/?sink=memory' });
  await p.b.page.waitForFunction(() => document.body.dataset.storage === 'memory');
  const downloads = collectDownloads(p.b.page);
  const files = makeFiles({ 'small.bin': 3 * 1024 * 1024 + 5, 'tiny.txt': 'hi' });
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
  const dialog = p.b.page.getByTestId('offer-dialog');
  await dialog.waitFor();
  assert.equal(await dialog.getByTestId('offer-memory-warning').count(), 0, 'no warning for small offers');
  await dialog.getByTestId('offer-accept').click();
  await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
  for (const [name, sha] of Object.entries(files.sha)) assert.equal((await downloads.get(name)).sha, sha, name);
  rmSync(files.dir, { recursive: true, force: true });

  // An offer only needs to be made to see the warning; it is declined right away. 1.5 GB is
  // over the largest budget (1 GiB, whatever navigator.deviceMemory says).
  const huge = sparseFile('huge.bin', 1_500_000_000);
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(huge.path);
  const big = p.b.page.getByTestId('offer-dialog');
  await big.getByTestId('offer-memory-warning').waitFor();
  await big.getByTestId('offer-decline').click();
  await inState(p.cardAB.getByTestId('transfer').first(), 'declined').waitFor({ timeout: 30_000 });
  rmSync(huge.dir, { recursive: true, force: true });
  await p.close();
});
