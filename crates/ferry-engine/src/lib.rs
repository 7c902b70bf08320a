//! The transfer engine: transfer protocol v1 (`docs/protocol.md`, section 2) as a sans-I/O state
//! machine. No sockets, no clock of its own, no file system: a driver feeds it messages from the
//! pipe, user commands and the time, and performs what it asks for.
//!
//! **The one rule of every driver loop:** after every input (a message, a command, a completed
//! read, a timeout), drain [`Engine::poll_output`] until it returns `None`, performing each output
//! in order; when the pipe has room, ask [`Engine::next_read`] for file bytes to send; then wait
//! for the next input, but no later than [`Engine::poll_timeout`], and when that instant has
//! come call [`Engine::handle_timeout`] (quinn-proto's `poll_timeout` / `handle_timeout`).
//!
//! See `docs/engine.md` for the design.
#![forbid(unsafe_code)]

mod incoming;
mod outgoing;
mod output;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use ferry_protocol::transfer::{
    ControlMessage, DataFrame, FRAME_HEADER_BYTES, HELLO_RETRIES, HELLO_RETRY_MS, MAX_FILE_SIZE,
    MAX_FILES_PER_OFFER, MAX_FRAME_BYTES, MAX_TEXT_BYTES, OfferedFile, ResumePoint, Role,
    TRANSFER_VERSION, TransferErrorCode, validate_offer,
};
use sha2::{Digest, Sha256};

pub use ferry_protocol::transfer::MAX_HELLO_ECHOES;
pub use incoming::ResumeFrom;
pub use outgoing::LocalFile;
pub use output::{Event, IoRequest, Output, ReadRequest};
/// Re-exported so drivers hash a resumed prefix with the same type the engine continues with.
pub use sha2::Sha256 as Hasher;

/// How often `hello` is repeated while the peer's has not arrived.
pub const HELLO_RETRY_INTERVAL: Duration = Duration::from_millis(HELLO_RETRY_MS);

use incoming::{Incoming, ReceivePhase};
use outgoing::{Outgoing, SendPhase};

/// Why a user command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No such transfer in a state where the command makes sense.
    UnknownTransfer(u32),
    /// The offer breaks a protocol limit.
    InvalidOffer(String),
    /// A text message over 64 KiB.
    TextTooLong,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::UnknownTransfer(id) => write!(f, "no transfer {id} in this state"),
            CommandError::InvalidOffer(why) => write!(f, "invalid offer: {why}"),
            CommandError::TextTooLong => write!(f, "text message is over 64 KiB"),
        }
    }
}

impl std::error::Error for CommandError {}

/// One side of a transfer-protocol conversation.
#[derive(Debug)]
pub struct Engine {
    app: String,
    hello_sent: bool,
    peer_hello: bool,
    /// How many more times a repeated `hello` from the peer is answered with ours.
    hello_echoes_left: u32,
    /// How many more times ours is repeated while the peer's has not arrived, and when next.
    hello_retries_left: u32,
    hello_due: Option<Instant>,
    /// Payload bytes per data frame.
    chunk_bytes: usize,
    next_transfer_id: u32,
    outgoing: BTreeMap<u32, Outgoing>,
    incoming: BTreeMap<u32, Incoming>,
    /// Offers (with their transfer id) and texts held until the peer's `hello` arrives: a
    /// message sent before the peer's end of the pipe is up can be lost, and its `hello` proves
    /// it is up.
    held: Vec<(Option<u32>, ControlMessage)>,
    /// Transfers that ended (done, declined, cancelled), by role: late messages for them are
    /// expected (they crossed a `cancel` on the wire) and dropped silently.
    closed_outgoing: BTreeSet<u32>,
    closed_incoming: BTreeSet<u32>,
    text_counter: u64,
    out: VecDeque<Output>,
}

