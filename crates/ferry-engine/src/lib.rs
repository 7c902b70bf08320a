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
//!
//! # A driver loop
//!
//! Two engines wired by an in-memory pipe, Alice sending Bob one file. Bob's first message is
//! lost (as a first message racing the other side's channel setup can be), so Alice hears no
//! `hello` and holds her offer; her timer repeats her `hello`, Bob answers it, and the offer
//! goes. A real driver does the same with a socket, a disk and a clock: it sleeps until the pipe
//! has a message or [`Engine::poll_timeout`] comes, whichever is first.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Instant;
//!
//! use ferry_engine::{Engine, Event, HELLO_RETRY_INTERVAL, IoRequest, LocalFile, Output};
//! use ferry_protocol::transfer::{FRAME_HEADER_BYTES, Role};
//!
//! enum Msg {
//!     Text(String),
//!     Binary(Vec<u8>),
//! }
//!
//! /// One peer: its engine and what its driver did.
//! struct Peer {
//!     engine: Engine,
//!     stored: Vec<u8>,
//!     events: Vec<Event>,
//! }
//!
//! impl Peer {
//!     /// The one rule: after every input, perform every output, in order.
//!     fn drain(&mut self, wire: &mut VecDeque<Msg>) {
//!         while let Some(output) = self.engine.poll_output() {
//!             match output {
//!                 Output::SendText(text) => wire.push_back(Msg::Text(text)),
//!                 Output::SendBinary(frame) => wire.push_back(Msg::Binary(frame)),
//!                 // A real driver opens a partial file, appends, renames it once verified.
//!                 Output::Io(IoRequest::Write { data, .. }) => self.stored.extend(data),
//!                 Output::Io(_) => {}
//!                 Output::Event(Event::OfferReceived { transfer_id, .. }) => {
//!                     // A real driver asks the user; consent comes back as a command.
//!                     self.engine.accept(transfer_id, vec![]).expect("offer awaits an answer");
//!                 }
//!                 Output::Event(event) => self.events.push(event),
//!                 Output::Close => {}
//!             }
//!         }
//!     }
//! }
//!
//! let file = b"hello, ferry".to_vec();
//! let start = Instant::now();
//! let mut now = start;
//! let new_peer = || Peer { engine: Engine::new("example/0"), stored: vec![], events: vec![] };
//! let (mut alice, mut bob) = (new_peer(), new_peer());
//! let (mut to_bob, mut to_alice) = (VecDeque::new(), VecDeque::new());
//!
//! // The pipe is open: both say hello. Bob's is lost on the way.
//! alice.engine.start(now);
//! bob.engine.start(now);
//! alice.drain(&mut to_bob);
//! bob.drain(&mut VecDeque::new());
//! let id = alice.engine.send_offer(vec![LocalFile {
//!     path: "greeting.txt".into(),
//!     size: file.len() as u64,
//!     mime: "text/plain".into(),
//!     mtime: None,
//! }])?;
//! alice.drain(&mut to_bob); // nothing: the offer waits for Bob's hello
//!
//! for _ in 0..100 {
//!     // The pipe has room: hand the sender the bytes it asks for, one read at a time.
//!     while let Some(read) = alice.engine.next_read() {
//!         let at = read.offset as usize;
//!         let mut buf = vec![0; FRAME_HEADER_BYTES]; // the engine writes the frame header here
//!         buf.extend_from_slice(&file[at..at + read.len]);
//!         alice.engine.handle_read(read, buf);
//!         alice.drain(&mut to_bob);
//!     }
//!     if to_bob.is_empty() && to_alice.is_empty() {
//!         if !alice.engine.is_busy() && !bob.engine.is_busy() {
//!             break;
//!         }
//!         // Nothing in flight: time passes until the next timer is due.
//!         let due = [alice.engine.poll_timeout(), bob.engine.poll_timeout()];
//!         now = due.into_iter().flatten().min().expect("a busy engine waits on something");
//!         alice.engine.handle_timeout(now);
//!         alice.drain(&mut to_bob);
//!         bob.engine.handle_timeout(now);
//!         bob.drain(&mut to_alice);
//!     }
//!     for msg in to_bob.drain(..).collect::<Vec<_>>() {
//!         match msg {
//!             Msg::Text(text) => bob.engine.handle_text(&text),
//!             Msg::Binary(frame) => bob.engine.handle_binary(&frame),
//!         }
//!         bob.drain(&mut to_alice);
//!     }
//!     for msg in to_alice.drain(..).collect::<Vec<_>>() {
//!         match msg {
//!             Msg::Text(text) => alice.engine.handle_text(&text),
//!             Msg::Binary(frame) => alice.engine.handle_binary(&frame),
//!         }
//!         alice.drain(&mut to_bob);
//!     }
//! }
//!
//! assert_eq!(bob.stored, file);
//! let done = Event::TransferDone { transfer_id: id, role: Role::Sender, failed: 0 };
//! assert!(alice.events.contains(&done));
//! assert_eq!(now, start + HELLO_RETRY_INTERVAL); // one retry of Alice's hello recovered
//! # Ok::<(), ferry_engine::CommandError>(())
//! ```
#![warn(clippy::unwrap_used)]
#![warn(missing_docs)]

