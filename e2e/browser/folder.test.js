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
