// CLI → CLI through the WebSocket relay (`--relay` on both sides, end-to-end encrypted), next to
// the same transfer over WebRTC (direct on loopback), in one run; release build, real `ferry serve`.
//
//   cargo build --release -p ferry && (cd e2e && npm ci)
//   node bench/relay/run.mjs [MIB=1024] [ROUNDS=2]
//
// Rate = bytes / time from the receiver's `--json` summary (accept to last file verified: SHA-256
// on both sides, written to disk). Peak RSS of sender and receiver from /usr/bin/time -v; the
// server's peak RSS (VmHWM) and CPU time from /proc, per round (a fresh server for each round).
// Rounds alternate relay and webrtc so background load hits both alike; medians are reported.

import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ferryTransfer, writeRandomFile } from '../lib/common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.FERRY_BIN ?? path.join(root, 'target', 'release', 'ferry');
process.env.FERRY_BIN = bin;
const { startServer } = await import(path.join(root, 'e2e', 'lib', 'server.js'));

const MIB = Number(process.argv[2] ?? 1024);
const ROUNDS = Number(process.argv[3] ?? 2);

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-relay-bench-'));
const file = writeRandomFile(dir, MIB);

/** @param {number} pid */
function serverStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime
  return { hwmKiB: hwm, cpuS: ticks / 100 };
}

/** @param {boolean} relay */
async function round(relay) {
  const server = await startServer(['--no-turn']);
  const before = serverStats(server.proc.pid);
  const { s, r, done } = await ferryTransfer(bin, server.url, file, path.join(dir, 'out'), relay ? ['--relay'] : []);
  const after = serverStats(server.proc.pid);
  await server.stop();
  return {
    mbps: done.bytes / 1e6 / done.seconds,
    path: done.path,
    sendRss: s.rss,
    recvRss: r.rss,
    serverHwm: after.hwmKiB,
    serverCpuPerGB: (after.cpuS - before.cpuS) / (done.bytes / 1e9),
  };
}

const median = (/** @type {number[]} */ xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const mib = (/** @type {number} */ kib) => `${Math.round(kib / 1024)} MiB`;
/** @type {Record<string, Awaited<ReturnType<typeof round>>[]>} */
const runs = { relay: [], webrtc: [] };
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const relay of [true, false]) {
      const r = await round(relay);
      runs[relay ? 'relay' : 'webrtc'].push(r);
      console.error(`${relay ? 'relay ' : 'webrtc'} round ${i + 1}: ${r.mbps.toFixed(1)} MB/s (path ${r.path}), RSS send ${mib(r.sendRss)} / recv ${mib(r.recvRss)} / server ${mib(r.serverHwm)}, server CPU ${r.serverCpuPerGB.toFixed(2)} s/GB`);
    }
  }
  const m = (/** @type {string} */ k, /** @type {(r: any) => number} */ f) => median(runs[k].map(f));
  const relayRate = m('relay', (r) => r.mbps);
  const rtcRate = m('webrtc', (r) => r.mbps);
  console.log(`| ${MIB} MiB | ${relayRate.toFixed(1)} MB/s | ${rtcRate.toFixed(1)} MB/s | ${(relayRate / rtcRate).toFixed(2)}× | ${mib(m('relay', (r) => r.sendRss))} / ${mib(m('relay', (r) => r.recvRss))} / ${mib(m('relay', (r) => r.serverHwm))} | ${m('relay', (r) => r.serverCpuPerGB).toFixed(2)} s/GB | relay ${runs.relay.map((r) => r.mbps.toFixed(1)).join(', ')}; webrtc ${runs.webrtc.map((r) => r.mbps.toFixed(1)).join(', ')} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
