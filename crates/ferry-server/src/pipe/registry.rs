//! Who is waiting on which path. A path is *waiting* (a sender and/or some receivers, fewer than
//! `n + 1` parties) or *established* (its transfer is running). The registry only matches
//! parties; the bytes never pass through it.
//!
//! Every decision is taken under one lock, so two parties racing for the same path see a single
//! order of events, and a party leaving can never be matched after it left.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::response::Response;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use ipnet::IpNet;

use super::PipeLimits;
use super::liveness::SocketWatch;
use super::messages;
use super::quota::AddrQuota;

/// The sender's progress lines (`[INFO] …`), streamed as its response body. Unbounded is fine:
/// each line comes from one event (a party joining or leaving, the end of the stream), so their
/// number is bounded by the number of connections.
#[derive(Clone)]
pub struct InfoTx(mpsc::UnboundedSender<Bytes>, Arc<SenderFlags>);

#[derive(Default)]
pub struct SenderFlags {
    stalled: AtomicBool,
    /// When the last "still waiting" probe went out (ms since `PROCESS_START`), so that other
    /// clients knocking on the path cannot make it send lines without bound.
    last_probe_ms: AtomicU64,
}

static PROCESS_START: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// At most one probe line per this interval and sender.
const PROBE_SPACING_MS: u64 = 1000;

impl InfoTx {
    pub fn new() -> (InfoTx, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (InfoTx(tx, Arc::default()), rx)
    }

    /// Sends the "still waiting" line unless one went out less than a second ago.
    fn probe(&self, n: u64) {
        // +1 so that the first probe is never mistaken for "just sent" at time 0.
        let now = PROCESS_START.elapsed().as_millis() as u64 + PROBE_SPACING_MS + 1;
        let last = self.1.last_probe_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= PROBE_SPACING_MS
            && self
                .1
                .last_probe_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.line(messages::still_waiting(n));
        }
    }

    pub fn line(&self, line: impl Into<String>) {
        let _ = self.0.send(Bytes::from(line.into()));
    }

    /// Resolves when the sender's response was dropped, i.e. its connection is gone.
    pub async fn closed(&self) {
        self.0.closed().await
    }

    /// Set by the sender's task while its read-ahead is full: such a sender's departure can
    /// only be noticed by probing it ([`Registry::probe_sender`]).
    pub fn set_stalled(&self, stalled: bool) {
        self.1.stalled.store(stalled, Ordering::Relaxed);
    }

    pub fn is_stalled(&self) -> bool {
        self.1.stalled.load(Ordering::Relaxed)
    }
}

/// What the sender's task receives when the last party arrives.
pub struct Start {
    /// Where to deliver each receiver's response; a failed delivery means that receiver left.
    pub receivers: Vec<oneshot::Sender<Response>>,
    pub guard: EstablishedGuard,
}

/// Frees the path for the next transfer when the transfer is over, however it ends.
pub struct EstablishedGuard {
    registry: Arc<Registry>,
    path: String,
}

impl Drop for EstablishedGuard {
    fn drop(&mut self) {
        let mut paths = self.registry.lock();
        if matches!(paths.get(&self.path), Some(Slot::Established)) {
            paths.remove(&self.path);
        }
    }
}

pub struct SenderTicket {
    pub id: u64,
    pub start: oneshot::Receiver<Start>,
}

pub struct ReceiverTicket {
    pub id: u64,
    pub response: oneshot::Receiver<Response>,
}

pub struct Registry {
    paths: Mutex<HashMap<String, Slot>>,
    next_id: AtomicU64,
    /// Proxies whose X-Forwarded-For names the client (for the per-address quotas).
    pub trusted_proxies: Vec<IpNet>,
    pub waiting_senders: Arc<AddrQuota>,
    pub waiting_receivers: Arc<AddrQuota>,
    /// Finds waiting parties whose connection closed while nobody read it.
    pub watch: Arc<SocketWatch>,
    /// How often a stalled waiting sender gets a "still waiting" line ([`Self::probe_sender`]).
    pub probe_interval: std::time::Duration,
    pub active_transfers: AtomicU64,
    pub bytes_total: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(&PipeLimits::default(), &[])
    }
}

