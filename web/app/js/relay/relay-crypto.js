// End-to-end encryption of the WebSocket relay (relay protocol v1), so the server
// that forwards the bytes cannot read them. The same scheme as crates/ferry-protocol/src/
// relay_crypto.rs, checked against the same vectors (crates/ferry-protocol/vectors/
// relay_crypto.json); the scheme and its limits are in docs/security.md.
//
//   shared = ECDH P-256 x-coordinate; okm = HKDF-SHA256(shared, salt = relay id,
//   info = "ferry-relay-v1|" lowId "|" highId "|" pubLow "|" pubHigh), 64 bytes:
//   okm[0..32] keys low → high, okm[32..64] high → low (low/high: peer ids in string order).
//   frame = AES-256-GCM(key, nonce = 0⁴ ‖ counter u64 BE, kind ‖ payload), kind 0 text, 1 binary.
//   security code = first 4 bytes of SHA-256("ferry-sas-v1|" pubLow "|" pubHigh) as u32 mod 10⁶.
//
// The primitives come from WebCrypto where the page has it (relay-crypto-webcrypto.js) and from
// the vendored noble libraries where it does not (relay-crypto-noble.js: plain-http LAN origins
// have no crypto.subtle); relayPrimitives() picks by feature detection. Both are checked
// against the same vectors and interoperate.
//
// The primitives are asynchronous, so seal() and open() take their counter when called, not when
// they finish: callers may start several and must use the results in call order.

import { webCryptoPrimitives } from './relay-crypto-webcrypto.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * AES-256-GCM under one key; `seal` returns ciphertext ‖ tag, `open` rejects on a bad tag.
 * @typedef {{seal: (iv: Uint8Array, plain: Uint8Array) => Promise<Uint8Array>,
 *   open: (iv: Uint8Array, sealed: Uint8Array) => Promise<Uint8Array>}} RelayAead
 */

/**
 * What the scheme needs from a crypto library. `secret` is opaque to the scheme.
 * @typedef {{
 *   name: string,
 *   generate: () => Promise<{secret: unknown, publicRaw: Uint8Array}>,
 *   fromPrivate: (d: Uint8Array, publicRaw: Uint8Array) => Promise<unknown>,
 *   sharedX: (secret: unknown, peerRaw: Uint8Array) => Promise<Uint8Array>,
 *   hkdfSha256: (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) => Promise<Uint8Array>,
 *   sha256: (data: Uint8Array) => Promise<Uint8Array>,
 *   aesGcm: (key: Uint8Array) => Promise<RelayAead>,
 * }} RelayPrimitives
 */

/** @type {Promise<RelayPrimitives> | null} */
let fallback = null;

/**
 * WebCrypto when this page has it, else the noble fallback (loaded only then).
 * @returns {Promise<RelayPrimitives>}
 */
export async function relayPrimitives() {
  if (globalThis.crypto?.subtle) return webCryptoPrimitives;
  fallback ??= import('./relay-crypto-noble.js').then((m) => m.noblePrimitives);
  return fallback;
}

/** Bytes added to each relayed message (GCM tag + kind byte). */
export const RELAY_OVERHEAD = 17;

/** @param {Uint8Array} bytes */
export function toBase64Url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {string} text @returns {Uint8Array<ArrayBuffer>} */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * This side's ephemeral key pair for one relay session, with the primitives that made it.
 * @typedef {{primitives: RelayPrimitives, secret: unknown, publicKey: string}} RelayKeyPair
 */

/** @param {RelayPrimitives} [primitives] @returns {Promise<RelayKeyPair>} */
export async function generateRelayKeys(primitives) {
  const p = primitives ?? (await relayPrimitives());
  const { secret, publicRaw } = await p.generate();
  return { primitives: p, secret, publicKey: toBase64Url(publicRaw) };
}

/**
 * A key pair from fixed private key material (for the shared test vectors).
 * @param {string} d base64url private scalar @param {string} publicKey base64url raw point
 * @param {RelayPrimitives} [primitives]
 * @returns {Promise<RelayKeyPair>}
 */
export async function importRelayKeys(d, publicKey, primitives) {
  const p = primitives ?? (await relayPrimitives());
  return { primitives: p, secret: await p.fromPrivate(fromBase64Url(d), fromBase64Url(publicKey)), publicKey };
}

