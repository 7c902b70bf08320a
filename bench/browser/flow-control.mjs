#!/usr/bin/env node
// End-to-end flow control and memory at sizes too big for the test suite: one browser tab sends
// a file of MiB random bytes to another, which receives it into its default sink (the OPFS where
// the page has one) or SINK (`stream`, `memory`), written at most RATE bytes/s (the
// `?test=1&sinkRate=` throttle; RATE 0: as fast as it goes). Every half second it samples the
// sender's sent bytes, then the receiver's written bytes (so sent − written can only overstate
// the gap), both tabs' JS heaps after a forced GC (DevTools `Performance.getMetrics`,
// JSHeapUsedSize), and the proportional set size (Pss, /proc/<pid>/smaps_rollup) of every
// Chromium process together: ArrayBuffers, the network and storage services, the service
// worker; at the end it checks the download byte for byte. Each tab is a Chromium of its own
// with a profile on disk (the suite's incognito contexts keep the OPFS in memory).
//
//   cargo build -p ferry && (cd e2e && npm ci) && node bench/browser/flow-control.mjs [MiB] [RATE] [SINK]
//
// Prints the transfer's throughput next to the sink's rate, the largest gap against the window,
// and the memory ranges: the figures in docs/benchmarks.md "Flow control with a slow disk".

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomFile } from '../lib/common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '..', '..', 'e2e');
const require = createRequire(path.join(e2e, 'package.json'));
require.resolve('playwright-core');
const { startServer } = await import(path.join(e2e, 'lib', 'server.js'));
const { CHROMIUM_ARGS, peerCard, selfName, inState } = await import(path.join(e2e, 'lib', 'browser.js'));
const { chromium } = require('playwright-core');
const { collectDownloads } = await import(path.join(e2e, 'lib', 'transfer.js'));
const { FLOW_WINDOW_BYTES } = await import(path.join(here, '..', '..', 'web', 'app', 'js', 'protocol', 'constants.js'));

const MIB = Number(process.argv[2] ?? 1024);
const RATE = Number(process.argv[3] ?? 6_000_000);
const SINK = process.argv[4] ?? '';
const MiB = 1024 * 1024;

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-'));
const file = writeRandomFile(dir, MIB);
const sha = await new Promise((resolve, reject) => {
  const h = createHash('sha256');
  createReadStream(file)
    .on('data', (d) => h.update(d))
    .on('end', () => resolve(h.digest('hex')))
    .on('error', reject);
});

const server = await startServer();
/**
 * A tab of the app in a Chromium of its own with a profile on disk, as a user's browser is: the
 * suite's incognito contexts keep the OPFS in memory, which would hide what the kept sink costs.
 * @param {string} url
 */
async function openOnDisk(url) {
  const context = await chromium.launchPersistentContext(mkdtempSync(path.join(dir, 'profile-')), {
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
    acceptDownloads: true,
    permissions: ['camera', 'microphone', 'screen-wake-lock'],
    locale: 'en-US',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  return { context, page };
}

/** Two such tabs that see each other. @param {string} url @param {string} queryA @param {string} queryB */
async function onDiskPair(url, queryA, queryB) {
  const a = await openOnDisk(url + queryA);
  const b = await openOnDisk(url + queryB);
  const [nameA, nameB] = [await selfName(a.page), await selfName(b.page)];
  await peerCard(a.page, nameB).waitFor();
  await peerCard(b.page, nameA).waitFor();
  return {
    a, b,
    cardAB: peerCard(a.page, nameB),
    cardBA: peerCard(b.page, nameA),
    close: async () => {
      await a.context.close().catch(() => {});
      await b.context.close().catch(() => {});
    },
  };
}

/** The browser's process and its descendants. @param {number} root */
function processTree(root) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const all = [root];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

/**
 * Pss of every Chromium process under `root` (this script): the sum, and by process type
 * (`browser`, `renderer`, `utility`, …, from `--type=`). @param {number} root
 */
function browserPss(root) {
  let total = 0;
  /** @type {Record<string, number>} */
  const byType = {};
  for (const pid of processTree(root)) {
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('chrom')) continue;
      const bytes = Number(/Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
      const type = /--type=(\S+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))?.[1] ?? 'browser';
      total += bytes;
      byType[type] = (byType[type] ?? 0) + bytes;
    } catch {
      // gone meanwhile
    }
  }
  return { total, byType };
}

