// End-to-end flow control (docs/protocol.md §2 "Flow control"): a receiver whose disk is slower
// than the network slows the sender down instead of buffering. The receiving page writes through
// the `?test=1&sinkRate=` throttle (a slow disk in front of the real streamed download); both
// pages expose their transfers through the `?test=1` hooks, and the test samples the sender's
// sent bytes, then the receiver's written bytes, as the transfer runs. Sampled in that order,
// sent − written can only overstate the true gap, so it must never exceed the window — and with
// flow control off (`?flow=0`, a version-1 receiver) the same sampling sees the sender run ahead,
// so the check can fail. The receiving tab's JS heap (DevTools `Performance.getMetrics`,
// JSHeapUsedSize, after a forced GC) stays flat over the file. No wall-clock bound is asserted;
// the timeouts only catch hangs. 1 GiB figures: bench/flow-control.mjs, docs/benchmarks.md.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { launchBrowser, openPair, inState } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';
import { FLOW_WINDOW_BYTES } from '../../web/app/js/protocol/constants.js';

const MiB = 1024 * 1024;

/**
 * Bytes of the page's running transfer in `direction` (sent by the sender, written by the
 * receiver's sink), -1 when none runs; and whether it runs with flow control.
 * @param {import('playwright-core').Page} page @param {'outgoing' | 'incoming'} direction
 */
function transferBytes(page, direction) {
  return page.evaluate((dir) => {
    const hooks = /** @type {any} */ (window).__ferryTest;
    for (const link of hooks.links.values()) {
      for (const t of link.session?.[dir].values() ?? []) {
        if (t.state === 'active') return { bytes: t.bytesDone, flow: dir === 'outgoing' ? t.credit !== null : t.flow !== null };
      }
    }
    return { bytes: -1, flow: false };
  }, direction);
}

/** @param {import('playwright-core').CDPSession} cdp */
async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  return /** @type {number} */ (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value);
}

/**
 * Sends one file of `size` bytes from a to b (b's sink throttled to `rate` B/s) and samples the
 * gap between what a sent and what b wrote until the transfer ends; `atBytes` are points of b's
 * written bytes where b's heap is measured.
 * @param {string} queryB @param {number} size @param {number[]} atBytes
 */
async function slowSinkTransfer(queryB, size, atBytes) {
  const server = await startServer();
  const browser = await launchBrowser();
  const p = await openPair(browser, server.url, { queryA: '?test=1', queryB });
  const files = makeFiles({ 'slow-disk.bin': size });
  const cdp = await p.b.context.newCDPSession(p.b.page);
  await cdp.send('Performance.enable');
  /** @type {number[]} */
  const gaps = [];
  /** @type {number[]} */
  const heaps = [];
  let flow = { sender: false, receiver: false };
  try {
    const downloads = collectDownloads(p.b.page);
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    const done = inState(p.cardBA.getByTestId('transfer').first(), 'done');
    // Bounded: at most 20,000 samples (a sample takes a few ms), and the overall test timeout.
    for (let i = 0; i < 20_000; i++) {
      const sent = await transferBytes(p.a.page, 'outgoing');
      const written = await transferBytes(p.b.page, 'incoming');
      if (sent.bytes < 0 || written.bytes < 0) {
        if (written.bytes < 0 && (await done.count()) > 0) break;
        continue;
      }
      flow = { sender: sent.flow, receiver: written.flow };
      gaps.push(sent.bytes - written.bytes);
      if (heaps.length < atBytes.length && written.bytes >= atBytes[heaps.length]) heaps.push(await heapUsed(cdp));
    }
    await done.waitFor({ timeout: 300_000 });
    await inState(p.cardAB.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30_000 });
    const d = await downloads.get('slow-disk.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['slow-disk.bin'], 'byte for byte');
    return { gaps, heaps, flow };
  } finally {
    await cdp.detach().catch(() => {});
    await p.close();
    await browser.close();
    await server.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
}

test('a slow disk slows the sender: it never runs more than the window ahead, and the heap stays flat', { timeout: 420_000 }, async () => {
  const size = 128 * MiB;
  const { gaps, heaps, flow } = await slowSinkTransfer('?test=1&sinkRate=8000000', size, [16 * MiB, 64 * MiB, 120 * MiB]);
  assert.deepEqual(flow, { sender: true, receiver: true }, 'both pages run the transfer with flow control');
  assert.ok(gaps.length >= 20, `sampled the running transfer (${gaps.length} samples)`);
  const worst = Math.max(...gaps);
  console.error(`flow control: ${gaps.length} samples, sender ahead by at most ${(worst / MiB).toFixed(2)} MiB (window ${FLOW_WINDOW_BYTES / MiB} MiB); receiver heap ${heaps.map((h) => (h / MiB).toFixed(1)).join(' / ')} MiB at 16 / 64 / 120 MiB written`);
  assert.ok(worst <= FLOW_WINDOW_BYTES, `sender ahead by ${worst} bytes, window ${FLOW_WINDOW_BYTES}`);
  assert.equal(heaps.length, 3, 'heap measured at 16, 64 and 120 MiB');
  // Flat: what the heap holds does not grow with the file (8 MiB of slack for GC noise; the
  // window's frames are ArrayBuffers, mostly outside the JS heap anyway).
  assert.ok(heaps[2] - heaps[0] < 8 * MiB, `heap grew by ${heaps[2] - heaps[0]} bytes over 104 MiB`);
});

test('without flow control (a version-1 receiver, ?flow=0) the same sampling sees the sender run ahead', { timeout: 300_000 }, async () => {
  const { gaps, flow } = await slowSinkTransfer('?test=1&flow=0&sinkRate=8000000', 32 * MiB, []);
  assert.deepEqual(flow, { sender: false, receiver: false });
  const worst = Math.max(...gaps);
  console.error(`no flow control: sender ahead by up to ${(worst / MiB).toFixed(2)} MiB`);
  assert.ok(worst > FLOW_WINDOW_BYTES, `the check can fail: sender ahead by ${worst} bytes`);
});
