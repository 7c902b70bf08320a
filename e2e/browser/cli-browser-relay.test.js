// The native peer (`ferry`, built binary) and the web app in real Chromium over the WebSocket
// relay: Rust and WebCrypto encryption must agree. `ferry send --relay` → the browser follows at
// once; a browser forced with `?relay=1` answers `ferry receive`'s WebRTC offer by asking for the
// relay, and the CLI follows from its ICE attempt. Byte for byte, path and security code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runFerry } from '../lib/cli.js';
import { openApp, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, sha256File, tempDir } from '../lib/transfer.js';

const env = useServerAndBrowser();

/** @param {string[]} args */
const ferry = (args) => runFerry(args, env.server.url);

test('ferry send --relay → browser: the browser follows onto the relay', { timeout: 300_000 }, async () => {
  const files = makeFiles({ 'relay-empty.bin': 0, 'relay-3mib.bin': 3 * 1024 * 1024 + 5 });
  const sender = ferry(['send', '--yes', ...files.paths, '--relay']);
  const room = await sender.event('room');
  const welcome = await sender.event('welcome');
  const b = await openApp(env.browser, room.link);
  const downloads = collectDownloads(b.page);
  const dialog = b.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  // The offer came over the relay: the card shows it (until the CLI leaves at the end).
  const connected = await sender.event('connected');
  assert.equal(connected.path, 'websocket');
  const card = peerCard(b.page, welcome.name);
  assert.equal(await card.getByTestId('peer-path').getAttribute('data-path'), 'websocket');
  const { code } = await sender.event('security-code');
  await card.getByTestId('security-code').waitFor({ state: 'visible' });
  assert.equal(await card.getByTestId('security-code').getAttribute('data-code'), code);
  await dialog.getByTestId('offer-accept').click();
  assert.equal(await sender.exit(), 0, sender.stderr());
  for (const [rel, sha] of Object.entries(files.sha)) {
    const d = await downloads.get(rel);
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte`);
  }
  await b.context.close();
});

test('browser with ?relay=1 → ferry receive follows it onto the relay', { timeout: 300_000 }, async () => {
  const a = await openApp(env.browser, `${env.server.url}/?relay=1`);
  await a.page.getByTestId('create-room').click();
  const code = (await a.page.getByTestId('room-code').textContent())?.trim() ?? '';
  const out = tempDir('ferry-e2e-cli-relay-out-');
  const receiver = ferry(['receive', code, '--out', out, '--yes', '--relay-after', '2']);
  const welcome = await receiver.event('welcome');
  const files = makeFiles({ 'web-relay-one.bin': 1, 'web-relay-2mib.bin': 2 * 1024 * 1024 + 3 });
  const card = peerCard(a.page, welcome.name);
  await card.waitFor({ timeout: 30_000 });
  // Record every security code the page shows: the relay ends when the CLI exits.
  await a.page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__codes = [];
    // The CLI connects as soon as it joins, so the relay (and its code) may be up before this
    // runs: take what is shown now, then look again after every change while the transfer runs.
    const collect = () => {
      for (const el of document.querySelectorAll('[data-code]')) {
        const code = /** @type {HTMLElement} */ (el).dataset.code;
        if (code && !w.__codes.includes(code)) w.__codes.push(code);
      }
    };
    collect();
    new MutationObserver(collect).observe(document.body, { attributes: true, childList: true, subtree: true });
  });
  await card.getByTestId('peer-send-files').setInputFiles(files.paths);
  const connected = await receiver.event('connected', 60_000);
  assert.equal(connected.path, 'websocket');
  assert.equal(await receiver.exit(), 0, receiver.stderr());
  const shownCodes = await a.page.evaluate(() => /** @type {any} */ (window).__codes);
  const done = await receiver.event('done');
  assert.equal(done.failed, 0);
  assert.equal(done.path, 'websocket');
  assert.deepEqual(readdirSync(out).sort(), Object.keys(files.sha).sort());
  for (const [rel, sha] of Object.entries(files.sha)) {
    assert.equal(await sha256File(path.join(out, rel)), sha, `${rel} byte for byte`);
  }
  const { code: securityCode } = await receiver.event('security-code');
  assert.equal(done.securityCode, securityCode);
  assert.ok(shownCodes.includes(securityCode), `page showed ${shownCodes}, CLI ${securityCode}`);
  await a.context.close();
});
