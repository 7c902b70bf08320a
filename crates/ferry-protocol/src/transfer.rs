//! The transfer protocol spoken between two peers over any ordered, reliable message pipe
//! (an RTCDataChannel, or the WebSocket relay). Control messages are JSON text messages;
//! file bytes travel in binary [`DataFrame`]s. See `docs/protocol.md`, section "Transfer protocol".

use serde::{Deserialize, Serialize};

use crate::names::{SafeRelativePath, sanitize_path};

/// Transfer protocol version, exchanged in `hello`.
pub const TRANSFER_VERSION: u32 = 1;

/// DataChannel label; the version is part of it so incompatible peers fail early.
pub const CHANNEL_LABEL: &str = "ferry/1";

/// Size of the binary frame header: transfer id, file index, offset.
pub const FRAME_HEADER_BYTES: usize = 16;

/// Largest binary message either side sends or accepts (header included).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Payload bytes per frame until the driver reports the pipe's largest message; the engine then
/// uses `min(MAX_FRAME_BYTES, max message size) − FRAME_HEADER_BYTES` instead (up or down).
pub const DEFAULT_CHUNK_BYTES: usize = 64 * 1024;

/// Largest control (text) message either side sends or accepts.
pub const MAX_CONTROL_BYTES: usize = 256 * 1024;

/// Most files in one offer; bigger selections are split into several transfers.
pub const MAX_FILES_PER_OFFER: usize = 10_000;

/// Longest text message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Largest file size, in bytes, accepted in an offer (2^53 − 1, the largest integer a JavaScript
/// number holds exactly). A frame whose offset is above it still parses; the receiving engine
/// refuses it as a `protocol-violation`.
pub const MAX_FILE_SIZE: u64 = (1 << 53) - 1;

/// Until the peer's `hello` arrives, ours is sent again this often (docs/protocol.md, "Repeated
/// `hello`"): a first message can be lost when it races the other side's channel setup.
pub const HELLO_RETRY_MS: u64 = 1000;

/// How many times `hello` is repeated (every [`HELLO_RETRY_MS`]) while the peer's has not arrived:
/// 16 hellos in all, over ~15 s. After the last one a driver may give up on the connection.
pub const HELLO_RETRIES: u32 = 15;

/// How many repeated `hello`s from the peer are answered with ours, per connection (so two peers
/// can never ping-pong).
pub const MAX_HELLO_ECHOES: u32 = 3;

/// The `hello.features` entry of a peer that takes audio/video calls (`call-*` messages). A peer
/// whose `hello` does not list it does not do calls: it is never sent a `call-invite`.
pub const FEATURE_CALL: &str = "call";

/// Longest `callId`, in bytes: the caller picks it, every `call-*` message of the call carries it.
pub const MAX_CALL_ID_BYTES: usize = 64;

/// The `call-decline.reason` of a peer that does not do calls (the native engine's answer to
/// every `call-invite`).
pub const CALL_DECLINE_UNSUPPORTED: &str = "unsupported";

/// The `hello.features` entry of a peer that takes part in end-to-end flow control
/// (docs/protocol.md, "Flow control"): as a sender it obeys `accept.credit` and `credit`; as a
/// receiver it grants credit as its storage drains. A receiver puts `credit` in its `accept`
/// only for a sender that listed this.
pub const FEATURE_FLOW: &str = "flow";

/// The credit a flow-controlled receiver grants in `accept`: payload bytes the sender may have
/// sent beyond what the receiver has written. Bounds what any queue of a transfer holds.
pub const FLOW_WINDOW_BYTES: u64 = 8 * 1024 * 1024;

/// One file as listed in an offer, exactly as it arrives from the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedFile {
    /// Relative path with `/` separators (folders keep their structure). Raw from the peer:
    /// [`validate_offer`] turns it into a [`SafeRelativePath`] before anything uses it.
    pub path: String,
    /// The file's size in bytes, at most [`MAX_FILE_SIZE`]; the frames carry exactly this many.
    pub size: u64,
    /// MIME type, may be empty.
    #[serde(default, rename = "type")]
    pub mime: String,
    /// Modification time in milliseconds since the Unix epoch, if known (absent on the wire
    /// otherwise). Informational: nothing checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
}

