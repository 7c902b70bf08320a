#!/usr/bin/env node
// Throughput of the browser's relay encryption (web/app/js/relay/relay-crypto.js) with each
// primitives implementation: WebCrypto (secure contexts) and the noble fallback (plain-http
// pages). Seals and opens 256 KiB frames, as the relay pipe does, in node's V8 (Chromium's engine).
// Results in docs/benchmarks.md ("Relay encryption in the browser").
//
//   node bench/relay-crypto/run.mjs [MiB per run] [runs]

import { agree, generateRelayKeys } from '../../web/app/js/relay/relay-crypto.js';
import { webCryptoPrimitives } from '../../web/app/js/relay/relay-crypto-webcrypto.js';
import { noblePrimitives } from '../../web/app/js/relay/relay-crypto-noble.js';

const mib = Number(process.argv[2] ?? 64);
const runs = Number(process.argv[3] ?? 3);
const FRAME = 256 * 1024;
const frame = new Uint8Array(FRAME).map((_, i) => i & 0xff);

for (const p of [webCryptoPrimitives, noblePrimitives]) {
  const t0 = performance.now();
  const a = await generateRelayKeys(p);
  const b = await generateRelayKeys(p);
  const sa = await agree(a, 'bench', 'a', 'b', b.publicKey);
  const sb = await agree(b, 'bench', 'b', 'a', a.publicKey);
  const setupMs = performance.now() - t0;
  /** @type {{seal: number[], open: number[]}} */
  const rates = { seal: [], open: [] };
  const frames = (mib * 1024 * 1024) / FRAME;
  for (let r = 0; r < runs; r++) {
    // Each side does one half: the sender seals, the receiver opens.
    let start = performance.now();
    const sealed = [];
    for (let i = 0; i < frames; i++) sealed.push(await sa.seal(frame));
    rates.seal.push((mib * 1024 * 1024) / 1e6 / ((performance.now() - start) / 1000));
    start = performance.now();
    for (const f of sealed) await sb.open(f);
    rates.open.push((mib * 1024 * 1024) / 1e6 / ((performance.now() - start) / 1000));
  }
  const median = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)].toFixed(1);
  const list = (/** @type {number[]} */ xs) => xs.map((x) => x.toFixed(1)).join(', ');
  console.log(
    `${p.name.padEnd(9)} key setup ${setupMs.toFixed(1)} ms; seal ${median(rates.seal)} MB/s (${list(rates.seal)}), open ${median(rates.open)} MB/s (${list(rates.open)}), medians of ${runs}`,
  );
}
