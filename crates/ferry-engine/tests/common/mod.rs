//! Two engines wired by an in-memory pipe (quinn-proto's `Pair` idea): deterministic, no sockets,
//! with a clock of its own (time passes only when a test says so) and a hook that loses messages.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ferry_engine::{Engine, Event, IoRequest, LocalFile, Output};
use ferry_protocol::transfer::FRAME_HEADER_BYTES;

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// One peer: its engine, the files it can send, what it stored, and what it saw.
pub struct Side {
    pub engine: Engine,
    /// Source files by transfer id, in offer order.
    pub sources: BTreeMap<u32, Vec<Vec<u8>>>,
    /// Open partial files: (transfer, index) → (path, bytes).
    pub partial: BTreeMap<(u32, u32), (String, Vec<u8>)>,
    /// Files presented as complete (verified), by path.
    pub complete: BTreeMap<String, Vec<u8>>,
    /// Partial files kept after an abort or failed verification, by path.
    pub kept_partial: BTreeMap<String, Vec<u8>>,
    pub events: Vec<Event>,
    pub sent: Vec<Msg>,
    pub closed: bool,
    /// Answer offers automatically with accept.
    pub auto_accept: bool,
}

impl Side {
    pub fn new(app: &str) -> Self {
        Side {
            engine: Engine::new(app),
            sources: BTreeMap::new(),
            partial: BTreeMap::new(),
            complete: BTreeMap::new(),
            kept_partial: BTreeMap::new(),
            events: Vec::new(),
            sent: Vec::new(),
            closed: false,
            auto_accept: true,
        }
    }

    pub fn offer(&mut self, files: &[(&str, Vec<u8>)]) -> u32 {
        let mut local = Vec::new();
        for (path, bytes) in files {
            local.push(LocalFile {
                path: path.to_string(),
                size: bytes.len() as u64,
                mime: String::new(),
                mtime: None,
            });
        }
        let id = self.engine.send_offer(local).unwrap();
        self.sources
            .insert(id, files.iter().map(|(_, b)| b.clone()).collect());
        id
    }

