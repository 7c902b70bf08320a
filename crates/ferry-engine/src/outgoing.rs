//! Transfers we send: their state, and the engine's transitions for them (offer → accept or
//! decline → frames and `file-end`s, paced by reads → `file-verified`s → `done`).

use ferry_protocol::transfer::{
    ControlMessage, DataFrame, FRAME_HEADER_BYTES, MAX_CONTROL_BYTES, MAX_FILE_SIZE,
    MAX_FILES_PER_OFFER, MAX_SELECTION_PARTS, OfferedFile, ResumePoint, Role, SelectionPart,
    TransferErrorCode,
};
use sha2::{Digest, Sha256};

use crate::{CommandError, Engine, Event, Output, ReadRequest};

/// A file we offer, as the driver describes it (it knows where the bytes are; we only need sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Relative path with `/` separators, as sent in the offer (folders keep their structure;
    /// the receiver sanitizes it, so keep it plain).
    pub path: String,
    /// Size in bytes, at most `MAX_FILE_SIZE` (2^53 − 1). The driver must supply exactly this
    /// many bytes: a short read cancels the transfer ("changed while being sent").
    pub size: u64,
    /// MIME type for the receiver's display (`type` on the wire), or empty.
    pub mime: String,
    /// Modification time in milliseconds since the Unix epoch, if known.
    pub mtime: Option<u64>,
}

impl LocalFile {
    fn offered(&self) -> OfferedFile {
        OfferedFile {
            path: self.path.clone(),
            size: self.size,
            mime: self.mime.clone(),
            mtime: self.mtime,
        }
    }
}

/// Room kept in an offer for everything but its file list: the envelope
/// (`{"type":"offer","transferId":…,"totalSize":…,"files":[]}`) is under 100 bytes.
const OFFER_ENVELOPE_BYTES: usize = 256;

