//! End-to-end encryption of the WebSocket relay (relay protocol v1), so the server that forwards
//! the bytes cannot read them. Pure computation, no I/O; `web/app/js/relay/` does the same with
//! WebCrypto, and both are checked against `vectors/relay_crypto.json`. The scheme and its limits
//! are in `docs/security.md`.
//!
//! * Each peer makes an ephemeral P-256 key pair per relay session and sends the raw public key
//!   (65 bytes, uncompressed, base64url) to the other over signaling.
//! * shared = ECDH x-coordinate (32 bytes);
//!   okm = HKDF-SHA256(ikm = shared, salt = relay id (UTF-8),
//!   info = "ferry-relay-v1|" lowId "|" highId "|" pubLow "|" pubHigh) → 64 bytes, where low/high
//!   order the two peer ids as strings and pub* are the base64url public keys of those peers.
//!   okm[..32] encrypts low → high, okm[32..] high → low.
//! * Every relay message is one binary WebSocket frame: AES-256-GCM(key, nonce, plaintext) with
//!   nonce = 4 zero bytes ‖ u64 BE message counter (per direction, from 0) and
//!   plaintext = kind byte (0 text, 1 binary) ‖ payload. Dropped, replayed, reordered or altered
//!   frames fail to decrypt, and the pipe is closed.
//! * Security code: the first 4 bytes of SHA-256("ferry-sas-v1|" pubLow "|" pubHigh) as a u32,
//!   mod 10^6, shown as "123 456" on both sides; if they differ, someone is in the middle.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::PublicKey;
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::{EncodedPoint, FromEncodedPoint, ToEncodedPoint};
use sha2::{Digest, Sha256};

/// Bytes added to each relayed message (GCM tag + kind byte).
pub const RELAY_OVERHEAD: usize = 16 + 1;

/// What can go wrong setting up or using the relay encryption. None is recoverable: a bad key
/// means no session, and a frame that fails to open closes the relay WebSocket (4400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayCryptoError {
    /// The peer's `relay-key` is not base64url (no padding) of a SEC1-encoded point on P-256.
    #[error("the peer's relay public key is not a valid P-256 point")]
    BadPublicKey,
    /// The AES-GCM tag did not verify under the next counter's nonce: the frame was altered,
    /// one before it was dropped, or it is a replay (or the two sides' keys differ).
    #[error("a relayed message failed to decrypt: it was altered, dropped or replayed")]
    Decrypt,
    /// The frame decrypted, but its kind byte is neither 0 nor 1, it is empty, or a kind-0
    /// (text) payload is not UTF-8.
    #[error("a relayed message has an unknown kind byte")]
    BadKind,
}

/// What a relayed message carries once decrypted: exactly one transfer-protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayPayload {
    /// Kind byte 0: a control message (JSON text), as a DataChannel text message.
    Text(String),
    /// Kind byte 1: a data frame, as a DataChannel binary message.
    Binary(Vec<u8>),
}

/// This side's ephemeral key pair for one relay session.
pub struct RelayKeyPair {
    secret: EphemeralSecret,
    public_b64: String,
}

impl RelayKeyPair {
    /// A fresh ephemeral key pair from the OS random source; make one per relay session and
    /// never reuse it.
    pub fn generate() -> Self {
        let secret = EphemeralSecret::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let public_b64 = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false));
        RelayKeyPair { secret, public_b64 }
    }

    /// The raw public key, base64url without padding, to send to the peer.
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// Derives the session's ciphers and security code from the peer's `relay-key`.
    /// `relay_id` is the session's id from `relay-ready`; `my_id`/`peer_id` are the signaling
    /// peer ids, which order the two sides (low/high) so both derive the same keys.
    pub fn agree(
        &self,
        relay_id: &str,
        my_id: &str,
        peer_id: &str,
        peer_public_b64: &str,
    ) -> Result<RelaySession, RelayCryptoError> {
        let peer_public = parse_public(peer_public_b64)?;
        let shared = self.secret.diffie_hellman(&peer_public);
        Ok(derive_session(
            shared.raw_secret_bytes().as_slice(),
            relay_id,
            my_id,
            peer_id,
            &self.public_b64,
            peer_public_b64,
        ))
    }
}

