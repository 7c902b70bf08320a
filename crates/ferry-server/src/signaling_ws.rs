//! `/ws`: one task per signaling connection. It parses each client frame once, at the edge, into a
//! [`ClientMessage`], applies it to the hub, and writes whatever the hub queues for this peer.
//!
//! The loop's rule: every iteration either handles one client frame, writes a batch of queued
//! messages, or sends a heartbeat; nothing in it awaits another peer, and no write waits longer
//! than `send_timeout` — a client that stops reading is dropped and its queue freed.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_protocol::signaling::{
    ClientMessage, ErrorCode, MAX_PAIRED_ROOMS_PER_PEER, MAX_SIGNAL_MESSAGE_BYTES, ServerMessage,
    Signal,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::AppState;
use crate::address_limits::Budget;
use crate::hub::{CloseReason, Hub, HubError, Session};
use crate::lan_room::{client_addr, lan_room_key};
use crate::redis_hub::RedisHub;
use crate::token::new_peer_id;

/// Frames above this size are refused by the WebSocket layer itself (connection closed with 1009);
/// between [`MAX_SIGNAL_MESSAGE_BYTES`] and this, the client gets a `too-large` error and stays.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;

#[derive(Deserialize)]
pub struct ConnectParams {
    token: Option<String>,
    client: Option<String>,
    device: Option<String>,
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<ConnectParams>,
) -> Response {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let addr = client_addr(remote.ip(), forwarded, &state.config.trusted_proxies);
    let limits = &state.address_limits;
    if limits.flooders.applies(addr) || !limits.connects.take(addr) {
        state.metrics.limit_hit("ws-connects");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "10")],
            "too many signaling connections from your address; retry in a few seconds\n",
        )
            .into_response();
    }
    // The name the client reached us by is the name it can reach our STUN/TURN port by.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Signaling messages are small; tungstenite's 128 KiB default buffers would cost ~256 KiB
    // per idle peer, and even a 4 KiB read buffer was 4 KB of the 11 KB an idle peer cost at
    // 10,000 peers (benchmarks.md). Larger frames are still read, in more pieces.
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .on_upgrade(move |socket| {
            let sockets = state.sockets.clone();
            sockets.track_future(run(socket, state, addr, params, host))
        })
}

