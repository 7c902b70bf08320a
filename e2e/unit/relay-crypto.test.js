// The browser's relay encryption (web/app/js/relay/relay-crypto.js) against the vectors the Rust
// implementation and an independent Python one agree on (crates/ferry-protocol/vectors/
// relay_crypto.json), plus the properties the relay pipe relies on — once with WebCrypto and
// once with the noble fallback that plain-http pages use, and across the two.

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
  relayPrimitives,
} from '../../web/app/js/relay/relay-crypto.js';
import { webCryptoPrimitives } from '../../web/app/js/relay/relay-crypto-webcrypto.js';
import { noblePrimitives } from '../../web/app/js/relay/relay-crypto-noble.js';

const v = JSON.parse(readFileSync(path.join(repoRoot, 'crates', 'ferry-protocol', 'vectors', 'relay_crypto.json'), 'utf8'));

const hex = (/** @type {Uint8Array} */ b) => Buffer.from(b).toString('hex');
const unhex = (/** @type {string} */ s) => new Uint8Array(Buffer.from(s, 'hex'));

/** @type {[string, import('../../web/app/js/relay/relay-crypto.js').RelayPrimitives][]} */
const BACKENDS = [
  ['webcrypto', webCryptoPrimitives],
  ['noble', noblePrimitives],
];

test('relayPrimitives: WebCrypto where crypto.subtle exists, noble where it does not', async () => {
  assert.equal((await relayPrimitives()).name, 'webcrypto');
  const subtle = Object.getOwnPropertyDescriptor(globalThis.crypto, 'subtle');
  // What a plain-http page sees: no crypto.subtle at all.
  Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
  try {
    assert.equal(globalThis.crypto.subtle, undefined);
    assert.equal((await relayPrimitives()).name, 'noble');
    const keys = await generateRelayKeys();
    assert.equal(keys.primitives.name, 'noble');
  } finally {
    if (subtle) Object.defineProperty(globalThis.crypto, 'subtle', subtle);
    else delete (/** @type {any} */ (globalThis.crypto)).subtle;
  }
  assert.equal((await relayPrimitives()).name, 'webcrypto');
});

for (const [name, lowP] of BACKENDS) {
  for (const [otherName, highP] of BACKENDS) {
    test(`relay_crypto.json: ${name} (low) and ${otherName} (high) give the vectors' code and frames`, async () => {
      const low = await importRelayKeys(v.lowPrivateD, v.lowPublic, lowP);
      const high = await importRelayKeys(v.highPrivateD, v.highPublic, highP);
      assert.equal(hex(await lowP.sharedX(low.secret, fromBase64Url(v.highPublic))), v.sharedHex);
      assert.equal(hex(await highP.sharedX(high.secret, fromBase64Url(v.lowPublic))), v.sharedHex);
      assert.equal(hex(await lowP.hkdfSha256(unhex(v.sharedHex), new TextEncoder().encode(v.relayId), new TextEncoder().encode(`ferry-relay-v1|${v.lowId}|${v.highId}|${v.lowPublic}|${v.highPublic}`), 64)), v.okmHex);
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
      const back = await highSession.seal('reply');
      assert.equal(await lowSession.open(back), 'reply');
    });
  }
}

for (const [name, p] of BACKENDS) {
  test(`${name}: fresh keys agree both ways; frames in call order even when started together`, async () => {
    const a = await generateRelayKeys(p);
    const b = await generateRelayKeys(p);
    assert.equal(fromBase64Url(a.publicKey).length, 65);
    const sa = await agree(a, 'r1', 'aaaa', 'bbbb', b.publicKey);
    const sb = await agree(b, 'r1', 'bbbb', 'aaaa', a.publicKey);
    assert.equal(sa.securityCode, sb.securityCode);
    assert.match(sa.securityCode, /^\d{3} \d{3}$/);
    // Sealing several at once: each takes its counter when called.
    const payloads = [new Uint8Array(256 * 1024).fill(1), 'two', new Uint8Array(0), 'four 👋'];
    const frames = await Promise.all(payloads.map((x) => sa.seal(x)));
    assert.equal(frames[0].length, 256 * 1024 + RELAY_OVERHEAD);
    const opened = await Promise.all(frames.map((f) => sb.open(f)));
    assert.deepEqual(new Uint8Array(/** @type {ArrayBuffer} */ (opened[0])), payloads[0]);
    assert.equal(opened[1], 'two');
    assert.equal(/** @type {ArrayBuffer} */ (opened[2]).byteLength, 0);
    assert.equal(opened[3], 'four 👋');
    const back = await sb.seal('reply');
    assert.equal(await sa.open(back), 'reply');
  });

  test(`${name}: altered, dropped and replayed frames fail; substituted or malformed keys do not pass`, async () => {
    const a = await generateRelayKeys(p);
    const b = await generateRelayKeys(p);
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
    const mallory = await generateRelayKeys(p);
    const sm = await agree(a, 'r', 'a', 'b', mallory.publicKey);
    assert.notEqual(sm.securityCode, sb.securityCode);
    const raw = fromBase64Url(b.publicKey);
    const offCurve = raw.slice();
    offCurve[64] ^= 1;
    const compressed = new Uint8Array([2 + (raw[64] & 1), ...raw.subarray(1, 33)]);
    const b64 = (/** @type {Uint8Array} */ x) => Buffer.from(x).toString('base64url');
    for (const key of ['AAAA', '', '!!', b64(offCurve), b64(compressed), b64(new Uint8Array(65).fill(4))]) {
      await assert.rejects(agree(a, 'r', 'a', 'b', key), /not a valid P-256 point/, `key ${key}`);
    }
  });
}
