//! The security code of a connection (transfer-protocol feature `verify`, docs/protocol.md):
//! six digits both users can compare to know that no one, the server included, sits between
//! their two devices.
//!
//! Each side's *identity* is the key its end of the pipe is bound to: the SHA-256 fingerprint
//! of its DTLS certificate on a DataChannel, its relay public key on the WebSocket relay. A
//! code made from the identities alone could be ground: a server in the middle picks its own
//! certificates after seeing both real ones, trying until the two halves of its attack show
//! the same six digits (about a thousand tries by the birthday bound). So the code also covers
//! a random nonce from each side, *committed* to before either is revealed (`verify-commit`
//! carries SHA-256 of the nonce, `verify-open` the nonce itself, sent only once the peer's
//! commitment is in): whoever is in the middle has fixed everything it controls before it learns
//! a nonce that changes the code, and matches by luck with probability 10⁻⁶ per attempt.
//!
//! * identity: `dtls-sha-256:` + the fingerprint in lowercase hex without colons, or
//!   `relay-p256:` + the base64url relay public key;
//! * code: the first 4 bytes of SHA-256(`ferry-sas-v2|` idLow `|` nonceLow `|` idHigh `|`
//!   nonceHigh) as a big-endian u32, mod 10⁶, as `"123 456"`; low/high order the identities as
//!   strings, nonces are lowercase hex. Vectors: `vectors/verify.json`.

use sha2::{Digest, Sha256};

/// Random bytes each side commits to.
pub const NONCE_BYTES: usize = 32;

/// The `hello.features` entry of a peer that runs the `verify-*` exchange.
pub const FEATURE_VERIFY: &str = "verify";

/// A fresh nonce from the OS random source (one per connection, never reused).
pub fn fresh_nonce() -> [u8; NONCE_BYTES] {
    use p256::elliptic_curve::rand_core::{OsRng, RngCore};
    let mut n = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut n);
    n
}

/// The hex SHA-256 of `nonce`: what `verify-commit` carries.
pub fn commitment(nonce: &[u8; NONCE_BYTES]) -> String {
    hex::encode(Sha256::digest(nonce))
}

/// Whether `nonce_hex` (from a `verify-open`) is the nonce `commit_hex` committed to.
pub fn opens(commit_hex: &str, nonce_hex: &str) -> bool {
    match hex::decode(nonce_hex) {
        Ok(n) => hex::encode(Sha256::digest(&n)) == commit_hex,
        Err(_) => false,
    }
}

/// True for 64 lowercase hex digits: the form of a commitment and of a nonce on the wire.
pub fn is_hex32(s: &str) -> bool {
    s.len() == 2 * NONCE_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The six-digit code, `"123 456"`, from both sides' identities and nonces (hex). Symmetric:
/// both peers compute the same code from their own and the other's values.
pub fn security_code(own_id: &str, own_nonce: &str, peer_id: &str, peer_nonce: &str) -> String {
    let ((low_id, low_nonce), (high_id, high_nonce)) =
        if (own_id, own_nonce) <= (peer_id, peer_nonce) {
            ((own_id, own_nonce), (peer_id, peer_nonce))
        } else {
            ((peer_id, peer_nonce), (own_id, own_nonce))
        };
    let digest = Sha256::digest(
        format!("ferry-sas-v2|{low_id}|{low_nonce}|{high_id}|{high_nonce}").as_bytes(),
    );
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// The DTLS identity in an SDP: its `a=fingerprint:sha-256 AB:CD:…` line as
/// `dtls-sha-256:abcd…`. `None` when the SDP has no SHA-256 fingerprint (every browser and
/// webrtc-rs put one in).
pub fn dtls_identity(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=fingerprint:")?;
        let (alg, fp) = rest.split_once(' ')?;
        if !alg.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let hex: String = fp
            .trim()
            .chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| format!("dtls-sha-256:{hex}"))
    })
}

