// CLI → CLI throughput on loopback (`ferry send` → `ferry receive`, release build, through a real
// `ferry serve`), next to the raw browser RTCDataChannel baseline, measured in one run.
//
//   cargo build --release -p ferry && (cd e2e && npm ci)
//   node bench/native/run.mjs [CLI_MIB=2048] [ROUNDS=3] [BROWSER_MIB=256]
//
// cli:  a random CLI_MIB file; time and rate from the receiver's `--json` summary (accept to
//       last file verified, SHA-256 on both sides, written to disk and renamed); peak RSS of both
//       processes from /usr/bin/time -v.
// raw:  two RTCPeerConnections in one headless Chromium page, one negotiated ordered DataChannel,
//       256 KiB messages, 4 MiB / 1 MiB buffer marks, no hashing, no disk (the same baseline as
//       bench/browser/run.mjs). Smaller by default: Chromium is CPU-bound at ~15 MB/s here.
// Rounds alternate cli and raw so background load hits both alike; medians are reported.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ferryTransfer, rawDataChannelMs, writeRandomFile } from '../lib/common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const e2e = path.join(root, 'e2e');
createRequire(path.join(e2e, 'package.json')).resolve('playwright-core');
const bin = process.env.FERRY_BIN ?? path.join(root, 'target', 'release', 'ferry');
process.env.FERRY_BIN = bin;
const { startServer } = await import(path.join(e2e, 'lib', 'server.js'));
const { launchBrowser } = await import(path.join(e2e, 'lib', 'browser.js'));

const CLI_MIB = Number(process.argv[2] ?? 2048);
const ROUNDS = Number(process.argv[3] ?? 3);
const BROWSER_MIB = Number(process.argv[4] ?? 256);

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-native-bench-'));
const file = writeRandomFile(dir, CLI_MIB);

const server = await startServer();
const browser = await launchBrowser();

async function cli() {
  const { s, r, done } = await ferryTransfer(bin, server.url, file, path.join(dir, 'out'));
  return { mbps: done.bytes / 1e6 / done.seconds, sendRss: s.rss, recvRss: r.rss, path: `${done.path} (${done.candidate})` };
}

/** @param {number} bytes MB/s of the raw DataChannel baseline. */
const raw = async (bytes) => bytes / 1e6 / ((await rawDataChannelMs(browser, server.url, bytes)) / 1000);

const median = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const cliRuns = [];
const rawRuns = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    cliRuns.push(await cli());
    const c = cliRuns.at(-1);
    console.error(`round ${i + 1}: cli ${c.mbps.toFixed(1)} MB/s (send RSS ${(c.sendRss / 1024).toFixed(0)} MiB, receive RSS ${(c.recvRss / 1024).toFixed(0)} MiB, ${c.path})`);
    rawRuns.push(await raw(BROWSER_MIB * 1024 * 1024));
    console.error(`round ${i + 1}: raw ${rawRuns.at(-1).toFixed(1)} MB/s`);
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
const cliMed = median(cliRuns.map((c) => c.mbps));
const rawMed = median(rawRuns);
const peak = (k) => Math.max(...cliRuns.map((c) => c[k])) / 1024;
console.log(`| ${CLI_MIB} MiB CLI→CLI | ${cliMed.toFixed(1)} MB/s | ${rawMed.toFixed(1)} MB/s (${BROWSER_MIB} MiB) | ${(cliMed / rawMed).toFixed(2)}× | ${peak('sendRss').toFixed(0)} MiB / ${peak('recvRss').toFixed(0)} MiB | cli ${cliRuns.map((c) => c.mbps.toFixed(1)).join(', ')}; raw ${rawRuns.map((r) => r.toFixed(1)).join(', ')} |`);
