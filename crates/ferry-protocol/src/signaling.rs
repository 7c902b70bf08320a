//! Signaling messages exchanged with the hub over the `/ws` WebSocket (JSON text frames).
//!
//! Every message from the network is parsed here, once, into these types; the hub never
//! looks at raw JSON. `docs/protocol.md` is the human description of the same shapes.

use serde::{Deserialize, Serialize};

/// Signaling protocol version, sent in `welcome`.
/// 2: room peer lists are paged (`room-peers`); see [`ROOM_PEERS_PAGE`].
pub const SIGNALING_VERSION: u32 = 2;

/// How many peers a `welcome` or `room-joined` lists per room; the rest follow at once in
/// `room-peers` messages of this many. No signaling message then grows with the room, which
/// matters because each connection's WebSocket write buffer keeps the capacity of the largest
/// message it ever sent (34 KB per idle peer in a 1,000-peer room before paging).
pub const ROOM_PEERS_PAGE: usize = 32;

/// Largest text frame the hub accepts; bigger frames get a `too-large` error.
pub const MAX_SIGNAL_MESSAGE_BYTES: usize = 64 * 1024;

/// Longest display name a peer may choose, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 48;

/// Messages a client sends to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Create a new code room and join it.
    CreateRoom,
    /// Join an existing code room.
    JoinRoom { code: String },
    /// Leave a code room (the LAN room cannot be left).
    LeaveRoom { room: String },
    /// Change this peer's display name.
    SetName { name: String },
    /// Forward `signal` to peer `to`, who must share a room with the sender.
    Signal { to: String, signal: Signal },
    /// Ask for a relay session with peer `to` (both are told with `relay-ready`). Idempotent:
    /// while a session for the pair is open, asking again returns the same one.
    RelayOpen { to: String },
    /// Application-level keepalive for clients that cannot see WebSocket pings.
    Ping,
}

/// What one peer forwards to another through the hub. The hub checks the shape, not the content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Signal {
    /// An SDP offer or answer (`sdpType` is `offer`, `answer`, `pranswer` or `rollback`).
    Description {
        #[serde(rename = "sdpType")]
        sdp_type: SdpType,
        sdp: String,
    },
    /// A trickled ICE candidate; `candidate: null` ends the trickle.
    Candidate { candidate: Option<IceCandidate> },
    /// Opaque application payload (e.g. relay negotiation); any JSON value.
    App { payload: serde_json::Value },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// Mirrors the browser's `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A peer as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub id: String,
    pub name: String,
    /// Free-form client description, e.g. `"browser"` or `"cli"`.
    pub client: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Derived from the network address the peer connects from.
    Lan,
    /// Joined with a short room code.
    Code,
}

/// A room and who else is in it (never including the receiving peer itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// `"lan"` for the LAN room, the room code for code rooms.
    pub id: String,
    pub kind: RoomKind,
    pub peers: Vec<PeerInfo>,
    /// LAN rooms only: more devices share this network than one room shows (the room is one of
    /// several of bounded size). Clients suggest pairing by code. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crowded: bool,
}

impl RoomInfo {
    /// This room with its first page of peers, and the `room-peers` messages for the rest.
    pub fn paged(mut self) -> (RoomInfo, Vec<ServerMessage>) {
        if self.peers.len() <= ROOM_PEERS_PAGE {
            return (self, Vec::new());
        }
        let rest = self.peers.split_off(ROOM_PEERS_PAGE);
        let pages = rest
            .chunks(ROOM_PEERS_PAGE)
            .map(|page| ServerMessage::RoomPeers {
                room: self.id.clone(),
                peers: page.to_vec(),
            })
            .collect();
        (self, pages)
    }
}

/// One entry of the ICE server list handed to clients (mirrors `RTCIceServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Machine-readable error codes carried by `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, or JSON that is not a known message shape.
    BadMessage,
    /// A text frame over [`MAX_SIGNAL_MESSAGE_BYTES`].
    TooLarge,
    /// Binary frames are not part of the signaling protocol.
    Unsupported,
    /// The target peer is unknown or shares no room with the sender.
    PeerNotFound,
    /// The room code does not exist (or has expired).
    RoomNotFound,
    /// The peer is in too many rooms, or the room is full.
    Limit,
    /// A field's value was refused (e.g. an empty display name).
    InvalidValue,
    /// Too many messages per second; further floods close the connection.
    RateLimited,
}

