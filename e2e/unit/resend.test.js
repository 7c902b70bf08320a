// Sends cut short by a lost connection (web/app/js/transfer/resend.js), between real transfer
// engines on in-memory pipes: the files not yet verified are offered again on the link's next
// session, nothing else is, and a selection is resent a bounded number of times.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resender, MAX_RESENDS } from '../../web/app/js/transfer/resend.js';
import { TransferSession } from '../../web/app/js/transfer/engine.js';
import { memoryPipePair } from '../../web/app/js/transfer/memory-pipe.js';
import { inlineHasher } from '../../web/app/js/hash/hasher.js';

/** A PeerLink as far as the Resender sees it: its sessions, one after the other. */
function fakeLink() {
  const link = Object.assign(new EventTarget(), {
    opts: { peerId: 'B' },
    /** @type {TransferSession | null} */
    session: null,
    connects: 0,
    async connect() {
      link.connects += 1;
      return /** @type {any} */ (null);
    },
  });
  return link;
}

/** A new connection of the link: sender side `a`, receiver side `b`. @param {ReturnType<typeof fakeLink>} link */
function connect(link) {
  const [pa, pb] = memoryPipePair();
  const a = new TransferSession(pa, { hasherFactory: inlineHasher });
  const b = new TransferSession(pb, { hasherFactory: inlineHasher });
  link.session = a;
  link.dispatchEvent(new CustomEvent('session', { detail: a }));
  a.start();
  b.start();
  return { a, b };
}

/** @param {EventTarget} target @param {string} type @returns {Promise<any>} */
const next = (target, type) => new Promise((resolve) => target.addEventListener(type, (e) => resolve(/** @type {CustomEvent} */ (e).detail), { once: true }));

/** @param {() => boolean} pred @param {string} what */
async function until(pred, what) {
  for (let i = 0; i < 6000 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(pred(), `timed out waiting for ${what}`);
}

/** A sink that takes the first file whole and never finishes writing the second (a connection that drops mid-file). */
function stallOnSecond() {
  return (/** @type {any} */ _file, /** @type {number} */ index) => ({
    write: () => (index === 0 ? undefined : new Promise(() => {})),
    close: async () => {},
    abort: () => {},
  });
}

/** A sink whose writes never finish. */
const stallAll = () => ({ write: () => new Promise(() => {}), close: async () => {}, abort: () => {} });

test('the files a lost connection cut short are offered again on the next session, and only those', async () => {
  let present = true;
  const resender = new Resender({ isPresent: () => present });
  const link = fakeLink();
  resender.attach(/** @type {any} */ (link));
  const first = connect(link);
  const offered = next(first.b, 'offer');
  const [tr] = first.a.sendSelection([
    { blob: new Blob([new Uint8Array(1000).fill(1)]), path: 'done.txt' },
    { blob: new Blob([new Uint8Array(3_000_000).fill(2)]), path: 'cut.bin', mtime: 5 },
  ]);
  (await offered).accept(stallOnSecond());
  await until(() => tr.files[0].state === 'verified' && tr.files[1].bytes > 0, 'the first file verified, the second under way');

  // The peer is gone for now: the connection drops, the send waits.
  present = false;
  first.a.onClose('gone');
  first.b.onClose('gone');
  assert.equal(tr.state, 'failed');
  assert.equal(tr.resend, 'waiting');
  assert.equal(link.connects, 0, 'nobody to connect to');

  // Back: the directory change reconnects, and the new session gets the rest.
  present = true;
  resender.onDirectoryChange([/** @type {any} */ (link)]);
  assert.equal(link.connects, 1);
  const second = connect(link);
  const again = await next(second.b, 'offer');
  assert.deepEqual(again.files.map((/** @type {any} */ f) => [f.path, f.size, f.mtime]), [['cut.bin', 3_000_000, 5]]);
  assert.equal(tr.resend, 'offered');

  // A declined resend is not offered again.
  again.decline();
  const [tr2] = [...second.a.outgoing.values()];
  await until(() => tr2 === undefined || tr2.state === 'declined', 'the decline');
  second.a.onClose('gone');
  second.b.onClose('gone');
  const third = connect(link);
  let offers = 0;
  third.b.addEventListener('offer', () => (offers += 1));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(offers, 0);
});

test('a resend cut short again is resent, up to MAX_RESENDS times; a dropped one not at all', async () => {
  const resender = new Resender({ isPresent: () => true });
  const link = fakeLink();
  resender.attach(/** @type {any} */ (link));
  let s = connect(link);
  let offered = next(s.b, 'offer');
  s.a.sendSelection([{ blob: new Blob([new Uint8Array(3_000_000)]), path: 'flaky.bin' }]);
  let offers = 0;
  for (;;) {
    const offer = await Promise.race([offered, new Promise((r) => setTimeout(() => r(null), 200))]);
    if (!offer) break;
    offers += 1;
    offer.accept(stallAll);
    await until(() => [...s.a.outgoing.values()].some((t) => t.state === 'active'), 'the transfer running');
    s.a.onClose('gone');
    s.b.onClose('gone');
    s = connect(link);
    offered = next(s.b, 'offer');
  }
  assert.equal(offers, 1 + MAX_RESENDS, 'the first offer and MAX_RESENDS resends');

  // Dropped from its row while waiting: not offered when the peer is back.
  const dropped = s.a.sendSelection([{ blob: new Blob([new Uint8Array(10)]), path: 'x' }])[0];
  await offered;
  s.a.onClose('gone');
  s.b.onClose('gone');
  assert.equal(dropped.resend, 'waiting');
  dropped.dropResend?.();
  assert.equal(dropped.resend, '');
  s = connect(link);
  let more = 0;
  s.b.addEventListener('offer', () => (more += 1));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(more, 0);
});