async fn run(
    socket: WebSocket,
    state: AppState,
    addr: IpAddr,
    params: ConnectParams,
    host: Option<String>,
) {
    let peer_id = params
        .token
        .as_deref()
        .and_then(|t| state.tokens.verify(t))
        .unwrap_or_else(new_peer_id);
    let client = sanitize_client(params.client.as_deref());
    let device = sanitize_device(params.device.as_deref());
    let token = state.tokens.issue(&peer_id);
    let ice_servers = state.ice_servers_for_host(&peer_id, host.as_deref());
    let limits = &state.address_limits;
    let quiet = (!limits.announcements.take(addr)).then_some(limits.quiet_delay);
    let hub = HubRef::of(&state);
    let (session, outbox) = match hub
        .connect_with(
            peer_id,
            client,
            device,
            lan_room_key(addr),
            token,
            ice_servers,
            quiet,
        )
        .await
    {
        Ok(connected) => connected,
        Err(e) => {
            // Only with --redis: the shared hub is unreachable. The client retries later.
            let mut socket = socket;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                socket
                    .send(Message::Text(ServerMessage::from(e).to_json().into()))
                    .await?;
                socket
                    .send(Message::Close(Some(close_frame(1013, "try again later"))))
                    .await
            })
            .await;
            return;
        }
    };
    state.metrics.signaling_connections.inc();
    tracing::debug!(peer = %session.peer_id, %addr, "signaling connected");

    let (mut sink, mut stream) = socket.split();
    let cfg = &state.config;
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + cfg.heartbeat_interval,
        cfg.heartbeat_interval,
    );
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    let mut limiter = RateLimiter::new(cfg.messages_per_second, cfg.message_burst);
    let mut batch = Vec::new();
    let conn = Conn {
        state: &state,
        hub,
        session: &session,
        addr,
    };

    let close: Option<CloseFrame> = loop {
        tokio::select! {
            queued = outbox.next_batch(&mut batch, WRITE_BATCH) => match queued {
                Ok(()) => {
                    let write = async {
                        for text in batch.drain(..) {
                            sink.feed(Message::Text(text.as_ref().into())).await?;
                        }
                        sink.flush().await
                    };
                    let written = tokio::time::timeout(cfg.send_timeout, write).await;
                    // A burst (a room's join messages) must not leave its capacity behind.
                    if batch.capacity() > 8 {
                        batch = Vec::new();
                    }
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break None,
                        Err(_) => {
                            // The client stopped reading: its socket buffers are full.
                            state.metrics.send_timeouts.inc();
                            tracing::debug!(peer = %session.peer_id, "send timed out");
                            break None;
                        }
                    }
                }
                Err(CloseReason::ShuttingDown) => {
                    break Some(close_frame(1001, "server shutting down; reconnect"))
                }
                Err(_) => break Some(close_frame(4000, "session closed by server (replaced or too slow)")),
            },
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => break frame_error_close(e),
                    None => break None,
                };
                last_seen = Instant::now();
                // Every frame counts, pongs included: a flood of pongs costs as much as any other.
                if !state.address_limits.messages.take(addr) {
                    state.metrics.limit_hit("ws-address-messages");
                    break Some(close_frame(1008, "flooding: too many messages from your address"));
                }
                match limiter.check(Instant::now()) {
                    Verdict::Allow => {}
                    Verdict::Drop { warn } => {
                        state.metrics.limit_hit("ws-messages");
                        if warn {
                            hub.reply(&session, &ServerMessage::error(
                                ErrorCode::RateLimited,
                                "too many messages; slow down (messages are being dropped)",
                            ));
                        }
                        continue;
                    }
                    Verdict::Close => break Some(close_frame(1008, "flooding: too many messages")),
                }
                match frame {
                    Message::Text(text) => conn.handle_text(text.as_str()).await,
                    Message::Binary(_) => hub.reply(&session, &ServerMessage::error(
                        ErrorCode::Unsupported,
                        "binary frames are not part of the signaling protocol",
                    )),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > cfg.heartbeat_timeout {
                    tracing::debug!(peer = %session.peer_id, "heartbeat timeout");
                    break Some(close_frame(4001, "heartbeat timeout"));
                }
                match tokio::time::timeout(cfg.send_timeout, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        state.metrics.send_timeouts.inc();
                        break None;
                    }
                }
            }
        }
    };
    hub.disconnect(&session).await;
    drop(batch);
    if let Some(frame) = close {
        if frame.code == 1008 {
            // Reconnecting does not refill a flooder's budget: its address waits.
            state.address_limits.flooders.impose(addr);
        }
        // Best effort, bounded: a dead peer must not hold the task. After our Close, keep reading
        // until the client's Close: closing a socket with unread input makes the kernel send a
        // reset, and the client would never see why it was disconnected.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            sink.send(Message::Close(Some(frame))).await?;
            let mut frames = 0;
            while let Some(msg) = stream.next().await {
                frames += 1;
                if matches!(msg, Ok(Message::Close(_))) || frames > 1024 {
                    break;
                }
            }
            Ok::<_, axum::Error>(())
        })
        .await;
    }
    tracing::debug!(peer = %session.peer_id, "signaling disconnected");
}

/// Most messages a connection writes before flushing.
const WRITE_BATCH: usize = 64;

/// The close a broken frame earns, as docs/protocol.md promises: 1009 for a frame over the hard
/// limit, 1007 for text that is not UTF-8, 1002 for other framing errors.
fn frame_error_close(e: axum::Error) -> Option<CloseFrame> {
    use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
    let inner = e.into_inner();
    let ws = inner.downcast_ref::<WsError>()?;
    Some(match ws {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            close_frame(1009, "frame too large (limit 1 MiB)")
        }
        WsError::Capacity(_) => close_frame(1009, "frame too large"),
        WsError::Utf8(_) => close_frame(1007, "text frame is not valid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        WsError::Protocol(_) => close_frame(1002, "WebSocket protocol error"),
        _ => return None,
    })
}

/// One signaling connection's view of the server, for handling its messages.
struct Conn<'a> {
    state: &'a AppState,
    hub: HubRef<'a>,
    session: &'a Session,
    addr: IpAddr,
}