/// Where a receiver already has bytes of a file (from an earlier, interrupted transfer): one
/// entry of `accept.resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Position of the file in the offer's `files` list, from 0.
    pub index: u32,
    /// How many leading bytes of that file the receiver holds; the sender's frames for the file
    /// start here. An offset past the file's size makes the sender restart the file at 0.
    pub offset: u64,
    /// Lowercase hex SHA-256 of those `offset` bytes, so the sender can check them against its
    /// file before continuing; on a mismatch it sends `file-restart` and the file from byte 0.
    /// Absent (an older receiver): not checked, and `file-end`'s hash catches a wrong prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Most offers one selection is split into: 1,000 parts of up to 10,000 files.
pub const MAX_SELECTION_PARTS: u32 = 1000;

/// `offer.selection`: this offer is part `part` (from 0) of `parts` offers that together carry one
/// selection, sent back to back; `first` is the transfer id of part 0. Each part stays an ordinary
/// transfer with its own answer; the receiver may ask its user once for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionPart {
    /// The transfer id of the selection's part 0.
    pub first: u32,
    /// This offer's position in the selection, from 0.
    pub part: u32,
    /// How many offers the selection is, 2 to [`MAX_SELECTION_PARTS`].
    pub parts: u32,
}

impl SelectionPart {
    /// Checks the part against the offer's own transfer id.
    pub fn validate(&self, transfer_id: u32) -> Result<(), TransferError> {
        let bad = |why: String| Err(TransferError::InvalidOffer(format!("selection: {why}")));
        if self.parts < 2 || self.parts > MAX_SELECTION_PARTS {
            return bad(format!(
                "{} parts; a selection is 2 to {MAX_SELECTION_PARTS} offers",
                self.parts
            ));
        }
        if self.part >= self.parts {
            return bad(format!("part {} of {}", self.part, self.parts));
        }
        if (self.part == 0) != (self.first == transfer_id) {
            return bad(format!(
                "part {} of transfer {transfer_id} names transfer {} as part 0",
                self.part, self.first
            ));
        }
        Ok(())
    }
}

/// A side's role in one transfer (`"sender"` / `"receiver"` on the wire, in `cancel.role`).
/// Both peers may run transfers with the same id in opposite directions; the role says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The side that made the offer and sends the file bytes.
    Sender,
    /// The side that answers the offer and stores the file bytes.
    Receiver,
}

