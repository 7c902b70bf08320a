// `ferry send` / `ferry receive` (the native peer, built binary) with the web app in real
// Chromium, both directions, byte for byte, through a real `ferry serve`.

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

test('ferry send → browser opening the link, the same security code on both', { timeout: 300_000 }, async () => {
  const files = makeFiles({ 'cli-empty.bin': 0, 'cli-one.bin': 1, 'cli-3mib.bin': 3 * 1024 * 1024 + 5 });
  const sender = ferry(['send', '--yes', ...files.paths]);
  const room = await sender.event('room');
  const welcome = await sender.event('welcome');
  assert.equal(room.link, `${env.server.url}/?room=${room.code}`);
  const b = await openApp(env.browser, room.link);
  const downloads = collectDownloads(b.page);
  const dialog = b.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  assert.deepEqual(
    (await dialog.getByTestId('offer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.path))).sort(),
    Object.keys(files.sha).sort(),
  );
  // The security code over DTLS: the CLI's (webrtc-rs fingerprints) is the page's.
  const { code } = await sender.event('security-code');
  const codeEl = peerCard(b.page, welcome.name).getByTestId('security-code');
  await codeEl.waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await codeEl.getAttribute('data-code'), code);
  await dialog.getByTestId('offer-accept').click();
  assert.equal(await sender.exit(), 0, sender.stderr());
  for (const [rel, sha] of Object.entries(files.sha)) {
    const d = await downloads.get(rel);
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte`);
  }
  const got = peerCard(b.page, welcome.name).getByTestId('transfer').first();
  await got.and(b.page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
  const connected = await sender.event('connected');
  assert.equal(connected.path, 'direct');
  await b.context.close();
});

test('browser in a room → ferry receive <code>', { timeout: 300_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  await a.page.getByTestId('create-room').click();
  const code = (await a.page.getByTestId('room-code').textContent())?.trim() ?? '';
  const out = tempDir('ferry-e2e-cli-out-');
  const receiver = ferry(['receive', code.toLowerCase(), '--out', out, '--yes']);
  const welcome = await receiver.event('welcome');
  const files = makeFiles({ 'web-empty.bin': 0, 'web-one.bin': 1, 'web-2mib.bin': 2 * 1024 * 1024 + 3 });
  const card = peerCard(a.page, welcome.name);
  await card.waitFor({ timeout: 30_000 });
  await card.getByTestId('peer-send-files').setInputFiles(files.paths);
  assert.equal(await receiver.exit(), 0, receiver.stderr());
  const done = await receiver.event('done');
  assert.equal(done.failed, 0);
  assert.deepEqual(readdirSync(out).sort(), Object.keys(files.sha).sort());
  for (const [rel, sha] of Object.entries(files.sha)) {
    assert.equal(await sha256File(path.join(out, rel)), sha, `${rel} byte for byte`);
  }
  await card.getByTestId('transfer').first().and(a.page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
  await a.context.close();
});
