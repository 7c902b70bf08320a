// End-to-end encryption of the WebSocket relay (relay protocol v1) with WebCrypto, so the server
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
// WebCrypto is asynchronous, so seal() and open() take their counter when called, not when they
// finish: callers may start several and must use the results in call order.

const ECDH = { name: 'ECDH', namedCurve: 'P-256' };
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

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
 * This side's ephemeral key pair for one relay session.
 * @typedef {{privateKey: CryptoKey, publicKey: string}} RelayKeyPair
 */

/** @returns {Promise<RelayKeyPair>} */
export async function generateRelayKeys() {
  const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ECDH, false, ['deriveBits']));
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: toBase64Url(raw) };
}

/**
 * A key pair from fixed private key material (for the shared test vectors).
 * @param {JsonWebKey} jwk with d, x, y @param {string} publicKey base64url raw point
 * @returns {Promise<RelayKeyPair>}
 */
export async function importRelayKeys(jwk, publicKey) {
  const privateKey = await crypto.subtle.importKey('jwk', { ...jwk, kty: 'EC', crv: 'P-256' }, ECDH, false, ['deriveBits']);
  return { privateKey, publicKey };
}

/**
 * Derives the session's ciphers. Throws if the peer's key is not a valid P-256 point.
 * @param {RelayKeyPair} mine @param {string} relayId @param {string} myId @param {string} peerId
 * @param {string} peerPublic base64url raw point
 */
export async function agree(mine, relayId, myId, peerId, peerPublic) {
  let peerKey;
  try {
    peerKey = await crypto.subtle.importKey('raw', fromBase64Url(peerPublic), ECDH, false, []);
  } catch {
    throw new Error("the peer's relay public key is not a valid P-256 point");
  }
  const shared = await crypto.subtle.deriveBits({ name: 'ECDH', public: peerKey }, mine.privateKey, 256);
  return deriveSession(new Uint8Array(shared), relayId, myId, peerId, mine.publicKey, peerPublic);
}

/**
 * @param {Uint8Array<ArrayBuffer>} shared @param {string} relayId @param {string} myId
 * @param {string} peerId @param {string} myPub @param {string} peerPub
 */
export async function deriveSession(shared, relayId, myId, peerId, myPub, peerPub) {
  const iAmLow = myId < peerId;
  const [lowId, highId, lowPub, highPub] = iAmLow ? [myId, peerId, myPub, peerPub] : [peerId, myId, peerPub, myPub];
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  const okm = new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: 'HKDF',
        hash: 'SHA-256',
        salt: encoder.encode(relayId),
        info: encoder.encode(`ferry-relay-v1|${lowId}|${highId}|${lowPub}|${highPub}`),
      },
      ikm,
      512,
    ),
  );
  /** @param {Uint8Array<ArrayBuffer>} k */
  const aes = (k) => crypto.subtle.importKey('raw', k, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const lowToHigh = await aes(okm.slice(0, 32));
  const highToLow = await aes(okm.slice(32, 64));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(`ferry-sas-v1|${lowPub}|${highPub}`)));
  const n = new DataView(digest.buffer).getUint32(0) % 1_000_000;
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
  /** @param {CryptoKey} sendKey @param {CryptoKey} recvKey @param {string} securityCode */
  constructor(sendKey, recvKey, securityCode) {
    this.sendKey = sendKey;
    this.recvKey = recvKey;
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
    return crypto.subtle.encrypt({ name: 'AES-GCM', iv }, this.sendKey, plain).then((c) => new Uint8Array(c));
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
      plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, this.recvKey, frame));
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
    if (plain[0] === 1) return plain.buffer.slice(1);
    throw new Error('a relayed message has an unknown kind byte');
  }
}
