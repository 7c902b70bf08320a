//! `/relay/<id>`: the WebSocket relay that carries the transfer protocol when no ICE path works.
//!
//! The hub authorizes a session for exactly two peers (`relay-open`); each connects here with its
//! peer token. Once both are in, every data frame of one is written to the other, one at a time:
//! a frame is read only after the previous one was flushed to the other side, so the relay holds
//! at most one frame per direction and a slow reader throttles the sender through TCP.
//! The relay never parses what it forwards; peers encrypt it end to end (docs/security.md).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::AppState;
use crate::pipe::quota::{AddrQuota, QuotaGuard, client_ip};

/// How long an authorized session waits for both peers to connect.
pub const RELAY_JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame forwarded (a 256 KiB transfer frame plus encryption overhead, with margin).
pub const MAX_RELAY_FRAME: usize = 512 * 1024;

/// Close codes the relay uses (docs/relay.md). 1002/1007/1009 are RFC 6455's own.
mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
    pub const HEARTBEAT_TIMEOUT: u16 = 4001;
    pub const EXPIRED: u16 = 4404;
    pub const JOIN_TIMEOUT: u16 = 4408;
    pub const REPLACED: u16 = 4409;
}

/// Limits of the WebSocket relay (flags in `ferry serve --help`, table in docs/security.md).
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Pending (not yet paired) sessions a peer may have *opened* at once. Sessions other peers
    /// opened to it do not count, so room mates cannot use up someone else's allowance.
    pub pending_per_peer: usize,
    /// Relay WebSockets (waiting or paired) one client address may hold at once.
    pub sockets_per_addr: usize,
    /// The server pings each relay socket this often …
    pub heartbeat_interval: Duration,
    /// … and closes one (4001) that sent nothing, not even a pong, for this long.
    pub heartbeat_timeout: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            pending_per_peer: 8,
            sockets_per_addr: 32,
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters and gauges of the relay, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Authorized sessions not yet paired (gauge).
    pub pending_sessions: u64,
    /// Sockets connected and waiting for their other peer (gauge).
    pub waiting_sockets: u64,
    /// Paired sessions forwarding frames (gauge).
    pub active_sessions: u64,
    /// Payload bytes forwarded, both directions (counter).
    pub bytes_total: u64,
    /// `relay-open` refused for the per-peer limit, plus upgrades refused (429) for the
    /// per-address limit (counter).
    pub quota_refusals: u64,
    /// Sockets closed because they stopped answering pings (counter).
    pub heartbeat_timeouts: u64,
    /// Sockets closed for an oversize, malformed or invalid-UTF-8 frame (counter).
    pub bad_frames: u64,
}

/// A socket handed to the waiting side, with its address's quota unit (held while it lives).
type Arrival = (WebSocket, QuotaGuard);

struct Waiter {
    side: usize,
    conn: u64,
    tx: oneshot::Sender<Arrival>,
}

struct Slot {
    /// `peers[0]` opened the session (asked with `relay-open`).
    peers: [String; 2],
    created: Instant,
    waiting: Option<Waiter>,
}

pub struct RelayRegistry {
    slots: Mutex<HashMap<String, Slot>>,
    limits: RelayLimits,
    per_addr: Arc<AddrQuota>,
    next_conn: AtomicU64,
    waiting_sockets: AtomicU64,
    active_sessions: AtomicU64,
    bytes_total: AtomicU64,
    open_refusals: AtomicU64,
    heartbeat_timeouts: AtomicU64,
    bad_frames: AtomicU64,
}