impl Engine {
    /// `app` names this software in `hello`, e.g. `"ferry-cli/0.1.0"`.
    pub fn new(app: impl Into<String>) -> Self {
        Engine {
            app: app.into(),
            hello_sent: false,
            peer_hello: false,
            hello_echoes_left: MAX_HELLO_ECHOES,
            hello_retries_left: HELLO_RETRIES,
            hello_due: None,
            chunk_bytes: ferry_protocol::transfer::DEFAULT_CHUNK_BYTES,
            next_transfer_id: 1,
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            held: Vec::new(),
            closed_outgoing: BTreeSet::new(),
            closed_incoming: BTreeSet::new(),
            text_counter: 0,
            out: VecDeque::new(),
        }
    }

    /// Sets the largest binary message the pipe carries; frames are sized to fit
    /// (`min(256 KiB, max) − 16` bytes of payload).
    pub fn set_max_message_size(&mut self, max: usize) {
        let max = max.clamp(FRAME_HEADER_BYTES + 1, MAX_FRAME_BYTES);
        self.chunk_bytes = max - FRAME_HEADER_BYTES;
    }

    pub fn chunk_bytes(&self) -> usize {
        self.chunk_bytes
    }

    /// Sends `hello`. Call once when the pipe opens; `now` starts the clock of the hello retries.
    pub fn start(&mut self, now: Instant) {
        if !self.hello_sent {
            self.send_first_hello();
            if !self.peer_hello {
                self.hello_due = Some(now + HELLO_RETRY_INTERVAL);
            }
        }
    }

    fn send_first_hello(&mut self) {
        if !self.hello_sent {
            self.hello_sent = true;
            self.send_hello();
        }
    }

    fn send_hello(&mut self) {
        self.send(ControlMessage::Hello {
            version: TRANSFER_VERSION,
            app: self.app.clone(),
        });
    }

    /// True once the peer's `hello` arrived.
    pub fn heard_from_peer(&self) -> bool {
        self.peer_hello
    }

