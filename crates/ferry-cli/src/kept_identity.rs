//! The signaling token a `ferry receive` keeps for its room, so that running it again on the
//! same code (after a kill, a crash, a lost network) comes back as the same peer. The web app
//! follows a peer id when it sends again what a lost connection cut short
//! (web/app/js/transfer/resend.js), so the sender resumes to the new process by itself, and the
//! new process resumes from its `.ferry-part`.
//!
//! One file per (server, room code) under the user's state folder, holding only the token
//! (which names this peer to that server and nothing else). It is locked while a receiver runs:
//! a second `ferry receive` of the same code on this machine at the same time gets an identity
//! of its own instead of taking the first one's (the hub would close the first, 4000). It is
//! removed when a receive ends well, and ignored (and removed) after [`MAX_AGE`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// As long as the web app keeps a partial file (docs/architecture.md, "Sending again").
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

pub struct KeptIdentity {
    file: File,
    path: PathBuf,
    token: Option<String>,
}

impl KeptIdentity {
    /// The identity for `code` on `server` under the user's state folder (`FERRY_STATE_DIR`, else
    /// the platform's). `None` when there is no such folder or another receiver holds it;
    /// either way the receive goes on with a new identity.
    pub fn open(server: &str, code: &str) -> Option<Self> {
        let dir = match std::env::var_os("FERRY_STATE_DIR") {
            Some(d) => PathBuf::from(d),
            None => dirs::state_dir()
                .or_else(dirs::data_local_dir)?
                .join("ferry"),
        };
        Self::open_in(&dir.join("receive"), server, code)
    }

    pub fn open_in(dir: &Path, server: &str, code: &str) -> Option<Self> {
        let skip = |what: &str, e: &dyn std::fmt::Display| {
            tracing::debug!("not keeping a receive identity: {what}: {e}");
        };
        if let Err(e) = std::fs::create_dir_all(dir) {
            skip(&format!("cannot create {}", dir.display()), &e);
            return None;
        }
        remove_expired(dir);
        let path = dir.join(key(server, code));
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = match opts.open(&path) {
            Ok(f) => f,
            Err(e) => {
                skip(&format!("cannot open {}", path.display()), &e);
                return None;
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::debug!("another ferry receive of this room holds its identity");
                return None;
            }
            Err(TryLockError::Error(e)) => {
                skip("cannot lock", &e);
                return None;
            }
        }
        let mut text = String::new();
        let token = match file.read_to_string(&mut text) {
            Ok(_) => Some(text.trim().to_string()).filter(|t| !t.is_empty() && t.len() <= 256),
            Err(_) => None,
        };
        Some(KeptIdentity { file, path, token })
    }

    /// The kept token, if one was stored before.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Keeps `token` (the one `welcome` gave this connection) for the next run.
    pub fn store(&mut self, token: &str) {
        let r = self
            .file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| self.file.write_all(token.as_bytes()));
        if let Err(e) = r {
            tracing::debug!("cannot keep the receive identity: {e}");
        }
    }

    /// The receive ended well: nothing to come back for.
    pub fn forget(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The file name for (server, code): codes as people type them (any case, spaces, dashes).
fn key(server: &str, code: &str) -> String {
    let code: String = code
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let mut h = Sha256::new();
    h.update(server.trim_end_matches('/').as_bytes());
    h.update(b"\n");
    h.update(code.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn remove_expired(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten().take(10_000) {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > MAX_AGE));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferry-kept-id-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_stored_token_comes_back_for_the_same_room_however_the_code_is_typed() {
        let dir = temp_dir("same");
        let mut a = KeptIdentity::open_in(&dir, "http://h:1", "ABC-DEF").unwrap();
        assert_eq!(a.token(), None);
        a.store("peer.0123");
        drop(a);
        let b = KeptIdentity::open_in(&dir, "http://h:1/", "abc def").unwrap();
        assert_eq!(b.token(), Some("peer.0123"));
        drop(b);
        let other = KeptIdentity::open_in(&dir, "http://h:2", "ABCDEF").unwrap();
        assert_eq!(other.token(), None, "another server is another identity");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_receiver_of_the_room_does_not_take_the_first_ones_identity() {
        let dir = temp_dir("locked");
        let mut a = KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").unwrap();
        a.store("peer.1");
        assert!(KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").is_none());
        drop(a);
        assert!(KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_receive_that_ended_well_forgets_and_a_stale_one_expires() {
        let dir = temp_dir("forget");
        let mut a = KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").unwrap();
        a.store("peer.1");
        a.forget();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

        let mut b = KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").unwrap();
        b.store("peer.2");
        let old = SystemTime::now() - MAX_AGE - Duration::from_secs(60);
        b.file.set_modified(old).unwrap();
        drop(b);
        let c = KeptIdentity::open_in(&dir, "http://h:1", "ABCDEF").unwrap();
        assert_eq!(c.token(), None, "older than a day: not used");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