/** @param {import('playwright-core').Page} page @param {'outgoing' | 'incoming'} dir */
const moved = (page, dir) =>
  page.evaluate((d) => {
    for (const link of /** @type {any} */ (window).__ferryTest.links.values()) {
      for (const t of link.session?.[d].values() ?? []) if (t.state === 'active') return t.bytesDone;
    }
    return -1;
  }, dir);

try {
  const query = `?test=1${RATE > 0 ? `&sinkRate=${RATE}` : ''}${SINK ? `&sink=${SINK}` : ''}`;
  const p = await onDiskPair(server.url, '/?test=1', `/${query}`);
  const storage = await p.b.page.evaluate(() => document.body.dataset.storage);
  /** @param {import('playwright-core').Page} page @param {import('playwright-core').BrowserContext} context */
  const heapOf = async (page, context) => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    return async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
    };
  };
  const heap = await heapOf(p.b.page, p.b.context);
  const senderHeap = await heapOf(p.a.page, p.a.context);
  /** @type {number[]} */
  const senderHeaps = [];
  /** @type {number[]} */
  const pss = [];
  /** @type {Record<string, number>[]} */
  const pssByType = [];
  const downloads = collectDownloads(p.b.page);
  await p.cardAB.getByTestId('peer-send-files').setInputFiles(file);
  await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
  const t0 = performance.now();
  let worst = 0;
  let senderDoneMs = 0;
  /** @type {[number, number][]} */
  const heaps = [];
  for (;;) {
    const sent = await moved(p.a.page, 'outgoing');
    const written = await moved(p.b.page, 'incoming');
    if (written < 0 && sent < 0 && (await inState(p.cardBA.getByTestId('transfer').first(), 'done').count()) > 0) break;
    if (sent < 0 && !senderDoneMs && written > 0) senderDoneMs = performance.now() - t0;
    if (sent >= 0 && written >= 0) worst = Math.max(worst, sent - written);
    if (written >= 0) {
      heaps.push([written, await heap()]);
      senderHeaps.push(await senderHeap());
      const m = browserPss(process.pid);
      pss.push(m.total);
      pssByType.push(m.byType);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const ms = performance.now() - t0;
  const d = await downloads.get(path.basename(file), 600_000);
  if (d.sha !== sha) throw new Error(`download differs: ${d.failure ?? d.sha}`);
  const hs = heaps.map(([, h]) => h);
  const mb = (/** @type {number} */ b) => (b / MiB).toFixed(1);
  const range = (/** @type {number[]} */ xs) => `${mb(Math.min(...xs))}–${mb(Math.max(...xs))} MiB`;
  console.log(
    `| ${MIB} MiB | ${storage}, ${RATE > 0 ? `sink ${(RATE / 1e6).toFixed(1)} MB/s` : 'unthrottled'} | transfer ${((MIB * MiB) / 1e6 / (ms / 1000)).toFixed(2)} MB/s | ` +
      `sender ahead ≤ ${mb(worst)} MiB (window ${mb(FLOW_WINDOW_BYTES)}) | receiver JS heap ${range(hs)}, sender JS heap ${range(senderHeaps)} | ` +
      `Chromium Pss (all processes) ${range(pss)} | ${heaps.length} samples |`,
  );
  for (const i of heaps.keys()) {
    if (i % Math.max(1, Math.floor(heaps.length / 8)) === 0) console.error(`  written ${mb(heaps[i][0])} MiB: receiver heap ${mb(heaps[i][1])} MiB, sender heap ${mb(senderHeaps[i])} MiB, Chromium Pss ${mb(pss[i])} MiB (${Object.entries(pssByType[i]).map(([k, v]) => `${k} ${mb(v)}`).join(', ')})`);
  }
  await p.close();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
