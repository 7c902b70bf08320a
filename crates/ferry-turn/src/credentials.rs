//! Time-limited TURN credentials in the coturn "REST API" scheme
//! (draft-uberti-behave-turn-rest): `username = <unix expiry>:<user>`,
//! `password = base64(HMAC-SHA1(secret, username))`. The same secret works with coturn's
//! `use-auth-secret` / `static-auth-secret`, so an operator can swap in an external coturn.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What a client puts into `RTCIceServer.username` / `.credential`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("username is not `<expiry>:<user>`")]
    Malformed,
    #[error("credential expired")]
    Expired,
}

/// Issues and checks credentials from one shared secret.
#[derive(Clone)]
pub struct RestCredentials {
    secret: String,
}

impl std::fmt::Debug for RestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestCredentials(<secret>)")
    }
}

impl RestCredentials {
    pub fn new(secret: impl Into<String>) -> Self {
        RestCredentials {
            secret: secret.into(),
        }
    }

    /// A random secret for a server that was not given one: credentials then die with the process,
    /// which is fine because clients fetch fresh ones on every signaling connect.
    pub fn random() -> Self {
        let bytes: [u8; 24] = rand::random();
        RestCredentials::new(BASE64_STANDARD.encode(bytes))
    }

    pub fn issue(&self, user: &str, ttl: Duration, now: SystemTime) -> Credential {
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // ':' separates expiry from user in the scheme; a ':' inside the user part is harmless for
        // coturn (it splits at the first one) but we keep user ids free of it anyway.
        let username = format!("{expiry}:{}", user.replace(':', "_"));
        let password = self.password_for(&username);
        Credential { username, password }
    }

    pub fn password_for(&self, username: &str) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(username.as_bytes());
        BASE64_STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Checks the expiry part of a username. The password itself is checked by STUN
    /// MESSAGE-INTEGRITY against the key from [`Self::password_for`].
    pub fn check_expiry(username: &str, now: SystemTime) -> Result<(), CredentialError> {
        let expiry_part = username.split(':').next().unwrap_or_default();
        if expiry_part.is_empty() || !expiry_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CredentialError::Malformed);
        }
        let expiry: u64 = expiry_part
            .parse()
            .map_err(|_| CredentialError::Malformed)?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if expiry <= now {
            return Err(CredentialError::Expired);
        }
        Ok(())
    }
}

/// The `turn` crate's hook: returns the long-term key (MD5 of `user:realm:password`) or refuses.
pub(crate) struct RestAuthHandler {
    pub(crate) credentials: RestCredentials,
}

impl turn::auth::AuthHandler for RestAuthHandler {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        if let Err(e) = RestCredentials::check_expiry(username, SystemTime::now()) {
            tracing::debug!(%src_addr, username, error = %e, "TURN credential refused");
            return Err(turn::Error::Other(e.to_string()));
        }
        let password = self.credentials.password_for(username);
        Ok(turn::auth::generate_auth_key(username, realm, &password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coturn_rest_example() {
        // Computed independently with:
        // printf '%s' 1700000000:alice | openssl dgst -sha1 -hmac s3cret -binary | base64
        let c = RestCredentials::new("s3cret");
        assert_eq!(
            c.password_for("1700000000:alice"),
            "TtElzSjT0GdnTQ9xdcRNxx96yQs="
        );
    }

    #[test]
    fn expiry_is_enforced_and_malformed_names_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let c = RestCredentials::new("k").issue("peer", Duration::from_secs(60), now);
        assert_eq!(c.username, "1060:peer");
        assert_eq!(RestCredentials::check_expiry(&c.username, now), Ok(()));
        assert_eq!(
            RestCredentials::check_expiry(&c.username, now + Duration::from_secs(60)),
            Err(CredentialError::Expired)
        );
        for bad in [
            "",
            ":peer",
            "abc:peer",
            "-5:peer",
            "99999999999999999999999:x",
        ] {
            assert_eq!(
                RestCredentials::check_expiry(bad, now),
                Err(CredentialError::Malformed),
                "{bad:?}"
            );
        }
    }
}
