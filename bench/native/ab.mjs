// Two builds of `ferry` side by side: CLI → CLI throughput on loopback, rounds alternating A and B
// so that background load on a shared machine hits both alike. For judging a build setting or a
// code change by ratio rather than by absolute numbers from different runs.
//
//   node bench/native/ab.mjs <BIN_A> <BIN_B> [MIB=1024] [ROUNDS=3]
//
// Each round: a random MIB file, `send` → `receive` through a `ferry serve` of build A (the server
// only introduces the peers). Rate from the receiver's `--json` summary (accept to last file
// verified, SHA-256 on both sides, written to disk). Prints every round and the medians.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ferryTransfer, writeRandomFile } from '../lib/common.mjs';

const [binA, binB] = process.argv.slice(2, 4);
if (!binA || !binB) {
  console.error('usage: node bench/native/ab.mjs <BIN_A> <BIN_B> [MIB=1024] [ROUNDS=3]');
  process.exit(2);
}
const MIB = Number(process.argv[4] ?? 1024);
const ROUNDS = Number(process.argv[5] ?? 3);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.FERRY_BIN = binA;
const { startServer } = await import(path.join(root, 'e2e', 'lib', 'server.js'));

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-ab-bench-'));
const file = writeRandomFile(dir, MIB);
const server = await startServer();

/** @param {string} bin @returns {Promise<number>} MB/s */
async function once(bin) {
  const { done } = await ferryTransfer(bin, server.url, file, path.join(dir, 'out'));
  return done.bytes / 1e6 / done.seconds;
}

const median = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const a = [];
const b = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    a.push(await once(binA));
    b.push(await once(binB));
    console.error(`round ${i + 1}: A ${a.at(-1).toFixed(1)} MB/s, B ${b.at(-1).toFixed(1)} MB/s`);
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${MIB} MiB CLI→CLI, median of ${ROUNDS}: A ${median(a).toFixed(1)} MB/s, B ${median(b).toFixed(1)} MB/s, B/A ${(median(b) / median(a)).toFixed(2)}×`);