impl Conn<'_> {
    async fn handle_text(&self, text: &str) {
        let hub = &self.hub;
        let session = self.session;
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                hub.reply(session, &ServerMessage::error(e.code(), e.to_string()));
                return;
            }
        };
        let result = match msg {
            ClientMessage::CreateRoom => {
                match self.budget(&self.state.address_limits.room_creates, "room-creates") {
                    Ok(()) => hub.create_room(session).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            ClientMessage::JoinRoom { code } => {
                match self.budget(&self.state.address_limits.room_joins, "room-joins") {
                    Ok(()) => hub.join_room(session, &code).await,
                    Err(e) => Err(e),
                }
            }
            ClientMessage::JoinPaired { rooms } => {
                match self.budget(&self.state.address_limits.room_joins, "room-joins") {
                    Ok(()) if rooms.is_empty() || rooms.len() > MAX_PAIRED_ROOMS_PER_PEER => {
                        Err(HubError::new(
                            ErrorCode::InvalidValue,
                            format!("join-paired names 1 to {MAX_PAIRED_ROOMS_PER_PEER} rooms"),
                        ))
                    }
                    Ok(()) => hub.join_paired(session, &rooms).await,
                    Err(e) => Err(e),
                }
            }
            ClientMessage::LeaveRoom { room } => hub.leave_room(session, &room).await,
            ClientMessage::SetName { name } => hub.set_name(session, &name).await,
            ClientMessage::Signal { to, signal } => hub.forward(session, &to, signal).await,
            ClientMessage::RelayOpen { to } => self.open_relay(&to).await,
            ClientMessage::Ping => {
                hub.reply(session, &ServerMessage::Pong);
                Ok(())
            }
        };
        if let Err(err) = result {
            hub.reply(session, &err.into());
        }
    }

    /// Spends one unit of a per-address budget.
    fn budget(&self, budget: &Budget, kind: &'static str) -> Result<(), HubError> {
        if budget.take(self.addr) {
            return Ok(());
        }
        self.state.metrics.limit_hit(kind);
        Err(HubError::new(
            ErrorCode::RateLimited,
            "too many room requests from your network; wait a minute and try again",
        ))
    }

    /// Authorizes a relay session for the pair and tells both peers where to connect.
    async fn open_relay(&self, to: &str) -> Result<(), HubError> {
        let expires_in_ms = crate::relay_ws::RELAY_JOIN_TIMEOUT.as_millis() as u64;
        let authorize = |from: &str, to: &str| {
            self.state
                .relays
                .authorize(from, to)
                .map_err(|_| HubError::new(ErrorCode::Limit, "too many pending relay sessions"))
        };
        match self.hub {
            HubRef::Embedded(hub) => hub.open_relay(self.session, to, expires_in_ms, authorize),
            HubRef::Redis(hub) => {
                hub.open_relay(self.session, to, expires_in_ms, authorize)
                    .await
            }
        }
    }
}

