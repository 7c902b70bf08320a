//! The `verify` exchange: each side commits to a nonce, then opens it once the other's
//! commitment is in, and both derive the connection's security code
//! (`ferry_protocol::verify` has the scheme and why the commitment is there).

use ferry_protocol::transfer::ControlMessage;
use ferry_protocol::verify::{NONCE_BYTES, commitment, opens, security_code};

/// One connection's exchange. The driver provides the identities (which keys the pipe is bound
/// to) and the randomness, so the engine stays deterministic.
#[derive(Debug)]
pub(crate) struct Verify {
    own_id: String,
    peer_id: String,
    nonce: [u8; NONCE_BYTES],
    commit_sent: bool,
    peer_commit: Option<String>,
    /// The peer's `verify-open` came (whether or not it matched): there is no second one.
    opened: bool,
    code: Option<String>,
}

/// What an incoming `verify-*` message leads to.
pub(crate) enum Step {
    /// Messages to send (possibly none).
    Send(Vec<ControlMessage>),
    /// The peer opened its commitment: the code, and nothing more to send.
    Code(String),
    /// The message breaks the exchange (out of order, repeated, or not the nonce committed to).
    Violation(String),
}

impl Verify {
    pub(crate) fn new(own_id: String, peer_id: String, nonce: [u8; NONCE_BYTES]) -> Self {
        Verify {
            own_id,
            peer_id,
            nonce,
            commit_sent: false,
            peer_commit: None,
            opened: false,
            code: None,
        }
    }

    pub(crate) fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Our commitment, the first time the peer is known to run the exchange (its `hello` lists
    /// `verify`, or its commitment arrived first).
    pub(crate) fn start(&mut self) -> Option<ControlMessage> {
        if self.commit_sent {
            return None;
        }
        self.commit_sent = true;
        Some(ControlMessage::VerifyCommit {
            commit: commitment(&self.nonce),
        })
    }

    pub(crate) fn on_commit(&mut self, commit: String) -> Step {
        if self.peer_commit.is_some() {
            return Step::Violation("a second verify-commit".into());
        }
        self.peer_commit = Some(commit);
        let mut out: Vec<ControlMessage> = self.start().into_iter().collect();
        // Ours is out and theirs is in: neither side can change its nonce any more.
        out.push(ControlMessage::VerifyOpen {
            nonce: hex::encode(self.nonce),
        });
        Step::Send(out)
    }

    pub(crate) fn on_open(&mut self, nonce: &str) -> Step {
        let Some(commit) = &self.peer_commit else {
            return Step::Violation("verify-open before verify-commit".into());
        };
        if self.opened {
            return Step::Violation("a second verify-open".into());
        }
        self.opened = true;
        if !opens(commit, nonce) {
            return Step::Violation(
                "verify-open does not match its verify-commit: no security code".into(),
            );
        }
        let code = security_code(&self.own_id, &hex::encode(self.nonce), &self.peer_id, nonce);
        self.code = Some(code.clone());
        Step::Code(code)
    }
}