mod incoming;
mod outgoing;
mod output;
mod verify;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use ferry_protocol::transfer::{
    CALL_DECLINE_UNSUPPORTED, ControlMessage, DataFrame, FEATURE_FLOW, FRAME_HEADER_BYTES,
    HELLO_RETRIES, HELLO_RETRY_MS, MAX_FRAME_BYTES, MAX_TEXT_BYTES, Role, TRANSFER_VERSION,
    TransferErrorCode,
};

pub use ferry_protocol::transfer::{FLOW_WINDOW_BYTES, MAX_HELLO_ECHOES};

/// The reason of every transfer that [`Engine::handle_closed`] ends: the connection went, not
/// the peer's decision, so what arrived may resume on the next connection.
pub const CONNECTION_LOST: &str = "the connection to the peer was lost";
pub use incoming::ResumeFrom;
pub use outgoing::{LocalFile, split_offer};
pub use output::{Event, IoRequest, Output, ReadRequest};
/// Re-exported so drivers hash a resumed prefix with the same type the engine continues with.
pub use sha2::Sha256 as Hasher;

/// How often `hello` is repeated while the peer's has not arrived.
pub const HELLO_RETRY_INTERVAL: Duration = Duration::from_millis(HELLO_RETRY_MS);

use ferry_protocol::verify::FEATURE_VERIFY;
pub use ferry_protocol::verify::NONCE_BYTES;
use incoming::Incoming;
use outgoing::Outgoing;
use verify::Verify;

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
    /// The peer counts as heard from a message other than `hello`; its `hello` is still owed.
    hello_implied: bool,
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
    /// The security-code exchange, when the driver enabled it ([`Engine::enable_verify`]).
    verify: Option<Verify>,
    /// Flow control as a receiver ([`Engine::enable_flow_control`]): the window granted in
    /// `accept`; `None` when the driver does not report writes.
    flow_window: Option<u64>,
    /// The peer's `hello` listed `flow`: it obeys credit, so our `accept` may carry some.
    peer_flow: bool,
    out: VecDeque<Output>,
}

impl Engine {
    /// `app` names this software in `hello`, e.g. `"ferry-cli/0.1.0"`.
    pub fn new(app: impl Into<String>) -> Self {
        Engine {
            app: app.into(),
            hello_sent: false,
            peer_hello: false,
            hello_implied: false,
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
            verify: None,
            flow_window: None,
            peer_flow: false,
            out: VecDeque::new(),
        }
    }

    /// Sets the largest binary message the pipe carries; frames are sized to fit
    /// (`min(256 KiB, max) − 16` bytes of payload).
    pub fn set_max_message_size(&mut self, max: usize) {
        let max = max.clamp(FRAME_HEADER_BYTES + 1, MAX_FRAME_BYTES);
        self.chunk_bytes = max - FRAME_HEADER_BYTES;
    }