/// The hub this server uses: the embedded one, or the one shared through Redis (`--redis`).
/// The embedded hub's operations complete at once; the shared one's await Redis.
#[derive(Clone, Copy)]
enum HubRef<'a> {
    Embedded(&'a Hub),
    Redis(&'a RedisHub),
}

impl<'a> HubRef<'a> {
    fn of(state: &'a AppState) -> Self {
        match &state.cluster {
            Some(c) => HubRef::Redis(c),
            None => HubRef::Embedded(&state.hub),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn connect_with(
        self,
        peer_id: String,
        client: String,
        device: String,
        lan_key: String,
        token: String,
        ice_servers: Vec<ferry_protocol::signaling::IceServer>,
        quiet_for: Option<Duration>,
    ) -> Result<(Session, std::sync::Arc<crate::outbox::Outbox>), HubError> {
        match self {
            HubRef::Embedded(h) => Ok(h.connect_with(
                peer_id,
                client,
                device,
                lan_key,
                token,
                ice_servers,
                quiet_for,
            )),
            HubRef::Redis(h) => {
                h.connect_with(
                    peer_id,
                    client,
                    device,
                    lan_key,
                    token,
                    ice_servers,
                    quiet_for,
                )
                .await
            }
        }
    }

    fn reply(self, session: &Session, msg: &ServerMessage) {
        match self {
            HubRef::Embedded(h) => h.reply(session, msg),
            HubRef::Redis(h) => h.reply(session, msg),
        }
    }

    async fn disconnect(self, session: &Session) {
        match self {
            HubRef::Embedded(h) => h.disconnect(session),
            HubRef::Redis(h) => h.disconnect(session).await,
        }
    }

    async fn create_room(self, session: &Session) -> Result<String, HubError> {
        match self {
            HubRef::Embedded(h) => h.create_room(session),
            HubRef::Redis(h) => h.create_room(session).await,
        }
    }

    async fn join_room(self, session: &Session, code: &str) -> Result<(), HubError> {
        match self {
            HubRef::Embedded(h) => h.join_room(session, code),
            HubRef::Redis(h) => h.join_room(session, code).await,
        }
    }

    async fn join_paired(self, session: &Session, rooms: &[String]) -> Result<(), HubError> {
        match self {
            HubRef::Embedded(h) => h.join_paired(session, rooms),
            HubRef::Redis(h) => h.join_paired(session, rooms).await,
        }
    }

    async fn leave_room(self, session: &Session, code: &str) -> Result<(), HubError> {
        match self {
            HubRef::Embedded(h) => h.leave_room(session, code),
            HubRef::Redis(h) => h.leave_room(session, code).await,
        }
    }

    async fn set_name(self, session: &Session, name: &str) -> Result<(), HubError> {
        match self {
            HubRef::Embedded(h) => h.set_name(session, name),
            HubRef::Redis(h) => h.set_name(session, name).await,
        }
    }

    async fn forward(self, session: &Session, to: &str, signal: Signal) -> Result<(), HubError> {
        match self {
            HubRef::Embedded(h) => h.forward(session, to, signal),
            HubRef::Redis(h) => h.forward(session, to, signal).await,
        }
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// Only the kinds the web app draws an icon for; anything else is "not said".
fn sanitize_device(device: Option<&str>) -> String {
    match device {
        Some(d @ ("phone" | "tablet" | "desktop")) => d.to_string(),
        _ => String::new(),
    }
}

fn sanitize_client(client: Option<&str>) -> String {
    let c: String = client
        .unwrap_or("unknown")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(16)
        .collect();
    if c.is_empty() { "unknown".into() } else { c }
}

enum Verdict {
    Allow,
    Drop { warn: bool },
    Close,
}

/// Token bucket per connection. Dropped messages are answered with at most one warning per
/// second. A client that keeps flooding is closed once its drops outrun a second bucket, of
/// `5 × burst` drops refilled at `rate`: a client at twice the rate is only slowed down, one at
/// ten times the rate is closed within about a second and a half — however fast this machine
/// delivers its frames. (Counting drops *in a row* instead let any flooder slower than
/// `5 × burst` frames per token interval, 25,000/s with the defaults, flood forever: a loaded
/// machine delivering a flood at a few thousand frames per second never tripped it.)
struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Drops left before the connection is closed; refilled at `rate`, at most `5 × burst`.
    drop_budget: f64,
    last_warning: Option<Instant>,
}

impl RateLimiter {
    fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: rate as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: Instant::now(),
            drop_budget: burst as f64 * 5.0,
            last_warning: None,
        }
    }

    fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.drop_budget = (self.drop_budget + elapsed * self.rate).min(self.burst * 5.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        self.drop_budget -= 1.0;
        if self.drop_budget < 0.0 {
            return Verdict::Close;
        }
        let warn = self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if warn {
            self.last_warning = Some(now);
        }
        Verdict::Drop { warn }
    }
}

const _: () = assert!(MAX_SIGNAL_MESSAGE_BYTES < HARD_FRAME_LIMIT);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_burst_then_drops_then_closes() {
        let mut l = RateLimiter::new(10, 5);
        let t = Instant::now();
        for _ in 0..5 {
            assert!(matches!(l.check(t), Verdict::Allow));
        }
        assert!(matches!(l.check(t), Verdict::Drop { warn: true }));
        assert!(matches!(l.check(t), Verdict::Drop { warn: false }));
        let mut closed = false;
        for _ in 0..30 {
            if matches!(l.check(t), Verdict::Close) {
                closed = true;
            }
        }
        assert!(closed);
        assert!(matches!(
            l.check(t + Duration::from_secs(1)),
            Verdict::Allow
        ));
    }

    /// A flood spread out in time, with a token earned between every few frames (a loaded
    /// machine delivering it), is still closed; twice the rate is only slowed down.
    #[test]
    fn a_slow_flood_is_closed_and_a_mild_excess_is_not() {
        let count = |rate_per_s: f64, frames: u32| {
            let mut l = RateLimiter::new(50, 100);
            let t0 = Instant::now();
            let (mut allowed, mut closed_at) = (0, None);
            for i in 0..frames {
                let now = t0 + Duration::from_secs_f64(f64::from(i) / rate_per_s);
                match l.check(now) {
                    Verdict::Allow => allowed += 1,
                    Verdict::Drop { .. } => {}
                    Verdict::Close => {
                        closed_at = Some(i);
                        break;
                    }
                }
            }
            (allowed, closed_at)
        };
        // 1,000 frames/s: 20 drops between tokens, never 500 in a row, yet 20× the rate.
        let (_, closed) = count(1000.0, 2000);
        assert!(closed.is_some_and(|i| i < 1000), "{closed:?}");
        // 100 frames/s for a minute: twice the rate, dropped but not closed.
        let (allowed, closed) = count(100.0, 6000);
        assert_eq!(closed, None);
        assert!(allowed > 2900, "{allowed}");
    }

    #[test]
    fn client_names() {
        assert_eq!(sanitize_client(Some("cli")), "cli");
        assert_eq!(sanitize_client(Some("<script>")), "script");
        assert_eq!(sanitize_client(Some("")), "unknown");
        assert_eq!(sanitize_client(None), "unknown");
        assert_eq!(sanitize_device(Some("phone")), "phone");
        assert_eq!(sanitize_device(Some("tablet")), "tablet");
        assert_eq!(sanitize_device(Some("desktop")), "desktop");
        assert_eq!(sanitize_device(Some("<script>")), "");
        assert_eq!(sanitize_device(Some("Phone")), "");
        assert_eq!(sanitize_device(None), "");
    }
}
