// End-to-end flow control (docs/protocol.md §2 "Flow control"): a receiver whose disk is slower
// than the network slows the sender down instead of buffering. The receiving page writes through
// the `?test=1&sinkRate=` throttle (a slow disk in front of the real sink: the OPFS, and the
// streamed download of the service worker), which
// the test can also stall (`holdSink()` / `releaseSink()`, a disk that stopped). Both pages
// expose their transfers through the `?test=1` hooks.
//
// 1. With the disk stalled, the sender stops at exactly the window (8 MiB) with no credit left,
//    while the receiver has written nothing; a version-1 receiver (`?flow=0`) lets the sender
//    send the whole file instead, so the check can fail.
// 2. Then the disk runs and the test samples the sender's sent bytes, then the receiver's
//    written bytes, until the end. Sampled in that order, sent − written can only overstate the
//    true gap, so it must never exceed the window. The receiving tab's JS heap (DevTools
//    `Performance.getMetrics`, JSHeapUsedSize, after a forced GC) stays flat over the file.
// No wall-clock bound is asserted; the timeouts only catch hangs. 1 GiB figures:
// bench/flow-control.mjs, docs/benchmarks.md.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { launchBrowser, openPair, inState } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { makeFiles, collectDownloads } from '../lib/transfer.js';
import { FLOW_WINDOW_BYTES } from '../../web/app/js/protocol/constants.js';

const MiB = 1024 * 1024;

/**
 * The page's running transfer in `direction`: bytes sent (sender) or written by the sink
 * (receiver), -1 when none runs; its credit left (sender) or flow state (receiver).
 * @param {import('playwright-core').Page} page @param {'outgoing' | 'incoming'} direction
 */
function transferState(page, direction) {
  return page.evaluate((dir) => {
    const hooks = /** @type {any} */ (window).__ferryTest;
    for (const link of hooks.links.values()) {
      for (const t of link.session?.[dir].values() ?? []) {
        if (t.state === 'active') return { bytes: t.bytesDone, credit: t.credit ?? null, flow: t.flow ?? null };
      }
    }
    return { bytes: -1, credit: null, flow: null };
  }, direction);
}

/**
 * Waits until the page's running transfer in `direction` has moved exactly `bytes`.
 * @param {import('playwright-core').Page} page @param {'outgoing' | 'incoming'} direction @param {number} bytes
 */
function movedExactly(page, direction, bytes) {
  return page.waitForFunction(
    ([dir, n]) => {
      const hooks = /** @type {any} */ (window).__ferryTest;
      for (const link of hooks.links.values()) for (const t of link.session?.[dir].values() ?? []) if (t.bytesDone === n) return true;
      return false;
    },
    /** @type {[string, number]} */ ([direction, bytes]),
    { timeout: 120_000 },
  );
}

/** @param {import('playwright-core').CDPSession} cdp */
async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  return /** @type {number} */ (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value);
}

/**
 * Two pages, b's sink throttled (`queryB`) and stalled; `body` runs with a started, accepted
 * transfer of one file of `size` bytes from a to b, then the test waits for it to finish and
 * checks the download byte for byte.
 * @param {string} queryB @param {number} size
 * @param {(p: Awaited<ReturnType<typeof openPair>>, cdp: import('playwright-core').CDPSession) => Promise<void>} body
 */
