// Send to several at once: one browser offers one set of files to two browsers and one
// `ferry receive`; each is asked on its own, one declines, the others get every file byte for
// byte, and the sender shows one row per receiver with its own result.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { runFerry } from '../lib/cli.js';
import { openApp, peerCard, selfName, inState, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, sha256File, tempDir } from '../lib/transfer.js';

const env = useServerAndBrowser();

test('one browser sends 3 files to two browsers and ferry receive; one declines', { timeout: 300_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  const b = await openApp(env.browser, env.server.url);
  const c = await openApp(env.browser, env.server.url);
  const [nameB, nameC] = [await selfName(b.page), await selfName(c.page)];
  await peerCard(a.page, nameB).waitFor();
  await peerCard(a.page, nameC).waitFor();
  // The CLI meets the sender through a code room; the browsers share the LAN room.
  await a.page.getByTestId('create-room').click();
  const code = (await a.page.getByTestId('room-code').textContent())?.trim() ?? '';
  const out = tempDir('ferry-e2e-multi-out-');
  const cli = runFerry(['receive', code, '--out', out, '--yes'], env.server.url);
  const cliName = (await cli.event('welcome')).name;
  await peerCard(a.page, cliName).waitFor({ timeout: 30_000 });

  const files = makeFiles({ 'm-one.bin': 1, 'm-1mib.bin': 1024 * 1024 + 1, 'm-8mib.bin': 8 * 1024 * 1024 + 7 });
  const downloadsB = collectDownloads(b.page);
  const downloadsC = collectDownloads(c.page);
  try {
    // "Everyone in this room" picks the CLI (the code room's only other member) ...
    await a.page.getByTestId('room-select-all').click();
    assert.equal(await a.page.getByTestId('multi-send-count').getAttribute('data-count'), '1');
    assert.ok(await peerCard(a.page, cliName).getByTestId('peer-select').isChecked());
    // ... and "everyone here" all three.
    await a.page.getByTestId('select-all-peers').check();
    assert.equal(await a.page.getByTestId('multi-send-count').getAttribute('data-count'), '3');
    for (const name of [nameB, nameC, cliName]) {
      assert.ok(await peerCard(a.page, name).getByTestId('peer-select').isChecked(), `${name} selected`);
    }
    await a.page.getByTestId('multi-send-files').setInputFiles(files.paths);

    // Each receiver is asked on its own: B accepts, C declines, the CLI accepts (--yes).
    await b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click({ timeout: 60_000 });
    await c.page.getByTestId('offer-dialog').getByTestId('offer-decline').click({ timeout: 60_000 });

    const batch = a.page.getByTestId('multi-send-batch').first();
    assert.equal(await batch.getAttribute('data-receivers'), '3');
    const row = (/** @type {string} */ name) =>
      batch.getByTestId('multi-send-row').filter({ has: a.page.getByTestId('multi-send-name').getByText(name, { exact: true }) });
    await inState(row(nameC), 'declined').waitFor({ timeout: 60_000 });
    await inState(row(nameB), 'done').waitFor({ timeout: 180_000 });
    await inState(row(cliName), 'done').waitFor({ timeout: 180_000 });
    for (const name of [nameB, cliName]) {
      const v = row(name).getByTestId('multi-send-verified');
      assert.equal(await v.getAttribute('data-verified'), '3', `${name}: every file verified`);
      assert.equal(await v.getAttribute('data-state'), 'verified');
      assert.ok(await row(name).getByTestId('multi-send-cancel').isHidden(), 'no cancel once finished');
    }
    assert.match((await row(nameC).getByTestId('multi-send-error').textContent()) ?? '', /declined/i);

    assert.equal(await cli.exit(), 0, cli.stderr());
    assert.equal((await cli.event('done')).failed, 0);
    assert.deepEqual(readdirSync(out).sort(), Object.keys(files.sha).sort());
    for (const [rel, sha] of Object.entries(files.sha)) {
      assert.equal(await sha256File(path.join(out, rel)), sha, `ferry receive: ${rel} byte for byte`);
      const d = await downloadsB.get(rel);
      assert.equal(d.failure, null, `${nameB}: ${rel} downloaded`);
      assert.equal(d.sha, sha, `${nameB}: ${rel} byte for byte`);
    }
    // The decline saved nothing on C, and the per-peer cards tell the same story.
    assert.equal(downloadsC.all.size, 0, 'nothing downloaded on the receiver that declined');
    await inState(peerCard(a.page, nameC).getByTestId('transfer').first(), 'declined').waitFor();
    await inState(peerCard(a.page, nameB).getByTestId('transfer').first(), 'done').waitFor();
    // The same rows in Simplified Chinese.
    await a.page.getByTestId('lang-select').selectOption('zh-CN');
    assert.equal(await a.page.locator('#multi-send-title').textContent(), '同时发送给多人');
    assert.equal(await row(nameC).getByTestId('multi-send-error').textContent(), `${nameC} 拒绝了`);
    assert.match((await row(nameB).getByTestId('multi-send-verified').textContent()) ?? '', /已校验 3\/3/);
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    for (const p of [a, b, c]) await p.context.close().catch(() => {});
  }
});

