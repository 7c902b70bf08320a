//! State of one transfer we receive.

use ferry_protocol::transfer::ValidatedFile;
use sha2::Sha256;

/// A resume point the driver found on disk: the first `offset` bytes of file `index` are already
/// stored, and `hasher` has hashed exactly those bytes.
#[derive(Debug, Clone)]
pub struct ResumeFrom {
    pub index: u32,
    pub offset: u64,
    pub hasher: Sha256,
}

#[derive(Debug)]
pub(crate) enum ReceivePhase {
    /// Offer shown to the user; nothing written yet.
    AwaitingConsent,
    /// Receiving file `index`; `received` bytes of it are stored (including a resumed prefix).
    Receiving {
        index: usize,
        received: u64,
        hasher: Sha256,
    },
}

#[derive(Debug)]
pub(crate) struct Incoming {
    pub files: Vec<ValidatedFile>,
    pub total: u64,
    pub phase: ReceivePhase,
    /// Resume points accepted for files not yet started, by index.
    pub resume: Vec<Option<ResumeFrom>>,
    pub done_bytes: u64,
    pub failed: u32,
}
