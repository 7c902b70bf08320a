//! Signaling messages exchanged with the hub over the `/ws` WebSocket (JSON text frames).
//!
//! Every message from the network is parsed here, once, into these types; the hub never
//! looks at raw JSON. `docs/protocol.md` is the human description of the same shapes.

use serde::{Deserialize, Serialize};

/// Signaling protocol version, sent in `welcome`.
/// 2: room peer lists are paged (`room-peers`); see [`ROOM_PEERS_PAGE`].
/// 3: paired rooms (`join-paired`, room kind `paired`), for devices paired once that should find
/// each other on any network.
pub const SIGNALING_VERSION: u32 = 3;

/// Hex digits in a paired room's id. The id is derived by the paired devices from a secret they
/// share (docs/security.md "Paired devices"); the server sees only the id.
pub const PAIRED_ROOM_ID_LEN: usize = 32;

/// Paired rooms one `join-paired` may name, and one peer may be in at once.
pub const MAX_PAIRED_ROOMS_PER_PEER: usize = 32;

/// Whether `id` is a paired room id: [`PAIRED_ROOM_ID_LEN`] lowercase hex digits. (No room code
/// is that long, so the two kinds of id never meet.)
pub fn is_paired_room_id(id: &str) -> bool {
    id.len() == PAIRED_ROOM_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// How many peers a `welcome` or `room-joined` lists per room; the rest follow at once in
/// `room-peers` messages of this many. No signaling message then grows with the room, which
/// matters because each connection's WebSocket write buffer keeps the capacity of the largest
/// message it ever sent (34 KB per idle peer in a 1,000-peer room before paging).
pub const ROOM_PEERS_PAGE: usize = 32;

/// Largest text frame the hub accepts; bigger frames get a `too-large` error.
pub const MAX_SIGNAL_MESSAGE_BYTES: usize = 64 * 1024;

/// Longest display name a peer may choose, in characters (Unicode scalar values) after
/// [`validate_display_name`] has cleaned it.
pub const MAX_DISPLAY_NAME_CHARS: usize = 48;

/// Messages a client sends to the hub: JSON text frames tagged by `type` (kebab-case). Unknown
/// fields are refused (`bad-message`), so a client cannot forge e.g. `signal.from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// `create-room`: create a new code room and join it; answered with `room-joined` (the code
    /// is the room's `id`), or `error` `limit` / `rate-limited`.
    CreateRoom,
    /// `join-room`: join an existing code room; answered with `room-joined` and `room-peers`
    /// pages, while the members get `peer-joined`.
    JoinRoom {
        /// The code as a person typed it: any case, spaces and dashes ignored, 6–12 characters
        /// of the code alphabet. Unknown, expired, malformed, or closed to newcomers after too
        /// many wrong guesses: all answered alike with `room-not-found`.
        code: String,
    },
    /// `join-paired` (version 3): join the paired rooms named, creating those that do not exist
    /// yet; answered with one `room-joined` per room (and `room-peers` pages), while the members
    /// get `peer-joined`. Joining a room the peer is in already just lists it again. Costs one
    /// unit of the address's `join-room` budget, however many rooms it names.
    JoinPaired {
        /// Paired room ids ([`is_paired_room_id`]), 1–[`MAX_PAIRED_ROOMS_PER_PEER`] of them. An id
        /// of the wrong shape gets `invalid-value` and the others are still joined; past the
        /// per-peer limit, `limit`.
        rooms: Vec<String>,
    },
    /// `leave-room`: leave a code room or a paired room; answered with `room-left`, the others
    /// get `peer-left`.
    LeaveRoom {
        /// The room's `id` from `room-joined` (its code, or the paired room's id). The LAN room
        /// cannot be left: `"lan"`, like a room this peer is not in, gets `room-not-found`.
        room: String,
    },
    /// `set-name`: change this peer's display name; everyone sharing a room with it, and the
    /// peer itself, gets `peer-updated`.
    SetName {
        /// The new name, cleaned by [`validate_display_name`] (1–48 characters after cleaning,
        /// else `invalid-value`).
        name: String,
    },
    /// `signal`: forward `signal` to another peer, delivered as a server `signal` with `from`.
    Signal {
        /// The target's peer id; unknown, this peer itself, or sharing no room with it gets
        /// `peer-not-found`.
        to: String,
        /// What to forward; the hub checks its shape only.
        signal: Signal,
    },
    /// `relay-open`: ask for a WebSocket relay session with peer `to` (both are told with
    /// `relay-ready`). Idempotent: while a session for the pair is pending, asking again (from
    /// either side) returns the same `relayId` to both.
    RelayOpen {
        /// The other peer's id; it must share a room with this peer (`peer-not-found` if not).
        to: String,
    },
    /// `ping`: application-level keepalive for clients that cannot see WebSocket pings;
    /// answered with `pong`.
    Ping,
}

