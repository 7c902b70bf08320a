//! What the engine asks of the world: messages to put on the pipe, file I/O, and events for the UI.

use ferry_protocol::names::SafeRelativePath;
use ferry_protocol::transfer::{Role, TransferErrorCode, ValidatedFile};

/// One thing for the driver to do, in order. Drivers perform outputs strictly in the order they
/// are polled: a `Write` polled before a `Finish` must be on disk before the `Finish` runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A control message (JSON) for the pipe.
    SendText(String),
    /// A binary data frame for the pipe (header included).
    SendBinary(Vec<u8>),
    /// File I/O on the receiving side.
    Io(IoRequest),
    /// Something the user should see.
    Event(Event),
    /// The pipe cannot be used any more (version mismatch); close it after sending what is queued.
    Close,
}

/// File-system work on the receiving side. The sending side pulls reads via
/// [`crate::Engine::next_read`] instead, so reading is paced by the pipe.
#[derive(Debug, Clone, PartialEq)]
pub enum IoRequest {
    /// Prepare to store file `index`: open (or create) its partial file, truncated to
    /// `resume_offset` bytes.
    Open {
        transfer_id: u32,
        index: u32,
        path: SafeRelativePath,
        size: u64,
        resume_offset: u64,
    },
    /// Append `data` to file `index` at `offset` (always the current end of the partial file).
    Write {
        transfer_id: u32,
        index: u32,
        offset: u64,
        data: Vec<u8>,
    },
    /// File `index` is complete. `verified` says whether its SHA-256 matched: only then may it
    /// be presented as complete (renamed to its final name).
    Finish {
        transfer_id: u32,
        index: u32,
        verified: bool,
        sha256: String,
    },
    /// The transfer ended before completion; close any open partial file and keep it for resume.
    Abort { transfer_id: u32 },
}

/// A request to read file bytes for an outgoing transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    pub transfer_id: u32,
    pub index: u32,
    pub offset: u64,
    pub len: usize,
}

/// Something that happened, for the user interface.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The peer said hello; `app` names its software.
    PeerHello { app: String },
    /// The peer offers files; answer with [`crate::Engine::accept`] or [`crate::Engine::decline`].
    OfferReceived {
        transfer_id: u32,
        files: Vec<ValidatedFile>,
        total_size: u64,
    },
    /// An offer from the peer was refused because it was invalid (hostile or broken names, sizes).
    OfferRefused { transfer_id: u32, reason: String },
    /// Our offer was accepted; streaming starts.
    Accepted { transfer_id: u32 },
    /// Our offer was declined.
    Declined { transfer_id: u32 },
    /// Bytes moved in a transfer: `done` of `total` (counting resumed bytes as done).
    Progress {
        transfer_id: u32,
        role: Role,
        done: u64,
        total: u64,
    },
    /// A file's verdict: the receiver compared SHA-256 hashes.
    FileVerified {
        transfer_id: u32,
        role: Role,
        index: u32,
        ok: bool,
        sha256: String,
    },
    /// Every file of the transfer has a verdict; the transfer is over.
    TransferDone {
        transfer_id: u32,
        role: Role,
        /// Files whose hash did not match.
        failed: u32,
    },
    /// The transfer was cancelled (by us or by the peer) and is over.
    Cancelled {
        transfer_id: u32,
        role: Role,
        by_peer: bool,
        reason: String,
    },
    /// A chat message from the peer.
    Text { id: String, text: String },
    /// The peer reported a protocol error. `code` is the peer's string: a newer peer may send
    /// codes this version does not know ([`TransferErrorCode::from_code`] reads ours).
    PeerError { code: String, message: String },
    /// The peer sent something we refused (we answered with an `error` of this code).
    ProtocolError {
        code: TransferErrorCode,
        message: String,
    },
}
