//! What the engine asks of the world: messages to put on the pipe, file I/O, and events for the UI.

use ferry_protocol::names::SafeRelativePath;
use ferry_protocol::transfer::{Role, TransferErrorCode, ValidatedFile};

/// One thing for the driver to do, in order. Drivers perform outputs strictly in the order they
/// are polled: a `Write` polled before a `Finish` must be on disk before the `Finish` runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A control message (JSON) for the pipe, as one text message.
    SendText(String),
    /// A data frame for the pipe, as one binary message: the 16-byte header and the payload,
    /// sized to the pipe's max message size ([`crate::Engine::set_max_message_size`]). It is the
    /// buffer the driver passed to [`crate::Engine::handle_read`], header filled in.
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
    /// `resume_offset` bytes. Comes after `accept` for file 0, and after each `Finish` for the
    /// next file; at most one file per transfer is open at a time.
    Open {
        /// The incoming transfer (the peer's id for it).
        transfer_id: u32,
        /// The file's position in the offer.
        index: u32,
        /// The offered path, already sanitized; the driver still picks the name on disk
        /// (a partial-file suffix, `name (1).ext` when the name is taken).
        path: SafeRelativePath,
        /// The file's size in bytes from the offer; `Finish` comes once this many are stored.
        size: u64,
        /// Bytes of an earlier partial file to keep, as accepted through
        /// [`crate::ResumeFrom`]; 0 for a fresh start.
        resume_offset: u64,
    },
    /// Append `data` to file `index` at `offset` (always the current end of the partial file).
    /// The engine has checked the frame's place and size, and hashed `data`.
    Write {
        /// The incoming transfer.
        transfer_id: u32,
        /// The open file's position in the offer.
        index: u32,
        /// Where `data` goes: the bytes stored so far, resumed prefix included.
        offset: u64,
        /// The frame's payload.
        data: Vec<u8>,
    },
    /// File `index` has all its bytes and the sender's `file-end`. `verified` says whether its
    /// SHA-256 matched: only then may it be presented as complete (renamed to its final name);
    /// otherwise it is not presented as complete (the CLI deletes it). The transfer goes on.
    Finish {
        /// The incoming transfer.
        transfer_id: u32,
        /// The finished file's position in the offer.
        index: u32,
        /// The hash of what was stored equals the one in `file-end`.
        verified: bool,
        /// Lowercase hex SHA-256 of the whole stored file, as the engine computed it (for the
        /// receiver's summary; on a mismatch it is not the sender's).
        sha256: String,
    },
    /// The transfer ended before completion (cancelled by either side, a protocol violation,
    /// the pipe closed); close any open partial file and keep it for resume. Also comes for a
    /// transfer cancelled before its `accept`, which has no file open.
    Abort {
        /// The incoming transfer that ended.
        transfer_id: u32,
    },
}

/// A request to read file bytes for an outgoing transfer, from [`crate::Engine::next_read`];
/// answer it with [`crate::Engine::handle_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    /// Our transfer (the id [`crate::Engine::send_offer`] returned).
    pub transfer_id: u32,
    /// Which file, as its position in the [`crate::LocalFile`] list given to `send_offer`.
    pub index: u32,
    /// Byte position in the file to read from; reads of a file come in order, without gaps.
    pub offset: u64,
    /// Exactly how many bytes to read: at most [`crate::Engine::chunk_bytes`], or up to 4 MiB
    /// while re-reading a resumed prefix (hashed only, never sent). Never 0.
    pub len: usize,
}

