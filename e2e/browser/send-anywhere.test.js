// Sending in one gesture: files dropped anywhere on the page go to the only device listed; with
// two devices a chooser asks which (and only that one is asked to accept); Ctrl+V of text outside
// a text field sends it as a message, and of an image (the real clipboard, written with
// navigator.clipboard) sends it as a file. The drop is a DOM drop event carrying a DataTransfer
// with a File made in the page (Playwright cannot drag from the OS); the paste is a real key press.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { useServerAndBrowser, openApp, openPair, inState, peerCard, selfName } from '../lib/browser.js';
import { collectDownloads } from '../lib/transfer.js';
import { assertNoSeriousA11yViolations } from '../lib/a11y.js';

const env = useServerAndBrowser();

/**
 * Drops a file made of `bytes` on the page outside any peer card.
 * @param {import('playwright-core').Page} page @param {string} name @param {Buffer} bytes
 */
async function dropOnPage(page, name, bytes) {
  const dt = await page.evaluateHandle(
    ([n, b64]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], n, { type: 'application/octet-stream' }));
      return dt;
    },
    [name, bytes.toString('base64')],
  );
  const target = page.locator('.me');
  await target.dispatchEvent('dragenter', { dataTransfer: dt });
  await target.dispatchEvent('dragover', { dataTransfer: dt });
  assert.ok(await page.getByTestId('drop-overlay').isVisible(), 'the page says "drop to send" while files are over it');
  await target.dispatchEvent('drop', { dataTransfer: dt });
  assert.equal(await page.getByTestId('drop-overlay').isVisible(), false);
}

const sha = (/** @type {Buffer} */ b) => createHash('sha256').update(b).digest('hex');

test('a file dropped anywhere goes to the only device, byte for byte', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  try {
    const downloads = collectDownloads(p.b.page);
    const bytes = randomBytes(300_000);
    await dropOnPage(p.a.page, 'dropped.bin', bytes);
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor({ timeout: 60_000 });
    assert.match((await dialog.getByTestId('offer-summary').textContent()) ?? '', new RegExp(`${p.nameA} wants to send you 1 file`));
    await dialog.getByTestId('offer-accept').click();
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
    const d = await downloads.get('dropped.bin');
    assert.equal(d.sha, sha(bytes));
    assert.equal(await p.a.page.getByTestId('peer-chooser').count(), 0, 'no question with one device');
  } finally {
    await p.close();
  }
});

test('Ctrl+V of text sends a message; of an image sends the image', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  try {
    await p.a.context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await p.a.page.evaluate(() => navigator.clipboard.writeText('the wifi password is hunter2'));
    await p.a.page.locator('.me').click();
    await p.a.page.keyboard.press('Control+V');
    await p.cardBA.getByTestId('chat-message').filter({ hasText: 'the wifi password is hunter2' }).waitFor({ timeout: 60_000 });
    assert.equal(await p.cardBA.getByTestId('chat-message').first().getAttribute('data-mine'), 'false');

    // Text pasted into a text field stays there.
    await p.cardAB.getByTestId('chat-input').click();
    await p.a.page.keyboard.press('Control+V');
    assert.equal(await p.cardAB.getByTestId('chat-input').inputValue(), 'the wifi password is hunter2');
    assert.equal(await p.cardBA.getByTestId('chat-message').count(), 1);
    await p.cardAB.getByTestId('chat-input').fill('');

    const downloads = collectDownloads(p.b.page);
    const png = await p.a.page.evaluate(async () => {
      const c = new OffscreenCanvas(64, 48);
      const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d'));
      g.fillStyle = '#1565d8';
      g.fillRect(0, 0, 64, 48);
      const blob = await c.convertToBlob({ type: 'image/png' });
      await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]);
      return blob.size;
    });
    await p.a.page.locator('.me').click();
    await p.a.page.keyboard.press('Control+V');
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor({ timeout: 60_000 });
    const file = dialog.getByTestId('offer-file');
    assert.match((await file.getAttribute('data-path')) ?? '', /\.png$/);
    const name = (await file.getAttribute('data-path')) ?? '';
    await dialog.getByTestId('offer-accept').click();
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
    const d = await downloads.get(name);
    assert.equal(d.failure, null);
    assert.ok(png > 0 && d.sha, 'the pasted image arrived');
  } finally {
    await p.close();
  }
});

test('with two devices a drop asks which one, and only that one is asked to accept', { timeout: 120_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  const c = await openApp(env.browser, env.server.url);
  try {
    const nameC = await selfName(c.page);
    await peerCard(p.a.page, nameC).waitFor();
    await dropOnPage(p.a.page, 'for-c.txt', Buffer.from('only for C\n'));
    const chooser = p.a.page.getByTestId('peer-chooser');
    await chooser.waitFor();
    assert.match((await chooser.getByTestId('chooser-summary').textContent()) ?? '', /1 file\(s\), 11 B/);
    assert.deepEqual((await chooser.getByTestId('chooser-peer').allTextContents()).sort(), [p.nameB, nameC].sort());
    await assertNoSeriousA11yViolations(p.a.page, 'the chooser');
    await chooser.getByTestId('chooser-peer').filter({ hasText: nameC }).click();
    await c.page.getByTestId('offer-dialog').waitFor({ timeout: 60_000 });
    assert.equal(await p.b.page.getByTestId('offer-dialog').count(), 0, 'B was not asked');
    await c.page.getByTestId('offer-dialog').getByTestId('offer-decline').click();
    assert.equal(await chooser.count(), 0, 'the chooser closed');
  } finally {
    await c.context.close();
    await p.close();
  }
});