/// Control messages of the transfer protocol: one JSON text message each, tagged by `type`
/// (kebab-case), fields camelCase. At most [`MAX_CONTROL_BYTES`]; parse with
/// [`ControlMessage::parse`], which refuses unknown types and missing or mistyped fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ControlMessage {
    /// `hello`: sent by both sides once the pipe is open, repeated until the peer's arrives
    /// (docs/protocol.md, "Repeated `hello`"). Offers and texts wait for the peer's.
    Hello {
        /// Transfer protocol version the sender speaks ([`TRANSFER_VERSION`]); a peer that
        /// sees another answers `version-mismatch` and closes the pipe.
        version: u32,
        /// Free-form name and version of the peer's software, e.g. `"ferry-web/0.1.0"` or
        /// `"ferry-cli/0.1.0"`; for display and logs only.
        app: String,
        /// What the peer does beyond transfers, e.g. [`FEATURE_CALL`]; absent on the wire when
        /// empty (a version-1 peer without it is taken as doing nothing extra). Unknown entries
        /// are kept and ignored: features are additive within a protocol version.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// `offer`: the sender proposes files. The receiver writes nothing before it sends `accept`.
    #[serde(rename_all = "camelCase")]
    Offer {
        /// Chosen by the sender, unique among the transfers it sends on this pipe; every later
        /// message and frame of the transfer carries it.
        transfer_id: u32,
        /// The files in the order they will be sent, 1 to [`MAX_FILES_PER_OFFER`]; a file's
        /// position is its `index` in later messages and frames.
        files: Vec<OfferedFile>,
        /// Sum of the files' sizes in bytes; an offer where it does not add up is refused.
        total_size: u64,
        /// Which part this is of a selection too long for one offer, so that the receiver can
        /// ask once for all of it. Absent on a selection that fits one offer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selection: Option<SelectionPart>,
    },
    /// `accept`: the receiver consents; the sender starts streaming file 0.
    #[serde(rename_all = "camelCase")]
    Accept {
        /// The offer's transfer id.
        transfer_id: u32,
        /// Files of which the receiver already holds a prefix (from an interrupted transfer);
        /// the sender starts those at the given offset. Omitted on the wire when empty. The
        /// prefix is not checked on its own: `file-end`'s hash covers the whole file.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resume: Vec<ResumePoint>,
        /// Flow control (feature [`FEATURE_FLOW`]): the payload bytes the sender may send before
        /// it gets more in `credit` messages. Absent: no flow control for this transfer (a
        /// version-1 receiver, or a sender that did not list the feature).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credit: Option<u64>,
    },
    /// `file-restart`: the receiver's kept prefix of file `index` (`accept.resume` with `sha256`)
    /// differs from the sender's file, so the sender sends that file from byte 0 instead; the
    /// receiver discards its prefix. Sent only for a resume point that carried `sha256`.
    #[serde(rename = "file-restart", rename_all = "camelCase")]
    FileRestart {
        /// The transfer.
        transfer_id: u32,
        /// The file whose prefix did not match: the file in progress, before any of its frames.
        index: u32,
    },
    /// `credit`: the receiver of a flow-controlled transfer has written `bytes` more of its
    /// payload; the sender may send that many more.
    #[serde(rename_all = "camelCase")]
    Credit {
        /// The transfer (accepted with `credit`).
        transfer_id: u32,
        /// Payload bytes granted on top of everything granted before; at least 1.
        bytes: u64,
    },
    /// `decline`: the receiver refuses the offer (the user said no, or the offer was invalid,
    /// then followed by an `error` `invalid-offer`); nothing was written, the transfer is over.
    #[serde(rename_all = "camelCase")]
    Decline {
        /// The offer's transfer id.
        transfer_id: u32,
    },
    /// `cancel`: either side stops the transfer, any time before `done`; both sides stop, and the
    /// receiver keeps partial data only for a later resume.
    #[serde(rename_all = "camelCase")]
    Cancel {
        /// The cancelled transfer's id.
        transfer_id: u32,
        /// The role of the side *sending* the cancel in that transfer: both peers may run a
        /// transfer with the same id in opposite directions, and this picks the one.
        role: Role,
        /// Why, for humans (e.g. `"cancelled by user"`); may be empty or absent.
        #[serde(default)]
        reason: String,
    },
    /// `file-end`: the sender has sent every byte of file `index`; the receiver verifies it.
    #[serde(rename_all = "camelCase")]
    FileEnd {
        /// The transfer the file belongs to.
        transfer_id: u32,
        /// The file's position in the offer; must be the file in progress.
        index: u32,
        /// Lowercase hex SHA-256 of the **whole** file, from byte 0 also when it was resumed.
        sha256: String,
    },
    /// `file-verified`: the receiver hashed what it stored of file `index`. The sender does
    /// not wait for it; one for a file whose `file-end` was not sent is a `protocol-violation`.
    #[serde(rename_all = "camelCase")]
    FileVerified {
        /// The transfer the file belongs to.
        transfer_id: u32,
        /// The file's position in the offer.
        index: u32,
        /// `true` when the hashes matched; `false`: the file is not presented as complete, and
        /// the transfer goes on with the next file.
        ok: bool,
    },
    /// `done`: the receiver has a verdict for every file; the transfer is over for both sides.
    /// Before the sender sent every `file-end` it is a `protocol-violation`.
    #[serde(rename_all = "camelCase")]
    Done {
        /// The finished transfer's id.
        transfer_id: u32,
    },
    /// `text`: a chat message, independent of any transfer; sent after the peer's `hello`.
    Text {
        /// Chosen by the sender to name the message (the engine uses `m-1`, `m-2`, …; the
        /// browser `m-<ms>-<n>`); not interpreted by the receiver.
        id: String,
        /// The message, at most [`MAX_TEXT_BYTES`] of UTF-8.
        text: String,
    },
    /// `call-invite`: the caller asks for an audio/video call (sent only to a peer whose `hello`
    /// lists [`FEATURE_CALL`]). Nothing from a camera or microphone is sent before `call-accept`.
    #[serde(rename = "call-invite", rename_all = "camelCase")]
    CallInvite {
        /// Chosen by the caller, at most [`MAX_CALL_ID_BYTES`]; every message of the call has it.
        call_id: String,
        /// The caller will send audio.
        audio: bool,
        /// The caller will send camera video.
        video: bool,
        /// The caller will share a screen (instead of, or besides, its camera). Absent: false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        screen: bool,
    },
    /// `call-accept`: the callee takes the call; both sides then add their tracks to the peer
    /// connection (renegotiated through perfect negotiation).
    #[serde(rename = "call-accept", rename_all = "camelCase")]
    CallAccept {
        /// The invite's call id.
        call_id: String,
    },
    /// `call-decline`: the callee refuses (`declined`, `busy`, `unsupported`, `no-media`, or a
    /// newer reason); the call is over and nothing was sent.
    #[serde(rename = "call-decline", rename_all = "camelCase")]
    CallDecline {
        /// The invite's call id.
        call_id: String,
        /// Why, as a code; [`CALL_DECLINE_UNSUPPORTED`] from a peer that does not do calls.
        reason: String,
    },
    /// `call-end`: either side hangs up (or the caller gives up before an answer).
    #[serde(rename = "call-end", rename_all = "camelCase")]
    CallEnd {
        /// The call's id.
        call_id: String,
        /// Why, for humans and logs (e.g. `"hung up"`); may be empty or absent.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// `call-media`: what the sender of the message now sends in the call.
    #[serde(rename = "call-media", rename_all = "camelCase")]
    CallMedia {
        /// The call's id.
        call_id: String,
        /// The microphone is muted (silence is sent).
        muted: bool,
        /// The camera is off (no video frames are sent, unless a screen is shared).
        camera_off: bool,
        /// A screen is shared on the video track.
        screen: bool,
    },
    /// `verify-commit`: SHA-256 of a random nonce, the first step of the security code
    /// ([`crate::verify`]); sent only to a peer whose `hello` lists `verify`.
    #[serde(rename = "verify-commit")]
    VerifyCommit {
        /// 64 lowercase hex digits.
        commit: String,
    },
    /// `verify-open`: the nonce committed to, sent once the peer's `verify-commit` is in.
    #[serde(rename = "verify-open")]
    VerifyOpen {
        /// 64 lowercase hex digits (32 bytes).
        nonce: String,
    },
    /// `pair-request` (feature `pair`): asks the peer to pair with us for good, handing it the
    /// pairing's secret (docs/security.md "Paired devices"). Answered with `pair-accept` or
    /// `pair-decline` once the peer's user chose.
    #[serde(rename = "pair-request")]
    PairRequest {
        /// 32 random bytes, 64 lowercase hex digits.
        secret: String,
    },
    /// `pair-accept`: the peer's user agreed; both keep the pairing.
    #[serde(rename = "pair-accept")]
    PairAccept {
        /// The paired room id derived from the request's secret (32 lowercase hex digits), so
        /// that both sides know they derived the same one.
        room: String,
    },
    /// `pair-decline`: the peer's user said no (or the peer cannot pair now); nothing is kept.
    #[serde(rename = "pair-decline")]
    PairDecline {
        /// The paired room id of the request declined.
        room: String,
    },
    /// `pair-proof`: shows that the sender holds the secret of the pairing behind `room`, bound
    /// to this connection's keys and security-code nonces.
    #[serde(rename = "pair-proof")]
    PairProof {
        /// The paired room id (32 lowercase hex digits).
        room: String,
        /// HMAC-SHA-256 under the pairing's proof key, 64 lowercase hex digits.
        proof: String,
    },
    /// `pair-revoke`: the sender's user removed the pairing; the receiver forgets it too.
    #[serde(rename = "pair-revoke")]
    PairRevoke {
        /// The paired room id (32 lowercase hex digits).
        room: String,
    },
    /// `pair-revoked`: answers `pair-revoke` once the receiver forgot the pairing, so that the
    /// revoking side may leave the room (and with it, maybe, the connection) without losing the
    /// revoke on the way.
    #[serde(rename = "pair-revoked")]
    PairRevoked {
        /// The paired room id of the revoke answered.
        room: String,
    },
    /// `error`: the peer refused something we sent; the message is otherwise ignored and the
    /// connection stays usable (except `version-mismatch`, after which the sender closes it).
    Error {
        /// A [`TransferErrorCode`] on the wire; kept as a string because a newer peer may send
        /// codes this version does not know.
        code: String,
        /// What was wrong, for humans and logs.
        message: String,
    },
}

impl ControlMessage {
    /// The message as one JSON text message for the pipe.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("control messages always serialize")
    }

    /// Parses one text message from a peer.
    pub fn parse(text: &str) -> Result<Self, TransferError> {
        if text.len() > MAX_CONTROL_BYTES {
            return Err(TransferError::TooLarge(text.len()));
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| TransferError::Malformed(e.to_string()))?;
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if !KNOWN_TYPES.contains(&kind) {
            return Err(TransferError::UnknownType(kind.chars().take(64).collect()));
        }
        let msg: ControlMessage =
            serde_json::from_value(value).map_err(|e| TransferError::Malformed(e.to_string()))?;
        if let ControlMessage::Text { text, .. } = &msg
            && text.len() > MAX_TEXT_BYTES
        {
            return Err(TransferError::TooLarge(text.len()));
        }
        if let ControlMessage::VerifyCommit { commit: v } | ControlMessage::VerifyOpen { nonce: v } =
            &msg
            && !crate::verify::is_hex32(v)
        {
            return Err(TransferError::Malformed(
                "verify values are 64 lowercase hex digits".into(),
            ));
        }
        if let ControlMessage::PairRequest { secret: v }
        | ControlMessage::PairProof { proof: v, .. } = &msg
            && !crate::verify::is_hex32(v)
        {
            return Err(TransferError::Malformed(
                "pairing secrets and proofs are 64 lowercase hex digits".into(),
            ));
        }
        if let Some(room) = msg.pair_room()
            && !crate::signaling::is_paired_room_id(room)
        {
            return Err(TransferError::Malformed(
                "a paired room id is 32 lowercase hex digits".into(),
            ));
        }
        if let ControlMessage::Credit { bytes, .. } = &msg
            && (*bytes == 0 || *bytes > MAX_FILE_SIZE)
        {
            return Err(TransferError::Malformed(format!(
                "credit must be 1 to {MAX_FILE_SIZE} bytes"
            )));
        }
        if let Some(id) = msg.call_id()
            && (id.is_empty() || id.len() > MAX_CALL_ID_BYTES)
        {
            return Err(TransferError::Malformed(format!(
                "callId must be 1 to {MAX_CALL_ID_BYTES} bytes"
            )));
        }
        Ok(msg)
    }

    /// The paired room id of a `pair-*` message that names one, `None` for every other message.
    pub fn pair_room(&self) -> Option<&str> {
        match self {
            ControlMessage::PairAccept { room }
            | ControlMessage::PairDecline { room }
            | ControlMessage::PairProof { room, .. }
            | ControlMessage::PairRevoke { room }
            | ControlMessage::PairRevoked { room } => Some(room),
            _ => None,
        }
    }

    /// The call id of a `call-*` message, `None` for every other message.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            ControlMessage::CallInvite { call_id, .. }
            | ControlMessage::CallAccept { call_id }
            | ControlMessage::CallDecline { call_id, .. }
            | ControlMessage::CallEnd { call_id, .. }
            | ControlMessage::CallMedia { call_id, .. } => Some(call_id),
            _ => None,
        }
    }
}

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "offer",
    "accept",
    "credit",
    "decline",
    "cancel",
    "file-end",
    "file-restart",
    "file-verified",
    "done",
    "text",
    "error",
    "call-invite",
    "call-accept",
    "call-decline",
    "call-end",
    "call-media",
    "verify-commit",
    "verify-open",
    "pair-request",
    "pair-accept",
    "pair-decline",
    "pair-proof",
    "pair-revoke",
    "pair-revoked",
];

