// Helpers for transfer tests: files on disk to offer, and collecting what the receiving page
// saved (Playwright download events) with the SHA-256 of each saved file.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, createReadStream, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { inState, peerCard } from './browser.js';

/** @typedef {Pick<Awaited<ReturnType<typeof import('./browser.js').openPair>>, 'a' | 'b' | 'cardAB' | 'cardBA'>} Pair */

export function tempDir(prefix = 'ferry-e2e-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/**
 * Writes files (relative path → size or content) under a new temp dir.
 * @param {Record<string, number | string | Buffer>} spec
 * @returns {{dir: string, paths: string[], sha: Record<string, string>}}
 */
export function makeFiles(spec) {
  const dir = tempDir();
  /** @type {Record<string, string>} */
  const sha = {};
  const paths = [];
  for (const [rel, what] of Object.entries(spec)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    const data = typeof what === 'number' ? randomBytes(what) : Buffer.from(what);
    writeFileSync(p, data);
    sha[rel] = createHash('sha256').update(data).digest('hex');
    paths.push(p);
  }
  return { dir, paths, sha };
}

/**
 * A sparse file of `size` zero bytes (no disk used): enough to make an offer of that size, which
 * the tests then decline, so it is never read.
 * @param {string} name @param {number} size @returns {{dir: string, path: string}}
 */
export function sparseFile(name, size) {
  const dir = tempDir();
  const p = path.join(dir, name);
  writeFileSync(p, '');
  truncateSync(p, size);
  return { dir, path: p };
}

/** @param {string} file @returns {Promise<string>} */
export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/**
 * The names in a page's kept-files folder of the Origin Private File System (`ferry-partial/`,
 * storage/kept-partials.js): `<key>.json` notes of what can resume, `<random>.part` data files,
 * `<random>.done` notes of verified files waiting for their download to copy them out.
 * @param {import('playwright-core').Page} page
 */
export function keptNames(page) {
  return page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('ferry-partial', { create: true });
    const names = [];
    // @ts-ignore: async-iterable in every browser with OPFS
    for await (const name of dir.keys()) names.push(name);
    return names.sort();
  });
}

/**
 * Records every download a page starts, with its outcome.
 * @param {import('playwright-core').Page} page
 */
export function collectDownloads(page) {
  /** @type {Map<string, Promise<{name: string, failure: string | null, sha: string | null, path: string | null}>>} */
  const all = new Map();
  page.on('download', (d) => {
    const name = d.suggestedFilename();
    all.set(
      name,
      (async () => {
        const failure = await d.failure();
        const p = failure ? null : await d.path();
        return { name, failure, path: p, sha: p ? await sha256File(p) : null };
      })(),
    );
  });
  return {
    all,
    /** @param {string} name @param {number} [timeout] */
    async get(name, timeout = 120_000) {
      const t0 = Date.now();
      while (!all.has(name)) {
        if (Date.now() - t0 > timeout) throw new Error(`no download named ${name}; saw ${[...all.keys()].join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return /** @type {any} */ (all.get(name));
    },
  };
}

/**
 * Offers files from `from` to the peer named `toName`, accepts on `to`, returns the transfer rows.
 * @param {import('playwright-core').Page} from @param {string} toName
 * @param {string[]} files @param {{folder?: boolean}} [opts]
 */
export async function offerFiles(from, toName, files, opts = {}) {
  const card = peerCard(from, toName);
  await card.getByTestId(opts.folder ? 'peer-send-folder' : 'peer-send-files').setInputFiles(files);
  return card;
}

/**
 * Sends files from one page of a pair to the other, accepts, and checks every saved download
 * byte for byte.
 * @param {Pair} pair
 * @param {'a' | 'b'} fromSide
 * @param {Record<string, number | Buffer>} spec
 */
export async function sendAndCheck(pair, fromSide, spec) {
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
  try {
    for (const [rel, sha] of Object.entries(files.sha)) {
      const d = await downloads.get(path.basename(rel));
      assert.equal(d.failure, null, `${rel} downloaded`);
      assert.equal(d.sha, sha, `${rel} byte for byte`);
    }
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
  }
}

/** @param {Pair} pair */
export async function assertRelayPath(pair) {
  for (const card of [pair.cardAB, pair.cardBA]) {
    await card.getByTestId('peer-path').and(card.page().locator('[data-path="websocket"]')).waitFor();
  }
  await assertSameSecurityCode(pair.cardAB, pair.cardBA);
}

/**
 * Both cards show a security code, and the same one (it comes a round trip after connecting).
 * @param {import('playwright-core').Locator} cardA @param {import('playwright-core').Locator} cardB
 * @returns {Promise<string>} the code
 */
export async function assertSameSecurityCode(cardA, cardB) {
  const codes = [];
  for (const card of [cardA, cardB]) {
    const el = card.getByTestId('security-code');
    await el.waitFor({ state: 'visible', timeout: 30_000 });
    codes.push((await el.getAttribute('data-code')) ?? '');
  }
  assert.match(codes[0], /^\d{3} \d{3}$/);
  assert.equal(codes[0], codes[1], 'both sides show the same security code');
  return codes[0];
}

export { readFileSync };

/**
 * Waits until a transfer `page` receives has carried at least `bytes` of payload this session.
 * @param {import('playwright-core').Page} page @param {number} bytes
 */
export function receivedAtLeast(page, bytes) {
  return page.waitForFunction(
    (bytes) => {
      for (const link of /** @type {any} */ (window).__ferryTest.links.values()) for (const t of link.session?.incoming.values() ?? []) if (t.bytesDone >= bytes) return true;
      return false;
    },
    bytes,
    { timeout: 120_000 },
  );
}

/**
 * Watches a resumed transfer on `page` until `row` (its row there) is done, and returns the
 * counts of the last sample while it ran: `session`, the payload bytes this transfer carried,
 * and `file`, the bytes its file holds (received, or sent). `file - session` is the prefix it
 * resumed from (the same at every sample: frames start at the accepted offset). Bounded: 10,000
 * samples. `direction`: the page receives (default) or sends it.
 *
 * Only the link of the peer whose card holds `row` is read: the link to the peer that went
 * away may still show its cut-short transfer `active` (until ICE gives up on it), and that
 * one started at 0.
 * @param {import('playwright-core').Page} page @param {import('playwright-core').Locator} row
 * @param {'incoming' | 'outgoing'} [direction]
 * @returns {Promise<{session: number, file: number}>}
 */
export async function resumedCounts(page, row, direction = 'incoming') {
  const peerId = await row.evaluate((el) => /** @type {HTMLElement | null} */ (el.closest('[data-peer-id]'))?.dataset.peerId ?? null, undefined, { timeout: 60_000 });
  assert.ok(peerId, 'the row is in a peer card');
  /** @type {{session: number, file: number} | null} */
  let seen = null;
  for (let i = 0; i < 10_000 && (await inState(row, 'done').count()) === 0; i++) {
    const now = await page.evaluate(
      ({ direction, peerId }) => {
        const link = /** @type {any} */ (window).__ferryTest.links.get(peerId);
        for (const t of link?.session?.[direction].values() ?? []) if (t.state === 'active') return { session: t.bytesDone, file: t.files[0].bytes };
        return null;
      },
      { direction, peerId },
    );
    seen = now ?? seen;
  }
  await inState(row, 'done').waitFor({ timeout: 120_000 });
  assert.ok(seen, 'saw the resumed transfer run');
  return seen;
}