    pub fn errors_sent(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ProtocolError { code, .. } => Some(code.code().to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn has(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(pred)
    }

    /// Performs outputs; returns messages for the peer. Reads at most `reads` chunks.
    fn run(&mut self, reads: usize) -> Vec<Msg> {
        let mut to_peer = Vec::new();
        let mut reads_left = reads;
        loop {
            while let Some(o) = self.engine.poll_output() {
                match o {
                    Output::SendText(t) => to_peer.push(Msg::Text(t)),
                    Output::SendBinary(b) => to_peer.push(Msg::Binary(b)),
                    Output::Close => self.closed = true,
                    Output::Event(e) => {
                        if let Event::OfferReceived { transfer_id, .. } = &e
                            && self.auto_accept
                        {
                            self.events.push(e.clone());
                            self.engine.accept(*transfer_id, vec![]).unwrap();
                            continue;
                        }
                        self.events.push(e);
                    }
                    Output::Io(io) => self.io(io),
                }
            }
            if reads_left == 0 {
                break;
            }
            let Some(req) = self.engine.next_read() else {
                break;
            };
            reads_left -= 1;
            // Find the source by the transfer's file: the test keeps offered paths unique.
            let src = &self.sources[&req.transfer_id][req.index as usize];
            let start = req.offset as usize;
            let mut buf = vec![0u8; FRAME_HEADER_BYTES];
            buf.extend_from_slice(&src[start..start + req.len]);
            self.engine.handle_read(req, buf);
        }
        self.sent.extend(to_peer.iter().cloned());
        to_peer
    }

    fn io(&mut self, io: IoRequest) {
        match io {
            IoRequest::Open {
                transfer_id,
                index,
                path,
                resume_offset,
                ..
            } => {
                let mut bytes = self.kept_partial.remove(path.as_str()).unwrap_or_default();
                bytes.truncate(resume_offset as usize);
                assert_eq!(bytes.len() as u64, resume_offset, "resume prefix on disk");
                self.partial
                    .insert((transfer_id, index), (path.as_str().to_string(), bytes));
            }
            IoRequest::Write {
                transfer_id,
                index,
                offset,
                data,
            } => {
                let (_, bytes) = self
                    .partial
                    .get_mut(&(transfer_id, index))
                    .expect("write to an open file");
                assert_eq!(bytes.len() as u64, offset, "writes are sequential");
                bytes.extend_from_slice(&data);
            }
            IoRequest::Finish {
                transfer_id,
                index,
                verified,
                ..
            } => {
                let (path, bytes) = self.partial.remove(&(transfer_id, index)).expect("open");
                if verified {
                    self.complete.insert(path, bytes);
                } else {
                    self.kept_partial.insert(path, bytes);
                }
            }
            IoRequest::Abort { transfer_id } => {
                let keys: Vec<_> = self
                    .partial
                    .keys()
                    .filter(|(t, _)| *t == transfer_id)
                    .copied()
                    .collect();
                for k in keys {
                    let (path, bytes) = self.partial.remove(&k).unwrap();
                    self.kept_partial.insert(path, bytes);
                }
            }
        }
    }

    pub fn deliver(&mut self, m: &Msg) {
        match m {
            Msg::Text(t) => self.engine.handle_text(t),
            Msg::Binary(b) => self.engine.handle_binary(b),
        }
    }
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    AToB,
    BToA,
}

/// Decides for each message put on the pipe whether it is lost (`true`).
pub type LossHook = Box<dyn FnMut(Dir, &Msg) -> bool>;

pub struct Pair {
    pub a: Side,
    pub b: Side,
    /// The pair's clock: both engines started at it, and it moves only with `advance` /
    /// `drive_for`.
    pub now: Instant,
    /// Loses messages on the wire (the pipe stays ordered for the rest).
    pub loss: Option<LossHook>,
    /// Messages the loss hook took, in order.
    pub lost: Vec<(Dir, Msg)>,
    /// In flight a → b and b → a.
    pub to_b: VecDeque<Msg>,
    pub to_a: VecDeque<Msg>,
    /// Chunks each side reads per step (a smaller window exercises interleaving).
    pub reads_per_step: usize,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_loss(None)
    }

    /// A pair whose first messages may be lost: `loss` sees every message before it is delivered.
    pub fn with_loss(loss: Option<LossHook>) -> Self {
        let now = Instant::now();
        let mut p = Pair {
            a: Side::new("test-a/1"),
            b: Side::new("test-b/1"),
            now,
            loss,
            lost: Vec::new(),
            to_b: VecDeque::new(),
            to_a: VecDeque::new(),
            reads_per_step: 4,
        };
        p.a.engine.start(now);
        p.b.engine.start(now);
        p
    }

    /// Loses the first `n` messages sent in direction `dir`.
    pub fn losing_first(dir: Dir, n: usize) -> Self {
        let mut seen = 0;
        Self::with_loss(Some(Box::new(move |d, _| {
            if d != dir {
                return false;
            }
            seen += 1;
            seen <= n
        })))
    }

    /// Moves the clock by `d` and tells both engines.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.a.engine.handle_timeout(self.now);
        self.b.engine.handle_timeout(self.now);
    }

    /// Drives until nothing moves, lets the clock jump to the next timeout either engine asks
    /// for, and again, until `limit` has passed.
    pub fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.drive();
            let next = [self.a.engine.poll_timeout(), self.b.engine.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.engine.handle_timeout(self.now);
                    self.b.engine.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    fn on_the_wire(&mut self, dir: Dir, msgs: Vec<Msg>) -> Vec<Msg> {
        let Some(loss) = self.loss.as_mut() else {
            return msgs;
        };
        let mut kept = Vec::new();
        for m in msgs {
            if loss(dir, &m) {
                self.lost.push((dir, m));
            } else {
                kept.push(m);
            }
        }
        kept
    }

    /// Runs both sides once and delivers everything in flight. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let out_a = self.a.run(self.reads_per_step);
        let out_b = self.b.run(self.reads_per_step);
        let out_a = self.on_the_wire(Dir::AToB, out_a);
        let out_b = self.on_the_wire(Dir::BToA, out_b);
        let moved = !out_a.is_empty()
            || !out_b.is_empty()
            || !self.to_a.is_empty()
            || !self.to_b.is_empty();
        self.to_b.extend(out_a);
        self.to_a.extend(out_b);
        while let Some(m) = self.to_b.pop_front() {
            self.b.deliver(&m);
        }
        while let Some(m) = self.to_a.pop_front() {
            self.a.deliver(&m);
        }
        moved
    }

    /// Steps until nothing moves (bounded, so a livelock fails the test instead of hanging).
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Runs one side's outputs only, returning what it would send (not delivered).
    pub fn collect_a(&mut self) -> Vec<Msg> {
        self.a.run(self.reads_per_step)
    }

    pub fn collect_b(&mut self) -> Vec<Msg> {
        self.b.run(self.reads_per_step)
    }
}

pub fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8)
        .collect()
}
