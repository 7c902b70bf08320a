//! The path decision: WebRTC first (direct or via TURN), the WebSocket relay when ICE has not
//! connected within a bounded time, or the relay straight away when the user forces it.
//!
//! Both peers decide on their own clock. The one that gives up first asks the hub for a relay
//! session; the other, still trying ICE, sees the `relay-ready` and follows at once. (A peer that
//! missed it joins when its own attempt times out: asking for the session again returns the same
//! one, and the first peer answers that by sending its key again, [`crate::relay::open_relay`].)

use std::time::Duration;

use crate::peer::{ConnectError, PeerLink, PeerOptions, connect};
use crate::pipe::{Message, MessagePipe, PipeError};
use crate::relay::{RELAY_PATH_LABEL, RelayError, RelayLink, open_relay};
use crate::signaling::PeerSignaling;

/// When to use the WebSocket relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// Only WebRTC; fail if ICE finds no path.
    Never,
    /// WebRTC, and the relay if it has not connected within this time.
    After(Duration),
    /// The relay only (`--relay`).
    Forced,
}

/// Default time ICE gets before falling back (docs/protocol.md §4).
pub const DEFAULT_RELAY_AFTER: Duration = Duration::from_secs(10);
/// Time the relay setup may take once decided: the peer may still spend a full ICE attempt
/// before it joins, and the server keeps a session open for 30 s.
const RELAY_SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Ice(#[from] ConnectError),
    #[error("no WebRTC path worked ({ice}), and the relay failed too: {relay}")]
    Relay { ice: String, relay: RelayError },
    #[error("{0}")]
    ForcedRelay(RelayError),
}

/// A connection to the peer over whichever path worked.
pub enum Link {
    Ice(PeerLink),
    Relay(RelayLink),
}

/// Connects to `peer_id`: ICE first, the relay as `mode` says.
pub async fn connect_with_fallback(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    opts: &PeerOptions,
    mode: RelayMode,
) -> Result<Link, LinkError> {
    let after = match mode {
        RelayMode::Forced => {
            return open_relay(sig, peer_id, None, RELAY_SETUP_TIMEOUT)
                .await
                .map(Link::Relay)
                .map_err(LinkError::ForcedRelay);
        }
        RelayMode::Never => return Ok(Link::Ice(connect(sig, peer_id, opts).await?)),
        RelayMode::After(d) => d,
    };
    let ice_opts = PeerOptions {
        timeout: after.min(opts.timeout),
        ..opts.clone()
    };
    match connect(sig, peer_id, &ice_opts).await {
        Ok(link) => Ok(Link::Ice(link)),
        Err(e @ (ConnectError::Timeout(..) | ConnectError::Failed)) => {
            tracing::info!("no WebRTC path ({e}); falling back to the WebSocket relay");
            open_relay(sig, peer_id, None, RELAY_SETUP_TIMEOUT)
                .await
                .map(Link::Relay)
                .map_err(|relay| LinkError::Relay {
                    ice: e.to_string(),
                    relay,
                })
        }
        Err(ConnectError::RelayRequested(invite)) => {
            tracing::info!("the peer moved to the WebSocket relay; following");
            open_relay(sig, peer_id, Some(invite), RELAY_SETUP_TIMEOUT)
                .await
                .map(Link::Relay)
                .map_err(|relay| LinkError::Relay {
                    ice: "the peer moved to the relay".into(),
                    relay,
                })
        }
        Err(e) => Err(e.into()),
    }
}

impl Link {
    /// How the path is shown: `direct (host)`, `relay (relay)` (TURN), or
    /// `relay (WebSocket, end-to-end encrypted)`.
    pub fn path_label(&self) -> String {
        match self {
            Link::Ice(l) => l.path.to_string(),
            Link::Relay(_) => RELAY_PATH_LABEL.to_string(),
        }
    }

    /// Machine-readable path: `direct`, `relay` (TURN) or `websocket` (the WebSocket relay).
    pub fn path_kind(&self) -> &'static str {
        match self {
            Link::Ice(l) => l.path.kind,
            Link::Relay(_) => "websocket",
        }
    }

    /// The keys this link is bound to, ours then the peer's: DTLS certificate fingerprints, or
    /// the relay's public keys. The transfer engine's `verify` exchange turns them into the
    /// security code both users compare.
    pub fn identities(&self) -> Option<(String, String)> {
        match self {
            Link::Ice(l) => l.identities.clone(),
            Link::Relay(r) => Some(r.identities.clone()),
        }
    }

    /// Why the connection ended, when the transport knows more than "closed".
    pub fn close_reason(&self) -> Option<String> {
        match self {
            Link::Ice(_) => None,
            Link::Relay(r) => r.pipe.close_reason(),
        }
    }

    /// Resolves when the peer is known to be gone ([`PeerLink::departed`]). The relay needs no
    /// watching (the server closes a session when either side's socket ends), but signaling is
    /// still read so the hub's heartbeats are answered.
    pub async fn departed(&self, sig: &mut impl PeerSignaling, peer_id: &str) {
        match self {
            Link::Ice(l) => l.departed(sig, peer_id).await,
            Link::Relay(_) => {
                while sig.recv().await.is_ok() {}
                std::future::pending().await
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Link::Ice(l) => l.close().await,
            Link::Relay(r) => r.pipe.close().await,
        }
    }
}

impl MessagePipe for Link {
    async fn send(&self, msg: Message) -> Result<(), PipeError> {
        match self {
            Link::Ice(l) => l.pipe.send(msg).await,
            Link::Relay(r) => r.pipe.send(msg).await,
        }
    }

    async fn writable(&self) -> Result<(), PipeError> {
        match self {
            Link::Ice(l) => l.pipe.writable().await,
            Link::Relay(r) => r.pipe.writable().await,
        }
    }

    async fn recv(&self) -> Option<Message> {
        match self {
            Link::Ice(l) => l.pipe.recv().await,
            Link::Relay(r) => r.pipe.recv().await,
        }
    }

    fn max_message_size(&self) -> usize {
        match self {
            Link::Ice(l) => l.pipe.max_message_size(),
            Link::Relay(r) => r.pipe.max_message_size(),
        }
    }

    async fn close(&self) {
        match self {
            Link::Ice(l) => l.pipe.close().await,
            Link::Relay(r) => r.pipe.close().await,
        }
    }
}