/// What one peer forwards to another through the hub. The hub checks the shape, not the content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Signal {
    /// `description`: a session description for WebRTC negotiation (perfect negotiation:
    /// either side may offer; on glare the peer with the lower id rolls back).
    Description {
        /// What the description is (`sdpType` on the wire).
        #[serde(rename = "sdpType")]
        sdp_type: SdpType,
        /// The SDP text.
        sdp: String,
    },
    /// `candidate`: a trickled ICE candidate; candidates that arrive before the remote
    /// description are queued by the receiver.
    Candidate {
        /// The candidate; `null` marks the end of candidates.
        candidate: Option<IceCandidate>,
    },
    /// `app`: application data between peers that the hub does not look inside, e.g. the
    /// relay's `{"type":"relay-key",…}` (docs/protocol.md §4).
    App {
        /// Any JSON value (within the 64 KiB frame limit).
        payload: serde_json::Value,
    },
}

/// The type of a session description, as the browser's `RTCSdpType` (lowercase on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    /// `offer`: proposes a session; the other side answers.
    Offer,
    /// `answer`: the final answer to an offer.
    Answer,
    /// `pranswer`: a provisional answer, to be followed by a final one.
    Pranswer,
    /// `rollback`: withdraws the sender's own pending offer (the polite side on glare).
    Rollback,
}

/// Mirrors the browser's `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The SDP `candidate:` attribute line, e.g.
    /// `"candidate:1 1 udp 2122260223 192.168.1.5 54321 typ host"`.
    pub candidate: String,
    /// `sdpMid`: the media stream identification the candidate belongs to, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// `sdpMLineIndex`: index (from 0) of the SDP media section the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    /// `usernameFragment`: the ICE ufrag of the session the candidate belongs to, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A peer as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// Assigned by the hub: 16 lowercase hex characters, kept across reconnects that present
    /// the peer's token. The address for `signal.to` and `relay-open.to`.
    pub id: String,
    /// Display name: one derived from the id (`"Amber Otter"`) until the peer sends `set-name`;
    /// 1–48 characters as cleaned by [`validate_display_name`]. Not unique.
    pub name: String,
    /// What kind of client this is, from the connection's `?client=` parameter (e.g.
    /// `"browser"`, `"cli"`): `[A-Za-z0-9-]`, at most 16, `"unknown"` when not given.
    pub client: String,
    /// What the device is, from the connection's `?device=` parameter: `"phone"`, `"tablet"`,
    /// `"desktop"`, or empty (not said; then absent on the wire). The peer's own word, shown as
    /// an icon, never used for a decision.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
}

/// How a room came to be (`kind` on the wire, lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// `lan`: chosen by the hub from the address the peer connects from (same public IPv4, same
    /// IPv6 /64, or any private address); every peer is in exactly one, id `"lan"`.
    Lan,
    /// `code`: created with `create-room` and joined with its short code; lives while it has
    /// members and for the room TTL after.
    Code,
    /// `paired` (version 3): joined with `join-paired` by devices that share a pairing secret;
    /// created by its first member and gone with its last.
    Paired,
}