/**
 * Derives the session's ciphers. Throws if the peer's key is not a valid P-256 point.
 * @param {RelayKeyPair} mine @param {string} relayId @param {string} myId @param {string} peerId
 * @param {string} peerPublic base64url raw point
 */
export async function agree(mine, relayId, myId, peerId, peerPublic) {
  let shared;
  try {
    const raw = fromBase64Url(peerPublic);
    // Uncompressed only (docs/security.md), whatever else a library would accept.
    if (raw.length !== 65 || raw[0] !== 4) throw new Error('not an uncompressed point');
    shared = await mine.primitives.sharedX(mine.secret, raw);
  } catch {
    throw new Error("the peer's relay public key is not a valid P-256 point");
  }
  return deriveSession(mine.primitives, shared, relayId, myId, peerId, mine.publicKey, peerPublic);
}

/**
 * @param {RelayPrimitives} p @param {Uint8Array} shared @param {string} relayId @param {string} myId
 * @param {string} peerId @param {string} myPub @param {string} peerPub
 */
export async function deriveSession(p, shared, relayId, myId, peerId, myPub, peerPub) {
  const iAmLow = myId < peerId;
  const [lowId, highId, lowPub, highPub] = iAmLow ? [myId, peerId, myPub, peerPub] : [peerId, myId, peerPub, myPub];
  const okm = await p.hkdfSha256(shared, encoder.encode(relayId), encoder.encode(`ferry-relay-v1|${lowId}|${highId}|${lowPub}|${highPub}`), 64);
  const lowToHigh = await p.aesGcm(okm.slice(0, 32));
  const highToLow = await p.aesGcm(okm.slice(32, 64));
  const digest = await p.sha256(encoder.encode(`ferry-sas-v1|${lowPub}|${highPub}`));
  const n = new DataView(digest.buffer, digest.byteOffset, digest.byteLength).getUint32(0) % 1_000_000;
  const code = `${String(Math.floor(n / 1000)).padStart(3, '0')} ${String(n % 1000).padStart(3, '0')}`;
  return new RelaySession(iAmLow ? lowToHigh : highToLow, iAmLow ? highToLow : lowToHigh, code);
}

/** @param {bigint} counter */
function nonce(counter) {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, counter);
  return n;
}

export class RelaySession {
  /** @param {RelayAead} send @param {RelayAead} recv @param {string} securityCode */
  constructor(send, recv, securityCode) {
    this.send = send;
    this.recv = recv;
    /** "123 456": equal on both sides unless someone substituted keys. */
    this.securityCode = securityCode;
    this.sendCounter = 0n;
    this.recvCounter = 0n;
  }

  /**
   * Encrypts the next outgoing message into one binary frame. The counter is taken now.
   * @param {string | Uint8Array} payload @returns {Promise<Uint8Array<ArrayBuffer>>}
   */
  seal(payload) {
    const iv = nonce(this.sendCounter++);
    const body = typeof payload === 'string' ? encoder.encode(payload) : payload;
    const plain = new Uint8Array(1 + body.length);
    plain[0] = typeof payload === 'string' ? 0 : 1;
    plain.set(body, 1);
    return this.send.seal(iv, plain).then((c) => /** @type {Uint8Array<ArrayBuffer>} */ (c));
  }

  /**
   * Decrypts the next incoming frame. The counter is taken now. Rejects if the frame was
   * altered, dropped, replayed or reordered; the pipe must then be closed.
   * @param {Uint8Array<ArrayBuffer>} frame @returns {Promise<string | ArrayBuffer>}
   */
  async open(frame) {
    const iv = nonce(this.recvCounter++);
    let plain;
    try {
      plain = await this.recv.open(iv, frame);
    } catch {
      throw new Error('a relayed message failed to decrypt: it was altered, dropped or replayed');
    }
    if (plain[0] === 0) {
      try {
        return decoder.decode(plain.subarray(1));
      } catch {
        throw new Error('a relayed text message is not UTF-8');
      }
    }
    if (plain[0] === 1) return /** @type {ArrayBuffer} */ (plain.buffer.slice(plain.byteOffset + 1, plain.byteOffset + plain.byteLength));
    throw new Error('a relayed message has an unknown kind byte');
  }
}
