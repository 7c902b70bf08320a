// Paired devices' keys and proofs (web/app/js/protocol/pairing.js) against vectors/pairing.json,
// which gen_pairing.py computes with Python's hmac/hashlib, independently of the page's code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../lib/server.js';
import { newPairingSecret, pairingKeys, pairProof, sameHex } from '../../web/app/js/protocol/pairing.js';
import { parseControl } from '../../web/app/js/protocol/control.js';

const { cases } = JSON.parse(readFileSync(path.join(repoRoot, 'crates', 'ferry-protocol', 'vectors', 'pairing.json'), 'utf8'));

test('pairing.json: room ids and proofs match the independent implementation', () => {
  assert.ok(cases.length >= 2);
  for (const c of cases) {
    const keys = pairingKeys(c.secret);
    assert.equal(keys.room, c.room, c.name);
    assert.equal(pairProof(keys, c.laptop, c.phone), c.laptopToPhone, c.name);
    assert.equal(pairProof(keys, c.phone, c.laptop), c.phoneToLaptop, c.name);
    assert.equal(pairProof(keys, c.laptop, c.middle), c.laptopToMiddle, c.name);
  }
  assert.notEqual(cases[0].room, cases[1].room, 'another secret, another room');
});

test('a proof holds for one direction, one connection and one secret only', () => {
  const c = cases[0];
  const keys = pairingKeys(c.secret);
  const base = pairProof(keys, c.laptop, c.phone);
  // Reflected: the phone cannot send the laptop its own proof back.
  assert.notEqual(pairProof(keys, c.phone, c.laptop), base);
  // Someone in the middle: the laptop's proof names the key it saw, which is not the phone's.
  assert.notEqual(c.laptopToMiddle, base);
  assert.notEqual(pairProof(keys, c.laptop, { ...c.phone, id: `dtls-sha-256:${'f'.repeat(64)}` }), base, 'their key changed');
  assert.notEqual(pairProof(keys, { ...c.laptop, nonce: '1'.repeat(64) }, c.phone), base, 'a fresh connection (nonce)');
  assert.notEqual(pairProof(pairingKeys(cases[1].secret), c.laptop, c.phone), base, 'another secret');
  // What the server sees (the room id) is not the key.
  assert.notEqual(pairProof({ room: keys.room, key: new TextEncoder().encode(keys.room) }, c.laptop, c.phone), base);
});

test('secrets are fresh 32-byte hex; proofs compare exactly', () => {
  const a = newPairingSecret();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(newPairingSecret(), a);
  assert.match(pairingKeys(a).room, /^[0-9a-f]{32}$/);
  assert.ok(sameHex('ab'.repeat(32), 'ab'.repeat(32)));
  assert.ok(!sameHex('ab'.repeat(32), `${'ab'.repeat(31)}ac`));
  assert.ok(!sameHex('ab', 'abab'));
  // What a peer sends is checked before any of it is used.
  assert.throws(() => parseControl(JSON.stringify({ type: 'pair-proof', room: cases[0].room, proof: 'x' })), /proof/);
  assert.deepEqual(parseControl(JSON.stringify({ type: 'pair-revoke', room: cases[0].room })), { type: 'pair-revoke', room: cases[0].room });
});