/// A room and who else is in it (never including the receiving peer itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// `"lan"` for the LAN room, the room code for code rooms, the id for paired rooms.
    pub id: String,
    /// LAN room, code room or paired room.
    pub kind: RoomKind,
    /// The other members: at most [`ROOM_PEERS_PAGE`] in one message (the rest follow in
    /// `room-peers`, see [`RoomInfo::paged`]); never the receiving peer itself.
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
    /// STUN/TURN URLs that share these credentials, e.g.
    /// `"turn:ferry.example:3478?transport=udp"`.
    pub urls: Vec<String>,
    /// For TURN: the time-limited user name issued to this peer (`<expiry unix s>:<peer id>`,
    /// the TURN REST scheme). Absent for plain STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For TURN: the password that goes with `username` (base64 HMAC-SHA1 of it under the
    /// TURN secret).
    /// Absent for plain STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Machine-readable error codes carried by `error` messages (kebab-case on the wire). After an
/// `error` the connection stays open; closes use WebSocket close codes instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// `bad-message`: not JSON, an unknown `type`, a missing, unknown or mistyped field.
    BadMessage,
    /// `too-large`: a text frame over [`MAX_SIGNAL_MESSAGE_BYTES`] (up to 1 MiB; bigger frames
    /// close the connection).
    TooLarge,
    /// `unsupported`: a binary frame; they are not part of the signaling protocol.
    Unsupported,
    /// `peer-not-found`: the target peer is unknown, is the sender itself, or shares no room
    /// with the sender.
    PeerNotFound,
    /// `room-not-found`: a join of an unknown, expired, malformed or closed code, or a leave of
    /// a room the peer is not in.
    RoomNotFound,
    /// `limit`: too many code rooms for this peer, the room is full, the server has too many
    /// rooms, or (sent to members) the room no longer admits newcomers.
    Limit,
    /// `invalid-value`: a field's value was refused (e.g. an empty or over-long display name).
    InvalidValue,
    /// `rate-limited`: too many messages per second (the message was dropped; sent at most once
    /// a second, and a flood that goes on closes the connection), or too many `join-room` /
    /// `create-room` from the address.
    RateLimited,
}

