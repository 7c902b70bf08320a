//! State of one transfer we send.

use sha2::{Digest, Sha256};

/// A file we offer, as the driver describes it (it knows where the bytes are; we only need sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Relative path with `/` separators, as sent in the offer.
    pub path: String,
    pub size: u64,
    pub mime: String,
    pub mtime: Option<u64>,
}

#[derive(Debug)]
pub(crate) enum SendPhase {
    /// Waiting for `accept` or `decline`.
    Offered,
    /// Streaming file `index`. Bytes below `send_from` are only hashed (a resumed prefix the
    /// receiver already holds), the rest are hashed and sent.
    Streaming {
        index: usize,
        offset: u64,
        send_from: u64,
        hasher: Sha256,
        read_in_flight: bool,
    },
    /// Every byte and every `file-end` is sent; waiting for `done`.
    AwaitingDone,
}

#[derive(Debug)]
pub(crate) struct Outgoing {
    pub files: Vec<LocalFile>,
    pub total: u64,
    /// Per-file resume offsets granted by the receiver.
    pub resume: Vec<u64>,
    pub phase: SendPhase,
    /// Bytes counted as done (sent, or held by the receiver already).
    pub done_bytes: u64,
    /// The SHA-256 sent in each file's `file-end` (empty until then), for the sender's summary.
    pub hashes: Vec<String>,
}

impl Outgoing {
    pub fn start_file(&mut self, index: usize) {
        let size = self.files[index].size;
        let send_from = self.resume[index].min(size);
        self.phase = SendPhase::Streaming {
            index,
            offset: 0,
            send_from,
            hasher: Sha256::new(),
            read_in_flight: false,
        };
    }
}
