// `ferry send` / `ferry receive` (the native peer, built binary) with the web app in real
// Chromium, both directions, byte for byte, through a real `ferry serve`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, repoRoot } from '../lib/server.js';
import { launchBrowser, openApp, peerCard } from '../lib/browser.js';
import { makeFiles, collectDownloads, sha256File, tempDir } from '../lib/transfer.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Runs the ferry CLI with `--json`; `events` resolves each JSON line by its `event`.
 * @param {string[]} args
 */
function ferry(args) {
  const bin = process.env.FERRY_BIN ?? path.join(repoRoot, 'target', 'debug', 'ferry');
  const proc = spawn(bin, [...args, '--server', server.url, '--bind', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.FERRY_E2E_VERBOSE) process.stderr.write(d);
  });
  /** @type {Map<string, any>} */
  const seen = new Map();
  /** @type {Map<string, (v: any) => void>} */
  const waiting = new Map();
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const v = JSON.parse(line);
        seen.set(v.event, v);
        waiting.get(v.event)?.(v);
      } catch {
        // not a JSON line (the CLI prints only JSON with --json, but be lenient)
      }
    }
  });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    /** @param {string} event @param {number} [timeout] */
    event(event, timeout = 60_000) {
      if (seen.has(event)) return Promise.resolve(seen.get(event));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${event} from ferry ${args[0]} in ${timeout} ms\n${stderr}`)), timeout);
        waiting.set(event, (v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    /** @returns {Promise<number | null>} */
    exit: () => exited,
    stderr: () => stderr,
  };
}

test('ferry send → browser opening the link', { timeout: 300_000 }, async () => {
  const files = makeFiles({ 'cli-empty.bin': 0, 'cli-one.bin': 1, 'cli-3mib.bin': 3 * 1024 * 1024 + 5 });
  const sender = ferry(['send', ...files.paths]);
  const room = await sender.event('room');
  const welcome = await sender.event('welcome');
  assert.equal(room.link, `${server.url}/?room=${room.code}`);
  const b = await openApp(browser, room.link);
  const downloads = collectDownloads(b.page);
  const dialog = b.page.getByTestId('offer-dialog');
  await dialog.waitFor({ timeout: 60_000 });
  assert.deepEqual(
    (await dialog.getByTestId('offer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.path))).sort(),
    Object.keys(files.sha).sort(),
  );
  await dialog.getByTestId('offer-accept').click();
  assert.equal(await sender.exit(), 0, sender.stderr());
  for (const [rel, sha] of Object.entries(files.sha)) {
    const d = await downloads.get(rel);
    assert.equal(d.failure, null, `${rel} downloaded`);
    assert.equal(d.sha, sha, `${rel} byte for byte`);
  }
  const got = peerCard(b.page, welcome.name).getByTestId('transfer').first();
  await got.and(b.page.locator('[data-state="done"]')).waitFor({ timeout: 10_000 });
  const connected = await sender.event('connected');
  assert.equal(connected.path, 'direct');
  await b.context.close();
});

test('browser in a room → ferry receive <code>', { timeout: 300_000 }, async () => {
  const a = await openApp(browser, server.url);
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
  await card.getByTestId('transfer').first().and(a.page.locator('[data-state="done"]')).waitFor({ timeout: 10_000 });
  await a.context.close();
});
