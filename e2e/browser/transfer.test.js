// Browser ↔ browser transfers through the app in real Chromium: several files at once, both
// directions, byte for byte (hashes of what the receiving browser saved), and folders.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openApp, selfName, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';

const env = useServerAndBrowser();

/**
 * @param {import('playwright-core').Page} from @param {import('playwright-core').Page} to
 * @param {Record<string, number>} spec
 */
async function sendAndCheck(from, to, spec) {
  const files = makeFiles(spec);
  const downloads = collectDownloads(to);
  const toName = await selfName(to);
  const fromName = await selfName(from);
  await peerCard(from, toName).getByTestId('peer-send-files').setInputFiles(files.paths);
  const dialog = to.getByTestId('offer-dialog');
  await dialog.waitFor();
  assert.deepEqual(await dialog.getByTestId('offer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.path)), Object.keys(spec));
  await dialog.getByTestId('offer-accept').click();
  const sent = peerCard(from, toName).getByTestId('transfer').first();
  const got = peerCard(to, fromName).getByTestId('transfer').first();
  await sent.and(from.locator('[data-state="done"]')).waitFor({ timeout: 180_000 });
  await got.and(to.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
  for (const [rel, sha] of Object.entries(files.sha)) {
    const d = await downloads.get(path.basename(rel));
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte`);
  }
  assert.equal(await got.getByTestId('transfer-file').and(to.locator('[data-state="verified"]')).count(), Object.keys(spec).length);
}

test('several files (0 B, 1 B, 1 MiB + 1, 64 MiB) both directions', { timeout: 600_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  const b = await openApp(env.browser, env.server.url);
  await peerCard(a.page, await selfName(b.page)).waitFor();
  await peerCard(b.page, await selfName(a.page)).waitFor();
  const spec = { 'empty.bin': 0, 'one.bin': 1, 'mib-plus-one.bin': 1024 * 1024 + 1, 'big.bin': 64 * 1024 * 1024 };
  await sendAndCheck(a.page, b.page, spec);
  // Loopback host candidates on both ends: the path shown on both sides is direct.
  assert.equal(await peerCard(a.page, await selfName(b.page)).getByTestId('peer-path').getAttribute('data-path'), 'direct');
  assert.equal(await peerCard(b.page, await selfName(a.page)).getByTestId('peer-path').getAttribute('data-path'), 'direct');
  await sendAndCheck(b.page, a.page, { 'back-empty.bin': 0, 'back-one.bin': 1, 'back-mib.bin': 1024 * 1024 + 1, 'back-big.bin': 64 * 1024 * 1024 });
  await a.context.close();
  await b.context.close();
});
