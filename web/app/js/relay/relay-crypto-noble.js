// The relay encryption's primitives in JavaScript, for pages without WebCrypto: a plain-http
// origin that is not localhost (a phone opening http://192.168.1.20:8080) has no crypto.subtle.
// The audited noble libraries (vendored as published, web/app/vendor/noble/VERSIONS.md) do
// P-256, HKDF and AES-256-GCM; crypto.getRandomValues, which insecure contexts do have, seeds
// the keys. Same interface and same vectors as relay-crypto-webcrypto.js.

import { p256 } from '../../vendor/noble/curves/nist.js';
import { hkdf } from '../../vendor/noble/hashes/hkdf.js';
import { sha256 } from '../../vendor/noble/hashes/sha2.js';
import { gcm } from '../../vendor/noble/ciphers/aes.js';

/** @type {import('./relay-crypto.js').RelayPrimitives} */
export const noblePrimitives = {
  name: 'noble',

  async generate() {
    const secret = p256.utils.randomSecretKey();
    return { secret, publicRaw: p256.getPublicKey(secret, false) };
  },

  async fromPrivate(d) {
    return d.slice();
  },

  async sharedX(secret, peerRaw) {
    // The compressed shared point is 0x02/0x03 ‖ x; ECDH's shared secret is x (as WebCrypto's
    // deriveBits and RustCrypto's raw_secret_bytes). getSharedSecret validates the peer's point.
    return p256.getSharedSecret(/** @type {Uint8Array} */ (secret), peerRaw, true).slice(1);
  },

  async hkdfSha256(ikm, salt, info, length) {
    return hkdf(sha256, ikm, salt, info, length);
  },

  async sha256(data) {
    return sha256(data);
  },

  async aesGcm(raw) {
    const key = raw.slice();
    return {
      seal: async (iv, plain) => gcm(key, iv).encrypt(plain),
      open: async (iv, sealed) => gcm(key, iv).decrypt(sealed),
    };
  },
};
