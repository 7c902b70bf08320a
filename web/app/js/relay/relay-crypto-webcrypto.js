// The relay encryption's primitives with WebCrypto (crypto.subtle): native and constant-time,
// but only in secure contexts (https, localhost). relay-crypto-noble.js is the same interface
// in JavaScript for plain-http origins.

const ECDH = { name: 'ECDH', namedCurve: 'P-256' };

/** @param {Uint8Array} b @returns {Uint8Array<ArrayBuffer>} */
const own = (b) => new Uint8Array(b);

/** @type {import('./relay-crypto.js').RelayPrimitives} */
export const webCryptoPrimitives = {
  name: 'webcrypto',

  async generate() {
    const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ECDH, false, ['deriveBits']));
    return { secret: pair.privateKey, publicRaw: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
  },

  async fromPrivate(d, publicRaw) {
    const b64 = (/** @type {Uint8Array} */ b) => btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const jwk = { kty: 'EC', crv: 'P-256', d: b64(d), x: b64(publicRaw.subarray(1, 33)), y: b64(publicRaw.subarray(33, 65)) };
    return crypto.subtle.importKey('jwk', jwk, ECDH, false, ['deriveBits']);
  },

  async sharedX(secret, peerRaw) {
    const peerKey = await crypto.subtle.importKey('raw', own(peerRaw), ECDH, false, []);
    return new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: peerKey }, /** @type {CryptoKey} */ (secret), 256));
  },

  async hkdfSha256(ikm, salt, info, length) {
    const key = await crypto.subtle.importKey('raw', own(ikm), 'HKDF', false, ['deriveBits']);
    const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: own(salt), info: own(info) }, key, length * 8);
    return new Uint8Array(bits);
  },

  async sha256(data) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', own(data)));
  },

  async aesGcm(raw) {
    const key = await crypto.subtle.importKey('raw', own(raw), 'AES-GCM', false, ['encrypt', 'decrypt']);
    return {
      seal: async (iv, plain) => new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: own(iv) }, key, own(plain))),
      open: async (iv, sealed) => new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: own(iv) }, key, own(sealed))),
    };
  },
};
