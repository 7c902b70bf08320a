// End-to-end flow control into the native peer (docs/protocol.md "Flow control"): the browser
// sends to `ferry receive` whose disk is slow (`FERRY_TEST_DISK_RATE`, each write of the CLI's
// writer thread waits len / rate first). The sender must follow the disk, not the network: at
// every sample, what the browser has sent is at most the flow-control window (8 MiB) ahead of
// what the CLI has on disk (its `.ferry-part`), so nothing on the way, in the page, the
// DataChannel or the CLI, holds more than that. The CLI's memory stays flat meanwhile, and the
// file arrives byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { runFerry } from '../lib/cli.js';
import { openApp, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, sha256File, tempDir } from '../lib/transfer.js';

const MiB = 1024 * 1024;
const WINDOW = 8 * MiB;
const env = useServerAndBrowser();

/** @param {number} pid resident set size in bytes, or 0 once the process is gone */
function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

test('a browser sending to ferry receive with a slow disk follows the disk: never more than the window ahead of it', { timeout: 300_000 }, async () => {
  const size = 24 * MiB;
  const rate = 3_000_000;
  const files = makeFiles({ 'to-a-slow-disk.bin': size });
  const a = await openApp(env.browser, `${env.server.url}/?test=1`);
  try {
    await a.page.getByTestId('create-room').click();
    const code = ((await a.page.getByTestId('room-code').textContent()) ?? '').trim();
    const out = tempDir('ferry-e2e-slow-disk-');
    const cli = runFerry(['receive', code.toLowerCase(), '--out', out, '--yes'], env.server.url, { FERRY_TEST_DISK_RATE: String(rate) });
    const welcome = await cli.event('welcome');
    await peerCard(a.page, welcome.name).getByTestId('peer-send-files').setInputFiles(files.paths);
    // The .ferry-part while it arrives; the file itself once verified and renamed.
    const onDisk = () => {
      const name = readdirSync(out).find((n) => n.endsWith('.ferry-part')) ?? readdirSync(out).find((n) => n === 'to-a-slow-disk.bin');
      return name ? statSync(path.join(out, name)).size : 0;
    };
    const sent = () =>
      a.page.evaluate(() => {
        let n = 0;
        for (const link of /** @type {any} */ (window).__ferryTest.links.values()) for (const t of link.session?.outgoing.values() ?? []) n = Math.max(n, t.bytesDone);
        return n;
      });
    /** @type {{t: number, sent: number, disk: number}[]} */
    const samples = [];
    let maxAhead = 0;
    let maxRss = 0;
    const t0 = Date.now();
    // Bounded: at 3 MB/s the file takes ~8 s; 3 min covers a very slow machine.
    while (Date.now() - t0 < 180_000) {
      // Sent first, then the disk: the disk only grows, so this order never overstates the lead.
      const s = await sent();
      const d = onDisk();
      maxRss = Math.max(maxRss, rss(/** @type {number} */ (cli.proc.pid)));
      samples.push({ t: Date.now(), sent: s, disk: d });
      maxAhead = Math.max(maxAhead, s - d);
      if (d >= size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The middle of the transfer (a quarter to three quarters sent): the sender's own rate.
    const mid = samples.filter((x) => x.sent >= size / 4 && x.sent <= (3 * size) / 4);
    const first = mid[0];
    const last = mid[mid.length - 1];
    const sendRate = mid.length >= 2 ? (last.sent - first.sent) / ((last.t - first.t) / 1000) : NaN;
    console.error(
      `slow disk at ${(rate / 1e6).toFixed(1)} MB/s: the browser sent at ${(sendRate / 1e6).toFixed(2)} MB/s mid-transfer, at most ${(maxAhead / MiB).toFixed(1)} MiB ahead of the disk (window ${WINDOW / MiB} MiB), ferry receive's RSS at most ${(maxRss / MiB).toFixed(0)} MiB, ${samples.length} samples`,
    );
    assert.ok(maxAhead <= WINDOW + MiB, `the sender stays within the window of what is on disk: ${maxAhead} bytes ahead`);
    // A sender that ignored the disk would run at the DataChannel's speed (tens of MB/s here).
    assert.ok(mid.length >= 2 && sendRate <= 2 * rate, `the sender's rate follows the disk: ${sendRate} B/s against ${rate} (${mid.length} samples mid-transfer)`);
    assert.ok(maxRss < 64 * MiB, `ferry receive's memory stays flat: ${maxRss} bytes`);
    const done = await cli.event('done', 120_000);
    assert.equal(done.failed, 0);
    assert.equal(await cli.exit(), 0, cli.stderr());
    assert.deepEqual(readdirSync(out), ['to-a-slow-disk.bin']);
    assert.equal(await sha256File(path.join(out, 'to-a-slow-disk.bin')), files.sha['to-a-slow-disk.bin'], 'byte for byte');
  } finally {
    await a.context.close();
  }
});