/// Counters and gauges of the HTTP pipe, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Senders waiting for their receivers (gauge).
    pub waiting_senders: u64,
    /// Receivers waiting for their sender or the other receivers (gauge).
    pub waiting_receivers: u64,
    /// Transfers streaming (gauge; until the last receiver is done).
    pub active_transfers: u64,
    /// Upload bytes streamed to receivers (counter).
    pub bytes_total: u64,
    /// Senders and receivers refused (429) for their address's waiting quota (counter).
    pub quota_refusals: u64,
    /// Waiting parties removed because their connection had closed (counter).
    pub dead_parties_removed: u64,
}

enum Slot {
    Waiting(Waiting),
    Established,
}

struct Waiting {
    n: u64,
    sender: Option<WaitingSender>,
    receivers: Vec<WaitingReceiver>,
}

struct WaitingSender {
    id: u64,
    info: InfoTx,
    start: oneshot::Sender<Start>,
}

struct WaitingReceiver {
    id: u64,
    deliver: oneshot::Sender<Response>,
}

impl Registry {
    pub fn new(limits: &PipeLimits, trusted_proxies: &[IpNet]) -> Self {
        Registry {
            paths: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            trusted_proxies: trusted_proxies.to_vec(),
            waiting_senders: AddrQuota::new(limits.waiting_senders_per_addr),
            waiting_receivers: AddrQuota::new(limits.waiting_receivers_per_addr),
            probe_interval: limits.stalled_probe_interval,
            watch: SocketWatch::new(limits.liveness_interval),
            active_transfers: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> PipeStats {
        let (mut senders, mut receivers) = (0, 0);
        for slot in self.lock().values() {
            if let Slot::Waiting(w) = slot {
                senders += u64::from(w.sender.is_some());
                receivers += w.receivers.len() as u64;
            }
        }
        PipeStats {
            waiting_senders: senders,
            waiting_receivers: receivers,
            active_transfers: self.active_transfers.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            quota_refusals: self.waiting_senders.refusals() + self.waiting_receivers.refusals(),
            dead_parties_removed: self.watch.reaped(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock leaves the map consistent (every change is a single
        // insert/remove), so a poisoned lock is still usable.
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a sender to `path`. On success the sender's first lines are already in `info`.
    /// The error is the one-line body of a 400 response.
    pub fn join_sender(
        self: &Arc<Self>,
        path: &str,
        n: u64,
        info: InfoTx,
    ) -> Result<SenderTicket, String> {
        let mut paths = self.lock();
        let waiting = match paths.get_mut(path) {
            Some(Slot::Established) => return Err(messages::already_established(path)),
            Some(Slot::Waiting(w)) => w,
            None => {
                let (start_tx, start_rx) = oneshot::channel();
                let id = self.new_id();
                info.line(messages::waiting_for(n));
                paths.insert(
                    path.to_owned(),
                    Slot::Waiting(Waiting {
                        n,
                        sender: Some(WaitingSender {
                            id,
                            info,
                            start: start_tx,
                        }),
                        receivers: Vec::new(),
                    }),
                );
                return Ok(SenderTicket {
                    id,
                    start: start_rx,
                });
            }
        };
        if waiting.sender.is_some() {
            return Err(messages::another_sender(path));
        }
        if waiting.n != n {
            return Err(messages::n_mismatch(waiting.n, n));
        }
        let (start_tx, start_rx) = oneshot::channel();
        let id = self.new_id();
        info.line(messages::waiting_for(n));
        info.line(messages::receivers_connected(waiting.receivers.len()));
        waiting.sender = Some(WaitingSender {
            id,
            info,
            start: start_tx,
        });
        self.establish_if_complete(&mut paths, path);
        Ok(SenderTicket {
            id,
            start: start_rx,
        })
    }

    pub fn join_receiver(self: &Arc<Self>, path: &str, n: u64) -> Result<ReceiverTicket, String> {
        let mut paths = self.lock();
        let (deliver, response) = oneshot::channel();
        let id = self.new_id();
        match paths.get_mut(path) {
            Some(Slot::Established) => return Err(messages::already_established(path)),
            Some(Slot::Waiting(waiting)) => {
                if waiting.n != n {
                    return Err(messages::n_mismatch(waiting.n, n));
                }
                if waiting.receivers.len() as u64 >= waiting.n {
                    return Err(messages::RECEIVERS_FULL.to_owned());
                }
                waiting.receivers.push(WaitingReceiver { id, deliver });
                if let Some(sender) = &waiting.sender {
                    sender.info.line(messages::A_RECEIVER_CONNECTED);
                }
            }
            None => {
                paths.insert(
                    path.to_owned(),
                    Slot::Waiting(Waiting {
                        n,
                        sender: None,
                        receivers: vec![WaitingReceiver { id, deliver }],
                    }),
                );
            }
        }
        self.establish_if_complete(&mut paths, path);
        Ok(ReceiverTicket { id, response })
    }

    fn establish_if_complete(self: &Arc<Self>, paths: &mut HashMap<String, Slot>, path: &str) {
        let complete = matches!(
            paths.get(path),
            Some(Slot::Waiting(w)) if w.sender.is_some() && w.receivers.len() as u64 == w.n
        );
        if !complete {
            return;
        }
        let Some(Slot::Waiting(waiting)) = paths.insert(path.to_owned(), Slot::Established) else {
            unreachable!("checked above");
        };
        let Some(sender) = waiting.sender else {
            unreachable!("checked above");
        };
        let start = Start {
            receivers: waiting.receivers.into_iter().map(|r| r.deliver).collect(),
            guard: EstablishedGuard {
                registry: self.clone(),
                path: path.to_owned(),
            },
        };
        // If the sender's task is already gone the returned `Start` is dropped here: its guard
        // frees the path and the receivers' handlers see their delivery channel closed.
        let _ = sender.start.send(start);
    }

    /// Removes a sender that left before its transfer started. Returns false when it is too
    /// late: the transfer was established and its `Start` is (or was) on the way.
    pub fn leave_sender(&self, path: &str, id: u64) -> bool {
        let mut paths = self.lock();
        let Some(Slot::Waiting(waiting)) = paths.get_mut(path) else {
            return false;
        };
        if waiting.sender.as_ref().map(|s| s.id) != Some(id) {
            return false;
        }
        waiting.sender = None;
        if waiting.receivers.is_empty() {
            paths.remove(path);
        }
        true
    }

    /// Removes a receiver that left before its transfer started (a no-op afterwards).
    pub fn leave_receiver(&self, path: &str, id: u64) {
        let mut paths = self.lock();
        let Some(Slot::Waiting(waiting)) = paths.get_mut(path) else {
            return;
        };
        waiting.receivers.retain(|r| r.id != id);
        if waiting.receivers.is_empty() && waiting.sender.is_none() {
            paths.remove(path);
        }
    }

    /// Writes a "still waiting" line to the sender waiting on `path`, if any. Why: a client
    /// killed while its upload was flow-controlled leaves its FIN stuck behind unread data
    /// (its kernel keeps probing our zero window for ever), so its connection looks
    /// ESTABLISHED here; data sent to such an orphaned socket makes its kernel answer with a
    /// reset, which the liveness watch then sees. Returns whether a sender was there.
    pub fn probe_sender(&self, path: &str) -> bool {
        self.probe_sender_if(path, |_| true)
    }

    /// [`Self::probe_sender`] for a stalled sender only (one that is not being read).
    pub fn probe_stalled_sender(&self, path: &str) -> bool {
        self.probe_sender_if(path, InfoTx::is_stalled)
    }

    fn probe_sender_if(&self, path: &str, pred: impl Fn(&InfoTx) -> bool) -> bool {
        match self.lock().get(path) {
            Some(Slot::Waiting(Waiting {
                n,
                sender: Some(sender),
                ..
            })) if pred(&sender.info) => {
                sender.info.probe(*n);
                true
            }
            _ => false,
        }
    }

    /// Who waits on `path`: (a sender is there, number of receivers). `None` when nobody
    /// waits (the path is free or its transfer runs).
    pub fn waiting(&self, path: &str) -> Option<(bool, usize)> {
        match self.lock().get(path) {
            Some(Slot::Waiting(w)) => Some((w.sender.is_some(), w.receivers.len())),
            _ => None,
        }
    }

    /// Whether `path`'s waiting sender has filled its read-ahead (so that its departure can
    /// only be noticed by probing it): what the abandoned-sender tests wait for before the kill.
    pub fn sender_stalled(&self, path: &str) -> bool {
        match self.lock().get(path) {
            Some(Slot::Waiting(Waiting {
                sender: Some(sender),
                ..
            })) => sender.info.is_stalled(),
            _ => false,
        }
    }

    pub fn is_established(&self, path: &str) -> bool {
        matches!(self.lock().get(path), Some(Slot::Established))
    }

    /// The paths with a waiting party or a running transfer (with `--redis`, this instance
    /// holds their claim: redis_hub/forward.rs).
    pub fn path_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Number of paths with a waiting party or a running transfer.
    pub fn active_paths(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> InfoTx {
        InfoTx::new().0
    }

    #[test]
    fn sender_then_receiver_establishes_and_frees_the_path_after() {
        let reg = Arc::new(Registry::default());
        let mut s = reg.join_sender("/p", 1, info()).unwrap();
        assert!(s.start.try_recv().is_err());
        let _r = reg.join_receiver("/p", 1).unwrap();
        let start = s.start.try_recv().expect("established");
        assert_eq!(start.receivers.len(), 1);
        assert!(
            reg.join_receiver("/p", 1)
                .err()
                .unwrap()
                .contains("established already")
        );
        drop(start);
        assert_eq!(reg.active_paths(), 0);
        assert!(reg.join_receiver("/p", 1).is_ok());
    }

    #[test]
    fn conflicts_are_refused() {
        let reg = Arc::new(Registry::default());
        let _s = reg.join_sender("/p", 2, info()).unwrap();
        assert!(
            reg.join_sender("/p", 2, info())
                .err()
                .unwrap()
                .contains("Another sender")
        );
        assert_eq!(
            reg.join_receiver("/p", 3).err().unwrap(),
            messages::n_mismatch(2, 3)
        );
        let _a = reg.join_receiver("/q", 1).unwrap();
        assert_eq!(
            reg.join_receiver("/q", 1).err().unwrap(),
            messages::RECEIVERS_FULL
        );
    }

    #[test]
    fn parties_that_leave_early_are_forgotten() {
        let reg = Arc::new(Registry::default());
        let s = reg.join_sender("/p", 1, info()).unwrap();
        assert!(reg.leave_sender("/p", s.id));
        assert_eq!(reg.active_paths(), 0);
        let r = reg.join_receiver("/p", 2).unwrap();
        reg.leave_receiver("/p", r.id);
        assert_eq!(reg.active_paths(), 0);
        // A new sender with a different n is fine once the path is empty again.
        assert!(reg.join_sender("/p", 1, info()).is_ok());
    }

    #[test]
    fn a_sender_cannot_leave_once_established() {
        let reg = Arc::new(Registry::default());
        let s = reg.join_sender("/p", 1, info()).unwrap();
        let _r = reg.join_receiver("/p", 1).unwrap();
        assert!(!reg.leave_sender("/p", s.id));
    }
}
