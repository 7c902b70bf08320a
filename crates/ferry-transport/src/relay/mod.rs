//! The WebSocket relay as a [`MessagePipe`](crate::pipe::MessagePipe): the path of last resort when no ICE path works
//! (`docs/protocol.md` §4). The server forwards frames between the two peers; every message is
//! sealed end to end with [`ferry_protocol::relay_crypto`] so the server sees only ciphertext
//! (`docs/security.md`).
//!
//! Setting up ([`open_relay`]): ask the hub for a session (`relay-open` → `relay-ready`, unless
//! the peer asked first), swap ephemeral public keys as `relay-key` app signals, connect
//! `/relay/<id>?token=…`, wait for `{"type":"paired"}`.
//!
//! Backpressure: outgoing messages go through a bounded queue to one writer task that seals them
//! in order and awaits each WebSocket write, so a slow relay or peer (TCP) holds back `send`.
//! Incoming frames are opened by one reader task into a bounded queue; when the consumer is slow
//! the reader stops reading and TCP pushes back through the relay to the sender.
//!
//! The two halves mirror the browser's `relay-link.js` and `relay-pipe.js`: [`link`] sets a
//! session up over signaling, [`pipe`] carries sealed messages once it is paired.

use std::time::Duration;

use crate::signaling::SignalingError;

pub mod link;
pub mod pipe;

pub use link::{RelayInvite, RelayLink, open_relay, relay_url};
pub use pipe::RelayPipe;

/// Largest frame accepted from the relay: the server's own limit.
const MAX_INCOMING_FRAME: usize = 512 * 1024;

/// How the path is shown to users.
pub const RELAY_PATH_LABEL: &str = "relay (WebSocket, end-to-end encrypted)";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("the server refused the relay: {0}")]
    Server(String),
    #[error("the server refused the relay connection (HTTP {0}): {1}")]
    Refused(u16, String),
    #[error("cannot connect to the relay at {0}: {1}")]
    Connect(String, String),
    #[error("the peer left before the relay was set up")]
    PeerLeft,
    #[error("the peer sent an unusable relay key: {0}")]
    BadKey(String),
    #[error("relay setup timed out after {0:?} while {1}")]
    Timeout(Duration, &'static str),
    #[error("the relay closed before pairing: {0}")]
    Closed(String),
}