async function stalledDiskTransfer(queryB, size, body) {
  const server = await startServer();
  const browser = await launchBrowser();
  const p = await openPair(browser, server.url, { queryA: '?test=1', queryB });
  const files = makeFiles({ 'slow-disk.bin': size });
  const cdp = await p.b.context.newCDPSession(p.b.page);
  await cdp.send('Performance.enable');
  try {
    const downloads = collectDownloads(p.b.page);
    await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.holdSink());
    await p.cardAB.getByTestId('peer-send-files').setInputFiles(files.paths);
    await p.b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await body(p, cdp);
    await inState(p.cardBA.getByTestId('transfer').first(), 'done').waitFor({ timeout: 300_000 });
    await inState(p.cardAB.getByTestId('transfer').first(), 'done').waitFor({ timeout: 30_000 });
    const d = await downloads.get('slow-disk.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['slow-disk.bin'], 'byte for byte');
  } finally {
    await cdp.detach().catch(() => {});
    await p.close();
    await browser.close();
    await server.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
}

// Both sinks: the OPFS (the default) and the service worker's stream, whose own drain is what
// holds its writes back (STREAM_BUFFER_BYTES in storage/sinks.js).
for (const sink of ['opfs', 'stream']) {
  test(`a slow disk slows the sender: it never runs more than the window ahead, and the heap stays flat (received into ${sink})`, { timeout: 420_000 }, async () => {
    const size = 64 * MiB;
    /** @type {number[]} */
    const gaps = [];
    /** @type {number[]} */
    const heaps = [];
    const heapAt = [32 * MiB, 60 * MiB];
    await stalledDiskTransfer(`?test=1&sinkRate=16000000&sink=${sink}`, size, async (p, cdp) => {
      // The disk is stalled: the sender stops at exactly the window, out of credit.
      await movedExactly(p.a.page, 'outgoing', FLOW_WINDOW_BYTES);
      await p.b.page.waitForFunction((w) => {
        const hooks = /** @type {any} */ (window).__ferryTest;
        for (const link of hooks.links.values()) for (const t of link.session?.incoming.values() ?? []) if (t.flow?.received === w) return true;
        return false;
      }, FLOW_WINDOW_BYTES);
      const sender = await transferState(p.a.page, 'outgoing');
      const receiver = await transferState(p.b.page, 'incoming');
      assert.equal(sender.credit, 0, 'the sender has no credit left');
      assert.equal(receiver.bytes, 0, 'the receiver has written nothing');
      assert.deepEqual(receiver.flow, { window: FLOW_WINDOW_BYTES, granted: FLOW_WINDOW_BYTES, received: FLOW_WINDOW_BYTES, written: 0 });
      heaps.push(await heapUsed(cdp));
      await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.releaseSink());
      // The disk runs. Bounded: at most 20,000 samples, and the test's timeout.
      for (let i = 0; i < 20_000; i++) {
        const sent = await transferState(p.a.page, 'outgoing');
        const written = await transferState(p.b.page, 'incoming');
        if (written.bytes < 0) break; // the receiver is done
        if (sent.bytes < 0) continue; // the sender is done, the receiver still writes
        gaps.push(sent.bytes - written.bytes);
        if (heaps.length <= heapAt.length && written.bytes >= heapAt[heaps.length - 1]) heaps.push(await heapUsed(cdp));
      }
    });
    const worst = Math.max(...gaps);
    console.error(
      `flow control: ${gaps.length} samples, sender ahead by at most ${(worst / MiB).toFixed(2)} MiB (window ${FLOW_WINDOW_BYTES / MiB} MiB); ` +
        `receiver heap ${heaps.map((h) => (h / MiB).toFixed(1)).join(' / ')} MiB at 0 (stalled, window queued) / 32 / 60 MiB written (${sink})`,
    );
    assert.ok(gaps.length >= 10, `sampled the running transfer (${gaps.length} samples)`);
    assert.ok(worst <= FLOW_WINDOW_BYTES, `sender ahead by ${worst} bytes, window ${FLOW_WINDOW_BYTES}`);
    assert.equal(heaps.length, 3, 'heap measured with the window queued, at 32 and at 60 MiB written');
    // Flat: nothing the heap holds grows with the file (8 MiB of slack for GC noise).
    assert.ok(Math.max(...heaps) - Math.min(...heaps) < 8 * MiB, `heap ${heaps.join(', ')} bytes`);
  });
}

test('a version-1 receiver (?flow=0) lets the sender send the whole file while its disk is stalled', { timeout: 300_000 }, async () => {
  const size = 24 * MiB;
  await stalledDiskTransfer('?test=1&flow=0&sinkRate=16000000', size, async (p) => {
    await movedExactly(p.a.page, 'outgoing', size);
    const sender = await transferState(p.a.page, 'outgoing');
    const receiver = await transferState(p.b.page, 'incoming');
    assert.equal(sender.credit, null, 'accepted without credit');
    assert.equal(receiver.flow, null);
    assert.equal(receiver.bytes, 0, 'the receiver has written nothing, the sender sent it all');
    await p.b.page.evaluate(() => /** @type {any} */ (window).__ferryTest.releaseSink());
  });
});