/// Splits a selection into offers that each fit one control message ([`MAX_CONTROL_BYTES`])
/// and [`MAX_FILES_PER_OFFER`], keeping the order. A folder of a few thousand files already
/// lists more than 256 KiB (about 100 bytes per entry, more with long paths), and a message that
/// large cannot cross a DataChannel; docs/protocol.md: larger selections are several offers.
pub fn split_offer(files: Vec<LocalFile>) -> Vec<Vec<LocalFile>> {
    let budget = MAX_CONTROL_BYTES - OFFER_ENVELOPE_BYTES;
    let mut parts = Vec::new();
    let mut part: Vec<LocalFile> = Vec::new();
    let mut bytes = 0;
    for f in files {
        // The entry as serialized, plus its comma.
        let entry = serde_json::to_string(&f.offered()).map_or(usize::MAX, |j| j.len()) + 1;
        if !part.is_empty() && (bytes + entry > budget || part.len() == MAX_FILES_PER_OFFER) {
            parts.push(std::mem::take(&mut part));
            bytes = 0;
        }
        bytes = bytes.saturating_add(entry);
        part.push(f);
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// Transfer ids count up from 1 and skip 0 when they wrap.
fn next_id(id: u32) -> u32 {
    id.wrapping_add(1).max(1)
}

/// The `offer` for `files`, with the checks a peer would otherwise refuse it for; and its total.
fn offer_message(
    transfer_id: u32,
    files: &[LocalFile],
    selection: Option<SelectionPart>,
) -> Result<(ControlMessage, u64), CommandError> {
    if files.is_empty() {
        return Err(CommandError::InvalidOffer("no files".into()));
    }
    if files.len() > MAX_FILES_PER_OFFER {
        return Err(CommandError::InvalidOffer(format!(
            "{} files; at most {MAX_FILES_PER_OFFER} per offer",
            files.len()
        )));
    }
    let mut total: u64 = 0;
    for f in files {
        if f.size > MAX_FILE_SIZE {
            return Err(CommandError::InvalidOffer(format!(
                "{} is too large",
                f.path
            )));
        }
        total = total
            .checked_add(f.size)
            .ok_or_else(|| CommandError::InvalidOffer("total size overflows".into()))?;
    }
    let msg = ControlMessage::Offer {
        transfer_id,
        files: files.iter().map(LocalFile::offered).collect(),
        total_size: total,
        selection,
    };
    let len = msg.to_json().len();
    if len > MAX_CONTROL_BYTES {
        // The peer would refuse it as too large, with no transfer id to say which: the
        // offer would wait for an answer forever.
        return Err(CommandError::InvalidOffer(format!(
            "{} files make an offer of {} KiB, over the {} KiB of one message: split it \
             into several offers",
            files.len(),
            len.div_ceil(1024),
            MAX_CONTROL_BYTES / 1024
        )));
    }
    Ok((msg, total))
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
    /// Per file, the SHA-256 the receiver gave for its kept prefix (`accept.resume[].sha256`):
    /// checked against our file once the prefix is hashed.
    pub resume_sha256: Vec<Option<String>>,
    pub phase: SendPhase,
    /// Bytes counted as done (sent, or held by the receiver already).
    pub done_bytes: u64,
    /// The SHA-256 sent in each file's `file-end` (empty until then), for the sender's summary.
    pub hashes: Vec<String>,
    /// Files the receiver reported `ok: false` for. Per file, so that a repeated verdict
    /// replaces the earlier one instead of counting twice.
    pub mismatched: Vec<bool>,
    /// Flow control: payload bytes we may still send (`accept.credit` plus every `credit`, less
    /// what we sent). `None`: the receiver asked for none, send as the pipe allows.
    pub credit: Option<u64>,
}

impl Outgoing {
    pub fn new(files: Vec<LocalFile>, total: u64) -> Self {
        let n = files.len();
        Outgoing {
            files,
            total,
            resume: vec![0; n],
            resume_sha256: vec![None; n],
            phase: SendPhase::Offered,
            done_bytes: 0,
            hashes: vec![String::new(); n],
            mismatched: vec![false; n],
            credit: None,
        }
    }

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

impl Engine {
    /// Offers files to the peer; returns the transfer id (ours, counting up from 1). Sent once
    /// the peer's `hello` arrived; held until then. Refused when empty, over
    /// `MAX_FILES_PER_OFFER` files, a file over `MAX_FILE_SIZE`, or a list too long for one
    /// message ([`Engine::send_selection`] splits a selection into offers that fit).
    pub fn send_offer(&mut self, files: Vec<LocalFile>) -> Result<u32, CommandError> {
        self.send_offer_part(files, None)
    }

    /// Offers a selection of any length: one offer when it fits, else several back to back
    /// ([`split_offer`]), each marked with its part of the selection so that the receiver can
    /// ask once. Every part is checked before any is sent. Returns each offer's transfer id
    /// with the position of its first file in `files`.
    pub fn send_selection(
        &mut self,
        files: Vec<LocalFile>,
    ) -> Result<Vec<(u32, usize)>, CommandError> {
        let mut parts = split_offer(files);
        if parts.len() <= 1 {
            let id = self.send_offer(parts.pop().unwrap_or_default())?;
            return Ok(vec![(id, 0)]);
        }
        if parts.len() > MAX_SELECTION_PARTS as usize {
            return Err(CommandError::InvalidOffer(format!(
                "the selection needs {} offers; at most {MAX_SELECTION_PARTS}",
                parts.len()
            )));
        }
        let count = parts.len() as u32;
        let first = self.next_transfer_id;
        let part = |i: usize| SelectionPart {
            first,
            part: i as u32,
            parts: count,
        };
        let mut id = first;
        for (i, files) in parts.iter().enumerate() {
            offer_message(id, files, Some(part(i)))?;
            id = next_id(id);
        }
        let mut sent = Vec::with_capacity(parts.len());
        let mut index = 0;
        for (i, files) in parts.into_iter().enumerate() {
            let n = files.len();
            sent.push((self.send_offer_part(files, Some(part(i)))?, index));
            index += n;
        }
        Ok(sent)
    }

    fn send_offer_part(
        &mut self,
        files: Vec<LocalFile>,
        selection: Option<SelectionPart>,
    ) -> Result<u32, CommandError> {
        let transfer_id = self.next_transfer_id;
        let (msg, total) = offer_message(transfer_id, &files, selection)?;
        self.next_transfer_id = next_id(transfer_id);
        self.outgoing
            .insert(transfer_id, Outgoing::new(files, total));
        if self.peer_hello {
            self.send(msg);
        } else {
            self.held.push((Some(transfer_id), msg));
        }
        Ok(transfer_id)
    }

    /// Sends a raw, unvalidated offer. Only for tests that play a hostile sender: the engine
    /// itself never sends names it was not given by the user.
    #[doc(hidden)]
    pub fn send_raw_offer_for_tests(&mut self, transfer_id: u32, files: Vec<OfferedFile>) {
        let total_size = files.iter().map(|f| f.size).fold(0u64, u64::wrapping_add);
        let local = files
            .iter()
            .map(|f| LocalFile {
                path: f.path.clone(),
                size: f.size,
                mime: f.mime.clone(),
                mtime: f.mtime,
            })
            .collect::<Vec<_>>();
        self.outgoing
            .insert(transfer_id, Outgoing::new(local, total_size));
        self.send(ControlMessage::Offer {
            transfer_id,
            files,
            total_size,
            selection: None,
        });
    }

    /// The next file bytes to read for an outgoing transfer, or `None` when nothing is due.
    /// Call when the pipe has room; answer with [`Engine::handle_read`]. At most one read is in
    /// flight per transfer, so memory stays bounded by one chunk.
    pub fn next_read(&mut self) -> Option<ReadRequest> {
        let chunk = self.chunk_bytes;
        for (&transfer_id, t) in self.outgoing.iter_mut() {
            if let SendPhase::Streaming {
                index,
                offset,
                send_from,
                read_in_flight,
                ..
            } = &mut t.phase
            {
                if *read_in_flight {
                    continue;
                }
                let size = t.files[*index].size;
                let remaining = size - *offset;
                // A resumed prefix is read only to hash it: read in big bites, it never hits the pipe.
                let len = if *offset < *send_from {
                    (*send_from - *offset).min(4 * 1024 * 1024) as usize
                } else {
                    // Flow control: never more than the credit; none left, wait for a `credit`.
                    let credit = t.credit.unwrap_or(u64::MAX);
                    if credit == 0 {
                        continue;
                    }
                    remaining.min(chunk as u64).min(credit) as usize
                };
                *read_in_flight = true;
                return Some(ReadRequest {
                    transfer_id,
                    index: *index as u32,
                    offset: *offset,
                    len,
                });
            }
        }
        None
    }

    /// The bytes asked for by `req`. `buf[..16]` is reserved for the frame header (so the frame
    /// is built without copying) and `buf[16..]` holds the file bytes; `buf.len() - 16` must
    /// equal `req.len` (a short read means the file changed under us: cancel instead).
    pub fn handle_read(&mut self, req: ReadRequest, mut buf: Vec<u8>) {
        let Some(t) = self.outgoing.get_mut(&req.transfer_id) else {
            return; // cancelled while the read was in flight
        };
        let SendPhase::Streaming {
            index,
            offset,
            send_from,
            hasher,
            read_in_flight,
        } = &mut t.phase
        else {
            return;
        };
        if *index as u32 != req.index || *offset != req.offset || buf.len() < FRAME_HEADER_BYTES {
            return;
        }
        *read_in_flight = false;
        let payload_len = buf.len() - FRAME_HEADER_BYTES;
        if payload_len != req.len {
            let reason = format!(
                "{} changed while being sent (read {payload_len} bytes at offset {}, expected {})",
                t.files[*index].path, req.offset, req.len
            );
            let _ = self.cancel(req.transfer_id, Role::Sender, &reason);
            return;
        }
        hasher.update(&buf[FRAME_HEADER_BYTES..]);
        let is_prefix = *offset < *send_from;
        *offset += payload_len as u64;
        let mut restart = false;
        if is_prefix
            && *offset == *send_from
            && let Some(theirs) = &t.resume_sha256[*index]
        {
            // The receiver's prefix is all hashed here: does it match our file? If not, send
            // the whole file rather than a tail the receiver's prefix would spoil.
            let ours = hex::encode(hasher.clone().finalize());
            if !ours.eq_ignore_ascii_case(theirs) {
                restart = true;
                t.done_bytes -= *send_from - payload_len as u64;
                *offset = 0;
                *send_from = 0;
                *hasher = Sha256::new();
            }
        }
        let at = *offset;
        let i = *index;
        if restart {
            self.send(ControlMessage::FileRestart {
                transfer_id: req.transfer_id,
                index: req.index,
            });
            return;
        }
        if !is_prefix {
            DataFrame::write_header(req.transfer_id, req.index, req.offset, &mut buf);
            t.done_bytes += payload_len as u64;
            if let Some(c) = &mut t.credit {
                *c = c.saturating_sub(payload_len as u64);
            }
            self.out.push_back(Output::SendBinary(buf));
        } else {
            // Prefix bytes count as done once hashed: the receiver already holds them.
            t.done_bytes += payload_len as u64;
        }
        let (done, total) = (t.done_bytes, t.total);
        let size = t.files[i].size;
        self.event(Event::Progress {
            transfer_id: req.transfer_id,
            role: Role::Sender,
            done,
            total,
        });
        if at == size {
            self.finish_outgoing_file(req.transfer_id);
        }
    }

    /// Called when file `index` has been fully read and sent: emits `file-end` and moves on.
    pub(crate) fn finish_outgoing_file(&mut self, transfer_id: u32) {
        let Some(t) = self.outgoing.get_mut(&transfer_id) else {
            return;
        };
        let SendPhase::Streaming { index, hasher, .. } =
            std::mem::replace(&mut t.phase, SendPhase::AwaitingDone)
        else {
            return;
        };
        let sha256 = hex::encode(hasher.finalize());
        t.hashes[index] = sha256.clone();
        let next = index + 1;
        if next < t.files.len() {
            t.start_file(next);
        }
        self.send(ControlMessage::FileEnd {
            transfer_id,
            index: index as u32,
            sha256,
        });
        // Zero-byte files have nothing to read: end them right away.
        self.skip_empty_outgoing(transfer_id);
    }

    pub(crate) fn skip_empty_outgoing(&mut self, transfer_id: u32) {
        if let Some(t) = self.outgoing.get(&transfer_id)
            && let SendPhase::Streaming { index, .. } = &t.phase
            && t.files[*index].size == 0
        {
            self.finish_outgoing_file(transfer_id);
        }
    }

    pub(crate) fn on_accept(
        &mut self,
        transfer_id: u32,
        resume: Vec<ResumePoint>,
        credit: Option<u64>,
    ) {
        match self.outgoing.get_mut(&transfer_id) {
            Some(t) if matches!(t.phase, SendPhase::Offered) => {
                t.credit = credit;
                for r in resume {
                    let i = r.index as usize;
                    // An offset past the end restarts the file (protocol: "restarts it at 0").
                    if i < t.files.len() && r.offset <= t.files[i].size {
                        t.resume[i] = r.offset;
                        t.resume_sha256[i] = r.sha256;
                    }
                }
                t.start_file(0);
                self.event(Event::Accepted { transfer_id });
                self.skip_empty_outgoing(transfer_id);
            }
            Some(_) => self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("second accept for transfer {transfer_id}"),
            ),
            None => self.unknown_outgoing(transfer_id),
        }
    }

    /// More credit for a flow-controlled transfer we send. Credit for a transfer accepted
    /// without any (or not yet accepted) is out of place; for one that ended it crossed the end.
    pub(crate) fn on_credit(&mut self, transfer_id: u32, bytes: u64) {
        match self.outgoing.get_mut(&transfer_id) {
            Some(Outgoing {
                credit: Some(c), ..
            }) => *c = c.saturating_add(bytes),
            Some(_) => self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("credit for transfer {transfer_id}, which was not accepted with credit"),
            ),
            None => self.unknown_outgoing(transfer_id),
        }
    }

    pub(crate) fn unknown_outgoing(&mut self, transfer_id: u32) {
        if !self.closed_outgoing.contains(&transfer_id) {
            self.refuse(
                TransferErrorCode::UnknownTransfer,
                format!("no transfer {transfer_id} sent by this peer"),
            );
        }
    }

    pub(crate) fn on_decline(&mut self, transfer_id: u32) {
        match self.outgoing.get(&transfer_id) {
            Some(t) if matches!(t.phase, SendPhase::Offered) => {
                self.outgoing.remove(&transfer_id);
                self.closed_outgoing.insert(transfer_id);
                self.event(Event::Declined { transfer_id });
            }
            Some(_) => self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("decline of transfer {transfer_id} after it was accepted"),
            ),
            None => self.unknown_outgoing(transfer_id),
        }
    }

    /// The receiver's verdict on a file; it needs the file's `file-end` first.
    pub(crate) fn on_file_verified(&mut self, transfer_id: u32, index: u32, ok: bool) {
        match self.outgoing.get_mut(&transfer_id) {
            // A verdict needs the file's `file-end` first (an empty hash: not sent yet).
            Some(t)
                if (index as usize) < t.files.len()
                    && !matches!(t.phase, SendPhase::Offered)
                    && !t.hashes[index as usize].is_empty() =>
            {
                let sha256 = t.hashes[index as usize].clone();
                t.mismatched[index as usize] = !ok;
                self.event(Event::FileVerified {
                    transfer_id,
                    role: Role::Sender,
                    index,
                    ok,
                    sha256,
                });
            }
            Some(_) => self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("file-verified for file {index} of transfer {transfer_id} out of place"),
            ),
            None => self.unknown_outgoing(transfer_id),
        }
    }

    pub(crate) fn on_done(&mut self, transfer_id: u32) {
        match self.outgoing.get(&transfer_id) {
            Some(t) if matches!(t.phase, SendPhase::AwaitingDone) => {
                let failed = t.mismatched.iter().filter(|m| **m).count() as u32;
                self.outgoing.remove(&transfer_id);
                self.closed_outgoing.insert(transfer_id);
                self.event(Event::TransferDone {
                    transfer_id,
                    role: Role::Sender,
                    failed,
                });
            }
            Some(_) => self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("done for transfer {transfer_id} before every file was sent"),
            ),
            None => self.unknown_outgoing(transfer_id),
        }
    }
}
