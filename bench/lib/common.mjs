// Pieces the benchmark scripts share, so that every script measures the same way: the raw
// browser DataChannel baseline, the random input file, running `ferry` under /usr/bin/time, and
// one CLI → CLI transfer.

import { spawn } from 'node:child_process';
import { openSync, writeSync, closeSync, rmSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** Writes `mib` MiB of random bytes to `dir/bench-<mib>MiB.bin` and returns its path. */
export function writeRandomFile(/** @type {string} */ dir, /** @type {number} */ mib) {
  const file = path.join(dir, `bench-${mib}MiB.bin`);
  const fd = openSync(file, 'w');
  for (let left = mib * 1024 * 1024; left > 0; left -= 8 * 1024 * 1024) writeSync(fd, randomBytes(Math.min(left, 8 * 1024 * 1024)));
  closeSync(fd);
  return file;
}

/**
 * The raw baseline: two RTCPeerConnections in one page of `serverUrl`, one negotiated ordered
 * DataChannel, 256 KiB messages (16-byte header like ferry's frames), 4 MiB / 1 MiB buffer
 * marks, no app code. Resolves with the milliseconds `bytes` took.
 * @param {import('playwright-core').Browser} browser
 * @param {string} serverUrl
 * @param {number} bytes
 */
export async function rawDataChannelMs(browser, serverUrl, bytes) {
  const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await ctx.newPage();
  await page.goto(serverUrl);
  const ms = await page.evaluate(async (total) => {
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const da = a.createDataChannel('raw', { negotiated: true, id: 0, ordered: true });
    const db = b.createDataChannel('raw', { negotiated: true, id: 0, ordered: true });
    db.binaryType = 'arraybuffer';
    await a.setLocalDescription();
    await b.setRemoteDescription(/** @type {RTCSessionDescription} */ (a.localDescription));
    await b.setLocalDescription();
    await a.setRemoteDescription(/** @type {RTCSessionDescription} */ (b.localDescription));
    await new Promise((r) => (da.readyState === 'open' ? r(undefined) : (da.onopen = r)));
    const msgSize = Math.min(256 * 1024, a.sctp?.maxMessageSize || 65536);
    da.bufferedAmountLowThreshold = 1024 * 1024;
    let got = 0;
    const done = new Promise((r) => {
      db.onmessage = (e) => {
        got += e.data.byteLength - 16;
        if (got >= total) r(undefined);
      };
    });
    const t0 = performance.now();
    for (let sent = 0; sent < total; ) {
      const n = Math.min(msgSize - 16, total - sent);
      const frame = new Uint8Array(16 + n);
      if (da.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => (da.onbufferedamountlow = r));
      da.send(frame);
      sent += n;
    }
    await done;
    const ms = performance.now() - t0;
    a.close();
    b.close();
    return ms;
  }, bytes);
  await ctx.close();
  return ms;
}

/**
 * Runs `bin args…` under /usr/bin/time -v; resolves with stdout lines and peak RSS (KiB).
 * @param {string} bin
 * @param {string[]} args
 * @param {(line: string) => void} [onLine]
 * @returns {Promise<{lines: string[], rss: number}>}
 */
export function timedFerry(bin, args, onLine) {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/time', ['-v', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      const before = out.split('\n').length - 1;
      out += d;
      for (const l of out.split('\n').slice(before, -1)) onLine?.(l);
    });
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => {
      const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? NaN);
      if (code !== 0) return reject(new Error(`ferry ${args[0]} exited ${code}\n${err}`));
      resolve({ lines: out.split('\n').filter(Boolean), rss });
    });
  });
}

/**
 * One `ferry send FILE` → `ferry receive` on loopback through the server at `serverUrl`, both
 * under /usr/bin/time, into a fresh `out` folder. Resolves with both runs and the receiver's
 * verified `done` summary (rate = done.bytes / done.seconds).
 * @param {string} bin @param {string} serverUrl @param {string} file @param {string} out
 * @param {string[]} [extra] more arguments for both sides, e.g. ['--relay']
 */
export async function ferryTransfer(bin, serverUrl, file, out, extra = []) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const common = ['--server', serverUrl, '--bind', '127.0.0.1:0', '--json', ...extra];
  let gotCode = (/** @type {string} */ _c) => {};
  const code = new Promise((r) => (gotCode = r));
  const sender = timedFerry(bin, ['send', '--yes', file, ...common], (l) => {
    const v = JSON.parse(l);
    if (v.event === 'room') gotCode(v.code);
  });
  const receiver = timedFerry(bin, ['receive', await code, '--out', out, '--yes', ...common]);
  const [s, r] = await Promise.all([sender, receiver]);
  const done = JSON.parse(r.lines.find((l) => JSON.parse(l).event === 'done') ?? 'null');
  if (!done || done.failed !== 0) throw new Error(`receiver did not verify: ${r.lines.join('\n')}`);
  return { s, r, done };
}