/// The `code` of an `error` control message (docs/protocol.md §2, "Error codes"). What a peer
/// sends is kept as a string (a newer peer may know more codes); what we send is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferErrorCode {
    /// Not JSON, a missing or mistyped field, a binary message shorter than a frame header.
    BadMessage,
    /// JSON whose `type` is not a message type of this version.
    UnknownType,
    /// A control message, text or frame over its limit.
    TooLarge,
    /// An offer refused as a whole (names, sizes, count); sent after its `decline`.
    InvalidOffer,
    /// A message that is well-formed but out of place (data before accept, wrong offset, …).
    ProtocolViolation,
    /// The peer's `hello` names another protocol version; the pipe is closed.
    VersionMismatch,
    /// A message for a transfer id this side never saw.
    UnknownTransfer,
}

impl TransferErrorCode {
    /// Every code, in the order of `vectors/error_codes.json`.
    pub const ALL: [TransferErrorCode; 7] = [
        TransferErrorCode::BadMessage,
        TransferErrorCode::UnknownType,
        TransferErrorCode::TooLarge,
        TransferErrorCode::InvalidOffer,
        TransferErrorCode::ProtocolViolation,
        TransferErrorCode::VersionMismatch,
        TransferErrorCode::UnknownTransfer,
    ];