/// Messages the hub sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// First message on every connection.
    #[serde(rename_all = "camelCase")]
    Welcome {
        version: u32,
        peer: PeerInfo,
        /// Present this as `?token=` on a later connection to keep the same id and name.
        token: String,
        rooms: Vec<RoomInfo>,
        ice_servers: Vec<IceServer>,
    },
    /// Answer to `create-room` and `join-room`.
    RoomJoined {
        room: RoomInfo,
    },
    /// More peers already in a room, right after the `welcome` / `room-joined` that listed the
    /// first [`ROOM_PEERS_PAGE`] of them.
    RoomPeers {
        room: String,
        peers: Vec<PeerInfo>,
    },
    /// Answer to `leave-room`.
    RoomLeft {
        room: String,
    },
    #[serde(rename_all = "camelCase")]
    PeerJoined {
        room: String,
        peer: PeerInfo,
    },
    #[serde(rename_all = "camelCase")]
    PeerLeft {
        room: String,
        peer_id: String,
    },
    /// A peer sharing a room changed its name (also sent to the peer itself).
    PeerUpdated {
        peer: PeerInfo,
    },
    /// A signal from another peer; `from` is stamped by the hub.
    Signal {
        from: String,
        signal: Signal,
    },
    /// A relay session between this peer and `peerId` is authorized: connect a WebSocket to
    /// `/relay/<relayId>?token=<your token>` within `expiresInMs`.
    #[serde(rename_all = "camelCase")]
    RelayReady {
        relay_id: String,
        peer_id: String,
        expires_in_ms: u64,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing these plain types cannot fail: no maps with non-string keys, no foreign Serialize impls.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Why a client message was refused, before it reached the hub.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("message is {0} bytes; the limit is {MAX_SIGNAL_MESSAGE_BYTES}")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl ParseError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::TooLarge(_) => ErrorCode::TooLarge,
            ParseError::Malformed(_) => ErrorCode::BadMessage,
        }
    }
}

impl ClientMessage {
    /// Parses one text frame from a client.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.len() > MAX_SIGNAL_MESSAGE_BYTES {
            return Err(ParseError::TooLarge(text.len()));
        }
        serde_json::from_str(text).map_err(|e| ParseError::Malformed(e.to_string()))
    }
}

/// Characters that draw nothing or reorder what follows: zero-width spaces and joiners, bidi
/// embeddings, overrides and isolates, word joiners, the BOM, soft hyphens. A name made of them
/// looks empty, and a bidi override can make one peer's name impersonate another's.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e0fff}')
}

/// Trims and checks a display name chosen by a peer.
pub fn validate_display_name(name: &str) -> Result<String, &'static str> {
    let name: String = name
        .chars()
        .filter(|c| !is_invisible_format(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err("display name is empty");
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err("display name is longer than 48 characters");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signal_with_candidate() {
        let m = ClientMessage::parse(
            r#"{"type":"signal","to":"p1","signal":{"kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}}"#,
        )
        .unwrap();
        let ClientMessage::Signal { to, signal } = m else {
            panic!("wrong variant")
        };
        assert_eq!(to, "p1");
        assert!(matches!(signal, Signal::Candidate { candidate: Some(_) }));
    }

    #[test]
    fn refuses_forged_from_and_unknown_types() {
        assert!(
            ClientMessage::parse(
                r#"{"type":"signal","to":"p1","from":"p2","signal":{"kind":"app","payload":1}}"#
            )
            .is_err()
        );
        assert!(ClientMessage::parse(r#"{"type":"nope"}"#).is_err());
        assert!(ClientMessage::parse(r#"{"type":"join-room"}"#).is_err());
        assert!(ClientMessage::parse("not json").is_err());
    }

    #[test]
    fn refuses_oversize() {
        let big = format!(
            r#"{{"type":"set-name","name":"{}"}}"#,
            "x".repeat(MAX_SIGNAL_MESSAGE_BYTES)
        );
        assert!(matches!(
            ClientMessage::parse(&big),
            Err(ParseError::TooLarge(_))
        ));
    }

    #[test]
    fn display_names() {
        assert_eq!(
            validate_display_name("  Amber \n Otter ").unwrap(),
            "Amber Otter"
        );
        assert!(validate_display_name("   ").is_err());
        assert!(validate_display_name(&"x".repeat(49)).is_err());
    }
}