fn parse_public(b64: &str) -> Result<PublicKey, RelayCryptoError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| RelayCryptoError::BadPublicKey)?;
    let point = EncodedPoint::<p256::NistP256>::from_bytes(&bytes)
        .map_err(|_| RelayCryptoError::BadPublicKey)?;
    Option::from(PublicKey::from_encoded_point(&point)).ok_or(RelayCryptoError::BadPublicKey)
}

/// The two directions' ciphers and counters, plus the security code.
pub struct RelaySession {
    send: Aes256Gcm,
    recv: Aes256Gcm,
    send_counter: u64,
    recv_counter: u64,
    security_code: String,
}

fn derive_session(
    shared: &[u8],
    relay_id: &str,
    my_id: &str,
    peer_id: &str,
    my_pub: &str,
    peer_pub: &str,
) -> RelaySession {
    let i_am_low = my_id < peer_id;
    let (low_id, high_id, low_pub, high_pub) = if i_am_low {
        (my_id, peer_id, my_pub, peer_pub)
    } else {
        (peer_id, my_id, peer_pub, my_pub)
    };
    let info = format!("ferry-relay-v1|{low_id}|{high_id}|{low_pub}|{high_pub}");
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(relay_id.as_bytes()), shared)
        .expand(info.as_bytes(), &mut okm)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    let low_to_high = Aes256Gcm::new_from_slice(&okm[..32]).expect("32-byte key");
    let high_to_low = Aes256Gcm::new_from_slice(&okm[32..]).expect("32-byte key");
    let (send, recv) = if i_am_low {
        (low_to_high, high_to_low)
    } else {
        (high_to_low, low_to_high)
    };
    RelaySession {
        send,
        recv,
        send_counter: 0,
        recv_counter: 0,
        security_code: security_code(low_pub, high_pub),
    }
}