    /// The code as it appears on the wire, e.g. `"protocol-violation"`.
    pub fn code(self) -> &'static str {
        match self {
            TransferErrorCode::BadMessage => "bad-message",
            TransferErrorCode::UnknownType => "unknown-type",
            TransferErrorCode::TooLarge => "too-large",
            TransferErrorCode::InvalidOffer => "invalid-offer",
            TransferErrorCode::ProtocolViolation => "protocol-violation",
            TransferErrorCode::VersionMismatch => "version-mismatch",
            TransferErrorCode::UnknownTransfer => "unknown-transfer",
        }
    }

    /// The code for a wire string, if it is one of ours.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl std::fmt::Display for TransferErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Problems with what a peer sent. Each is answered with an `error` of [`TransferError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// A control message over [`MAX_CONTROL_BYTES`], a `text` over [`MAX_TEXT_BYTES`], or a
    /// binary message over [`MAX_FRAME_BYTES`]; the number is the offending length in bytes.
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not JSON, or a known `type` with a missing or mistyped field (serde's description).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// JSON whose `type` is missing or not one of this version's (at most 64 characters of it).
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A binary message shorter than [`FRAME_HEADER_BYTES`]; the number is its length.
    #[error("binary frame of {0} bytes is shorter than its 16-byte header")]
    TruncatedFrame(usize),
    /// An offer refused as a whole: no files, too many, a file over [`MAX_FILE_SIZE`], a total
    /// that does not add up, or a name the sanitizer refuses. The text says which.
    #[error("invalid offer: {0}")]
    InvalidOffer(String),
}

