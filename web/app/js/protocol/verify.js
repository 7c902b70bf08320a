// The connection's security code (feature `verify`; the scheme and why each side commits to a
// nonce first are in crates/ferry-protocol/src/verify.rs and docs/security.md). Same values as
// the Rust side, checked against vectors/verify.json. Plain JS SHA-256, so it also works on a
// page without crypto.subtle (plain http on a LAN address).

import { Sha256 } from '../hash/sha256.js';

export const NONCE_BYTES = 32;

const encoder = new TextEncoder();

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {string} hex lowercase, even length */
export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** @param {Uint8Array} bytes */
function sha256(bytes) {
  const h = new Sha256();
  h.update(bytes);
  return h.digest();
}

/** A fresh nonce, hex. crypto.getRandomValues exists in insecure contexts too. */
export function newNonce() {
  return toHex(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
}

/** What `verify-commit` carries for `nonceHex`. @param {string} nonceHex */
export function commitment(nonceHex) {
  return toHex(sha256(fromHex(nonceHex)));
}

/**
 * The six digits, "123 456", from both sides' identities and nonces; symmetric.
 * @param {string} ownId @param {string} ownNonce @param {string} peerId @param {string} peerNonce
 */
export function securityCode(ownId, ownNonce, peerId, peerNonce) {
  const ownFirst = ownId < peerId || (ownId === peerId && ownNonce <= peerNonce);
  const [lowId, lowNonce, highId, highNonce] = ownFirst ? [ownId, ownNonce, peerId, peerNonce] : [peerId, peerNonce, ownId, ownNonce];
  const d = sha256(encoder.encode(`ferry-sas-v2|${lowId}|${lowNonce}|${highId}|${highNonce}`));
  const n = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0) % 1_000_000;
  return `${String(Math.floor(n / 1000)).padStart(3, '0')} ${String(n % 1000).padStart(3, '0')}`;
}

/**
 * The DTLS identity of an SDP: its SHA-256 fingerprint as `dtls-sha-256:<hex>`, or null.
 * @param {string | undefined} sdp
 */
export function dtlsIdentity(sdp) {
  for (const line of (sdp ?? '').split(/\r?\n/)) {
    const m = /^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\s*$/i.exec(line.trim());
    if (!m) continue;
    const hex = m[1].replaceAll(':', '').toLowerCase();
    if (hex.length === 64) return `dtls-sha-256:${hex}`;
  }
  return null;
}

/** @param {string} publicB64 the base64url relay public key */
export function relayIdentity(publicB64) {
  return `relay-p256:${publicB64}`;
}

/**
 * One connection's exchange: commit once the peer is known to run it, open once its commitment
 * is in, and the code when its nonce opens its commitment. Mirrors crates/ferry-engine/src/verify.rs.
 */
export class VerifyExchange {
  /** @param {string} ownId @param {string} peerId @param {string} [nonce] hex; fresh when absent */
  constructor(ownId, peerId, nonce) {
    this.ownId = ownId;
    this.peerId = peerId;
    this.nonce = nonce ?? newNonce();
    this.commitSent = false;
    /** @type {string | null} */
    this.peerCommit = null;
    this.opened = false;
    /** The peer's nonce, once it opened its commitment (pairing proofs are bound to it). @type {string | null} */
    this.peerNonce = null;
    /** @type {string | null} */
    this.code = null;
  }

  /** @returns {import('./control.js').ControlMessage | null} */
  start() {
    if (this.commitSent) return null;
    this.commitSent = true;
    return { type: 'verify-commit', commit: commitment(this.nonce) };
  }

  /**
   * @param {string} commit
   * @returns {{send: import('./control.js').ControlMessage[]} | {violation: string}}
   */
  onCommit(commit) {
    if (this.peerCommit !== null) return { violation: 'a second verify-commit' };
    this.peerCommit = commit;
    const first = this.start();
    return { send: [...(first ? [first] : []), { type: 'verify-open', nonce: this.nonce }] };
  }

  /** @param {string} nonce @returns {{code: string} | {violation: string}} */
  onOpen(nonce) {
    if (this.peerCommit === null) return { violation: 'verify-open before verify-commit' };
    if (this.opened) return { violation: 'a second verify-open' };
    this.opened = true;
    if (commitment(nonce) !== this.peerCommit) return { violation: 'verify-open does not match its verify-commit: no security code' };
    this.peerNonce = nonce;
    this.code = securityCode(this.ownId, this.nonce, this.peerId, nonce);
    return { code: this.code };
  }
}
