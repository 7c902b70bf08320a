// PeerDirectory (web/app/js/peer-directory.js) folds signaling messages into the peer list,
// including protocol v2's paged room lists: `welcome` lists one page, `room-peers` the rest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerDirectory } from '../../web/app/js/peer-directory.js';

/** @param {number} i */
const peer = (i) => ({ id: `p${String(i).padStart(3, '0')}`, name: `Peer ${i}`, client: 'browser' });

test('a paged room list arrives whole, and peers shared by two rooms are listed once', () => {
  const d = new PeerDirectory();
  let changes = 0;
  d.addEventListener('change', () => (changes += 1));
  const all = Array.from({ length: 70 }, (_, i) => peer(i));
  d.apply({ type: 'welcome', peer: peer(999), rooms: [{ id: 'lan', kind: 'lan', peers: all.slice(0, 32) }] });
  d.apply({ type: 'room-peers', room: 'lan', peers: all.slice(32, 64) });
  d.apply({ type: 'room-peers', room: 'lan', peers: all.slice(64) });
  assert.deepEqual(d.peers().map((p) => p.info.id).sort(), all.map((p) => p.id));
  d.apply({ type: 'room-joined', room: { id: 'K7H3QD', kind: 'code', peers: [all[0]] } });
  assert.equal(d.peers().length, 70);
  assert.deepEqual(d.peers().find((p) => p.info.id === 'p000')?.rooms, ['lan', 'K7H3QD']);
  // A page for a room we are not in (e.g. just left) changes nothing.
  d.apply({ type: 'room-peers', room: 'GONE00', peers: [peer(500)] });
  assert.equal(d.peer('p500'), null);
  assert.equal(changes, 5);
});