impl TransferError {
    /// The code of the `error` message that answers this problem.
    pub fn code(&self) -> TransferErrorCode {
        match self {
            TransferError::TooLarge(_) => TransferErrorCode::TooLarge,
            TransferError::UnknownType(_) => TransferErrorCode::UnknownType,
            TransferError::InvalidOffer(_) => TransferErrorCode::InvalidOffer,
            TransferError::Malformed(_) | TransferError::TruncatedFrame(_) => {
                TransferErrorCode::BadMessage
            }
        }
    }
}

/// A file of a validated offer: the path can be joined to a target folder safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedFile {
    /// The offered path after sanitizing (docs/protocol.md §3); it may differ from what the
    /// sender wrote. Not yet de-duplicated against existing files: the receiver does that.
    pub path: SafeRelativePath,
    /// Size in bytes, at most [`MAX_FILE_SIZE`].
    pub size: u64,
    /// The offered MIME type with control characters removed, at most 255 characters; may be
    /// empty. Untrusted: for display, not for deciding how to open the file.
    pub mime: String,
    /// Modification time in ms since the Unix epoch, as offered (unchecked), if any.
    pub mtime: Option<u64>,
}

/// Checks an offer from the network: file count, sizes, sum, and every path. Any failure refuses
/// the whole offer ([`TransferError::InvalidOffer`]); the receiver answers `decline` and `error`.
pub fn validate_offer(
    files: &[OfferedFile],
    total_size: u64,
) -> Result<Vec<ValidatedFile>, TransferError> {
    if files.is_empty() {
        return Err(TransferError::InvalidOffer("no files".into()));
    }
    if files.len() > MAX_FILES_PER_OFFER {
        return Err(TransferError::InvalidOffer(format!(
            "{} files; at most {MAX_FILES_PER_OFFER} per offer",
            files.len()
        )));
    }
    let mut sum: u64 = 0;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if f.size > MAX_FILE_SIZE {
            return Err(TransferError::InvalidOffer(format!(
                "file size {} too large",
                f.size
            )));
        }
        sum = sum
            .checked_add(f.size)
            .ok_or_else(|| TransferError::InvalidOffer("total size overflows".into()))?;
        let path = sanitize_path(&f.path).map_err(|e| {
            TransferError::InvalidOffer(format!("file name {:?}: {e}", truncate(&f.path, 80)))
        })?;
        let mime: String = f
            .mime
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        out.push(ValidatedFile {
            path,
            size: f.size,
            mime,
            mtime: f.mtime,
        });
    }
    if sum != total_size {
        return Err(TransferError::InvalidOffer(format!(
            "totalSize {total_size} does not match the sum of file sizes {sum}"
        )));
    }
    Ok(out)
}