    /// Payload bytes per data frame (and per [`ReadRequest`] of bytes to send): 64 KiB until
    /// [`Engine::set_max_message_size`] is called.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk_bytes
    }

    /// Turns on end-to-end flow control for what we receive (docs/protocol.md, "Flow control"):
    /// our `hello` lists `flow`, and a transfer from a peer that listed it too is accepted with
    /// `window` bytes of credit; more is granted only as the driver reports bytes stored with
    /// [`Engine::written`]. Call before [`Engine::start`], only from a driver that reports
    /// every write (else such transfers stall after `window` bytes). As a sender the engine
    /// always obeys credit it is given. [`FLOW_WINDOW_BYTES`] is the window of ferry's peers.
    pub fn enable_flow_control(&mut self, window: u64) {
        self.flow_window = Some(window);
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
        // No `call`: this engine does transfers only (it declines calls, below).
        let mut features = Vec::new();
        if self.flow_window.is_some() {
            features.push(FEATURE_FLOW.to_string());
        }
        if self.verify.is_some() {
            features.push(FEATURE_VERIFY.to_string());
        }
        self.send(ControlMessage::Hello {
            version: TRANSFER_VERSION,
            app: self.app.clone(),
            features,
        });
    }

    /// Runs the security-code exchange (feature `verify`) on this connection: `own_id` and
    /// `peer_id` are the keys the pipe is bound to (`ferry_protocol::verify::dtls_identity`,
    /// `relay_identity`), `nonce` fresh random bytes. Call before [`Engine::start`]. When both
    /// peers run it, [`Event::SecurityCode`] follows the `hello`s by one round trip.
    pub fn enable_verify(&mut self, own_id: String, peer_id: String, nonce: [u8; NONCE_BYTES]) {
        self.verify = Some(Verify::new(own_id, peer_id, nonce));
    }

    /// The connection's security code, once both sides opened their commitments.
    pub fn security_code(&self) -> Option<&str> {
        self.verify.as_ref().and_then(Verify::code)
    }

    /// The peer's `hello` listed `verify` (or its commitment came first): ours goes out.
    fn start_verify(&mut self) {
        if let Some(msg) = self.verify.as_mut().and_then(Verify::start) {
            self.send(msg);
        }
    }

    fn verify_step(&mut self, step: verify::Step) {
        match step {
            verify::Step::Send(msgs) => msgs.into_iter().for_each(|m| self.send(m)),
            verify::Step::Code(code) => self.event(Event::SecurityCode { code }),
            verify::Step::Violation(why) => self.refuse(TransferErrorCode::ProtocolViolation, why),
        }
    }

    /// True once the peer's `hello` arrived.
    pub fn heard_from_peer(&self) -> bool {
        self.peer_hello
    }

    /// A well-formed message other than `hello` arrived first. The peer holds everything until
    /// it hears our `hello`, so it has heard it and its own `hello` was the message lost: take
    /// the peer as heard (retries stop, held messages go). Without this a peer whose first
    /// message was lost would time out the session while its data streams in (seen on a lossy
    /// link: offer, accept and frames arrived, the hello echo sat behind the data for 16 s).
    fn heard_without_hello(&mut self) {
        if !self.peer_hello {
            self.peer_hello = true;
            self.hello_implied = true;
            self.hello_due = None;
            for (_, msg) in std::mem::take(&mut self.held) {
                self.send(msg);
            }
        }
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
        if !matches!(msg, ControlMessage::Hello { .. }) {
            self.heard_without_hello();
        }
        match msg {
            ControlMessage::Hello {
                version,
                app,
                features,
            } => {
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
                self.peer_flow = features.iter().any(|f| f == FEATURE_FLOW);
                let repeated = self.peer_hello && self.hello_sent && !self.hello_implied;
                self.send_first_hello();
                if features.iter().any(|f| f == FEATURE_VERIFY) {
                    self.start_verify();
                }
                if self.hello_implied {
                    // The hello that was taken as said arrives after all: nothing to answer.
                    self.hello_implied = false;
                    self.event(Event::PeerHello { app });
                } else if !self.peer_hello {
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
                selection,
            } => self.on_offer(transfer_id, files, total_size, selection),
            ControlMessage::Accept {
                transfer_id,
                resume,
                credit,
            } => self.on_accept(transfer_id, resume, credit),
            ControlMessage::Credit { transfer_id, bytes } => self.on_credit(transfer_id, bytes),
            ControlMessage::FileRestart { transfer_id, index } => {
                self.on_file_restart(transfer_id, index)
            }
            ControlMessage::Decline { transfer_id } => self.on_decline(transfer_id),
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
            } => self.on_file_verified(transfer_id, index, ok),
            ControlMessage::Done { transfer_id } => self.on_done(transfer_id),
            ControlMessage::Text { id, text } => self.event(Event::Text { id, text }),
            ControlMessage::Error { code, message } => {
                self.event(Event::PeerError { code, message })
            }
            // This engine does not do calls (its hello lists no `call` feature), so a peer
            // should not invite it; one that does is told so cleanly, not with an error.
            ControlMessage::CallInvite { call_id, .. } => self.send(ControlMessage::CallDecline {
                call_id,
                reason: CALL_DECLINE_UNSUPPORTED.to_string(),
            }),
            // The rest of a call that never started here (e.g. a caller's `call-end` that
            // crossed our decline): nothing to do.
            ControlMessage::CallAccept { .. }
            | ControlMessage::CallDecline { .. }
            | ControlMessage::CallEnd { .. }
            | ControlMessage::CallMedia { .. } => {}
            // Without `verify` enabled here our hello did not list it: a peer's exchange is
            // dropped like the rest of a feature we do not have.
            ControlMessage::VerifyCommit { commit } => {
                if let Some(step) = self.verify.as_mut().map(|v| v.on_commit(commit)) {
                    self.verify_step(step);
                }
            }
            ControlMessage::VerifyOpen { nonce } => {
                if let Some(step) = self.verify.as_mut().map(|v| v.on_open(&nonce)) {
                    self.verify_step(step);
                }
            }
            // Pairing keeps a secret in a browser profile (the web app); this engine does not
            // pair and its hello does not list `pair`, so a peer has no reason to send these.
            ControlMessage::PairRequest { .. }
            | ControlMessage::PairAccept { .. }
            | ControlMessage::PairDecline { .. }
            | ControlMessage::PairProof { .. }
            | ControlMessage::PairRevoke { .. }
            | ControlMessage::PairRevoked { .. } => {}
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
        self.heard_without_hello();
        self.on_frame(frame);
    }

    /// The pipe closed: every running transfer is over. Neither side chose this, so the
    /// `Cancelled` events say `by_peer: false` with a reason that says what happened.
    pub fn handle_closed(&mut self) {
        const LOST: &str = CONNECTION_LOST;
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
