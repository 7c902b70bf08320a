//! Drives a transfer [`Engine`] over a [`MessagePipe`] with files on disk: the async shell around
//! the sans-I/O core.
//!
//! The one rule of the loop: after every input, drain the engine's outputs in order (messages go
//! on the pipe, writes go to disk before the next output runs); only then wait for the next input
//! — a message, room on the pipe for the next chunk, or Ctrl-C.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use ferry_engine::{Engine, Event, IoRequest, Output, ReadRequest, ResumeFrom};
use ferry_protocol::names::SafeRelativePath;
use ferry_protocol::transfer::{Role, ValidatedFile};
use ferry_transport::{Message, MessagePipe};

use crate::disk;
use crate::prefetch::{ChunkReader, DiskWriter};
use crate::ui::Ui;

/// How a session ended.
#[derive(Debug)]
pub enum Outcome {
    Done {
        bytes: u64,
        files: Vec<FileResult>,
        failed: u32,
    },
    Declined,
    Cancelled {
        by_peer: bool,
        reason: String,
    },
    /// Only text was exchanged (`ferry send --text`), and the connection then closed normally.
    TextOnly {
        received: u32,
    },
}

#[derive(Debug, Clone)]
pub struct FileResult {
    pub name: String,
    pub sha256: String,
    pub saved_as: Option<PathBuf>,
}

/// What the local side does: offer files, or receive into a folder.
pub enum Mode {
    Send {
        sources: Vec<crate::sources::Source>,
        /// A message sent before the offer (or instead of one when `sources` is empty).
        text: Option<String>,
    },
    Receive {
        out: PathBuf,
        yes: bool,
    },
}

struct OpenPart {
    part: PathBuf,
    target: PathBuf,
    rel: SafeRelativePath,
}

/// An offer waiting for the user's answer.
struct PendingOffer {
    transfer_id: u32,
    files: Vec<ValidatedFile>,
    total_size: u64,
}

pub struct Session {
    engine: Engine,
    mode: Mode,
    ui: Ui,
    started: Option<Instant>,
    total: u64,
    reader: Option<ChunkReader>,
    writer: DiskWriter,
    writers: HashMap<(u32, u32), OpenPart>,
    results: Vec<FileResult>,
    /// Sending: the offered paths the receiver verified, so that after a lost connection only
    /// the rest is offered again.
    delivered: Vec<String>,
    outcome: Option<Outcome>,
    texts_received: u32,
    /// Our offers (a selection too long for one message is several, docs/protocol.md): transfer
    /// id → index in `sources` of its first file.
    offers: BTreeMap<u32, usize>,
    /// Offers of a selection split into several, by the transfer id of its part 0, until every
    /// part is here and the user is asked once.
    selection_parts: BTreeMap<u32, Vec<PendingOffer>>,
    /// Bytes done per transfer, for one progress bar over all of them.
    progress: BTreeMap<u32, u64>,
    /// Transfers finished with `done` (either direction), and their files that failed.
    transfers_done: usize,
    failed: u32,
}

impl Session {
    pub fn new(mode: Mode, ui: Ui) -> Self {
        Session {
            engine: Engine::new(format!("ferry-cli/{}", env!("CARGO_PKG_VERSION"))),
            mode,
            ui,
            started: None,
            total: 0,
            reader: None,
            writer: DiskWriter::start(),
            writers: HashMap::new(),
            results: Vec::new(),
            delivered: Vec::new(),
            outcome: None,
            texts_received: 0,
            offers: BTreeMap::new(),
            selection_parts: BTreeMap::new(),
            progress: BTreeMap::new(),
            transfers_done: 0,
            failed: 0,
        }
    }

    /// Runs the security-code exchange over the link bound to `identities` (ours, the peer's;
    /// [`ferry_transport::Link::identities`]). Without them no code is shown.
    pub fn verify(&mut self, identities: Option<(String, String)>) {
        if let Some((own, peer)) = identities {
            self.engine
                .enable_verify(own, peer, ferry_protocol::verify::fresh_nonce());
        }
    }

