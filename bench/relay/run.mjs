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

import { spawn } from 'node:child_process';
import { openSync, writeSync, closeSync, mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.FERRY_BIN ?? path.join(root, 'target', 'release', 'ferry');
process.env.FERRY_BIN = bin;
const { startServer } = await import(path.join(root, 'e2e', 'lib', 'server.js'));

const MIB = Number(process.argv[2] ?? 1024);
const ROUNDS = Number(process.argv[3] ?? 2);

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-relay-bench-'));
const file = path.join(dir, `bench-${MIB}MiB.bin`);
const fd = openSync(file, 'w');
for (let left = MIB * 1024 * 1024; left > 0; left -= 8 * 1024 * 1024) writeSync(fd, randomBytes(Math.min(left, 8 * 1024 * 1024)));
closeSync(fd);

/** Runs `ferry args…` under /usr/bin/time -v; resolves with stdout lines and peak RSS (KiB). */
function timed(args, onLine) {
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
  const out = path.join(dir, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const common = ['--server', server.url, '--bind', '127.0.0.1:0', '--json', ...(relay ? ['--relay'] : [])];
  let gotCode;
  const code = new Promise((r) => (gotCode = r));
  const sender = timed(['send', file, ...common], (l) => {
    const v = JSON.parse(l);
    if (v.event === 'room') gotCode(v.code);
  });
  const receiver = timed(['receive', await code, '--out', out, '--yes', ...common]);
  const [s, r] = await Promise.all([sender, receiver]);
  const after = serverStats(server.proc.pid);
  await server.stop();
  const done = JSON.parse(r.lines.find((l) => JSON.parse(l).event === 'done') ?? 'null');
  if (!done || done.failed !== 0) throw new Error(`receiver did not verify: ${r.lines.join('\n')}`);
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
