//! Transfers we receive: their state, and the engine's transitions for them (offer → consent →
//! frames checked in order → `file-end` verified → `done`).

use ferry_protocol::transfer::{
    ControlMessage, DataFrame, OfferedFile, ResumePoint, Role, SelectionPart, TransferErrorCode,
    ValidatedFile, validate_offer,
};
use sha2::{Digest, Sha256};

use crate::{CommandError, Engine, Event, IoRequest, Output};

/// A resume point the driver found on disk: the first `offset` bytes of file `index` are already
/// stored, and `hasher` has hashed exactly those bytes.
#[derive(Debug, Clone)]
pub struct ResumeFrom {
    /// The file's position in the offer.
    pub index: u32,
    /// How many leading bytes of it are stored; sent to the peer in `accept.resume`, and where
    /// `IoRequest::Open` truncates the partial file to. Must be 1 to the file's size.
    pub offset: u64,
    /// SHA-256 state over exactly those `offset` bytes (a [`crate::Hasher`]); the engine
    /// continues it with the frames, so `file-end`'s whole-file hash can be checked.
    pub hasher: Sha256,
}

#[derive(Debug)]
pub(crate) enum ReceivePhase {
    /// Offer shown to the user; nothing written yet.
    AwaitingConsent,
    /// Receiving file `index`; `received` bytes of it are stored (including a resumed prefix of
    /// `resumed` bytes, which a `file-restart` may still discard before the first frame).
    Receiving {
        index: usize,
        received: u64,
        hasher: Sha256,
        resumed: u64,
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
    /// Flow control, when the transfer was accepted with credit.
    pub flow: Option<FlowIn>,
}

/// The receiver's side of flow control for one transfer (docs/protocol.md, "Flow control").
#[derive(Debug)]
pub(crate) struct FlowIn {
    /// The window: credit granted in `accept`.
    pub window: u64,
    /// Payload bytes granted so far (`accept.credit` and every `credit` sent).
    pub granted: u64,
    /// Payload bytes received in frames.
    pub received: u64,
    /// Payload bytes the driver reported stored.
    pub written: u64,
}

impl FlowIn {
    /// Credit is sent in steps of an eighth of the window, so that a fast receiver sends a
    /// handful of `credit` messages per window, not one per frame. Any step up to the window
    /// keeps the sender going: a sender out of credit has `window` bytes unreported here.
    fn step(&self) -> u64 {
        (self.window / 8).max(1)
    }
}

impl Engine {
    /// Consents to an offer (sends `accept`; `IoRequest::Open` for file 0 follows). `resume`
    /// lists prefixes already on disk (hashed by the driver); an entry for no file of the
    /// offer, with offset 0, or past the file's size is left out and that file starts at 0.
    /// Fails unless the transfer is an offer still waiting for an answer.
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
        let credit = self.flow_window.filter(|_| self.peer_flow);
        t.flow = credit.map(|window| FlowIn {
            window,
            granted: window,
            received: 0,
            written: 0,
        });
        let mut points = Vec::new();
        for r in resume {
            let i = r.index as usize;
            if i < t.files.len() && r.offset > 0 && r.offset <= t.files[i].size {
                // The prefix's hash, so the sender can check it before sending the rest.
                points.push(ResumePoint {
                    index: r.index,
                    offset: r.offset,
                    sha256: Some(hex::encode(r.hasher.clone().finalize())),
                });
                t.done_bytes += r.offset;
                t.resume[i] = Some(r);
            }
        }
        self.send(ControlMessage::Accept {
            transfer_id,
            resume: points,
            credit,
        });
        self.start_incoming_file(transfer_id, 0);
        Ok(())
    }

    /// Refuses an offer (sends `decline`); nothing is written, no event follows. Fails unless the
    /// transfer is an offer still waiting for an answer.
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

