#!/usr/bin/env node
// Browser ↔ browser throughput through the app, next to a raw RTCDataChannel baseline, in one run
// of headless Chromium on loopback.
//
//   cargo build -p ferry && (cd e2e && npm ci) && node bench/browser/run.mjs [MiB] [rounds]
//
// app:  two browser contexts (two "devices") on a real `ferry serve`; one offers a file of MiB
//       random bytes through the file picker, the other accepts; timed from the accept click to
//       the receiver showing the transfer verified and done (hashing on both sides, the streamed
//       download to disk, everything a user waits for).
// raw:  two RTCPeerConnections in one page, one negotiated ordered DataChannel, the same message
//       size (256 KiB incl. the 16-byte header) and the same buffer marks (4 MiB high, 1 MiB low),
//       no app code; timed from the first send to the last byte received.
// Rounds alternate raw and app so background load hits both alike; medians are reported.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawDataChannelMs, writeRandomFile } from '../lib/common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '..', '..', 'e2e');
const require = createRequire(path.join(e2e, 'package.json'));
require.resolve('playwright-core'); // fail early with a clear message if e2e deps are missing
const { startServer } = await import(path.join(e2e, 'lib', 'server.js'));
const { launchBrowser, openPair, inState } = await import(path.join(e2e, 'lib', 'browser.js'));

const MIB = Number(process.argv[2] ?? 512);
const ROUNDS = Number(process.argv[3] ?? 2);
const BYTES = MIB * 1024 * 1024;

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-'));
const file = writeRandomFile(dir, MIB);

const server = await startServer();
const browser = await launchBrowser();

/** @param {number} bytes */
const raw = (bytes) => rawDataChannelMs(browser, server.url, bytes);

async function app() {
  const p = await openPair(browser, server.url);
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(file);
  const accept = p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept');
  await accept.waitFor();
  const t0 = performance.now();
  await accept.click();
  await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30 * 60_000 });
  const ms = performance.now() - t0;
  const states = await p.cardBA.getByTestId('transfer-file').evaluateAll((els) => els.map((e) => /** @type {HTMLElement} */ (e).dataset.state));
  if (states.join() !== 'verified') throw new Error(`receiver file states: ${states}`);
  await p.close();
  return ms;
}

const mbps = (/** @type {number} */ ms) => BYTES / 1e6 / (ms / 1000);
const median = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const rawRuns = [];
const appRuns = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    rawRuns.push(mbps(await raw(BYTES)));
    console.error(`round ${i + 1}: raw ${rawRuns.at(-1)?.toFixed(1)} MB/s`);
    appRuns.push(mbps(await app()));
    console.error(`round ${i + 1}: app ${appRuns.at(-1)?.toFixed(1)} MB/s`);
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
const r = median(rawRuns);
const a = median(appRuns);
console.log(`| ${MIB} MiB | ${r.toFixed(1)} MB/s | ${a.toFixed(1)} MB/s | ${((100 * a) / r).toFixed(0)} % | raw runs ${rawRuns.map((x) => x.toFixed(1)).join(', ')}; app runs ${appRuns.map((x) => x.toFixed(1)).join(', ')} |`);
