// Browser ↔ browser over the WebSocket relay in real Chromium: forced on one side (`?relay=1`,
// the other follows at once), and as a fallback when ICE cannot connect (both pages drop all
// their ICE candidates). Byte for byte, path "websocket" and the same security code on both
// sides, and the bytes the server sends to one browser never contain a marker from the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openApp, openPair, peerCard, selfName, useServerAndBrowser } from '../lib/browser.js';
import { assertRelayPath, sendAndCheck } from '../lib/transfer.js';
import { recordingProxy } from '../lib/recording-proxy.js';

const env = useServerAndBrowser();

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