    /// When [`Engine::handle_timeout`] is next due, or `None` when nothing waits on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.peer_hello || self.hello_retries_left == 0 {
            return None;
        }
        self.hello_due
    }

    /// Time has passed. Until the peer's `hello` arrives, ours goes out again every
    /// [`HELLO_RETRY_INTERVAL`], at most [`HELLO_RETRIES`] times: a first message can be lost
    /// when it races the other side's channel setup (seen with webrtc-rs on a negotiated
    /// channel), and the peer answers a repeated `hello` with its own, so both recover.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.poll_timeout() {
            Some(due) if now >= due => {
                self.hello_retries_left -= 1;
                self.send_hello();
                self.hello_due = Some(now + HELLO_RETRY_INTERVAL);
            }
            _ => {}
        }
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// True while any transfer (either direction) is not finished.
    pub fn is_busy(&self) -> bool {
        !self.outgoing.is_empty() || !self.incoming.is_empty() || !self.held.is_empty()
    }

    /// True while offers or texts wait for the peer's `hello` (nothing of them is on the wire).
    pub fn holds_messages(&self) -> bool {
        !self.held.is_empty()
    }

    // ---- user commands -------------------------------------------------------------------

    /// Offers files to the peer; returns the transfer id. Sent once the peer's `hello` arrived.
    pub fn send_offer(&mut self, files: Vec<LocalFile>) -> Result<u32, CommandError> {
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
        for f in &files {
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
        let transfer_id = self.next_transfer_id;
        self.next_transfer_id = self.next_transfer_id.wrapping_add(1).max(1);
        let msg = ControlMessage::Offer {
            transfer_id,
            files: files
                .iter()
                .map(|f| OfferedFile {
                    path: f.path.clone(),
                    size: f.size,
                    mime: f.mime.clone(),
                    mtime: f.mtime,
                })
                .collect(),
            total_size: total,
        };
        let n = files.len();
        self.outgoing.insert(
            transfer_id,
            Outgoing {
                files,
                total,
                resume: vec![0; n],
                phase: SendPhase::Offered,
                done_bytes: 0,
                hashes: vec![String::new(); n],
            },
        );
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
        let n = local.len();
        self.outgoing.insert(
            transfer_id,
            Outgoing {
                files: local,
                total: total_size,
                resume: vec![0; n],
                phase: SendPhase::Offered,
                done_bytes: 0,
                hashes: vec![String::new(); n],
            },
        );
        self.send(ControlMessage::Offer {
            transfer_id,
            files,
            total_size,
        });
    }

    /// Consents to an offer. `resume` lists prefixes already on disk (hashed by the driver).
    pub fn accept(
        &mut self,
        transfer_id: u32,
        resume: Vec<ResumeFrom>,
    ) -> Result<(), CommandError> {
        let t = self
            .incoming
            .get_mut(&transfer_id)
            .filter(|t| matches!(t.phase, ReceivePhase::AwaitingConsent))
            .ok_or(CommandError::UnknownTransfer(transfer_id))?;
        let mut points = Vec::new();
        for r in resume {
            let i = r.index as usize;
            if i < t.files.len() && r.offset > 0 && r.offset <= t.files[i].size {
                points.push(ResumePoint {
                    index: r.index,
                    offset: r.offset,
                });
                t.done_bytes += r.offset;
                t.resume[i] = Some(r);
            }
        }
        self.send(ControlMessage::Accept {
            transfer_id,
            resume: points,
        });
        self.start_incoming_file(transfer_id, 0);
        Ok(())
    }

    /// Refuses an offer; nothing is written.
    pub fn decline(&mut self, transfer_id: u32) -> Result<(), CommandError> {
        match self.incoming.get(&transfer_id) {
            Some(t) if matches!(t.phase, ReceivePhase::AwaitingConsent) => {
                self.incoming.remove(&transfer_id);
                self.closed_incoming.insert(transfer_id);
                self.send(ControlMessage::Decline { transfer_id });
                Ok(())
            }
            _ => Err(CommandError::UnknownTransfer(transfer_id)),
        }
    }

    /// Cancels a transfer we take part in as `role`, telling the peer why.
    pub fn cancel(
        &mut self,
        transfer_id: u32,
        role: Role,
        reason: &str,
    ) -> Result<(), CommandError> {
        let known = match role {
            Role::Sender => self.outgoing.contains_key(&transfer_id),
            Role::Receiver => self.incoming.contains_key(&transfer_id),
        };
        if !known {
            return Err(CommandError::UnknownTransfer(transfer_id));
        }
        let held = self.held.len();
        self.held
            .retain(|(id, _)| *id != Some(transfer_id) || role != Role::Sender);
        // An offer that never left needs no cancel on the wire.
        if self.held.len() == held {
            self.send(ControlMessage::Cancel {
                transfer_id,
                role,
                reason: reason.to_string(),
            });
        }
        self.close_transfer(transfer_id, role, false, reason.to_string());
        Ok(())
    }

    /// Cancels every running transfer (e.g. on Ctrl-C).
    pub fn cancel_all(&mut self, reason: &str) {
        let out: Vec<u32> = self.outgoing.keys().copied().collect();
        let inc: Vec<u32> = self.incoming.keys().copied().collect();
        for id in out {
            let _ = self.cancel(id, Role::Sender, reason);
        }
        for id in inc {
            let _ = self.cancel(id, Role::Receiver, reason);
        }
    }

    /// Sends a chat message (once the peer's `hello` arrived, like offers); returns its id.
    pub fn send_text(&mut self, text: &str) -> Result<String, CommandError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(CommandError::TextTooLong);
        }
        self.text_counter += 1;
        let id = format!("m-{}", self.text_counter);
        let msg = ControlMessage::Text {
            id: id.clone(),
            text: text.to_string(),
        };
        if self.peer_hello {
            self.send(msg);
        } else {
            self.held.push((None, msg));
        }
        Ok(id)
    }

    /// The driver could not do the I/O for a transfer we receive (disk full, permission):
    /// cancel it with `message` as the reason.
    pub fn io_failed(&mut self, transfer_id: u32, role: Role, message: &str) {
        let _ = self.cancel(transfer_id, role, message);
    }

    // ---- sending file data ---------------------------------------------------------------

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
                    remaining.min(chunk as u64) as usize
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
        let at = *offset;
        let i = *index;
        if !is_prefix {
            DataFrame::write_header(req.transfer_id, req.index, req.offset, &mut buf);
            t.done_bytes += payload_len as u64;
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
    fn finish_outgoing_file(&mut self, transfer_id: u32) {
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

    fn skip_empty_outgoing(&mut self, transfer_id: u32) {
        if let Some(t) = self.outgoing.get(&transfer_id)
            && let SendPhase::Streaming { index, .. } = &t.phase
            && t.files[*index].size == 0
        {
            self.finish_outgoing_file(transfer_id);
        }
    }

    // ---- input from the pipe -------------------------------------------------------------

    /// A text message from the pipe.
    pub fn handle_text(&mut self, text: &str) {
        let msg = match ControlMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                self.refuse(e.code(), e.to_string());
                return;
            }
        };
        match msg {
            ControlMessage::Hello { version, app } => {
                if version != TRANSFER_VERSION {
                    self.refuse(
                        TransferErrorCode::VersionMismatch,
                        format!(
                            "this peer speaks transfer protocol {TRANSFER_VERSION}, not {version}"
                        ),
                    );
                    self.out.push_back(Output::Close);
                    return;
                }
                let repeated = self.peer_hello && self.hello_sent;
                self.send_first_hello();
                if !self.peer_hello {
                    self.peer_hello = true;
                    self.event(Event::PeerHello { app });
                    for (_, msg) in std::mem::take(&mut self.held) {
                        self.send(msg);
                    }
                } else if repeated && self.hello_echoes_left > 0 {
                    // The peer repeats its hello: it has not heard ours. Answer, a bounded
                    // number of times so two peers can never ping-pong.
                    self.hello_echoes_left -= 1;
                    self.send_hello();
                }
            }
            ControlMessage::Offer {
                transfer_id,
                files,
                total_size,
            } => self.on_offer(transfer_id, files, total_size),
            ControlMessage::Accept {
                transfer_id,
                resume,
            } => self.on_accept(transfer_id, resume),
            ControlMessage::Decline { transfer_id } => match self.outgoing.get(&transfer_id) {
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
            },
            ControlMessage::Cancel {
                transfer_id,
                role,
                reason,
            } => {
                // `role` is the canceller's role: a cancelling sender means our incoming transfer.
                let ours = match role {
                    Role::Sender => Role::Receiver,
                    Role::Receiver => Role::Sender,
                };
                let known = match ours {
                    Role::Sender => self.outgoing.contains_key(&transfer_id),
                    Role::Receiver => self.incoming.contains_key(&transfer_id),
                };
                if known {
                    self.close_transfer(transfer_id, ours, true, reason);
                }
                // A cancel for a finished transfer crossed our `done` or our own cancel: drop it.
            }
            ControlMessage::FileEnd {
                transfer_id,
                index,
                sha256,
            } => self.on_file_end(transfer_id, index, &sha256),
            ControlMessage::FileVerified {
                transfer_id,
                index,
                ok,
            } => match self.outgoing.get(&transfer_id) {
                // A verdict needs the file's `file-end` first (an empty hash: not sent yet).
                Some(t)
                    if (index as usize) < t.files.len()
                        && !matches!(t.phase, SendPhase::Offered)
                        && !t.hashes[index as usize].is_empty() =>
                {
                    let sha256 = t.hashes[index as usize].clone();
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
                    format!(
                        "file-verified for file {index} of transfer {transfer_id} out of place"
                    ),
                ),
                None => self.unknown_outgoing(transfer_id),
            },
            ControlMessage::Done { transfer_id } => match self.outgoing.get(&transfer_id) {
                Some(t) if matches!(t.phase, SendPhase::AwaitingDone) => {
                    self.outgoing.remove(&transfer_id);
                    self.closed_outgoing.insert(transfer_id);
                    self.event(Event::TransferDone {
                        transfer_id,
                        role: Role::Sender,
                        failed: 0,
                    });
                }
                Some(_) => self.refuse(
                    TransferErrorCode::ProtocolViolation,
                    format!("done for transfer {transfer_id} before every file was sent"),
                ),
                None => self.unknown_outgoing(transfer_id),
            },
            ControlMessage::Text { id, text } => self.event(Event::Text { id, text }),
            ControlMessage::Error { code, message } => {
                self.event(Event::PeerError { code, message })
            }
        }
    }

    /// A binary message from the pipe.
    pub fn handle_binary(&mut self, bytes: &[u8]) {
        let frame = match DataFrame::parse(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.refuse(e.code(), e.to_string());
                return;
            }
        };
        let tid = frame.transfer_id;
        let Some(t) = self.incoming.get_mut(&tid) else {
            if !self.closed_incoming.contains(&tid) {
                self.refuse(
                    TransferErrorCode::UnknownTransfer,
                    format!("data for unknown transfer {tid}"),
                );
            }
            return;
        };
        let violation = match &mut t.phase {
            ReceivePhase::AwaitingConsent => Some(format!("data for transfer {tid} before accept")),
            ReceivePhase::Receiving {
                index,
                received,
                hasher,
            } => {
                let size = t.files[*index].size;
                if frame.index as usize != *index {
                    Some(format!(
                        "data for file {} while file {index} is in progress",
                        frame.index
                    ))
                } else if frame.offset != *received {
                    Some(format!(
                        "data at offset {} of file {index}; expected offset {received}",
                        frame.offset
                    ))
                } else if frame.payload.len() as u64 > size - *received {
                    Some(format!(
                        "data runs past the end of file {index} ({size} bytes)"
                    ))
                } else {
                    hasher.update(frame.payload);
                    *received += frame.payload.len() as u64;
                    t.done_bytes += frame.payload.len() as u64;
                    let (done, total) = (t.done_bytes, t.total);
                    self.out.push_back(Output::Io(IoRequest::Write {
                        transfer_id: tid,
                        index: frame.index,
                        offset: frame.offset,
                        data: frame.payload.to_vec(),
                    }));
                    self.event(Event::Progress {
                        transfer_id: tid,
                        role: Role::Receiver,
                        done,
                        total,
                    });
                    None
                }
            }
        };
        if let Some(why) = violation {
            self.protocol_violation(tid, why);
        }
    }

    /// The pipe closed: every running transfer is over. Neither side chose this, so the
    /// `Cancelled` events say `by_peer: false` with a reason that says what happened.
    pub fn handle_closed(&mut self) {
        const LOST: &str = "the connection to the peer was lost";
        let out: Vec<u32> = self.outgoing.keys().copied().collect();
        let inc: Vec<u32> = self.incoming.keys().copied().collect();
        for id in out {
            self.close_transfer(id, Role::Sender, false, LOST.into());
        }
        for id in inc {
            self.close_transfer(id, Role::Receiver, false, LOST.into());
        }
        self.held.clear();
    }

    // ---- internals -----------------------------------------------------------------------

    fn on_offer(&mut self, transfer_id: u32, files: Vec<OfferedFile>, total_size: u64) {
        if self.incoming.contains_key(&transfer_id) {
            self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("offer reuses transfer id {transfer_id} of a running transfer"),
            );
            return;
        }
        match validate_offer(&files, total_size) {
            Ok(valid) => {
                let n = valid.len();
                self.closed_incoming.remove(&transfer_id);
                self.incoming.insert(
                    transfer_id,
                    Incoming {
                        files: valid.clone(),
                        total: total_size,
                        phase: ReceivePhase::AwaitingConsent,
                        resume: vec![None; n],
                        done_bytes: 0,
                        failed: 0,
                    },
                );
                self.event(Event::OfferReceived {
                    transfer_id,
                    files: valid,
                    total_size,
                });
            }
            Err(e) => {
                self.send(ControlMessage::Decline { transfer_id });
                self.refuse(e.code(), e.to_string());
                self.closed_incoming.insert(transfer_id);
                self.event(Event::OfferRefused {
                    transfer_id,
                    reason: e.to_string(),
                });
            }
        }
    }

    fn on_accept(&mut self, transfer_id: u32, resume: Vec<ResumePoint>) {
        match self.outgoing.get_mut(&transfer_id) {
            Some(t) if matches!(t.phase, SendPhase::Offered) => {
                for r in resume {
                    let i = r.index as usize;
                    // An offset past the end restarts the file (protocol: "restarts it at 0").
                    if i < t.files.len() && r.offset <= t.files[i].size {
                        t.resume[i] = r.offset;
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

    fn on_file_end(&mut self, transfer_id: u32, index: u32, sha256: &str) {
        let Some(t) = self.incoming.get_mut(&transfer_id) else {
            if !self.closed_incoming.contains(&transfer_id) {
                self.refuse(
                    TransferErrorCode::UnknownTransfer,
                    format!("file-end for unknown transfer {transfer_id}"),
                );
            }
            return;
        };
        let ReceivePhase::Receiving {
            index: current,
            received,
            ..
        } = &t.phase
        else {
            self.protocol_violation(
                transfer_id,
                format!("file-end before accept (file {index})"),
            );
            return;
        };
        let size = t.files[*current].size;
        if index as usize != *current || *received != size {
            let why = format!(
                "file-end for file {index} while file {current} has {received} of {size} bytes"
            );
            self.protocol_violation(transfer_id, why);
            return;
        }
        let ReceivePhase::Receiving { hasher, .. } =
            std::mem::replace(&mut t.phase, ReceivePhase::AwaitingConsent)
        else {
            unreachable!("matched above")
        };
        let ours = hex::encode(hasher.finalize());
        let ok = ours.eq_ignore_ascii_case(sha256);
        if !ok {
            t.failed += 1;
        }
        let next = index as usize + 1;
        let more = next < t.files.len();
        let failed = t.failed;
        self.out.push_back(Output::Io(IoRequest::Finish {
            transfer_id,
            index,
            verified: ok,
            sha256: ours.clone(),
        }));
        self.send(ControlMessage::FileVerified {
            transfer_id,
            index,
            ok,
        });
        self.event(Event::FileVerified {
            transfer_id,
            role: Role::Receiver,
            index,
            ok,
            sha256: ours,
        });
        if more {
            self.start_incoming_file(transfer_id, next);
        } else {
            self.incoming.remove(&transfer_id);
            self.closed_incoming.insert(transfer_id);
            self.send(ControlMessage::Done { transfer_id });
            self.event(Event::TransferDone {
                transfer_id,
                role: Role::Receiver,
                failed,
            });
        }
    }

    fn start_incoming_file(&mut self, transfer_id: u32, index: usize) {
        let Some(t) = self.incoming.get_mut(&transfer_id) else {
            return;
        };
        let file = &t.files[index];
        let (received, hasher) = match t.resume[index].take() {
            Some(r) => (r.offset, r.hasher),
            None => (0, Sha256::new()),
        };
        self.out.push_back(Output::Io(IoRequest::Open {
            transfer_id,
            index: index as u32,
            path: file.path.clone(),
            size: file.size,
            resume_offset: received,
        }));
        t.phase = ReceivePhase::Receiving {
            index,
            received,
            hasher,
        };
    }

    fn close_transfer(&mut self, transfer_id: u32, role: Role, by_peer: bool, reason: String) {
        match role {
            Role::Sender => {
                self.outgoing.remove(&transfer_id);
                self.closed_outgoing.insert(transfer_id);
            }
            Role::Receiver => {
                if self.incoming.remove(&transfer_id).is_some() {
                    self.out
                        .push_back(Output::Io(IoRequest::Abort { transfer_id }));
                }
                self.closed_incoming.insert(transfer_id);
            }
        }
        self.event(Event::Cancelled {
            transfer_id,
            role,
            by_peer,
            reason,
        });
    }

    fn protocol_violation(&mut self, transfer_id: u32, why: String) {
        self.refuse(TransferErrorCode::ProtocolViolation, why.clone());
        let _ = self.cancel(
            transfer_id,
            Role::Receiver,
            &format!("protocol violation: {why}"),
        );
    }

    fn unknown_outgoing(&mut self, transfer_id: u32) {
        if !self.closed_outgoing.contains(&transfer_id) {
            self.refuse(
                TransferErrorCode::UnknownTransfer,
                format!("no transfer {transfer_id} sent by this peer"),
            );
        }
    }

    fn refuse(&mut self, code: TransferErrorCode, message: String) {
        self.send(ControlMessage::Error {
            code: code.code().to_string(),
            message: message.clone(),
        });
        self.event(Event::ProtocolError { code, message });
    }

    fn send(&mut self, msg: ControlMessage) {
        self.out.push_back(Output::SendText(msg.to_json()));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}
