// Paired devices (feature `pair`; the scheme, and what it does and does not protect against, are
// in docs/security.md "Paired devices"). Checked against vectors/pairing.json, which
// gen_pairing.py computes independently. noble's HMAC, so it works on a page without
// crypto.subtle (plain http on a LAN address) as well.
//
// secret  32 random bytes, chosen by the device that asks to pair, sent once inside the pipe
// room    HMAC-SHA-256(secret, "ferry-pair-room-v1"), first 16 bytes, hex: what the server sees
// key     HMAC-SHA-256(secret, "ferry-pair-proof-v1")
// proof   HMAC-SHA-256(key, "ferry-pair-proof-v1|" room "|" senderId "|" senderNonce "|"
//         receiverId "|" receiverNonce), hex: ids and nonces are the connection's security-code
//         identities (its DTLS fingerprints, or relay keys) and verify nonces, so a proof holds for
//         one connection, one direction, and only between the two ends that hold the keys.

import { hmac } from '../../vendor/noble/hashes/hmac.js';
import { sha256 } from '../../vendor/noble/hashes/sha2.js';
import { fromHex, toHex } from './verify.js';

const encoder = new TextEncoder();

/** A fresh pairing secret, hex. */
export function newPairingSecret() {
  return toHex(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * @param {string} secretHex 64 lowercase hex digits
 * @returns {{room: string, key: Uint8Array}}
 */
export function pairingKeys(secretHex) {
  const secret = fromHex(secretHex);
  return {
    room: toHex(hmac(sha256, secret, encoder.encode('ferry-pair-room-v1')).slice(0, 16)),
    key: hmac(sha256, secret, encoder.encode('ferry-pair-proof-v1')),
  };
}

/**
 * @typedef {{id: string, nonce: string}} End one end of a connection: its identity and verify nonce
 * @param {{room: string, key: Uint8Array}} keys @param {End} sender @param {End} receiver
 */
export function pairProof(keys, sender, receiver) {
  const msg = `ferry-pair-proof-v1|${keys.room}|${sender.id}|${sender.nonce}|${receiver.id}|${receiver.nonce}`;
  return toHex(hmac(sha256, keys.key, encoder.encode(msg)));
}

/** Compares two hex strings without stopping at the first difference. @param {string} a @param {string} b */
export function sameHex(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