impl Default for RelayRegistry {
    fn default() -> Self {
        RelayRegistry::new(RelayLimits::default())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    TooMany,
}

impl RelayRegistry {
    pub fn new(limits: RelayLimits) -> Self {
        RelayRegistry {
            slots: Mutex::new(HashMap::new()),
            per_addr: AddrQuota::new(limits.sockets_per_addr),
            limits,
            next_conn: AtomicU64::new(0),
            waiting_sockets: AtomicU64::new(0),
            active_sessions: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            open_refusals: AtomicU64::new(0),
            heartbeat_timeouts: AtomicU64::new(0),
            bad_frames: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    /// Authorizes a session opened by `a` for the pair, reusing a pending one. Returns its id.
    pub fn authorize(&self, a: &str, b: &str) -> Result<String, AuthorizeError> {
        let mut slots = self.lock();
        let now = Instant::now();
        slots.retain(|_, s| now.duration_since(s.created) < RELAY_JOIN_TIMEOUT);
        let same_pair =
            |s: &Slot| (s.peers[0] == a && s.peers[1] == b) || (s.peers[0] == b && s.peers[1] == a);
        // A pending session for the pair is handed out again, whoever opened it: both peers
        // may ask at once, and one that lost its socket asks again to reconnect.
        if let Some((id, _)) = slots.iter().find(|(_, s)| same_pair(s)) {
            return Ok(id.clone());
        }
        // Only sessions `a` opened itself count against it.
        let opened = slots.values().filter(|s| s.peers[0] == a).count();
        if opened >= self.limits.pending_per_peer {
            self.open_refusals.fetch_add(1, Ordering::Relaxed);
            return Err(AuthorizeError::TooMany);
        }
        let id = hex::encode(rand::random::<[u8; 16]>());
        slots.insert(
            id.clone(),
            Slot {
                peers: [a.to_string(), b.to_string()],
                created: now,
                waiting: None,
            },
        );
        Ok(id)
    }

    /// Checks, before the WebSocket upgrade, that `peer_id` is one of the session's two.
    /// Returns its side.
    fn check(&self, relay_id: &str, peer_id: &str) -> Result<usize, (StatusCode, &'static str)> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(relay_id) else {
            return Err((
                StatusCode::NOT_FOUND,
                "[ERROR] unknown or expired relay session; ask the peer again\n",
            ));
        };
        if Instant::now().duration_since(slot.created) >= RELAY_JOIN_TIMEOUT {
            slots.remove(relay_id);
            return Err((StatusCode::NOT_FOUND, "[ERROR] relay session expired\n"));
        }
        slot.peers.iter().position(|p| p == peer_id).ok_or((
            StatusCode::FORBIDDEN,
            "[ERROR] this relay session belongs to other peers\n",
        ))
    }

    /// Either parks `socket` on its side until the other side arrives, or hands it to the
    /// waiting other side. A socket already waiting on the same side is replaced: the peer
    /// proved with its token that it is the same peer, and the old socket is most likely a
    /// dead one it could not close (a dropped network), which must not block the retry.
    fn meet(&self, relay_id: &str, side: usize, arrival: Arrival) -> Meeting {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(relay_id) else {
            return Meeting::Gone(arrival.0);
        };
        let mut arrival = arrival;
        // Same side: dropping the old `waiter.tx` tells its socket's task it was replaced.
        if let Some(waiter) = slot.waiting.take()
            && waiter.side != side
        {
            match waiter.tx.send(arrival) {
                Ok(()) => {
                    slots.remove(relay_id);
                    return Meeting::HandedOver;
                }
                // The waiter died between its last check and now: take its place.
                Err(back) => arrival = back,
            }
        }
        let (tx, rx) = oneshot::channel();
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        slot.waiting = Some(Waiter { side, conn, tx });
        Meeting::Wait(arrival, rx, conn, slot.created + RELAY_JOIN_TIMEOUT)
    }

    /// A waiting socket left (closed, failed, silent or timed out): its side is free again.
    fn leave(&self, relay_id: &str, conn: u64) {
        let mut slots = self.lock();
        if let Some(slot) = slots.get_mut(relay_id)
            && slot.waiting.as_ref().is_some_and(|w| w.conn == conn)
        {
            slot.waiting = None;
        }
    }

    fn forget(&self, relay_id: &str, conn: u64) {
        let mut slots = self.lock();
        if slots
            .get(relay_id)
            .is_some_and(|s| s.waiting.as_ref().is_none_or(|w| w.conn == conn))
        {
            slots.remove(relay_id);
        }
    }

    pub fn pending_count(&self) -> usize {
        self.lock().len()
    }

    pub fn stats(&self) -> RelayStats {
        RelayStats {
            pending_sessions: self.pending_count() as u64,
            waiting_sockets: self.waiting_sockets.load(Ordering::Relaxed),
            active_sessions: self.active_sessions.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            quota_refusals: self.open_refusals.load(Ordering::Relaxed) + self.per_addr.refusals(),
            heartbeat_timeouts: self.heartbeat_timeouts.load(Ordering::Relaxed),
            bad_frames: self.bad_frames.load(Ordering::Relaxed),
        }
    }
}

/// Keeps a gauge up while alive.
struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    fn up(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Gauge(counter)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Meeting {
    /// Our socket, where the other one will arrive, our connection id, the session's expiry.
    Wait(Arrival, oneshot::Receiver<Arrival>, u64, Instant),
    HandedOver,
    Gone(WebSocket),
}

#[derive(Deserialize)]
pub struct RelayParams {
    token: Option<String>,
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(relay_id): Path<String>,
    Query(params): Query<RelayParams>,
) -> Response {
    let Some(peer_id) = params.token.as_deref().and_then(|t| state.tokens.verify(t)) else {
        return (
            StatusCode::UNAUTHORIZED,
            "[ERROR] a valid peer token is required (?token=)\n",
        )
            .into_response();
    };
    let side = match state.relays.check(&relay_id, &peer_id) {
        Ok(side) => Some(side),
        // With --redis, the session may live on another instance: the socket is carried there.
        Err((StatusCode::NOT_FOUND, _))
            if state.cluster.is_some()
                && !headers.contains_key(crate::redis_hub::forward::CARRIED) =>
        {
            None
        }
        Err(e) => return e.into_response(),
    };
    let ip: IpAddr = client_ip(remote.ip(), &headers, &state.config.trusted_proxies);
    let Some(quota) = state.relays.per_addr.acquire(ip) else {
        tracing::info!(client = %ip, "relay socket refused: per-address limit");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "[ERROR] too many relay connections from your address (limit {}); close some and retry\n",
                state.relays.limits.sockets_per_addr
            ),
        )
            .into_response();
    };
    let Some(side) = side else {
        return carry(ws, state, relay_id, params, headers, remote, quota).await;
    };
    ws.max_message_size(MAX_RELAY_FRAME)
        .max_frame_size(MAX_RELAY_FRAME)
        .on_upgrade(move |socket| {
            // Tracked so that a graceful shutdown lets running relays finish.
            let sockets = state.sockets.clone();
            sockets.track_future(run(socket, state, relay_id, side, quota))
        })
}

/// A relay socket for a session another instance holds (`--redis`): carried there.
async fn carry(
    ws: WebSocketUpgrade,
    state: AppState,
    relay_id: String,
    params: RelayParams,
    headers: HeaderMap,
    remote: SocketAddr,
    quota: QuotaGuard,
) -> Response {
    use crate::redis_hub::forward;
    let unknown = || {
        (
            StatusCode::NOT_FOUND,
            "[ERROR] unknown or expired relay session; ask the peer again\n",
        )
            .into_response()
    };
    let Some(cluster) = state.cluster.clone() else {
        return unknown();
    };
    let forward::Owner::There(url) = cluster.relay_owner(&relay_id).await else {
        return unknown();
    };
    let token = params.token.unwrap_or_default();
    let upstream = match forward::open_relay_upstream(
        &url,
        &relay_id,
        &token,
        &headers,
        remote,
        MAX_RELAY_FRAME,
    )
    .await
    {
        Ok(up) => up,
        Err(refused) => return refused,
    };
    ws.max_message_size(MAX_RELAY_FRAME)
        .max_frame_size(MAX_RELAY_FRAME)
        .on_upgrade(move |socket| {
            let sockets = state.sockets.clone();
            sockets.track_future(async move {
                let _quota = quota;
                forward::carry_relay(socket, upstream).await;
            })
        })
}

async fn run(socket: WebSocket, state: AppState, relay_id: String, side: usize, quota: QuotaGuard) {
    let relays = state.relays.clone();
    match relays.meet(&relay_id, side, (socket, quota)) {
        Meeting::HandedOver => {}
        Meeting::Gone(socket) => close(socket, close_code::EXPIRED, "relay session expired").await,
        Meeting::Wait((socket, _quota), rx, conn, expires) => {
            let waited = {
                let _gauge = Gauge::up(&relays.waiting_sockets);
                wait_for_other(&relays, &relay_id, conn, expires, socket, rx).await
            };
            if let Some((mine, early, (other, _other_quota))) = waited {
                let _gauge = Gauge::up(&relays.active_sessions);
                pipe(&relays, mine, early, other).await;
            }
        }
    }
}

/// Waits for the other peer while watching our own socket, so that a socket that closes,
/// fails or goes silent frees its side at once instead of blocking a reconnect until the join
/// timeout. A data frame sent before `paired` is kept (at most one; reading stops after it, so
/// TCP holds back the rest) and forwarded first.
async fn wait_for_other(
    relays: &RelayRegistry,
    relay_id: &str,
    conn: u64,
    expires: Instant,
    mut socket: WebSocket,
    mut rx: oneshot::Receiver<Arrival>,
) -> Option<(WebSocket, Option<Message>, Arrival)> {
    let limits = &relays.limits;
    let deadline = tokio::time::sleep_until(expires.into());
    tokio::pin!(deadline);
    let mut ping = tokio::time::interval(limits.heartbeat_interval);
    ping.reset();
    let mut last_seen = Instant::now();
    let mut early: Option<Message> = None;
    loop {
        tokio::select! {
            other = &mut rx => match other {
                Ok(other) => return Some((socket, early, other)),
                // The slot dropped our sender: a newer socket of ours took the side, or the
                // session expired and was swept.
                Err(_) if Instant::now() + Duration::from_millis(100) >= expires => {
                    close(socket, close_code::JOIN_TIMEOUT, "the other peer did not join the relay in time").await;
                    return None;
                }
                Err(_) => {
                    close(socket, close_code::REPLACED, "replaced by a newer connection of the same peer").await;
                    return None;
                }
            },
            _ = &mut deadline => {
                relays.forget(relay_id, conn);
                close(socket, close_code::JOIN_TIMEOUT, "the other peer did not join the relay in time").await;
                return None;
            }
            msg = socket.recv(), if early.is_none() => match msg {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_seen = Instant::now(),
                Some(Ok(Message::Close(_))) | None => {
                    relays.leave(relay_id, conn);
                    return take_late_arrival(rx);
                }
                Some(Ok(data)) => {
                    last_seen = Instant::now();
                    early = Some(data);
                }
                Some(Err(e)) => {
                    relays.leave(relay_id, conn);
                    if let Some((code, reason)) = bad_frame(&e) {
                        relays.bad_frames.fetch_add(1, Ordering::Relaxed);
                        close(socket, code, reason).await;
                    }
                    return take_late_arrival(rx);
                }
            },
            _ = ping.tick() => {
                if last_seen.elapsed() >= limits.heartbeat_timeout {
                    relays.leave(relay_id, conn);
                    relays.heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
                    close(socket, close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout").await;
                    return take_late_arrival(rx);
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Ping(Default::default()))).await;
            }
        }
    }
}

/// The other peer may have been handed to us just before we left: it cannot be paired with a
/// dead socket, so it is told to open the relay again.
fn take_late_arrival(
    mut rx: oneshot::Receiver<Arrival>,
) -> Option<(WebSocket, Option<Message>, Arrival)> {
    if let Ok((other, _quota)) = rx.try_recv() {
        tokio::spawn(close(
            other,
            close_code::EXPIRED,
            "the other peer's relay socket closed; open the relay again",
        ));
    }
    None
}

/// What a read error means for the peer that caused it: the RFC 6455 close code for a frame
/// we refuse, or `None` when the connection itself is gone (nothing to tell).
fn bad_frame(error: &axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::Error as E;
    use tungstenite::error::ProtocolError;
    // axum's error wraps tungstenite's as its source.
    let error = std::error::Error::source(error)?.downcast_ref::<E>()?;
    match error {
        E::Capacity(_) => Some((close_code::TOO_BIG, "frame too large (limit 512 KiB)")),
        E::Utf8(_) => Some((close_code::INVALID_DATA, "text frame is not valid UTF-8")),
        E::Protocol(
            ProtocolError::InvalidOpcode(_)
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_),
        ) => Some((close_code::PROTOCOL_ERROR, "unknown frame opcode")),
        E::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing,
        ) => None,
        E::Protocol(_) => Some((close_code::PROTOCOL_ERROR, "WebSocket protocol error")),
        _ => None,
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        socket.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;
}