/// Something that happened, for the user interface. Carries what a UI or a summary needs; the
/// engine has already answered the peer where the protocol asks for an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The peer's `hello` arrived (once per connection). Usually first; when the peer's first
    /// `hello` was lost and another message proved it up, this comes whenever a later `hello`
    /// arrives, possibly after transfer events, or never.
    PeerHello {
        /// The peer's software, as it named itself (e.g. `"ferry-web/0.1.0"`); untrusted text.
        app: String,
    },
    /// The peer offers files and the offer is valid; answer with [`crate::Engine::accept`] or
    /// [`crate::Engine::decline`] (the engine waits as long as it takes).
    OfferReceived {
        /// The peer's id for the transfer; use it in `accept` / `decline` / `cancel`.
        transfer_id: u32,
        /// The files in offer order, paths sanitized; show these to the user.
        files: Vec<ValidatedFile>,
        /// Sum of the files' sizes in bytes.
        total_size: u64,
        /// Set when this offer is one part of a selection split into several (docs/protocol.md
        /// "Selections larger than one offer"): a receiver can wait for every part and ask its
        /// user once. Validated: `part < parts`, and part 0 is this transfer.
        selection: Option<ferry_protocol::transfer::SelectionPart>,
    },
    /// An offer from the peer was refused because it was invalid (hostile or broken names,
    /// sizes, count); the engine already sent `decline` and `error` `invalid-offer`.
    OfferRefused {
        /// The peer's id for the refused transfer.
        transfer_id: u32,
        /// What was wrong with the offer.
        reason: String,
    },
    /// The sender found our kept prefix of file `index` different from its file and sends the
    /// file from byte 0 (`file-restart`); an `IoRequest::Open` with offset 0 came before this.
    FileRestarted {
        /// The incoming transfer.
        transfer_id: u32,
        /// The file's position in the offer.
        index: u32,
    },
    /// Our offer was accepted; streaming starts ([`crate::Engine::next_read`] has work).
    Accepted {
        /// Our transfer.
        transfer_id: u32,
    },
    /// Our offer was declined; the transfer is over, nothing was sent.
    Declined {
        /// Our transfer.
        transfer_id: u32,
    },
    /// Bytes moved in a transfer: after each stored frame (receiving) or each handled read
    /// (sending; a resumed prefix counts once it is hashed).
    Progress {
        /// The transfer; `role` says in which direction.
        transfer_id: u32,
        /// Our role in it.
        role: Role,
        /// Bytes done so far, counting resumed bytes as done; `total` once every byte moved
        /// (zero-byte files bring no event of their own).
        done: u64,
        /// The offer's total size in bytes.
        total: u64,
    },
    /// A file's verdict: the receiver compared SHA-256 hashes. Receiving: right after
    /// `IoRequest::Finish`; sending: when the peer's `file-verified` arrives.
    FileVerified {
        /// The transfer; `role` says in which direction.
        transfer_id: u32,
        /// Our role in it.
        role: Role,
        /// The file's position in the offer.
        index: u32,
        /// The hashes matched; `false` means the file is not presented as complete.
        ok: bool,
        /// Lowercase hex SHA-256: the receiver's hash of what it stored, or the hash the
        /// sender put in `file-end`.
        sha256: String,
    },
    /// Every file of the transfer has a verdict (`done` sent or received); the transfer is
    /// over.
    TransferDone {
        /// The transfer; `role` says in which direction.
        transfer_id: u32,
        /// Our role in it.
        role: Role,
        /// Files whose hash did not match: receiving, by our own check; sending, by the
        /// receiver's `ok: false` verdicts (a repeated verdict for a file counts once).
        failed: u32,
    },
    /// The transfer ended before `done` and is over: cancelled by us (a command, a failed read
    /// or write, a protocol violation of the peer's), by the peer, or by the pipe closing.
    /// A held offer that is cancelled ends with this event too (nothing reached the wire).
    Cancelled {
        /// The transfer; `role` says in which direction.
        transfer_id: u32,
        /// Our role in it.
        role: Role,
        /// The peer sent the `cancel`; `false` for our own cancels and a closed pipe.
        by_peer: bool,
        /// Why, for humans: the peer's reason, ours, or `"the connection to the peer was
        /// lost"`.
        reason: String,
    },
    /// A chat message from the peer.
    Text {
        /// The peer's id for the message.
        id: String,
        /// The message (at most 64 KiB of UTF-8); untrusted text.
        text: String,
    },
    /// The peer reported a protocol error (it refused something we sent). `code` is the peer's
    /// string: a newer peer may send codes this version does not know
    /// ([`TransferErrorCode::from_code`] reads ours).
    PeerError {
        /// The `error`'s code as sent.
        code: String,
        /// The peer's description.
        message: String,
    },
    /// Both sides opened their commitments (feature `verify`): the connection's security code,
    /// `"123 456"`, the same on both screens unless someone is in the middle.
    SecurityCode {
        /// Six digits with a space in the middle.
        code: String,
    },
    /// The peer sent something we refused (we answered with an `error` of this code). The
    /// message was otherwise ignored; a misplaced data frame or `file-end` also cancels its
    /// transfer, and `version-mismatch` is followed by [`Output::Close`].
    ProtocolError {
        /// The code we sent.
        code: TransferErrorCode,
        /// The message we sent with it.
        message: String,
    },
}
