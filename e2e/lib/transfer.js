// Helpers for transfer tests: files on disk to offer, and collecting what the receiving page
// saved (Playwright download events) with the SHA-256 of each saved file.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { peerCard } from './browser.js';

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

export { readFileSync };