type Sink = Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>;

/// Why a paired session ended, per side: the close frame each side gets.
struct Ending {
    /// Index of the side that caused it (0 = `a`), when one did.
    culprit: usize,
    /// Close frame for the culprit, if it gets one of its own (a bad frame, a heartbeat).
    own: Option<(u16, &'static str)>,
    /// Reason told to the other side (always code 1000).
    other: &'static str,
}

/// Tells both sides they are paired, then forwards frames until either side leaves.
///
/// One rule: a frame is read from one side only after the previous one was written to the
/// other. A watchdog pings both sides and ends the session when either has sent nothing (no
/// frame, no pong) for the heartbeat timeout — a half-open peer can otherwise hold the other
/// one, and a blocked write, forever.
async fn pipe(relays: &RelayRegistry, a: WebSocket, early: Option<Message>, b: WebSocket) {
    let (a_tx, a_rx) = a.split();
    let (b_tx, b_rx) = b.split();
    let sinks: [Sink; 2] = [
        Arc::new(tokio::sync::Mutex::new(a_tx)),
        Arc::new(tokio::sync::Mutex::new(b_tx)),
    ];
    let paired = Message::Text(r#"{"type":"paired"}"#.into());
    for sink in &sinks {
        let sent = tokio::time::timeout(
            relays.limits.heartbeat_timeout,
            sink.lock().await.send(paired.clone()),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
    let seen = [AtomicU64::new(0), AtomicU64::new(0)];
    let start = Instant::now();
    let a_to_b = forward(relays, 0, a_rx, early, &sinks[1], &seen, start);
    let b_to_a = forward(relays, 1, b_rx, None, &sinks[0], &seen, start);
    let watchdog = watchdog(relays, &sinks, &seen, start);
    let ending = tokio::select! {
        e = a_to_b => e,
        e = b_to_a => e,
        e = watchdog => e,
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for (i, sink) in sinks.iter().enumerate() {
            let (code, reason) = if i == ending.culprit {
                ending.own.unwrap_or((close_code::NORMAL, ending.other))
            } else {
                (close_code::NORMAL, ending.other)
            };
            let frame = Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = sink.lock().await.send(frame).await;
        }
    })
    .await;
}

fn millis_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

async fn forward(
    relays: &RelayRegistry,
    side: usize,
    mut from: SplitStream<WebSocket>,
    early: Option<Message>,
    to: &Sink,
    seen: &[AtomicU64; 2],
    start: Instant,
) -> Ending {
    let other = 1 - side;
    let gone = |other| Ending {
        culprit: side,
        own: None,
        other,
    };
    let failed = || Ending {
        culprit: other,
        own: None,
        other: "the other peer's connection failed",
    };
    // A completed write proves the other side is draining what we send (a slow receiver is
    // alive; a half-open one never drains, so the write blocks and it goes silent).
    let delivered = || seen[other].store(millis_since(start), Ordering::Relaxed);
    if let Some(msg) = early {
        if to.lock().await.send(msg).await.is_err() {
            return failed();
        }
        delivered();
    }
    while let Some(msg) = from.next().await {
        seen[side].store(millis_since(start), Ordering::Relaxed);
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                return match bad_frame(&e) {
                    Some(own) => {
                        relays.bad_frames.fetch_add(1, Ordering::Relaxed);
                        Ending {
                            culprit: side,
                            own: Some(own),
                            other: "the other peer sent an invalid frame",
                        }
                    }
                    None => gone("the other peer's connection failed"),
                };
            }
        };
        match msg {
            Message::Binary(_) | Message::Text(_) => {
                let len = match &msg {
                    Message::Binary(b) => b.len(),
                    Message::Text(t) => t.len(),
                    _ => 0,
                };
                relays.bytes_total.fetch_add(len as u64, Ordering::Relaxed);
                if to.lock().await.send(msg).await.is_err() {
                    return failed();
                }
                delivered();
            }
            Message::Close(_) => return gone("the other peer left the relay"),
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    gone("the other peer left the relay")
}

async fn watchdog(
    relays: &RelayRegistry,
    sinks: &[Sink; 2],
    seen: &[AtomicU64; 2],
    start: Instant,
) -> Ending {
    let limits = &relays.limits;
    let mut tick = tokio::time::interval(limits.heartbeat_interval);
    tick.reset();
    loop {
        tick.tick().await;
        let now = millis_since(start);
        for (side, seen) in seen.iter().enumerate() {
            let silent = Duration::from_millis(now.saturating_sub(seen.load(Ordering::Relaxed)));
            if silent >= limits.heartbeat_timeout {
                relays.heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
                return Ending {
                    culprit: side,
                    own: Some((close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout")),
                    other: "the other peer stopped responding",
                };
            }
        }
        for sink in sinks {
            // A sink busy with a frame is being written to already; a ping would only queue
            // behind it. The watchdog itself never waits on a peer.
            if let Ok(mut sink) = sink.try_lock() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(Message::Ping(Default::default())),
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_is_idempotent_per_pair_and_bounded() {
        let r = RelayRegistry::default();
        let id = r.authorize("a", "b").unwrap();
        assert_eq!(r.authorize("b", "a").unwrap(), id);
        assert_ne!(r.authorize("a", "c").unwrap(), id);
        assert_eq!(r.check(&id, "c").unwrap_err().0, StatusCode::FORBIDDEN);
        assert_eq!(r.check(&id, "a"), Ok(0));
        assert_eq!(r.check(&id, "b"), Ok(1));
        for i in 0..6 {
            r.authorize("a", &format!("p{i}")).unwrap();
        }
        assert_eq!(r.authorize("a", "zz"), Err(AuthorizeError::TooMany));
        assert_eq!(r.stats().quota_refusals, 1);
    }

    #[test]
    fn sessions_others_open_to_a_peer_do_not_count_against_it() {
        let r = RelayRegistry::default();
        for i in 0..20 {
            r.authorize(&format!("mate{i}"), "victim").unwrap();
        }
        // The victim can still open its own, and answer any mate's (same session back).
        assert!(r.authorize("victim", "friend").is_ok());
        let mates = r.authorize("mate3", "victim").unwrap();
        assert_eq!(r.authorize("victim", "mate3").unwrap(), mates);
    }
}
