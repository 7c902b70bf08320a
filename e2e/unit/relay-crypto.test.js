// The browser's relay encryption (web/app/js/relay/relay-crypto.js) against the vectors the Rust
// implementation and an independent Python one agree on (crates/ferry-protocol/vectors/
// relay_crypto.json), plus the properties the relay pipe relies on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../lib/server.js';
import {
  agree,
  fromBase64Url,
  generateRelayKeys,
  importRelayKeys,
  RELAY_OVERHEAD,
  toBase64Url,
} from '../../web/app/js/relay/relay-crypto.js';

const v = JSON.parse(readFileSync(path.join(repoRoot, 'crates', 'ferry-protocol', 'vectors', 'relay_crypto.json'), 'utf8'));

const hex = (/** @type {Uint8Array} */ b) => Buffer.from(b).toString('hex');
const unhex = (/** @type {string} */ s) => new Uint8Array(Buffer.from(s, 'hex'));

/** A fixed key pair from the vectors: JWK needs x and y, which are halves of the raw point. */
async function fixedKeys(/** @type {string} */ d, /** @type {string} */ pub) {
  const raw = fromBase64Url(pub);
  const jwk = { d, x: toBase64Url(raw.subarray(1, 33)), y: toBase64Url(raw.subarray(33, 65)) };
  return importRelayKeys(jwk, pub);
}

test('relay_crypto.json: same security code and byte-identical frames as Rust and Python', async () => {
  const low = await fixedKeys(v.lowPrivateD, v.lowPublic);
  const high = await fixedKeys(v.highPrivateD, v.highPublic);
  const lowSession = await agree(low, v.relayId, v.lowId, v.highId, v.highPublic);
  const highSession = await agree(high, v.relayId, v.highId, v.lowId, v.lowPublic);
  assert.equal(lowSession.securityCode, v.securityCode);
  assert.equal(highSession.securityCode, v.securityCode);
  assert.ok(v.lowToHigh.length >= 3);
  for (const m of v.lowToHigh) {
    const payload = 'text' in m ? m.text : unhex(m.binaryHex);
    const frame = await lowSession.seal(payload);
    assert.equal(hex(frame), m.frameHex);
    const opened = await highSession.open(frame);
    if (typeof payload === 'string') assert.equal(opened, payload);
    else assert.equal(hex(new Uint8Array(/** @type {ArrayBuffer} */ (opened))), m.binaryHex);
  }
});

test('fresh keys agree both ways; frames in call order even when started together', async () => {
  const a = await generateRelayKeys();
  const b = await generateRelayKeys();
  assert.equal(fromBase64Url(a.publicKey).length, 65);
  const sa = await agree(a, 'r1', 'aaaa', 'bbbb', b.publicKey);
  const sb = await agree(b, 'r1', 'bbbb', 'aaaa', a.publicKey);
  assert.equal(sa.securityCode, sb.securityCode);
  assert.match(sa.securityCode, /^\d{3} \d{3}$/);
  // Sealing several at once: each takes its counter when called.
  const payloads = [new Uint8Array(256 * 1024).fill(1), 'two', new Uint8Array(0), 'four 👋'];
  const frames = await Promise.all(payloads.map((p) => sa.seal(p)));
  assert.equal(frames[0].length, 256 * 1024 + RELAY_OVERHEAD);
  const opened = await Promise.all(frames.map((f) => sb.open(f)));
  assert.deepEqual(new Uint8Array(/** @type {ArrayBuffer} */ (opened[0])), payloads[0]);
  assert.equal(opened[1], 'two');
  assert.equal(/** @type {ArrayBuffer} */ (opened[2]).byteLength, 0);
  assert.equal(opened[3], 'four 👋');
  const back = await sb.seal('reply');
  assert.equal(await sa.open(back), 'reply');
});

test('altered, dropped and replayed frames fail; substituted keys change the code', async () => {
  const a = await generateRelayKeys();
  const b = await generateRelayKeys();
  const sa = await agree(a, 'r', 'a', 'b', b.publicKey);
  const sb = await agree(b, 'r', 'b', 'a', a.publicKey);
  const f0 = await sa.seal(new Uint8Array([1, 2, 3]));
  const f1 = await sa.seal(new Uint8Array([4, 5, 6]));
  const bad = f0.slice();
  bad[2] ^= 1;
  await assert.rejects(sb.open(bad), /failed to decrypt/);
  // Each open takes a counter, so the receiver is now past message 0 — as the pipe would be
  // after closing. A fresh session shows dropping and replaying.
  const sb2 = await agree(b, 'r', 'b', 'a', a.publicKey);
  await assert.rejects(sb2.open(f1), /failed to decrypt/);
  const sb3 = await agree(b, 'r', 'b', 'a', a.publicKey);
  assert.ok(await sb3.open(f0));
  await assert.rejects(sb3.open(f0), /failed to decrypt/);
  const mallory = await generateRelayKeys();
  const sm = await agree(a, 'r', 'a', 'b', mallory.publicKey);
  assert.notEqual(sm.securityCode, sb.securityCode);
  await assert.rejects(agree(a, 'r', 'a', 'b', 'AAAA'), /not a valid P-256 point/);
});
