// The server going away does not touch a direct connection: a transfer running when the server
// dies finishes, and once the server is back (same port, same --secret, so the same identities)
// both tabs find each other again over the SAME peer connection, an offer that was waiting for
// consent across the restart still goes through. The tab that reconnects first gets a welcome
// without the other peer, which is the case that used to close the connection. On the WebSocket
// relay, which runs through the server, the restart does end the transfer: once both are back
// (same peer ids, from their tokens) the sender offers the rest again by itself, and the
// receiver's accept resumes from what it kept (`?sink=opfs`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer } from '../lib/server.js';
import { launchBrowser, openPair, inState } from '../lib/browser.js';
import { makeFiles, collectDownloads, resumedCounts } from '../lib/transfer.js';

const SECRET = 'e2e-server-restart-secret';

/** @param {import('playwright-core').Page} page @param {string} state */
function connState(page, state) {
  return page.getByTestId('conn-state').and(page.locator(`[data-state="${state}"]`));
}

/**
 * Tags the page's one peer connection, or checks that the tagged one is still the connected one.
 * @param {import('playwright-core').Page} page @param {'tag' | 'check'} op
 */
function pcTag(page, op) {
  return page.evaluate((op) => {
    const links = /** @type {any} */ (window).__ferryTest.links;
    const [link] = [...links.values()];
    if (!link?.pc) return false;
    if (op === 'tag') link.pc.__e2eTag = true;
    return link.pc.__e2eTag === true && link.pc.connectionState === 'connected';
  }, op);
}

/** @param {{proc: import('node:child_process').ChildProcess}} server */
async function crash(server) {
  const exited = new Promise((r) => server.proc.once('exit', r));
  server.proc.kill('SIGKILL');
  await exited;
}

test('a server restart leaves direct connections and their transfers alone', { timeout: 240_000 }, async () => {
  let server = await startServer(['--secret', SECRET]);
  const port = new URL(server.url).port;
  const browser = await launchBrowser();
  const p = await openPair(browser, server.url, { queryA: '?test=1', queryB: '?test=1' });
  const big = makeFiles({ 'through-the-crash.bin': 64 * 1024 * 1024 });
  const small = makeFiles({ 'across-the-restart.bin': 3 * 1024 * 1024 + 7 });
  try {
    const downloads = collectDownloads(p.b.page);

    // 1. The server dies mid-transfer and stays down: the transfer finishes anyway.
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(big.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await p.cardAB.getByTestId('peer-path').and(p.a.page.locator('[data-path="direct"]')).waitFor({ timeout: 60_000 });
    await p.b.page.waitForFunction(() => {
      const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="file-progress"]'));
      return bar !== null && bar.value > 2 * 1024 * 1024;
    });
    assert.ok(await pcTag(p.a.page, 'tag'), 'a has a connected peer connection');
    assert.ok(await pcTag(p.b.page, 'tag'), 'b has a connected peer connection');
    await crash(server);
    await inState(p.cardAB.getByTestId('transfer').first(), 'done').waitFor({ timeout: 180_000 });
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30_000 });
    const d1 = await downloads.get('through-the-crash.bin');
    assert.equal(d1.failure, null);
    assert.equal(d1.sha, big.sha['through-the-crash.bin'], 'byte for byte while the server was down');
    await connState(p.a.page, 'waiting').waitFor();

    // 2. An offer made while the server is down waits for consent across the restart.
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(small.paths);
    const dialog = p.b.page.getByTestId('offer-dialog');
    await dialog.waitFor({ timeout: 30_000 });
    server = await startServer(['--secret', SECRET], { port });
    await connState(p.a.page, 'open').waitFor({ timeout: 60_000 });
    await connState(p.b.page, 'open').waitFor({ timeout: 60_000 });
    // Back in each other's list, with no "left" or "offline" message once both are back.
    for (const card of [p.cardAB, p.cardBA]) {
      await card.waitFor({ timeout: 30_000 });
      await card.getByTestId('peer-error').waitFor({ state: 'hidden', timeout: 30_000 });
    }
    await dialog.getByTestId('offer-accept').click();
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 60_000 });
    const d2 = await downloads.get('across-the-restart.bin');
    assert.equal(d2.sha, small.sha['across-the-restart.bin'], 'byte for byte after the restart');
    assert.ok(await pcTag(p.a.page, 'check'), "a's peer connection is the one from before the crash");
    assert.ok(await pcTag(p.b.page, 'check'), "b's peer connection is the one from before the crash");
  } finally {
    await p.close();
    await browser.close();
    await server.stop();
    for (const f of [big, small]) rmSync(f.dir, { recursive: true, force: true });
  }
});

test('on the relay path a server restart ends the transfer; once both are back the rest is offered again and resumes', { timeout: 300_000 }, async () => {
  const size = 48 * 1024 * 1024;
  let server = await startServer(['--secret', SECRET]);
  const port = new URL(server.url).port;
  const browser = await launchBrowser();
  // Both on the WebSocket relay, which runs through the server; the receiver keeps what arrives.
  const p = await openPair(browser, server.url, { queryA: '?test=1&relay=1', queryB: '?test=1&relay=1&sink=opfs&sinkRate=8000000' });
  const files = makeFiles({ 'over-the-relay.bin': size });
  try {
    const downloads = collectDownloads(p.b.page);
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await p.cardAB.getByTestId('peer-path').and(p.a.page.locator('[data-path="websocket"]')).waitFor({ timeout: 60_000 });
    const firstId = await p.cardAB.getByTestId('transfer').first().getAttribute('data-transfer-id');
    await p.b.page.waitForFunction(() => {
      const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('[data-testid="file-progress"]'));
      return bar !== null && bar.value > 8 * 1024 * 1024;
    });
    await crash(server);
    const row = p.a.page.locator(`[data-testid="transfer"][data-transfer-id="${firstId}"]`);
    await inState(row, 'failed').waitFor({ timeout: 60_000 });
    await inState(row.getByTestId('transfer-resend'), 'waiting').waitFor({ timeout: 30_000 });

    server = await startServer(['--secret', SECRET], { port });
    // The same peer ids come back (tokens), the sender reconnects and offers the rest by itself.
    await inState(row.getByTestId('transfer-resend'), 'offered').waitFor({ timeout: 90_000 });
    const dialog = p.b.page.getByTestId('offer-dialog');
    const note = await dialog.getByTestId('offer-resumable').textContent({ timeout: 60_000 });
    assert.match(note ?? '', /MB of this arrived before and was kept/);
    await dialog.getByTestId('offer-accept').click();
    const { session, file } = await resumedCounts(p.b.page, p.cardBA.getByTestId('transfer').first());
    const prefix = file - session;
    console.error(`relay restart: ${(prefix / 1048576).toFixed(1)} MiB kept, ${((size - prefix) / 1048576).toFixed(1)} MiB of ${size / 1048576} MiB sent again`);
    assert.ok(prefix >= 8 * 1024 * 1024, `resumed from what was kept: ${prefix} bytes`);
    const d = await downloads.get('over-the-relay.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['over-the-relay.bin'], 'byte for byte');
  } finally {
    await p.close();
    await browser.close();
    await server.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});