/// The DTLS identity of a certificate as the handshake delivered it (DER): the same
/// `dtls-sha-256:<hex>` that [`dtls_identity`] reads from an SDP whose fingerprint is this
/// certificate's. Taken from the handshake rather than the peer's SDP, the code is bound to the
/// key that actually authenticated the channel, whatever the library checked.
pub fn certificate_identity(der: &[u8]) -> String {
    format!("dtls-sha-256:{}", hex::encode(Sha256::digest(der)))
}

/// The relay identity of a base64url relay public key.
pub fn relay_identity(public_b64: &str) -> String {
    format!("relay-p256:{public_b64}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "dtls-sha-256:0000000000000000000000000000000000000000000000000000000000000000";
    const B: &str = "dtls-sha-256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    #[test]
    #[allow(clippy::unwrap_used)]
    fn vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../vectors/verify.json")).unwrap();
        for case in v["cases"].as_array().unwrap() {
            let side = |k: &str| {
                let s = &case[k];
                let nonce: [u8; 32] = hex::decode(s["nonce"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                (
                    s["id"].as_str().unwrap().to_string(),
                    nonce,
                    s["commit"].as_str().unwrap().to_string(),
                )
            };
            let (own_id, own_nonce, own_commit) = side("own");
            let (peer_id, peer_nonce, peer_commit) = side("peer");
            assert_eq!(commitment(&own_nonce), own_commit);
            assert_eq!(commitment(&peer_nonce), peer_commit);
            let (on, pn) = (hex::encode(own_nonce), hex::encode(peer_nonce));
            assert_eq!(
                security_code(&own_id, &on, &peer_id, &pn),
                case["code"],
                "{}",
                case["name"]
            );
            assert_eq!(security_code(&peer_id, &pn, &own_id, &on), case["code"]);
        }
        assert_eq!(
            dtls_identity(v["sdp"]["sdp"].as_str().unwrap()).as_deref(),
            v["sdp"]["identity"].as_str()
        );
        // gen_verify.py's fingerprint is the SHA-256 of the "certificate" b"cert a".
        assert_eq!(
            Some(certificate_identity(b"cert a").as_str()),
            v["sdp"]["identity"].as_str()
        );
    }

    #[test]
    fn both_sides_compute_the_same_code() {
        let na = hex::encode([1u8; 32]);
        let nb = hex::encode([2u8; 32]);
        assert_eq!(security_code(A, &na, B, &nb), security_code(B, &nb, A, &na));
    }

    #[test]
    fn the_code_changes_with_either_fingerprint_and_either_nonce() {
        let na = hex::encode([1u8; 32]);
        let nb = hex::encode([2u8; 32]);
        let base = security_code(A, &na, B, &nb);
        let other = "dtls-sha-256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe";
        assert_ne!(base, security_code(A, &na, other, &nb));
        assert_ne!(base, security_code(other, &na, B, &nb));
        assert_ne!(base, security_code(A, &hex::encode([3u8; 32]), B, &nb));
        assert_ne!(base, security_code(A, &na, B, &hex::encode([3u8; 32])));
    }

    #[test]
    fn a_commitment_opens_only_with_its_nonce() {
        let n = [7u8; 32];
        let c = commitment(&n);
        assert!(is_hex32(&c));
        assert!(opens(&c, &hex::encode(n)));
        assert!(!opens(&c, &hex::encode([8u8; 32])));
        assert!(!opens(&c, "not hex"));
    }

    #[test]
    fn the_fingerprint_line_of_an_sdp_is_the_identity() {
        let sdp = "v=0\r\na=fingerprint:sha-1 00:11\r\na=fingerprint:SHA-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n";
        assert_eq!(
            dtls_identity(sdp).as_deref(),
            Some("dtls-sha-256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        assert_eq!(
            dtls_identity("v=0\r\na=fingerprint:sha-256 AB:CD\r\n"),
            None
        );
        assert_eq!(dtls_identity("v=0\r\n"), None);
    }
}