    /// The connection's security code, once both peers derived it.
    pub fn security_code(&self) -> Option<&str> {
        self.engine.security_code()
    }

    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    /// The paths of the offered files the receiver has verified (sending).
    pub fn delivered(&self) -> &[String] {
        &self.delivered
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// Runs until the transfer is over. `interrupt` resolves on Ctrl-C; `departed` when the
    /// peer is known gone (it has closed the pipe by then, which ends the transfer).
    pub async fn run<P: MessagePipe>(
        &mut self,
        pipe: &P,
        interrupt: impl std::future::Future<Output = ()>,
        departed: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<Outcome> {
        tokio::pin!(interrupt);
        tokio::pin!(departed);
        let mut peer_departed = false;
        let max = std::env::var("FERRY_MAX_MESSAGE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(pipe.max_message_size(), |m| m.min(pipe.max_message_size()));
        self.engine.set_max_message_size(max);
        // Flow control: the sender gets credit only as the writer thread writes (Engine::written).
        self.engine
            .enable_flow_control(ferry_engine::FLOW_WINDOW_BYTES);
        let mut written = self.writer.take_written();
        self.engine.start(Instant::now());
        let mut text_only = false;
        if let Mode::Send { sources, text } = &self.mode {
            if let Some(text) = text {
                self.engine.send_text(text)?;
            }
            if sources.is_empty() {
                // Text only: done once it is on the pipe (the engine holds it until the peer's
                // hello); closing the pipe waits for it to drain.
                text_only = true;
            } else {
                let files = sources.iter().map(|s| s.offered.clone()).collect();
                self.total = sources.iter().map(|s| s.offered.size).sum();
                for (id, first) in self.engine.send_selection(files)? {
                    self.offers.insert(id, first);
                }
            }
        }
        let mut pending: Option<ReadRequest> = None;
        let mut interrupted = false;
        loop {
            self.flush(pipe).await?;
            if text_only && !self.engine.holds_messages() && self.outcome.is_none() {
                self.outcome = Some(Outcome::TextOnly { received: 0 });
            }
            if let Some(o) = self.outcome.take() {
                pipe.close().await;
                return Ok(o);
            }
            if pending.is_none() {
                pending = self.engine.next_read();
            }
            // The engine's timers (hello retries): wake no later than it asks.
            let timeout = self.engine.poll_timeout();
            let wake = async move {
                match timeout {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut interrupt, if !interrupted => {
                    interrupted = true;
                    self.engine.cancel_all("cancelled by the user (Ctrl-C)");
                    if !self.engine.is_busy() && self.outcome.is_none() {
                        self.outcome = Some(Outcome::Cancelled { by_peer: false, reason: "cancelled by the user (Ctrl-C)".into() });
                    }
                }
                _ = &mut departed, if !peer_departed => peer_departed = true,
                Some(((transfer_id, _), bytes)) = async {
                    match written.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.engine.written(transfer_id, bytes),
                _ = wake => {
                    self.engine.handle_timeout(Instant::now());
                    if !self.engine.heard_from_peer() && self.engine.poll_timeout().is_none() {
                        // Every hello retry went unanswered: the pipe is up, but no one speaks
                        // the transfer protocol on it.
                        self.engine.handle_closed();
                        self.flush_events_only().await;
                        pipe.close().await;
                        return Err(anyhow!(
                            "the peer never answered on the connection (no hello after {} tries)",
                            ferry_protocol::transfer::HELLO_RETRIES + 1
                        ));
                    }
                }
                msg = pipe.recv() => match msg {
                    Some(Message::Text(t)) => self.engine.handle_text(&t),
                    Some(Message::Binary(b)) => self.engine.handle_binary(&b),
                    None => {
                        self.engine.handle_closed();
                        self.flush_events_only().await;
                        if self.outcome.is_none() && self.texts_received > 0 && !self.engine.is_busy() {
                            // The sender only had something to say (`ferry send --text`).
                            return Ok(Outcome::TextOnly { received: self.texts_received });
                        }
                        if self.outcome.is_none() {
                            return Err(anyhow!("the connection to the peer closed unexpectedly"));
                        }
                    }
                },
                w = pipe.writable(), if pending.is_some() => {
                    if w.is_err() {
                        // Closed under us (peer gone): the same as the pipe ending.
                        self.engine.handle_closed();
                        self.flush_events_only().await;
                        if self.outcome.is_none() {
                            return Err(anyhow!("the connection to the peer closed unexpectedly"));
                        }
                        continue;
                    }
                    let req = pending.take().expect("guarded");
                    match self.read(req).await {
                        Ok(buf) => self.engine.handle_read(req, buf),
                        Err(e) => {
                            let reason = format!(
                                "cannot read {}: {e}",
                                self.source_name(req.transfer_id, req.index)
                            );
                            self.engine.io_failed(req.transfer_id, Role::Sender, &reason);
                        }
                    }
                }
            }
        }
    }

    /// Where file `index` of our offer `transfer_id` is in `sources`.
    fn source_index(&self, transfer_id: u32, index: u32) -> usize {
        self.offers.get(&transfer_id).copied().unwrap_or(0) + index as usize
    }

    fn source_name(&self, transfer_id: u32, index: u32) -> String {
        match &self.mode {
            Mode::Send { sources, .. } => sources
                .get(self.source_index(transfer_id, index))
                .map(|s| s.local.display().to_string())
                .unwrap_or_default(),
            Mode::Receive { .. } => String::new(),
        }
    }

    async fn flush<P: MessagePipe>(&mut self, pipe: &P) -> anyhow::Result<()> {
        while let Some(o) = self.engine.poll_output() {
            let msg = match o {
                Output::SendText(t) => Message::Text(t),
                Output::SendBinary(b) => Message::Binary(b),
                Output::Io(io) => {
                    self.io(io).await;
                    continue;
                }
                Output::Event(e) => {
                    self.event(e).await?;
                    continue;
                }
                Output::Close => {
                    return Err(anyhow!(
                        "the peer speaks an incompatible transfer protocol version"
                    ));
                }
            };
            match pipe.send(msg).await {
                Ok(()) => {}
                // Gone under us: the same as the pipe ending (the transfers end as lost, so a
                // receiver can wait for the peer to come back), not an error of this run.
                Err(ferry_transport::PipeError::Closed) => {
                    self.engine.handle_closed();
                    self.flush_events_only().await;
                    return Ok(());
                }
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
        Ok(())
    }

    /// After the pipe closed: only events and local I/O remain meaningful.
    async fn flush_events_only(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Io(io) => self.io(io).await,
                Output::Event(e) => {
                    let _ = self.event(e).await;
                }
                _ => {}
            }
        }
    }

    async fn read(&mut self, req: ReadRequest) -> std::io::Result<Vec<u8>> {
        let Mode::Send { sources, .. } = &self.mode else {
            return Err(std::io::Error::other("not sending"));
        };
        let key = (req.transfer_id, req.index);
        let Some(src) = sources.get(self.source_index(req.transfer_id, req.index)) else {
            return Err(std::io::Error::other("read of a file that was not offered"));
        };
        let fits = matches!(&self.reader, Some(r) if r.key == key
            && reader_fits(r.next_offset, r.chunk, req.offset, req.len, src.offered.size));
        if !fits {
            self.reader = Some(ChunkReader::start(
                key,
                src.local.clone(),
                req.offset,
                src.offered.size,
                req.len,
            ));
        }
        self.reader.as_mut().expect("set above").next().await
    }

    async fn io(&mut self, io: IoRequest) {
        let Mode::Receive { out, .. } = &self.mode else {
            return;
        };
        let out = out.clone();
        let (tid, result) = match io {
            IoRequest::Open {
                transfer_id,
                index,
                path,
                resume_offset,
                ..
            } => {
                let part = disk::part_path(&out, &path);
                let target = disk::final_path(&out, &path);
                let r = self
                    .writer
                    .open((transfer_id, index), part.clone(), resume_offset)
                    .await
                    .map(|()| {
                        self.writers.insert(
                            (transfer_id, index),
                            OpenPart {
                                part: part.clone(),
                                target,
                                rel: path.clone(),
                            },
                        );
                    });
                (
                    transfer_id,
                    r.map_err(|e| format!("cannot create {}: {e}", part.display())),
                )
            }
            IoRequest::Write {
                transfer_id,
                index,
                data,
                ..
            } => {
                let r = match self.writers.get(&(transfer_id, index)) {
                    Some(_) => self.writer.write((transfer_id, index), data).await,
                    None => Err("write to a file that is not open".to_string()),
                };
                (transfer_id, r)
            }
            IoRequest::Finish {
                transfer_id,
                index,
                verified,
                sha256,
            } => {
                let r = match self.writers.remove(&(transfer_id, index)) {
                    Some(w) => {
                        let key = (transfer_id, index);
                        finish(&self.writer, key, w, verified, sha256, &mut self.results).await
                    }
                    None => Err("finish of a file that is not open".to_string()),
                };
                (transfer_id, r)
            }
            IoRequest::Abort { transfer_id } => {
                let keys: Vec<_> = self
                    .writers
                    .keys()
                    .filter(|(t, _)| *t == transfer_id)
                    .copied()
                    .collect();
                for k in keys {
                    if let Some(w) = self.writers.remove(&k) {
                        let _ = self.writer.close(k).await;
                        self.ui.note(&format!(
                            "kept partial file {} — it resumes when the file is sent again",
                            w.part.display()
                        ));
                    }
                }
                (transfer_id, Ok(()))
            }
        };
        if let Err(reason) = result {
            self.engine.io_failed(tid, Role::Receiver, &reason);
        }
    }

    /// Asks once for offers that form one selection (or one offer alone) and answers each.
    async fn answer(&mut self, offers: Vec<PendingOffer>) -> anyhow::Result<()> {
        let Mode::Receive { out, yes } = &self.mode else {
            // A send-only session refuses offers: it was started to send.
            for o in &offers {
                self.engine.decline(o.transfer_id).ok();
            }
            return Ok(());
        };
        let (out, yes) = (out.clone(), *yes);
        let total: u64 = offers.iter().map(|o| o.total_size).sum();
        if let [one] = offers.as_slice() {
            self.ui.show_offer(&one.files, total);
        } else {
            let all: Vec<ValidatedFile> = offers.iter().flat_map(|o| o.files.clone()).collect();
            self.ui.show_offer(&all, total);
        }
        let ok = yes || self.ui.confirm("Accept?").await;
        if !ok {
            for o in &offers {
                self.engine.decline(o.transfer_id).ok();
            }
            // Offers accepted before go on; with none, we are done.
            if !self.engine.is_busy() {
                self.outcome = Some(Outcome::Declined);
            }
            return Ok(());
        }
        for o in offers {
            let mut resume = Vec::new();
            for (i, f) in o.files.iter().enumerate() {
                let part = disk::part_path(&out, &f.path);
                if let Some((offset, hasher)) = disk::resumable(&part, f.size).await {
                    self.ui
                        .note(&format!("resuming {} from {} bytes", f.path, offset));
                    resume.push(ResumeFrom {
                        index: i as u32,
                        offset,
                        hasher,
                    });
                }
            }
            // One progress bar and one summary for every offer of the session.
            self.total += o.total_size;
            self.started.get_or_insert_with(Instant::now);
            self.ui.grow_progress(self.total);
            self.engine.accept(o.transfer_id, resume)?;
        }
        Ok(())
    }

    async fn event(&mut self, e: Event) -> anyhow::Result<()> {
        match e {
            Event::OfferReceived {
                transfer_id,
                files,
                total_size,
                selection,
            } => {
                let offer = PendingOffer {
                    transfer_id,
                    files,
                    total_size,
                };
                match selection {
                    // Parts of one selection arrive back to back: ask once, for all of them.
                    Some(part) => {
                        let parts = self.selection_parts.entry(part.first).or_default();
                        parts.push(offer);
                        if parts.len() >= part.parts as usize {
                            let all = self.selection_parts.remove(&part.first).unwrap_or_default();
                            self.answer(all).await?;
                        }
                    }
                    None => self.answer(vec![offer]).await?,
                }
            }
            Event::FileRestarted { transfer_id, index } => {
                let name = self
                    .writers
                    .get(&(transfer_id, index))
                    .map(|w| w.rel.as_str().to_string())
                    .unwrap_or_default();
                self.ui.note(&format!(
                    "the kept part of {name} differs from the sender's file: receiving it from the start"
                ));
            }
            Event::Accepted { transfer_id } => {
                if self.started.is_none() {
                    self.started = Some(Instant::now());
                    self.ui.start_progress(self.total);
                }
                if self.offers.len() > 1 {
                    let part = self
                        .offers
                        .keys()
                        .position(|&t| t == transfer_id)
                        .unwrap_or(0);
                    self.ui.note(&format!(
                        "receiver accepted part {} of {}; sending",
                        part + 1,
                        self.offers.len()
                    ));
                } else {
                    self.ui.note("receiver accepted; sending");
                }
            }
            Event::Declined { .. } => {
                // One part declined is the selection declined: the rest would arrive incomplete.
                self.engine
                    .cancel_all("the receiver declined part of the selection");
                self.outcome = Some(Outcome::Declined);
            }
            Event::Progress {
                transfer_id, done, ..
            } => {
                self.progress.insert(transfer_id, done);
                self.ui.progress(self.progress.values().sum());
            }
            Event::FileVerified {
                transfer_id,
                index,
                ok,
                role: Role::Sender,
                sha256,
            } => {
                if !ok {
                    self.ui.note(&format!(
                        "receiver reports a hash mismatch for {}",
                        self.source_name(transfer_id, index)
                    ));
                }
                let i = self.source_index(transfer_id, index);
                if let Mode::Send { sources, .. } = &self.mode
                    && let Some(src) = sources.get(i)
                {
                    if ok {
                        self.delivered.push(src.offered.path.clone());
                    }
                    self.results.push(FileResult {
                        name: src.offered.path.clone(),
                        sha256,
                        saved_as: None,
                    });
                }
            }
            Event::FileVerified { .. } => {}
            Event::TransferDone { failed, .. } => {
                self.transfers_done += 1;
                self.failed += failed;
                // Sending: every part of the selection; receiving: every offer that came.
                let all = match self.mode {
                    Mode::Send { .. } => self.transfers_done >= self.offers.len(),
                    Mode::Receive { .. } => !self.engine.is_busy(),
                };
                if all {
                    let failed = self.failed;
                    self.ui.finish_progress();
                    self.outcome = Some(Outcome::Done {
                        bytes: self.total,
                        files: std::mem::take(&mut self.results),
                        failed,
                    });
                }
            }
            Event::Cancelled {
                by_peer, reason, ..
            } => {
                // One part cancelled ends the whole selection.
                self.engine.cancel_all(&reason);
                self.ui.abandon_progress();
                if self.outcome.is_none() || matches!(self.outcome, Some(Outcome::Done { .. })) {
                    self.outcome = Some(Outcome::Cancelled { by_peer, reason });
                }
            }
            Event::OfferRefused { reason, .. } => {
                self.outcome = Some(Outcome::Cancelled {
                    by_peer: true,
                    reason: format!("refused the sender's offer: {reason}"),
                });
            }
            Event::Text { text, .. } => {
                self.texts_received += 1;
                self.ui.text(&text);
            }
            Event::PeerError { code, message } => self
                .ui
                .note(&format!("peer reported error {code}: {message}")),
            Event::ProtocolError { code, message } => {
                tracing::warn!(%code, %message, "refused a message from the peer")
            }
            Event::PeerHello { app } => tracing::info!(%app, "peer said hello"),
            Event::SecurityCode { code } => {
                self.ui.note(&format!(
                    "Security code: {code} (the peer shows the same code unless someone is in the middle)"
                ));
                self.ui
                    .json_event(serde_json::json!({"event":"security-code","code":code}));
            }
        }
        Ok(())
    }
}

async fn finish(
    writer: &DiskWriter,
    key: crate::prefetch::FileKey,
    w: OpenPart,
    verified: bool,
    sha256: String,
    results: &mut Vec<FileResult>,
) -> Result<(), String> {
    writer
        .close(key)
        .await
        .map_err(|e| format!("cannot write {}: {e}", w.part.display()))?;
    if !verified {
        // Bad bytes are no base for a resume: remove them.
        let _ = tokio::fs::remove_file(&w.part).await;
        results.push(FileResult {
            name: w.rel.to_string(),
            sha256,
            saved_as: None,
        });
        return Ok(());
    }
    let saved = disk::publish(&w.part, &w.target)
        .await
        .map_err(|e| format!("cannot move {} into place: {e}", w.part.display()))?;
    results.push(FileResult {
        name: w.rel.to_string(),
        sha256,
        saved_as: Some(saved),
    });
    Ok(())
}

/// Whether a reader thread at `next_offset`, going on in `chunk`-sized steps to the end of a
/// `size`-byte file, delivers exactly the `len` bytes at `offset` that the engine asks for.
/// Its next piece is `min(chunk, size - next_offset)` bytes, so the last piece of a file fits
/// any reader whose chunk is at least as long. A reader started by a credit-limited request
/// (flow control: `len` below the chunk size, e.g. 512 bytes) has a small `chunk`; treating
/// the file's last request as fitting regardless handed the engine a short piece, which it
/// took for a file that changed while being sent and cancelled the transfer.
fn reader_fits(next_offset: u64, chunk: usize, offset: u64, len: usize, size: u64) -> bool {
    let is_last = offset + len as u64 == size;
    next_offset == offset && (chunk == len || (is_last && chunk >= len))
}

#[cfg(test)]
mod reader_fits_tests {
    use super::reader_fits;

    #[test]
    fn a_reader_of_small_credit_limited_pieces_does_not_fit_the_longer_last_piece() {
        // 512 MiB file; the reader was started by a 512-byte (credit-limited) request and is
        // now at the offset of the last 14848 bytes.
        let size = 512 << 20;
        let offset = size - 14848;
        assert!(!reader_fits(offset, 512, offset, 14848, size));
        assert!(reader_fits(offset, 256 << 10, offset, 14848, size));
        assert!(reader_fits(offset, 14848, offset, 14848, size));
        assert!(reader_fits(0, 256 << 10, 0, 256 << 10, size));
        assert!(!reader_fits(0, 512, 0, 256 << 10, size));
        assert!(!reader_fits(4096, 256 << 10, 0, 256 << 10, size));
    }
}