fn security_code(low_pub: &str, high_pub: &str) -> String {
    let digest = Sha256::digest(format!("ferry-sas-v1|{low_pub}|{high_pub}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

impl RelaySession {
    /// "123 456": equal on both sides unless someone substituted keys.
    pub fn security_code(&self) -> &str {
        &self.security_code
    }

    /// Encrypts the next outgoing message into one binary frame.
    pub fn seal(&mut self, payload: &RelayPayload) -> Vec<u8> {
        let mut plain = Vec::with_capacity(1 + payload_len(payload));
        match payload {
            RelayPayload::Text(t) => {
                plain.push(0);
                plain.extend_from_slice(t.as_bytes());
            }
            RelayPayload::Binary(b) => {
                plain.push(1);
                plain.extend_from_slice(b);
            }
        }
        let n = nonce(self.send_counter);
        self.send_counter += 1;
        self.send
            .encrypt(Nonce::from_slice(&n), plain.as_slice())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail")
    }

    /// Decrypts the next incoming frame; any error means the pipe must be closed.
    pub fn open(&mut self, frame: &[u8]) -> Result<RelayPayload, RelayCryptoError> {
        let n = nonce(self.recv_counter);
        let plain = self
            .recv
            .decrypt(Nonce::from_slice(&n), frame)
            .map_err(|_| RelayCryptoError::Decrypt)?;
        self.recv_counter += 1;
        match plain.split_first() {
            Some((0, rest)) => String::from_utf8(rest.to_vec())
                .map(RelayPayload::Text)
                .map_err(|_| RelayCryptoError::BadKind),
            Some((1, rest)) => Ok(RelayPayload::Binary(rest.to_vec())),
            _ => Err(RelayCryptoError::BadKind),
        }
    }
}

fn payload_len(p: &RelayPayload) -> usize {
    match p {
        RelayPayload::Text(t) => t.len(),
        RelayPayload::Binary(b) => b.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::SecretKey;

    #[test]
    fn two_sides_agree_and_round_trip() {
        let a = RelayKeyPair::generate();
        let b = RelayKeyPair::generate();
        let mut sa = a.agree("r1", "aaaa", "bbbb", b.public_key()).unwrap();
        let mut sb = b.agree("r1", "bbbb", "aaaa", a.public_key()).unwrap();
        assert_eq!(sa.security_code(), sb.security_code());
        for i in 0..3 {
            let f = sa.seal(&RelayPayload::Binary(vec![i; 100]));
            assert_eq!(f.len(), 100 + RELAY_OVERHEAD);
            assert_eq!(sb.open(&f).unwrap(), RelayPayload::Binary(vec![i; 100]));
        }
        let f = sb.seal(&RelayPayload::Text("héllo".into()));
        assert_eq!(sa.open(&f).unwrap(), RelayPayload::Text("héllo".into()));
    }

    #[test]
    fn tampering_dropping_and_replaying_fail() {
        let a = RelayKeyPair::generate();
        let b = RelayKeyPair::generate();
        let mut sa = a.agree("r", "a", "b", b.public_key()).unwrap();
        let mut sb = b.agree("r", "b", "a", a.public_key()).unwrap();
        let f0 = sa.seal(&RelayPayload::Binary(vec![1; 10]));
        let f1 = sa.seal(&RelayPayload::Binary(vec![2; 10]));
        let mut bad = f0.clone();
        bad[3] ^= 1;
        assert_eq!(sb.open(&bad), Err(RelayCryptoError::Decrypt));
        // Dropping f0: f1 does not decrypt as message 0.
        assert_eq!(sb.open(&f1), Err(RelayCryptoError::Decrypt));
        assert!(sb.open(&f0).is_ok());
        assert_eq!(sb.open(&f0), Err(RelayCryptoError::Decrypt));
        // A server that swapped in its own key gets a different security code.
        let mallory = RelayKeyPair::generate();
        let sm = a.agree("r", "a", "b", mallory.public_key()).unwrap();
        assert_ne!(sm.security_code(), sb.security_code());
        assert!(a.agree("r", "a", "b", "AAAA").is_err());
    }

    /// Fixed keys → fixed output, so the JavaScript implementation can be checked against it.
    #[test]
    fn shared_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../vectors/relay_crypto.json")).unwrap();
        let d = |k: &str| URL_SAFE_NO_PAD.decode(v[k].as_str().unwrap()).unwrap();
        let low_secret = SecretKey::from_slice(&d("lowPrivateD")).unwrap();
        let high_secret = SecretKey::from_slice(&d("highPrivateD")).unwrap();
        let pub_b64 =
            |s: &SecretKey| URL_SAFE_NO_PAD.encode(s.public_key().to_encoded_point(false));
        let low_pub = pub_b64(&low_secret);
        let high_pub = pub_b64(&high_secret);
        assert_eq!(low_pub, v["lowPublic"].as_str().unwrap());
        assert_eq!(high_pub, v["highPublic"].as_str().unwrap());
        let shared = p256::ecdh::diffie_hellman(
            low_secret.to_nonzero_scalar(),
            parse_public(&high_pub).unwrap().as_affine(),
        );
        assert_eq!(
            hex::encode(shared.raw_secret_bytes()),
            v["sharedHex"].as_str().unwrap()
        );
        let relay_id = v["relayId"].as_str().unwrap();
        let (low_id, high_id) = (v["lowId"].as_str().unwrap(), v["highId"].as_str().unwrap());
        let mut low = derive_session(
            shared.raw_secret_bytes().as_slice(),
            relay_id,
            low_id,
            high_id,
            &low_pub,
            &high_pub,
        );
        let mut high = derive_session(
            shared.raw_secret_bytes().as_slice(),
            relay_id,
            high_id,
            low_id,
            &high_pub,
            &low_pub,
        );
        assert_eq!(low.security_code(), v["securityCode"].as_str().unwrap());
        for m in v["lowToHigh"].as_array().unwrap() {
            let payload = if let Some(t) = m.get("text") {
                RelayPayload::Text(t.as_str().unwrap().into())
            } else {
                RelayPayload::Binary(hex::decode(m["binaryHex"].as_str().unwrap()).unwrap())
            };
            let frame = low.seal(&payload);
            assert_eq!(hex::encode(&frame), m["frameHex"].as_str().unwrap());
            assert_eq!(high.open(&frame).unwrap(), payload);
        }
    }
}
