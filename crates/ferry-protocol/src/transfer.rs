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

/// Default payload size per frame; peers lower it to fit the channel's max message size.
pub const DEFAULT_CHUNK_BYTES: usize = 64 * 1024;

/// Largest control (text) message either side sends or accepts.
pub const MAX_CONTROL_BYTES: usize = 256 * 1024;

/// Most files in one offer; bigger selections are split into several transfers.
pub const MAX_FILES_PER_OFFER: usize = 10_000;

/// Longest text message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Largest file size accepted in an offer (2^53 - 1, the largest exact integer in JavaScript).
pub const MAX_FILE_SIZE: u64 = (1 << 53) - 1;

/// Until the peer's `hello` arrives, ours is sent again this often (docs/protocol.md, "Repeated
/// `hello`"): a first message can be lost when it races the other side's channel setup.
pub const HELLO_RETRY_MS: u64 = 1000;

/// How many times `hello` is repeated before giving up on the peer.
pub const HELLO_RETRIES: u32 = 15;

/// How many repeated `hello`s from the peer are answered with ours, per connection (so two peers
/// can never ping-pong).
pub const MAX_HELLO_ECHOES: u32 = 3;

/// One file as listed in an offer, exactly as it arrives from the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedFile {
    /// Relative path with `/` separators (folders keep their structure).
    pub path: String,
    pub size: u64,
    /// MIME type, may be empty.
    #[serde(default, rename = "type")]
    pub mime: String,
    /// Modification time in milliseconds since the Unix epoch, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
}

/// Where a receiver already has bytes of a file (from an earlier, interrupted transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub index: u32,
    pub offset: u64,
}

/// A side's role in one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sender,
    Receiver,
}

/// Control messages of the transfer protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ControlMessage {
    /// Sent by both sides once the pipe is open.
    Hello {
        version: u32,
        /// e.g. `"ferry-web/0.1.0"` or `"ferry-cli/0.1.0"`.
        app: String,
    },
    /// The sender proposes files. Nothing is written before `accept`.
    #[serde(rename_all = "camelCase")]
    Offer {
        transfer_id: u32,
        files: Vec<OfferedFile>,
        total_size: u64,
    },
    /// The receiver consents. `resume` lists files of which it already holds a verified prefix.
    #[serde(rename_all = "camelCase")]
    Accept {
        transfer_id: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resume: Vec<ResumePoint>,
    },
    #[serde(rename_all = "camelCase")]
    Decline { transfer_id: u32 },
    /// Either side stops the transfer; `role` is the canceller's role in it (both peers may run
    /// a transfer with the same id in opposite directions); `reason` is for humans.
    #[serde(rename_all = "camelCase")]
    Cancel {
        transfer_id: u32,
        role: Role,
        #[serde(default)]
        reason: String,
    },
    /// The sender has sent every byte of file `index`; `sha256` is the hex digest of the whole file.
    #[serde(rename_all = "camelCase")]
    FileEnd {
        transfer_id: u32,
        index: u32,
        sha256: String,
    },
    /// The receiver checked file `index`; `ok: false` means the hash did not match.
    #[serde(rename_all = "camelCase")]
    FileVerified {
        transfer_id: u32,
        index: u32,
        ok: bool,
    },
    /// The receiver has verified every file of the transfer.
    #[serde(rename_all = "camelCase")]
    Done { transfer_id: u32 },
    /// A chat message.
    Text { id: String, text: String },
    /// A protocol error; the connection stays usable unless the sender closes it.
    Error { code: String, message: String },
}

impl ControlMessage {
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
        Ok(msg)
    }
}

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "offer",
    "accept",
    "decline",
    "cancel",
    "file-end",
    "file-verified",
    "done",
    "text",
    "error",
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

/// Problems with what a peer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("binary frame of {0} bytes is shorter than its 16-byte header")]
    TruncatedFrame(usize),
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
    pub path: SafeRelativePath,
    pub size: u64,
    pub mime: String,
    pub mtime: Option<u64>,
}

/// Checks an offer from the network: file count, sizes, sum, and every path.
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

/// A binary data frame: `transfer_id: u32 BE | index: u32 BE | offset: u64 BE | payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    pub transfer_id: u32,
    pub index: u32,
    pub offset: u64,
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

    /// Writes the 16-byte header for a frame into `out[..16]`.
    pub fn write_header(transfer_id: u32, index: u32, offset: u64, out: &mut [u8]) {
        out[0..4].copy_from_slice(&transfer_id.to_be_bytes());
        out[4..8].copy_from_slice(&index.to_be_bytes());
        out[8..16].copy_from_slice(&offset.to_be_bytes());
    }

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
        let keys = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('_'))
            .count();
        assert_eq!(keys, 11, "every limit in limits.json is checked here");
    }
}
