// Paired devices (docs/security.md "Paired devices"). Two browsers with their own profiles on
// disk (persistent contexts, as two devices) behind a trusted proxy that says they come from two
// different public addresses: they do not see each other until they meet in a code room and pair
// (after comparing the security code), and from then on they find and recognise each other
// without a code — after both browsers restart, and from another network. A page that knows the
// pairing's room id but not its secret (as the server does) is listed but never shown as paired.
// Unpair on one side removes the pairing on both.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, peerCard, selfName } from '../lib/browser.js';
import { startServer } from '../lib/server.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {string[]} */
const dirs = [];

before(async () => {
  // The page's own address is loopback; X-Forwarded-For from the trusted proxy (here: the
  // browser itself, through extra headers) says which network each device is on.
  server = await startServer(['--trusted-proxy', '127.0.0.1']);
});
after(async () => {
  await server?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * One device: a browser profile on disk, opened as if from `address`.
 * @param {string} dir @param {string} address @param {string} [query]
 */
async function device(dir, address, query = '?test=1') {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
    permissions: ['camera', 'microphone'],
    locale: 'en-US',
    extraHTTPHeaders: { 'X-Forwarded-For': address },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  if (process.env.FERRY_E2E_VERBOSE) page.on('console', (m) => console.error(`[console] ${m.text()}`));
  await page.goto(server.url + query);
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  return { context, page, name: await selfName(page) };
}

/** @param {import('playwright-core').Page} page */
async function pairedNames(page) {
  return page.getByTestId('paired-name').allTextContents();
}

/** @param {import('playwright-core').Page} page */
function openSettings(page) {
  return page.evaluate(() => {
    /** @type {HTMLDetailsElement} */ (document.querySelector('[data-testid="settings"]')).open = true;
  });
}

test('paired once, two devices find and recognise each other after a restart and on another network', { timeout: 180_000 }, async () => {
  const dirA = await mkdtemp(path.join(os.tmpdir(), 'ferry-pair-a-'));
  const dirB = await mkdtemp(path.join(os.tmpdir(), 'ferry-pair-b-'));
  dirs.push(dirA, dirB);
  let a = await device(dirA, '203.0.113.10');
  let b = await device(dirB, '198.51.100.20');
  try {
    // Different networks: nobody to see.
    await a.page.getByTestId('no-peers').waitFor();
    assert.equal(await a.page.getByTestId('peer').count(), 0);

    // They meet in a code room and pair there.
    await a.page.getByTestId('create-room').click();
    const code = ((await a.page.getByTestId('room-code').textContent()) ?? '').trim();
    await b.page.getByTestId('join-code-input').fill(code);
    await b.page.getByTestId('join-code-submit').click();
    const cardAB = peerCard(a.page, b.name);
    const cardBA = peerCard(b.page, a.name);
    await cardAB.waitFor();
    await cardBA.waitFor();
    assert.equal(await cardAB.getByTestId('paired-badge').isVisible(), false);
    await cardAB.getByTestId('pair-button').click();
    const dialog = b.page.getByTestId('pair-dialog');
    await dialog.waitFor();
    // The dialog shows the connection's security code, the same as on the asking side.
    const shown = await dialog.getByTestId('pair-dialog-code').getAttribute('data-code');
    assert.match(shown ?? '', /^\d{3} \d{3}$/);
    await cardAB.getByTestId('security-code').and(a.page.locator(`[data-code="${shown}"]`)).waitFor();
    await dialog.getByTestId('pair-accept').click();
    await cardAB.getByTestId('paired-badge').waitFor();
    await cardBA.getByTestId('paired-badge').waitFor();
    assert.equal(await cardAB.getByTestId('pair-button').isVisible(), false, 'no second pairing offered');
    await openSettings(a.page);
    await openSettings(b.page);
    await a.page.getByTestId('paired-name').getByText(b.name, { exact: true }).waitFor();
    await b.page.getByTestId('paired-name').getByText(a.name, { exact: true }).waitFor();
    assert.equal(await a.page.getByTestId('paired-volatile').isVisible(), false, 'this profile keeps pairings');

    // Both browsers restart; a is on another network now. No room code anywhere.
    await a.context.close();
    await b.context.close();
    a = await device(dirA, '192.0.2.50');
    b = await device(dirB, '198.51.100.20');
    assert.equal(await a.page.getByTestId('room').count(), 0, 'no code room was joined');
    const again = peerCard(a.page, b.name);
    await again.waitFor({ timeout: 30_000 });
    // Recognised by proof, once the automatic connection's security code is in.
    await again.getByTestId('paired-badge').waitFor({ timeout: 30_000 });
    await peerCard(b.page, a.name).getByTestId('paired-badge').waitFor({ timeout: 30_000 });
    // And it is a working connection.
    await again.getByTestId('chat-input').fill('found you');
    await again.getByTestId('chat-send').click();
    await peerCard(b.page, a.name).getByTestId('chat-text').getByText('found you').waitFor();

    // Someone who knows the room id (as the server does) but not the secret: listed, refused.
    const room = await a.page.evaluate(() => /** @type {any} */ (window).__ferryTest.paired.list()[0].room);
    assert.match(room, /^[0-9a-f]{32}$/);
    const dirC = await mkdtemp(path.join(os.tmpdir(), 'ferry-pair-c-'));
    dirs.push(dirC);
    const c = await device(dirC, '198.51.100.99');
    try {
      await c.page.evaluate(async (room) => {
        // A forged pairing under the same room id, with a secret of its own.
        const p = /** @type {any} */ (window).__ferryTest.paired;
        const secret = [...crypto.getRandomValues(new Uint8Array(32))].map((x) => x.toString(16).padStart(2, '0')).join('');
        p.pairings.set(room, { room, secret, name: 'x', pairedAt: 0, lastSeen: 0 });
        const { pairingKeys } = await import('/app/js/protocol/pairing.js');
        p.keys.set(room, { ...pairingKeys(secret), room });
        p.deps.send({ type: 'join-paired', rooms: [room] });
      }, room);
      const stranger = peerCard(a.page, c.name);
      await stranger.waitFor({ timeout: 30_000 });
      await stranger.getByTestId('peer-error').getByText('could not prove the pairing').waitFor({ timeout: 30_000 });
      assert.equal(await stranger.getByTestId('paired-badge').isVisible(), false);
      assert.equal(await again.getByTestId('paired-badge').isVisible(), true, 'the real device still is');
    } finally {
      await c.context.close();
    }

    // Unpair on a: gone here, and b forgets too (it is connected and verified).
    await openSettings(a.page);
    await openSettings(b.page);
    await a.page.getByTestId('paired-device').getByTestId('unpair').click();
    await a.page.getByTestId('paired-empty').waitFor();
    await b.page.getByTestId('paired-empty').waitFor();
    assert.deepEqual(await pairedNames(b.page), []);
  } finally {
    await a.context.close().catch(() => {});
    await b.context.close().catch(() => {});
  }
});

test('a declined pairing keeps nothing on either side, and may be asked again', { timeout: 120_000 }, async () => {
  const dirA = await mkdtemp(path.join(os.tmpdir(), 'ferry-pair-d-'));
  const dirB = await mkdtemp(path.join(os.tmpdir(), 'ferry-pair-e-'));
  dirs.push(dirA, dirB);
  const a = await device(dirA, '203.0.113.11', '');
  const b = await device(dirB, '203.0.113.11', '');
  try {
    const card = peerCard(a.page, b.name);
    await card.waitFor();
    await card.getByTestId('pair-button').click();
    await b.page.getByTestId('pair-dialog').getByTestId('pair-decline').click();
    await card.getByTestId('peer-error').getByText(`${b.name} did not pair.`).waitFor();
    await openSettings(a.page);
    await openSettings(b.page);
    await a.page.getByTestId('paired-empty').waitFor();
    await b.page.getByTestId('paired-empty').waitFor();
    assert.equal(await card.getByTestId('pair-button').isEnabled(), true, 'may ask again');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