/// Messages the hub sends to a client: JSON text frames tagged by `type` (kebab-case). Clients
/// should ignore types they do not know (a newer hub may send more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// `welcome`: the first message on every connection.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// The signaling protocol version the hub speaks ([`SIGNALING_VERSION`]).
        version: u32,
        /// This connection's own peer: its id, default name and client kind.
        peer: PeerInfo,
        /// `<peer id>.<32 hex HMAC>`: present it as `?token=` on a later connection to keep the
        /// same id and default name (a name chosen with `set-name` is not kept); a second
        /// connection with it replaces the first (close 4000). Also authenticates the peer's
        /// relay sockets. The web app keeps it per tab (`sessionStorage`).
        token: String,
        /// The rooms the peer is in, each with a first page of peers (`room-peers` follow for
        /// bigger rooms). On a new connection that is its LAN room only; code rooms are joined
        /// again with `join-room`, also after a reconnect.
        rooms: Vec<RoomInfo>,
        /// STUN/TURN servers for the peer's `RTCPeerConnection`, with TURN credentials issued
        /// to this peer.
        ice_servers: Vec<IceServer>,
    },
    /// `room-joined`: answer to `create-room` and `join-room`, and one per room of `join-paired`.
    RoomJoined {
        /// The room, with its first page of other members.
        room: RoomInfo,
    },
    /// `room-peers` (version 2): more peers already in a room, right after the `welcome` /
    /// `room-joined` that listed the first [`ROOM_PEERS_PAGE`] of them and before any later
    /// event for that room. Add them to the room's list.
    RoomPeers {
        /// The room's id.
        room: String,
        /// The next page, at most [`ROOM_PEERS_PAGE`] peers.
        peers: Vec<PeerInfo>,
    },
    /// `room-left`: answer to `leave-room`.
    RoomLeft {
        /// The id of the room left.
        room: String,
    },
    /// `peer-joined`: another peer entered a room this peer is in.
    #[serde(rename_all = "camelCase")]
    PeerJoined {
        /// The room's id.
        room: String,
        /// The newcomer.
        peer: PeerInfo,
    },
    /// `peer-left`: a peer left a room this peer is in (left it, disconnected, or timed out).
    #[serde(rename_all = "camelCase")]
    PeerLeft {
        /// The room's id.
        room: String,
        /// The id of the peer that left (`peerId`).
        peer_id: String,
    },
    /// `peer-updated`: a peer sharing a room changed its name (also sent to the peer itself).
    PeerUpdated {
        /// The peer with its new name.
        peer: PeerInfo,
    },
    /// `signal`: a signal forwarded from another peer.
    Signal {
        /// The sender's peer id, stamped by the hub (a client cannot set it).
        from: String,
        /// What the sender forwarded, unchanged.
        signal: Signal,
    },
    /// `relay-ready`: a relay session between this peer and `peerId` is authorized, sent to both
    /// peers: connect a WebSocket to `/relay/<relayId>?token=<your token>` within `expiresInMs`.
    #[serde(rename_all = "camelCase")]
    RelayReady {
        /// The session's id, 32 hex characters; also the HKDF salt of the relay encryption.
        relay_id: String,
        /// The other peer of the session.
        peer_id: String,
        /// How long both peers have to connect, in milliseconds (30,000), before the session
        /// expires.
        expires_in_ms: u64,
    },
    /// `pong`: answer to `ping`.
    Pong,
    /// `error`: a client message was refused; the connection stays open.
    Error {
        /// What kind of refusal.
        code: ErrorCode,
        /// What happened and what to do, for humans (e.g. `no peer "…" in your rooms; it may
        /// have left`).
        message: String,
    },
}

impl ServerMessage {
    /// An `error` message with `code` and a human-readable `message`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }

    /// The message as one JSON text frame.
    pub fn to_json(&self) -> String {
        // Serializing these plain types cannot fail: no maps with non-string keys, no foreign Serialize impls.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Why a client message was refused, before it reached the hub.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A text frame over [`MAX_SIGNAL_MESSAGE_BYTES`]; the number is its length in bytes.
    #[error("message is {0} bytes; the limit is {MAX_SIGNAL_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Not JSON, an unknown `type`, or a missing, unknown or mistyped field (serde's
    /// description).
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl ParseError {
    /// The code of the `error` message that answers this refusal.
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

/// Cleans and checks a display name chosen by a peer: invisible formatting characters (zero-width,
/// bidi controls, …) are removed, control characters become spaces, whitespace runs collapse to
/// one space and the ends are trimmed; the result must be 1–[`MAX_DISPLAY_NAME_CHARS`]
/// characters. Returns the cleaned name, or why it was refused.
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
    fn paired_room_ids() {
        assert!(is_paired_room_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_paired_room_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_paired_room_id("0123456789abcdef0123456789abcde"));
        assert!(!is_paired_room_id("0123456789abcdef0123456789abcdefa"));
        assert!(!is_paired_room_id("0123456789abcdef0123456789abcdeg"));
        let m = ClientMessage::parse(
            r#"{"type":"join-paired","rooms":["0123456789abcdef0123456789abcdef"]}"#,
        )
        .unwrap();
        assert!(matches!(m, ClientMessage::JoinPaired { rooms } if rooms.len() == 1));
        assert!(ClientMessage::parse(r#"{"type":"join-paired","rooms":"x"}"#).is_err());
        let room = RoomInfo {
            id: "0123456789abcdef0123456789abcdef".into(),
            kind: RoomKind::Paired,
            peers: vec![],
            crowded: false,
        };
        assert!(
            ServerMessage::RoomJoined { room }
                .to_json()
                .contains(r#""kind":"paired""#)
        );
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
