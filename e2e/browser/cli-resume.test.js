// Resume between the web app and the native peer when the native side dies mid-file and is run
// again (docs/protocol.md "Checking a kept prefix"): `ferry send` killed at about half a file and
// started again, the browser (keeping what arrives in its OPFS, the default) joins its new room and accepts, and only the rest
// crosses; the browser sending to `ferry receive`, which is killed at about half and run again
// on the same code: it comes back as the same peer (crates/ferry-cli/src/kept_identity.rs), the
// browser drops the dead connection at the new process's offer (rtc/peer-link.js) and sends the
// rest again by itself (transfer/resend.js), and the CLI resumes from its `.ferry-part`. Both
// byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { runFerry } from '../lib/cli.js';
import { inState, openApp, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, collectDownloads, receivedAtLeast, resumedCounts, sha256File, tempDir } from '../lib/transfer.js';

const MiB = 1024 * 1024;
const env = useServerAndBrowser();

/** @param {string[]} args */
const ferry = (args) => runFerry(args, env.server.url);

/** @param {ReturnType<typeof runFerry>} cli */
async function kill(cli) {
  const exited = cli.exit();
  cli.proc.kill('SIGKILL');
  await exited;
}

test('ferry send killed at half a file and run again: the browser resumes from what it kept', { timeout: 300_000 }, async () => {
  const size = 48 * MiB;
  const files = makeFiles({ 'cli-restart.bin': size });
  const first = ferry(['send', '--yes', ...files.paths]);
  const room = await first.event('room');
  const b = await openApp(env.browser, `${room.link}&test=1&sinkRate=8000000`);
  try {
    const downloads = collectDownloads(b.page);
    await b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await receivedAtLeast(b.page, size / 2);
    await kill(first);
    await inState(b.page.getByTestId('transfer').first(), 'failed').waitFor({ timeout: 60_000 });

    // Run again: a new room; the browser joins it by its code.
    const second = ferry(['send', '--yes', ...files.paths]);
    const room2 = await second.event('room');
    const welcome = await second.event('welcome');
    await b.page.getByTestId('join-code-input').fill(room2.code);
    await b.page.getByTestId('join-code-submit').click();
    const dialog = b.page.getByTestId('offer-dialog');
    const note = await dialog.getByTestId('offer-resumable').textContent({ timeout: 60_000 });
    assert.match(note ?? '', /MB of this arrived before and was kept/);
    await dialog.getByTestId('offer-accept').click();
    const { session, file } = await resumedCounts(b.page, peerCard(b.page, welcome.name).getByTestId('transfer').first());
    const prefix = file - session;
    console.error(`ferry send restarted: ${(prefix / MiB).toFixed(1)} MiB kept, ${((size - prefix) / MiB).toFixed(1)} MiB of ${size / MiB} MiB sent again`);
    assert.ok(prefix >= size / 2, `resumed from the kept half or more: ${prefix} bytes`);
    assert.equal(await second.exit(), 0, second.stderr());
    const d = await downloads.get('cli-restart.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['cli-restart.bin'], 'byte for byte');
  } finally {
    await b.context.close();
  }
});

test('ferry receive killed at half a file and run again on the same code: the browser sends the rest again by itself, and it resumes from its .ferry-part', { timeout: 300_000 }, async () => {
  // Small: the debug-build receiver takes ~1 MB/s from a browser on a loaded 2-core machine.
  const size = 32 * MiB;
  const files = makeFiles({ 'to-the-cli.bin': size });
  const a = await openApp(env.browser, `${env.server.url}/?test=1`);
  try {
    await a.page.getByTestId('create-room').click();
    const code = ((await a.page.getByTestId('room-code').textContent()) ?? '').trim();
    const out = tempDir('ferry-e2e-cli-resume-');
    const first = ferry(['receive', code.toLowerCase(), '--out', out, '--yes']);
    const w1 = await first.event('welcome');
    await peerCard(a.page, w1.name).getByTestId('peer-send-files').setInputFiles(files.paths);
    // About half on the receiver's disk (its .ferry-part grows as frames arrive): kill it.
    const partSize = () => {
      const part = readdirSync(out).find((n) => n.endsWith('.ferry-part'));
      return part ? statSync(path.join(out, part)).size : 0;
    };
    for (let i = 0; i < 12_000 && partSize() < size / 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(partSize() >= size / 2, `the .ferry-part reached half: ${partSize()} bytes`);
    await kill(first);
    const kept = partSize();

    // Run again on the same code it comes back as the same peer (its kept token), and the
    // browser sends the rest again by itself: nobody picks the file again.
    const second = ferry(['receive', code.toLowerCase(), '--out', out, '--yes']);
    const w2 = await second.event('welcome');
    assert.equal(w2.id, w1.id, 'the same peer id as before the kill');
    // The cut-short row stays (failed, "the rest was sent again"); the resent one is new, and
    // as its session is new too it may carry the same transfer id.
    const card = peerCard(a.page, w2.name);
    const cut = inState(card.getByTestId('transfer'), 'failed').first();
    await inState(cut.getByTestId('transfer-resend'), 'offered').waitFor({ timeout: 60_000 });
    const resent = card.locator('[data-testid="transfer"]:not([data-state="failed"])').first();
    const { session, file } = await resumedCounts(a.page, resent, 'outgoing');
    const prefix = file - session;
    console.error(`ferry receive restarted: ${(kept / MiB).toFixed(1)} MiB on disk at the kill, resumed from ${(prefix / MiB).toFixed(1)} MiB, ${((size - prefix) / MiB).toFixed(1)} MiB of ${size / MiB} MiB sent again`);
    assert.ok(prefix >= size / 2, `resumed from the kept half or more: ${prefix} bytes`);
    // The receiver's own account: it offered exactly what it had kept, and the sender took it.
    assert.match(second.stderr(), new RegExp(`resuming to-the-cli\\.bin from ${kept} bytes`), second.stderr());
    assert.equal(prefix, kept, 'resumed from exactly the kept prefix');
    const done = await second.event('done');
    assert.equal(done.failed, 0);
    assert.equal(await second.exit(), 0, second.stderr());
    assert.deepEqual(readdirSync(out), ['to-the-cli.bin'], 'the .ferry-part became the file');
    assert.equal(await sha256File(path.join(out, 'to-the-cli.bin')), files.sha['to-the-cli.bin'], 'byte for byte');
  } finally {
    await a.context.close();
  }
});

test('the browser sending to ferry receive reloads at half a file: ferry receive waits, and the file picked again resumes from its .ferry-part', { timeout: 300_000 }, async () => {
  const size = 32 * MiB;
  const files = makeFiles({ 'after-a-reload.bin': size });
  const a = await openApp(env.browser, `${env.server.url}/?test=1`);
  try {
    await a.page.getByTestId('create-room').click();
    const code = ((await a.page.getByTestId('room-code').textContent()) ?? '').trim();
    const out = tempDir('ferry-e2e-cli-wait-');
    // A slow disk (4 MB/s) keeps the transfer running while the tab reloads.
    const cli = runFerry(['receive', code.toLowerCase(), '--out', out, '--yes'], env.server.url, { FERRY_TEST_DISK_RATE: '4000000' });
    const w = await cli.event('welcome');
    await peerCard(a.page, w.name).getByTestId('peer-send-files').setInputFiles(files.paths);
    const partSize = () => {
      const part = readdirSync(out).find((n) => n.endsWith('.ferry-part'));
      return part ? statSync(path.join(out, part)).size : 0;
    };
    for (let i = 0; i < 12_000 && partSize() < size / 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(partSize() >= size / 2, `the .ferry-part reached half: ${partSize()} bytes`);
    // The sender's tab reloads (back into the room by its link): its connection ends, the CLI stays.
    await a.page.goto(`${env.server.url}/?test=1&room=${code}`);
    await cli.event('reconnecting', 60_000);
    assert.match(cli.stderr(), /The connection to the sender was lost; what arrived is kept\. Waiting up to 10 min/);
    const kept = partSize();
    assert.ok(kept >= size / 2 && kept < size, `kept half or more, not all: ${kept} bytes`);
    // The reloaded page has no File any more: the user picks it again.
    await peerCard(a.page, w.name).getByTestId('peer-send-files').setInputFiles(files.paths);
    const { session, file } = await resumedCounts(a.page, peerCard(a.page, w.name).getByTestId('transfer').first(), 'outgoing');
    const prefix = file - session;
    console.error(`sender reloaded: ${(kept / MiB).toFixed(1)} MiB in the .ferry-part, resumed from ${(prefix / MiB).toFixed(1)} MiB, ${((size - prefix) / MiB).toFixed(1)} MiB of ${size / MiB} MiB sent again`);
    assert.match(cli.stderr(), new RegExp(`resuming after-a-reload\\.bin from ${kept} bytes`), cli.stderr());
    assert.equal(prefix, kept, 'resumed from exactly the kept prefix');
    const done = await cli.event('done', 120_000);
    assert.equal(done.failed, 0);
    assert.equal(await cli.exit(), 0, cli.stderr());
    assert.deepEqual(readdirSync(out), ['after-a-reload.bin'], 'the .ferry-part became the file');
    assert.equal(await sha256File(path.join(out, 'after-a-reload.bin')), files.sha['after-a-reload.bin'], 'byte for byte');
  } finally {
    await a.context.close();
  }
});

test('ferry send → a browser that reloads at half a file: ferry send waits, offers the file again, and the browser resumes from what it kept', { timeout: 300_000 }, async () => {
  const size = 48 * MiB;
  const files = makeFiles({ 'to-a-reloading-tab.bin': size });
  const cli = ferry(['send', '--yes', ...files.paths]);
  const room = await cli.event('room');
  const welcome = await cli.event('welcome');
  const b = await openApp(env.browser, `${room.link}&test=1&sinkRate=8000000`);
  try {
    const downloads = collectDownloads(b.page);
    await b.page.getByTestId('offer-dialog').getByTestId('offer-accept').click();
    await receivedAtLeast(b.page, size / 2);
    // The receiving tab reloads (its link brings it back into the room): ferry send waits.
    await b.page.reload();
    const lost = await cli.event('connection-lost', 60_000);
    assert.equal(lost.waitSeconds, 600);
    await cli.event('reconnecting', 60_000);
    // Offered again by itself; the dialog says what is kept, and the accept resumes from it.
    const dialog = b.page.getByTestId('offer-dialog');
    const note = await dialog.getByTestId('offer-resumable').textContent({ timeout: 60_000 });
    assert.match(note ?? '', /MB of this arrived before and was kept/);
    await dialog.getByTestId('offer-accept').click();
    const { session, file } = await resumedCounts(b.page, peerCard(b.page, welcome.name).getByTestId('transfer').first());
    const prefix = file - session;
    console.error(`receiving tab reloaded: ${(prefix / MiB).toFixed(1)} MiB kept, ${((size - prefix) / MiB).toFixed(1)} MiB of ${size / MiB} MiB sent again`);
    assert.ok(prefix >= size / 2, `resumed from the kept half or more: ${prefix} bytes`);
    assert.equal(await cli.exit(), 0, cli.stderr());
    assert.match(cli.stderr(), /The connection to the receiver was lost\. Waiting up to 10 min/);
    const d = await downloads.get('to-a-reloading-tab.bin');
    assert.equal(d.failure, null);
    assert.equal(d.sha, files.sha['to-a-reloading-tab.bin'], 'byte for byte');
  } finally {
    await b.context.close();
  }
});
