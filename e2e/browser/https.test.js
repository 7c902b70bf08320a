// `ferry serve --tls-cert/--tls-key` in Chromium: the app on an HTTPS origin (a test CA made here
// with openssl; Chromium trusts the server's key through --ignore-certificate-errors-spki-list)
// is a secure context, so a received file streams to disk through the service worker
// (/app/dl/…) instead of being held in memory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, openPair } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { makeFiles, sha256File, tempDir } from '../lib/transfer.js';

/** @type {{server: Awaited<ReturnType<typeof startServer>>, browser: import('playwright-core').Browser, url: string, dir: string}} */
const env = /** @type {any} */ ({});

before(async () => {
  env.dir = tempDir('ferry-e2e-https-');
  const dir = env.dir;
  const sh = (/** @type {string[]} */ args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=ferry e2e test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
  sh(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-keyout', 'key.pem', '-out', 'leaf.csr']);
  writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  sh(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2',
    '-extfile', 'leaf.ext', '-out', 'cert.pem']);
  const spki = (/** @type {string} */ file) =>
    createHash('sha256')
      .update(createPublicKey(readFileSync(path.join(dir, file))).export({ type: 'spki', format: 'der' }))
      .digest('base64');
  env.server = await startServer(['--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem')]);
  assert.match(env.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  env.url = env.server.url.replace('127.0.0.1', 'localhost');
  env.browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki('cert.pem')},${spki('ca.pem')}`],
    headless: true,
  });
});

after(async () => {
  await env.browser?.close();
  await env.server?.stop();
  if (env.dir) rmSync(env.dir, { recursive: true, force: true });
});

test('on the HTTPS origin a received file streams to disk through the service worker', { timeout: 180_000 }, async () => {
  // ?sink=stream: the service worker's download, which takes over where the OPFS cannot keep a file.
  const p = await openPair(env.browser, env.url, { queryB: '?sink=stream' });
  for (const page of [p.a.page, p.b.page]) {
    assert.equal(new URL(page.url()).protocol, 'https:');
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
  }
  await p.b.page.waitForFunction(() => document.body.dataset.storage === 'stream');

  /** @type {import('playwright-core').Download[]} */
  const downloads = [];
  p.b.page.on('download', (d) => downloads.push(d));
  const files = makeFiles({ 'over-https.bin': 24 * 1024 * 1024 + 3 });
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
  const dialog = p.b.page.getByTestId('offer-dialog');
  await dialog.waitFor();
  assert.equal(await dialog.getByTestId('offer-memory-warning').count(), 0);
  await dialog.getByTestId('offer-accept').click();
  const got = p.cardBA.getByTestId('transfer').first();
  await got.and(p.b.page.locator('[data-state="done"]')).waitFor({ timeout: 120_000 });

  assert.equal(downloads.length, 1);
  const d = downloads[0];
  assert.equal(d.suggestedFilename(), 'over-https.bin');
  // Served by the service worker's streamed response, on the HTTPS origin.
  assert.match(d.url(), new RegExp(`^${env.url.replace(/[.]/g, '\\.')}/app/dl/`));
  assert.equal(await d.failure(), null);
  assert.equal(await sha256File(await d.path()), files.sha['over-https.bin']);
  rmSync(files.dir, { recursive: true, force: true });
  await p.close();
});