    pub(crate) fn on_offer(
        &mut self,
        transfer_id: u32,
        files: Vec<OfferedFile>,
        total_size: u64,
        selection: Option<SelectionPart>,
    ) {
        if self.incoming.contains_key(&transfer_id) {
            self.refuse(
                TransferErrorCode::ProtocolViolation,
                format!("offer reuses transfer id {transfer_id} of a running transfer"),
            );
            return;
        }
        let checked = validate_offer(&files, total_size).and_then(|v| {
            selection
                .map_or(Ok(()), |p| p.validate(transfer_id))
                .map(|()| v)
        });
        match checked {
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
                        flow: None,
                    },
                );
                self.event(Event::OfferReceived {
                    transfer_id,
                    files: valid,
                    total_size,
                    selection,
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

    pub(crate) fn on_file_end(&mut self, transfer_id: u32, index: u32, sha256: &str) {
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

    pub(crate) fn start_incoming_file(&mut self, transfer_id: u32, index: usize) {
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
            resumed: received,
        };
    }

    /// The sender found our kept prefix of file `index` different from its file: it sends the
    /// file from byte 0. Only for the file in progress, resumed, before any of its frames.
    pub(crate) fn on_file_restart(&mut self, transfer_id: u32, index: u32) {
        let Some(t) = self.incoming.get_mut(&transfer_id) else {
            if !self.closed_incoming.contains(&transfer_id) {
                self.refuse(
                    TransferErrorCode::UnknownTransfer,
                    format!("file-restart for unknown transfer {transfer_id}"),
                );
            }
            return;
        };
        let ok = matches!(&t.phase, ReceivePhase::Receiving { index: i, received, resumed, .. }
            if *i == index as usize && *resumed > 0 && received == resumed);
        if !ok {
            self.protocol_violation(
                transfer_id,
                format!("file-restart for file {index}, which is not a resumed file yet to start"),
            );
            return;
        }
        let ReceivePhase::Receiving {
            received, resumed, ..
        } = &t.phase
        else {
            unreachable!("matched above")
        };
        t.done_bytes -= *received.min(resumed);
        let file = &t.files[index as usize];
        // Open again from 0: the driver truncates the partial file.
        self.out.push_back(Output::Io(IoRequest::Open {
            transfer_id,
            index,
            path: file.path.clone(),
            size: file.size,
            resume_offset: 0,
        }));
        t.phase = ReceivePhase::Receiving {
            index: index as usize,
            received: 0,
            hasher: Sha256::new(),
            resumed: 0,
        };
        self.event(Event::FileRestarted { transfer_id, index });
    }

    /// The driver has stored `bytes` more of what [`IoRequest::Write`] handed it for
    /// `transfer_id`. With flow control on (the transfer was accepted with credit), this is what
    /// grants the sender more credit; otherwise it does nothing. Reports for a transfer that
    /// has ended are ignored.
    pub fn written(&mut self, transfer_id: u32, bytes: u64) {
        let Some(f) = self
            .incoming
            .get_mut(&transfer_id)
            .and_then(|t| t.flow.as_mut())
        else {
            return;
        };
        // Never more than was received: a driver's report cannot grant beyond the window.
        f.written = (f.written + bytes).min(f.received);
        let owed = f.written + f.window - f.granted;
        if owed >= f.step() {
            f.granted += owed;
            self.send(ControlMessage::Credit {
                transfer_id,
                bytes: owed,
            });
        }
    }

    pub(crate) fn protocol_violation(&mut self, transfer_id: u32, why: String) {
        self.refuse(TransferErrorCode::ProtocolViolation, why.clone());
        let _ = self.cancel(
            transfer_id,
            Role::Receiver,
            &format!("protocol violation: {why}"),
        );
    }

    /// A data frame for a transfer we receive: in order, in place, within the file, or a
    /// protocol violation that cancels the transfer.
    pub(crate) fn on_frame(&mut self, frame: DataFrame<'_>) {
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
                ..
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
                } else if let Some(f) = t
                    .flow
                    .as_mut()
                    .filter(|f| f.received + frame.payload.len() as u64 > f.granted)
                {
                    Some(format!(
                        "data beyond the credit: {} bytes granted, {} received before this \
                         frame of {}",
                        f.granted,
                        f.received,
                        frame.payload.len()
                    ))
                } else {
                    if let Some(f) = &mut t.flow {
                        f.received += frame.payload.len() as u64;
                    }
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
}
