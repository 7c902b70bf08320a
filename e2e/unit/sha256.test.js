// The hand-written incremental SHA-256 against node:crypto, with every split of the input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Sha256 } from '../../web/app/js/hash/sha256.js';

const ref = (/** @type {Uint8Array} */ b) => createHash('sha256').update(b).digest('hex');

test('known answers', () => {
  assert.equal(new Sha256().hex(), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(new Sha256().update(new TextEncoder().encode('test')).hex(), '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
});

test('every length around block boundaries, fed in uneven pieces', () => {
  for (let len = 0; len < 300; len++) {
    const data = randomBytes(len);
    const s = new Sha256();
    for (let i = 0; i < len; ) {
      const n = 1 + ((i * 7 + len) % 37);
      s.update(data.subarray(i, i + n));
      i += n;
    }
    assert.equal(s.hex(), ref(data), `length ${len}`);
  }
});

test('a few MiB in frame-sized pieces, and throughput', () => {
  const data = randomBytes(8 * 1024 * 1024 + 13);
  const t0 = performance.now();
  const s = new Sha256();
  for (let i = 0; i < data.length; i += 262_128) s.update(data.subarray(i, i + 262_128));
  const hex = s.hex();
  const ms = performance.now() - t0;
  assert.equal(hex, ref(data));
  console.log(`# sha256.js: ${((data.length / 1e6) / (ms / 1000)).toFixed(0)} MB/s`);
});
