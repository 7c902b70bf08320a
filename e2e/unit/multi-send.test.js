// Send to several, without a browser: one set of files offered through three engines over
// in-memory pipes (one per receiver), folded into one `ReceiverSend` row each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { TransferSession, splitOffer } from '../../web/app/js/transfer/engine.js';
import { memoryPipePair } from '../../web/app/js/transfer/memory-pipe.js';
import { inlineHasher } from '../../web/app/js/hash/hasher.js';
import { MAX_FRAME_BYTES } from '../../web/app/js/protocol/constants.js';
import { sendToMany } from '../../web/app/js/transfer/multi-send.js';

const sha = (/** @type {Uint8Array} */ b) => createHash('sha256').update(b).digest('hex');

/**
 * A real Blob the engines may only read in slices: reading it whole throws, and the largest
 * slice read is recorded. This is how the sender's memory stays flat with many receivers.
 * @param {Uint8Array} data
 */
function sliceOnlyBlob(data) {
  const blob = new Blob([data]);
  const stats = { largestRead: 0, slices: 0 };
  const whole = () => {
    throw new Error('read the whole file');
  };
  const wrapped = {
    size: blob.size,
    type: '',
    /** @param {number} [a] @param {number} [b] */
    slice(a, b) {
      const s = blob.slice(a, b);
      stats.slices += 1;
      stats.largestRead = Math.max(stats.largestRead, s.size);
      return s;
    },
    arrayBuffer: whole,
    stream: whole,
    text: whole,
    bytes: whole,
  };
  return { blob: /** @type {Blob} */ (/** @type {unknown} */ (wrapped)), stats };
}

function receiverPair() {
  const [ps, pr] = memoryPipePair();
  const sender = new TransferSession(ps, { hasherFactory: inlineHasher, highWaterMark: 1024 * 1024 });
  const receiver = new TransferSession(pr, { hasherFactory: inlineHasher, highWaterMark: 1024 * 1024 });
  sender.start();
  receiver.start();
  return { sender, receiver, pr };
}

/** Resolves when `rs` is finished. @param {import('../../web/app/js/transfer/multi-send.js').ReceiverSend} rs */
function finished(rs, ms = 20_000) {
  return new Promise((resolve, reject) => {
    if (rs.finished) return resolve(rs);
    const t = setTimeout(() => reject(new Error(`${rs.peer.name} still ${rs.state}`)), ms);
    rs.addEventListener('update', () => {
      if (rs.finished) {
        clearTimeout(t);
        resolve(rs);
      }
    });
  });
}

test('three receivers: one accepts, one declines, one is cut off; each row has its own ending', async () => {
  const contents = [randomBytes(1), randomBytes(2 * 1024 * 1024 + 5), randomBytes(700_001)];
  const wrapped = contents.map(sliceOnlyBlob);
  const items = wrapped.map((w, i) => ({ blob: w.blob, path: `f${i}.bin` }));
  const pairs = [receiverPair(), receiverPair(), receiverPair()];
  /** @type {Map<string, Uint8Array[]>} */
  const got = new Map();
  pairs[0].receiver.addEventListener('offer', (e) =>
    /** @type {any} */ (e).detail.accept((/** @type {any} */ f) => {
      const chunks = /** @type {Uint8Array[]} */ ([]);
      got.set(f.path, chunks);
      return { write: (/** @type {Uint8Array} */ b) => void chunks.push(b.slice()), close: async () => {}, abort: () => {} };
    }),
  );
  pairs[1].receiver.addEventListener('offer', (e) => /** @type {any} */ (e).detail.decline());
  // The third accepts, and its pipe closes after the first megabyte: it vanished.
  pairs[2].receiver.addEventListener('offer', (e) => {
    let n = 0;
    /** @type {any} */ (e).detail.accept(() => ({
      write: (/** @type {Uint8Array} */ b) => {
        n += b.byteLength;
        if (n > 1024 * 1024) pairs[2].pr.close();
      },
      close: async () => {},
      abort: () => {},
    }));
  });
  const sends = sendToMany(
    pairs.map((p, i) => ({ peer: { id: `p${i}`, name: `Peer ${i}` }, offer: async (/** @type {any[]} */ its) => splitOffer(its).map((part) => p.sender.sendFiles(part)) })),
    items,
  );
  await Promise.all(sends.map((s) => finished(s)));
  assert.deepEqual(sends.map((s) => s.state), ['done', 'declined', 'failed']);
  assert.deepEqual(sends[0].verification, { verified: 3, mismatch: 0, total: 3 });
  contents.forEach((c, i) => assert.equal(sha(Buffer.concat(got.get(`f${i}.bin`) ?? [])), sha(c), `f${i}.bin byte for byte`));
  assert.equal(sends[0].bytes, sends[0].totalSize);
  assert.ok(sends[2].reason, 'the cut-off row says why');
  for (const w of wrapped) assert.ok(w.stats.largestRead <= MAX_FRAME_BYTES, `read in slices (largest ${w.stats.largestRead} B)`);
});

test('a selection split into several offers: one part declined cancels the rest of that receiver only', async () => {
  const [declining, accepting] = [receiverPair(), receiverPair()];
  // Two offers per receiver (split by hand, as splitOffer does for big selections).
  const items = [0, 1, 2, 3].map((i) => ({ blob: new Blob([randomBytes(100_000)]), path: `part${i}.bin` }));
  let offers = 0;
  declining.receiver.addEventListener('offer', (e) => {
    const tr = /** @type {any} */ (e).detail;
    if (offers++ === 0) tr.decline();
  });
  accepting.receiver.addEventListener('offer', (e) =>
    /** @type {any} */ (e).detail.accept(() => ({ write: () => {}, close: async () => {}, abort: () => {} })),
  );
  const twoOffers = (/** @type {TransferSession} */ s) => async (/** @type {any[]} */ its) => [s.sendFiles(its.slice(0, 2)), s.sendFiles(its.slice(2))];
  const sends = sendToMany(
    [
      { peer: { id: 'd', name: 'Declining' }, offer: twoOffers(declining.sender) },
      { peer: { id: 'a', name: 'Accepting' }, offer: twoOffers(accepting.sender) },
    ],
    items,
  );
  await Promise.all(sends.map((s) => finished(s)));
  assert.equal(sends[0].state, 'declined');
  assert.ok(sends[0].transfers.every((t) => t.finished), 'the second part did not go on alone');
  assert.equal(sends[1].state, 'done');
  assert.deepEqual(sends[1].verification, { verified: 4, mismatch: 0, total: 4 });
});

test('cancel on one row stops only that receiver', async () => {
  const pairs = [receiverPair(), receiverPair()];
  const items = [{ blob: new Blob([randomBytes(3 * 1024 * 1024)]), path: 'big.bin' }];
  for (const p of pairs) {
    p.receiver.addEventListener('offer', (e) =>
      /** @type {any} */ (e).detail.accept(() => ({ write: () => {}, close: async () => {}, abort: () => {} })),
    );
  }
  const sends = sendToMany(
    pairs.map((p, i) => ({ peer: { id: `p${i}`, name: `P${i}` }, offer: async (/** @type {any[]} */ its) => [p.sender.sendFiles(its)] })),
    items,
  );
  sends[0].cancel();
  await Promise.all(sends.map((s) => finished(s)));
  assert.equal(sends[0].state, 'cancelled');
  assert.equal(sends[1].state, 'done');
});