fn truncate(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// A binary data frame: `transfer_id: u32 BE | index: u32 BE | offset: u64 BE | payload`, at
/// most [`MAX_FRAME_BYTES`] in all. Parsing checks only the shape; whether the frame fits the
/// transfer (accepted, file in progress, offset, size) is the receiving engine's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    /// The accepted transfer whose bytes these are (the sender's id from the offer).
    pub transfer_id: u32,
    /// The file in progress: its position in the offer.
    pub index: u32,
    /// Byte position of the payload in the file; equals the bytes of the file sent so far
    /// (counting a resumed prefix), so frames carry each file in order with no gaps.
    pub offset: u64,
    /// The file bytes, at most `MAX_FRAME_BYTES − FRAME_HEADER_BYTES` (senders also keep under
    /// the pipe's max message size). The engine never sends an empty one: a zero-byte file
    /// has no frames, only its `file-end`.
    pub payload: &'a [u8],
}

impl<'a> DataFrame<'a> {
    /// Parses a binary message from a peer.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TransferError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(TransferError::TooLarge(bytes.len()));
        }
        if bytes.len() < FRAME_HEADER_BYTES {
            return Err(TransferError::TruncatedFrame(bytes.len()));
        }
        let (header, payload) = bytes.split_at(FRAME_HEADER_BYTES);
        Ok(DataFrame {
            transfer_id: u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")),
            index: u32::from_be_bytes(header[4..8].try_into().expect("4 bytes")),
            offset: u64::from_be_bytes(header[8..16].try_into().expect("8 bytes")),
            payload,
        })
    }

    /// Writes the 16-byte header for a frame into `out[..16]`, so a frame can be built in place
    /// in a buffer whose `[16..]` already holds the payload. Panics if `out` is shorter than 16.
    pub fn write_header(transfer_id: u32, index: u32, offset: u64, out: &mut [u8]) {
        out[0..4].copy_from_slice(&transfer_id.to_be_bytes());
        out[4..8].copy_from_slice(&index.to_be_bytes());
        out[8..16].copy_from_slice(&offset.to_be_bytes());
    }

    /// The frame as one binary message: header, then payload (copied).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; FRAME_HEADER_BYTES + self.payload.len()];
        Self::write_header(self.transfer_id, self.index, self.offset, &mut out);
        out[FRAME_HEADER_BYTES..].copy_from_slice(self.payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let f = DataFrame {
            transfer_id: 7,
            index: 2,
            offset: 1 << 40,
            payload: b"abc",
        };
        let bytes = f.encode();
        assert_eq!(bytes.len(), 19);
        assert_eq!(DataFrame::parse(&bytes).unwrap(), f);
        assert_eq!(
            DataFrame::parse(&bytes[..10]),
            Err(TransferError::TruncatedFrame(10))
        );
        assert!(matches!(
            DataFrame::parse(&vec![0; MAX_FRAME_BYTES + 1]),
            Err(TransferError::TooLarge(_))
        ));
    }

    #[test]
    fn control_parse_errors() {
        assert!(matches!(
            ControlMessage::parse(r#"{"type":"warp","x":1}"#),
            Err(TransferError::UnknownType(t)) if t == "warp"
        ));
        assert!(matches!(
            ControlMessage::parse(r#"{"type":"offer"}"#),
            Err(TransferError::Malformed(_))
        ));
        assert!(matches!(
            ControlMessage::parse("{"),
            Err(TransferError::Malformed(_))
        ));
    }

    #[test]
    fn offer_validation() {
        let files = vec![
            OfferedFile {
                path: "../../etc/passwd".into(),
                size: 3,
                mime: String::new(),
                mtime: None,
            },
            OfferedFile {
                path: "dir/b.txt".into(),
                size: 4,
                mime: "text/plain".into(),
                mtime: Some(1),
            },
        ];
        let v = validate_offer(&files, 7).unwrap();
        assert_eq!(v[0].path.as_str(), "etc/passwd");
        assert!(validate_offer(&files, 8).is_err());
        assert!(validate_offer(&[], 0).is_err());
    }
}

#[cfg(test)]
mod vector_tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn frame_vectors() {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../vectors/frames.json")).unwrap();
        for case in v {
            let bytes = unhex(case["hex"].as_str().unwrap());
            if case.get("invalid").is_some() {
                assert!(DataFrame::parse(&bytes).is_err());
                continue;
            }
            let f = DataFrame::parse(&bytes).unwrap();
            assert_eq!(f.transfer_id as u64, case["transferId"].as_u64().unwrap());
            assert_eq!(f.index as u64, case["index"].as_u64().unwrap());
            assert_eq!(f.offset, case["offset"].as_u64().unwrap());
            assert_eq!(f.payload, unhex(case["payloadHex"].as_str().unwrap()));
            assert_eq!(f.encode(), bytes);
        }
    }

    #[test]
    fn control_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../vectors/control.json")).unwrap();
        for case in v["valid"].as_array().unwrap() {
            let msg = ControlMessage::parse(&case.to_string()).unwrap();
            // Round trip: what we emit parses back to the same message.
            assert_eq!(ControlMessage::parse(&msg.to_json()).unwrap(), msg);
        }
        for case in v["invalid"].as_array().unwrap() {
            let err = ControlMessage::parse(case["json"].as_str().unwrap()).unwrap_err();
            assert_eq!(err.code().code(), case["error"].as_str().unwrap(), "{case}");
        }
    }

    #[test]
    fn error_codes_match_the_shared_vectors() {
        let v: Vec<String> =
            serde_json::from_str(include_str!("../vectors/error_codes.json")).unwrap();
        let ours: Vec<&str> = TransferErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(v, ours);
        for c in TransferErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.code());
            assert_eq!(TransferErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(TransferErrorCode::from_code("from-the-future"), None);
    }

    #[test]
    fn limits_match_the_shared_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../vectors/limits.json")).unwrap();
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("{k} in limits.json"))
        };
        assert_eq!(n("TRANSFER_VERSION"), u64::from(TRANSFER_VERSION));
        assert_eq!(v["CHANNEL_LABEL"], CHANNEL_LABEL);
        assert_eq!(n("FRAME_HEADER_BYTES"), FRAME_HEADER_BYTES as u64);
        assert_eq!(n("MAX_FRAME_BYTES"), MAX_FRAME_BYTES as u64);
        assert_eq!(n("MAX_CONTROL_BYTES"), MAX_CONTROL_BYTES as u64);
        assert_eq!(n("MAX_FILES_PER_OFFER"), MAX_FILES_PER_OFFER as u64);
        assert_eq!(n("MAX_TEXT_BYTES"), MAX_TEXT_BYTES as u64);
        assert_eq!(n("MAX_FILE_SIZE"), MAX_FILE_SIZE);
        assert_eq!(n("HELLO_RETRY_MS"), HELLO_RETRY_MS);
        assert_eq!(n("HELLO_RETRIES"), u64::from(HELLO_RETRIES));
        assert_eq!(n("MAX_HELLO_ECHOES"), u64::from(MAX_HELLO_ECHOES));
        assert_eq!(v["FEATURE_CALL"], FEATURE_CALL);
        assert_eq!(n("MAX_CALL_ID_BYTES"), MAX_CALL_ID_BYTES as u64);
        assert_eq!(v["CALL_DECLINE_UNSUPPORTED"], CALL_DECLINE_UNSUPPORTED);
        assert_eq!(n("MAX_SELECTION_PARTS"), u64::from(MAX_SELECTION_PARTS));
        assert_eq!(v["FEATURE_FLOW"], FEATURE_FLOW);
        assert_eq!(n("FLOW_WINDOW_BYTES"), FLOW_WINDOW_BYTES);
        let keys = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('_'))
            .count();
        assert_eq!(keys, 17, "every limit in limits.json is checked here");
    }
}