test('a receiver that vanishes mid-transfer fails alone; a cancelled one too; the third completes', { timeout: 300_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  const peers = [];
  for (let i = 0; i < 3; i++) peers.push(await openApp(env.browser, env.server.url));
  const names = [];
  for (const p of peers) names.push(await selfName(p.page));
  for (const n of names) await peerCard(a.page, n).waitFor();
  const files = makeFiles({ 'big.bin': 48 * 1024 * 1024 });
  const downloads = collectDownloads(peers[2].page);
  try {
    // Selected one by one with the keyboard: focus each checkbox and press Space.
    for (const n of names) {
      await peerCard(a.page, n).getByTestId('peer-select').focus();
      await a.page.keyboard.press('Space');
    }
    assert.equal(await a.page.getByTestId('multi-send-count').getAttribute('data-count'), '3');
    await a.page.getByTestId('multi-send-files').setInputFiles(files.paths);
    for (const p of peers) await p.page.getByTestId('offer-dialog').getByTestId('offer-accept').click({ timeout: 60_000 });
    const batch = a.page.getByTestId('multi-send-batch').first();
    const row = (/** @type {string} */ name) =>
      batch.getByTestId('multi-send-row').filter({ has: a.page.getByTestId('multi-send-name').getByText(name, { exact: true }) });
    // Data flowing to the first two, then: the first tab is closed, the second is cancelled.
    await a.page.waitForFunction(() => {
      const bars = /** @type {HTMLProgressElement[]} */ ([...document.querySelectorAll('[data-testid="multi-send-progress"]')]);
      return bars.length === 3 && bars.filter((b) => b.value > 1024 * 1024).length >= 2;
    }, undefined, { timeout: 120_000 });
    await peers[0].context.close();
    await row(names[1]).getByTestId('multi-send-cancel').click();
    await inState(row(names[0]), 'failed').waitFor({ timeout: 60_000 });
    await inState(row(names[1]), 'cancelled').waitFor({ timeout: 30_000 });
    await inState(row(names[2]), 'done').waitFor({ timeout: 180_000 });
    assert.equal(await row(names[2]).getByTestId('multi-send-verified').getAttribute('data-verified'), '1');
    const d = await downloads.get('big.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['big.bin'], 'the remaining receiver got it byte for byte');
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
    for (const p of [a, ...peers]) await p.context.close().catch(() => {});
  }
});

test('ferry send --receivers 2 → two browsers opening the link', { timeout: 300_000 }, async () => {
  const files = makeFiles({ 'c-one.bin': 3, 'c-2mib.bin': 2 * 1024 * 1024 + 1 });
  const sender = runFerry(['send', '--yes', '--receivers', '2', ...files.paths], env.server.url);
  const pages = [];
  try {
    const room = await sender.event('room');
    for (let i = 0; i < 2; i++) pages.push(await openApp(env.browser, room.link));
    const downloads = pages.map((p) => collectDownloads(p.page));
    for (const p of pages) await p.page.getByTestId('offer-dialog').getByTestId('offer-accept').click({ timeout: 60_000 });
    assert.equal(await sender.exit(), 0, sender.stderr());
    const summary = await sender.event('summary');
    assert.equal(summary.receivers.length, 2);
    assert.ok(summary.receivers.every((/** @type {any} */ r) => r.result === 'sent' && r.peer.client === 'browser'), JSON.stringify(summary));
    for (const d of downloads) {
      for (const [rel, sha] of Object.entries(files.sha)) {
        const got = await d.get(rel);
        assert.equal(got.failure, null, `${rel} downloaded`);
        assert.equal(got.sha, sha, `${rel} byte for byte`);
      }
    }
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
    for (const p of pages) await p.context.close().catch(() => {});
  }
});
