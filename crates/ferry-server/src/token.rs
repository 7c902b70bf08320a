//! Peer tokens: `<peer id>.<HMAC-SHA256(secret, peer id)>`, so a reconnecting client can prove it
//! was issued an id without the server remembering anything.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl TokenSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        TokenSigner { secret }
    }

    fn mac(&self, peer_id: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(b"ferry-peer-token:");
        mac.update(peer_id.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    pub fn issue(&self, peer_id: &str) -> String {
        format!("{peer_id}.{}", self.mac(peer_id))
    }

    /// Returns the peer id a token was issued for, if the token is genuine.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (id, sig) = token.split_once('.')?;
        if !is_peer_id(id) {
            return None;
        }
        let expected = self.mac(id);
        // Constant-time comparison: the signature is a secret-derived value.
        let equal = expected.len() == sig.len()
            && expected
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        equal.then(|| id.to_string())
    }
}

pub fn is_peer_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub fn new_peer_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_verify() {
        let s = TokenSigner::new(b"k".to_vec());
        let id = new_peer_id();
        let t = s.issue(&id);
        assert_eq!(s.verify(&t), Some(id.clone()));
        assert_eq!(TokenSigner::new(b"other".to_vec()).verify(&t), None);
        assert_eq!(s.verify(&format!("{id}.00")), None);
        assert_eq!(s.verify("garbage"), None);
    }
}
