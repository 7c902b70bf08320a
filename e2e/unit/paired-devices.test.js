// The paired-devices controller (web/app/js/pairing/paired-devices.js) between two real transfer
// engines on an in-memory pipe: proofs make each side show the other as paired, and Unpair
// leaves the room only after the other device confirmed it forgot — leaving may end the
// connection (always on the relay), and a revoke lost with it left the other device paired
// (seen as a flake of browser/pairing.test.js under load).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PairedDevices } from '../../web/app/js/pairing/paired-devices.js';
import { PeerDirectory } from '../../web/app/js/peer-directory.js';
import { TransferSession } from '../../web/app/js/transfer/engine.js';
import { memoryPipePair } from '../../web/app/js/transfer/memory-pipe.js';
import { inlineHasher } from '../../web/app/js/hash/hasher.js';
import { pairingKeys } from '../../web/app/js/protocol/pairing.js';

const SECRET = '7'.repeat(64);
const ROOM = pairingKeys(SECRET).room;
const ids = { a: `dtls-sha-256:${'a'.repeat(64)}`, b: `dtls-sha-256:${'b'.repeat(64)}` };

/** A pairing store in page memory (PairingStore without IndexedDB, and without its BroadcastChannel, which would join the two sides of this test). */
class MemoryStore extends EventTarget {
  /** @param {import('../../web/app/js/storage/pairings.js').Pairing[]} list */
  constructor(list) {
    super();
    this.map = new Map(list.map((p) => [p.room, p]));
  }
  async list() {
    return [...this.map.values()];
  }
  /** @param {any} p */
  async put(p) {
    this.map.set(p.room, p);
  }
  /** @param {string} room */
  async remove(room) {
    this.map.delete(room);
  }
}

/**
 * One device: a controller holding the pairing, a directory that puts `peer` in its room, and a
 * link whose session is `session`.
 * @param {string} self @param {string} peer @param {TransferSession} session @param {(m: any) => void} send
 */
async function device(self, peer, session, send) {
  const store = new MemoryStore([{ room: ROOM, secret: SECRET, name: peer, pairedAt: 1, lastSeen: 1 }]);
  const directory = new PeerDirectory();
  directory.apply({ type: 'welcome', peer: { id: self, name: self, client: 'web' }, rooms: [{ id: ROOM, kind: 'paired', peers: [{ id: peer, name: peer, client: 'web' }] }] });
  const link = Object.assign(new EventTarget(), { opts: { peerId: peer }, session, connect: async () => session });
  const pd = new PairedDevices({ store: /** @type {any} */ (store), send, directory, linkFor: () => /** @type {any} */ (link), askUser: async () => false });
  await pd.loaded;
  pd.attach(/** @type {any} */ (link));
  link.dispatchEvent(new CustomEvent('session', { detail: session }));
  return { pd, store };
}

/** @param {() => boolean} pred */
async function until(pred, what, ms = 60_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function sessions() {
  const [pa, pb] = memoryPipePair();
  const sa = new TransferSession(pa, { hasherFactory: inlineHasher, features: ['pair'], verify: { ownId: ids.a, peerId: ids.b } });
  const sb = new TransferSession(pb, { hasherFactory: inlineHasher, features: ['pair'], verify: { ownId: ids.b, peerId: ids.a } });
  return { sa, sb, pa, pb };
}

test('proofs make both sides paired; Unpair leaves the room only once the other side forgot too', async () => {
  const { sa, sb } = sessions();
  /** @type {{type: string, room: string, peerHeld: boolean}[]} */
  const sentByA = [];
  /** @type {any} */
  let b = null;
  const a = await device('A', 'B', sa, (m) => sentByA.push({ ...m, peerHeld: b?.pd.pairings.has(m.room) ?? null }));
  b = await device('B', 'A', sb, () => {});
  sa.start();
  sb.start();
  await until(() => a.pd.pairedWith('B') !== null && b.pd.pairedWith('A') !== null, 'both proofs');
  assert.equal(a.pd.pairedWith('B')?.room, ROOM);

  const done = a.pd.unpair(ROOM);
  // Gone here at once (the settings list empties), the room still joined.
  assert.equal(a.pd.pairedWith('B'), null);
  assert.deepEqual(a.pd.list(), []);
  await done;
  assert.equal(b.store.map.has(ROOM), false, 'the other device forgot it');
  assert.equal(a.store.map.has(ROOM), false);
  const leaves = sentByA.filter((m) => m.type === 'leave-room');
  assert.equal(leaves.length, 1);
  assert.equal(leaves[0].peerHeld, false, 'the room was left only after the other side forgot');
});

test('a revoke from a peer that did not prove the pairing is ignored; an unanswered Unpair still leaves', async () => {
  const { sa, sb, pa, pb } = sessions();
  // b's proofs never reach a, so a never counts b as paired (and b never hears a's proof).
  pb.intercept = (d) => (typeof d === 'string' && d.includes('"pair-proof"') ? null : d);
  pa.intercept = (d) => (typeof d === 'string' && d.includes('"pair-proof"') ? null : d);
  /** @type {any[]} */
  const sentByB = [];
  const a = await device('A', 'B', sa, () => {});
  const b = await device('B', 'A', sb, (m) => sentByB.push(m));
  sa.start();
  sb.start();
  await until(() => sa.verifiedEnds() !== null && sb.verifiedEnds() !== null, 'security codes');
  assert.equal(b.pd.pairedWith('A'), null);
  // Not verified on b: b's revoke is not sent, and one forced onto the wire changes nothing on a.
  sb.sendPair({ type: 'pair-revoke', room: ROOM });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.store.map.has(ROOM), true, 'kept: the revoke came from a peer that proved nothing');

  // b unpairs with nobody verified to tell: it leaves at once.
  await b.pd.unpair(ROOM);
  assert.deepEqual(sentByB.filter((m) => m.type === 'leave-room').map((m) => m.room), [ROOM]);
});

test('Unpair waits for the answer no longer than the connection lives', async () => {
  const { sa, sb, pb } = sessions();
  const a = await device('A', 'B', sa, () => {});
  const b = await device('B', 'A', sb, () => {});
  sa.start();
  sb.start();
  await until(() => a.pd.pairedWith('B') !== null && b.pd.pairedWith('A') !== null, 'both proofs');
  // b takes the revoke but its answer is lost; then the connection ends.
  pb.intercept = (d) => (typeof d === 'string' && d.includes('"pair-revoked"') ? null : d);
  let settled = false;
  const done = a.pd.unpair(ROOM).then(() => (settled = true));
  await until(() => !b.store.map.has(ROOM), 'b to forget');
  assert.equal(settled, false, 'still waiting for the answer');
  sa.close();
  await done;
});
