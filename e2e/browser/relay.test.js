// Browser ↔ browser over the WebSocket relay in real Chromium: forced on one side (`?relay=1`,
// the other follows at once), and as a fallback when ICE cannot connect (both pages drop all
// their ICE candidates). Byte for byte, path "websocket" and the same security code on both
// sides, and the bytes the server sends to one browser never contain a marker from the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openApp, openPair, peerCard, selfName, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';
import { recordingProxy } from '../lib/recording-proxy.js';

const env = useServerAndBrowser();

/**
 * @param {Awaited<ReturnType<typeof openPair>>} pair
 * @param {'a' | 'b'} fromSide
 * @param {Record<string, number | Buffer>} spec
 */
async function sendAndCheck(pair, fromSide, spec) {
  const [from, to, fromCard, toCard] =
    fromSide === 'a' ? [pair.a.page, pair.b.page, pair.cardAB, pair.cardBA] : [pair.b.page, pair.a.page, pair.cardBA, pair.cardAB];
  const files = makeFiles(spec);
  const downloads = collectDownloads(to);
  await fromCard.getByTestId('peer-send-files').setInputFiles(files.paths);
  const dialog = to.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  await dialog.getByTestId('offer-accept').click();
  await fromCard.getByTestId('transfer').first().and(from.locator('[data-state="done"]')).waitFor({ timeout: 180_000 });
  await toCard.getByTestId('transfer').first().and(to.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
  for (const [rel, sha] of Object.entries(files.sha)) {
    const d = await downloads.get(path.basename(rel));
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte`);
  }
}

/** @param {Awaited<ReturnType<typeof openPair>>} pair */
async function assertRelayPath(pair) {
  for (const card of [pair.cardAB, pair.cardBA]) {
    await card.getByTestId('peer-path').and(card.page().locator('[data-path="websocket"]')).waitFor();
  }
  const codeA = await pair.cardAB.getByTestId('relay-code').getAttribute('data-code');
  const codeB = await pair.cardBA.getByTestId('relay-code').getAttribute('data-code');
  assert.match(codeA ?? '', /^\d{3} \d{3}$/);
  assert.equal(codeA, codeB, 'both sides show the same security code');
  assert.ok(await pair.cardAB.getByTestId('relay-code').isVisible());
}

test('forced relay on one side: files both ways, byte for byte, server sees no plaintext', { timeout: 300_000 }, async () => {
  // B talks to the server only through the proxy, which records what the server sends it.
  const proxy = await recordingProxy(env.server.url);
  const marker = `FERRY-MARKER-${randomBytes(8).toString('hex')}`;
  const a = await openApp(env.browser, `${env.server.url}/?relay=1`);
  const b = await openApp(env.browser, proxy.url);
  const nameA = await selfName(a.page);
  const nameB = await selfName(b.page);
  const pair = { a, b, nameA, nameB, cardAB: peerCard(a.page, nameB), cardBA: peerCard(b.page, nameA), close: async () => {} };
  await pair.cardAB.waitFor();
  await pair.cardBA.waitFor();
  proxy.clear();
  const text = Buffer.from(`${marker}\n`.repeat(20_000));
  await sendAndCheck(pair, 'a', { 'marked.txt': text, 'random.bin': 3 * 1024 * 1024 + 7, 'empty.bin': 0 });
  await assertRelayPath(pair);
  const seen = proxy.seen();
  assert.ok(seen.length > text.length, `the proxy saw ${seen.length} bytes`);
  assert.equal(seen.includes(marker), false, 'the plaintext marker crossed the server');
  await sendAndCheck(pair, 'b', { 'back.bin': 2 * 1024 * 1024 + 1 });

  // The check can fail: the same marker through the (unencrypted) HTTP pipe and the same proxy
  // is visible in what the server sends.
  proxy.clear();
  const pipePath = `${proxy.url}/marker-check-${randomBytes(4).toString('hex')}`;
  const [, got] = await Promise.all([fetch(pipePath, { method: 'PUT', body: marker }), fetch(pipePath).then((r) => r.text())]);
  assert.equal(got, marker);
  assert.equal(proxy.seen().includes(marker), true, 'a plaintext path shows the marker to the proxy');
  await a.context.close();
  await b.context.close();
  proxy.close();
});

test('ICE impossible (all candidates dropped): both fall back after the timeout', { timeout: 300_000 }, async () => {
  const q = '?test=1&dropIce=1&relayAfterMs=2000';
  const pair = await openPair(env.browser, env.server.url, { queryA: q, queryB: q });
  await sendAndCheck(pair, 'a', { 'fallback.bin': 5 * 1024 * 1024 + 3 });
  await assertRelayPath(pair);
  await pair.close();
});
