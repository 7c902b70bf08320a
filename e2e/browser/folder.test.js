// A folder with nested subfolders keeps its relative paths from picker to receiver.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';
import path from 'node:path';

const env = useServerAndBrowser();

test('a folder with nested subfolders keeps its relative paths', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  const files = makeFiles({ 'album/a.txt': 'top', "album/it's (1) 照片.txt": 'q', 'album/sub/b.bin': 2000, 'album/sub/deeper/c.bin': 70_000 });
  const downloads = collectDownloads(p.b.page);
  await p.cardAB.getByTestId('peer-send-folder').setInputFiles(path.join(files.dir, 'album'));
  const dialog = p.b.page.getByTestId('offer-dialog');
  await dialog.waitFor();
  const offered = await dialog.getByTestId('offer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.path).sort());
  assert.deepEqual(offered, ['album/a.txt', "album/it's (1) 照片.txt", 'album/sub/b.bin', 'album/sub/deeper/c.bin']);
  await dialog.getByTestId('offer-accept').click();
  const got = p.cardBA.getByTestId('transfer').first();
  await inState(got, 'done').waitFor({ timeout: 60_000 });
  const rows = await got.getByTestId('transfer-file').evaluateAll((els) => els.map((e) => [/** @type {HTMLElement} */ (e).dataset.path, /** @type {HTMLElement} */ (e).dataset.state]));
  assert.deepEqual(rows.sort(), [['album/a.txt', 'verified'], ["album/it's (1) 照片.txt", 'verified'], ['album/sub/b.bin', 'verified'], ['album/sub/deeper/c.bin', 'verified']]);
  // A download cannot create folders: the path is kept in the saved name.
  for (const rel of Object.keys(files.sha)) {
    const d = await downloads.get(rel.split('/').join(' - '));
    assert.equal(d.sha, files.sha[rel], rel);
  }
  await p.close();
});

test('a folder too long for one offer is asked for once and arrives whole', { timeout: 240_000 }, async () => {
  // Received into memory: each file saved through the service worker is its own download, which
  // Chromium starts at ~10 per second, and the download path is not what this test is about.
  const p = await openPair(env.browser, env.server.url, { queryB: '?sink=memory' });
  // 1,200 names of ~250 characters: about 330 KB of listing, more than one 256 KiB offer.
  /** @type {Record<string, Buffer>} */
  const spec = {};
  for (let i = 0; i < 1200; i++) spec[`many/${String(i).padStart(4, '0')}-${'n'.repeat(240)}.txt`] = Buffer.from([i & 0xff]);
  const files = makeFiles(spec);
  await p.cardAB.getByTestId('peer-send-folder').setInputFiles(path.join(files.dir, 'many'));
  const dialog = p.b.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  assert.equal(await dialog.count(), 1, 'one dialog for the whole folder');
  assert.ok(Number(await dialog.getAttribute('data-parts')) >= 2, 'it came as several offers');
  assert.match((await dialog.getByTestId('offer-summary').textContent()) ?? '', /1200/);
  await dialog.getByTestId('offer-accept').click();
  const rows = p.cardBA.getByTestId('transfer');
  const parts = Number(await rows.count());
  assert.ok(parts >= 2, `${parts} transfer rows`);
  for (let i = 0; i < parts; i++) await inState(rows.nth(i), 'done').waitFor({ timeout: 180_000 });
  const states = await p.cardBA.getByTestId('transfer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.state));
  assert.equal(states.length, 1200);
  assert.ok(states.every((s) => s === 'verified'), 'every file verified');
  assert.equal(await dialog.count(), 0, 'no second question');
  await p.close();
});
