//! `/ws`: one task per signaling connection. It parses each client frame once, at the edge, into a
//! [`ClientMessage`], applies it to the hub, and writes whatever the hub queues for this peer.
//!
//! The loop's rule: every iteration either handles one client frame, writes one queued message,
//! or sends a heartbeat; nothing in it awaits another peer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ferry_protocol::signaling::{
    ClientMessage, ErrorCode, MAX_SIGNAL_MESSAGE_BYTES, ServerMessage,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::AppState;
use crate::hub::{HubError, Session};
use crate::lan_room::{client_addr, lan_room_key};
use crate::token::new_peer_id;

/// Frames above this size are refused by the WebSocket layer itself (connection closed with 1009);
/// between [`MAX_SIGNAL_MESSAGE_BYTES`] and this, the client gets a `too-large` error and stays.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;

#[derive(Deserialize)]
pub struct ConnectParams {
    token: Option<String>,
    client: Option<String>,
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
    // The name the client reached us by is the name it can reach our STUN/TURN port by.
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Signaling messages are small; tungstenite's 128 KiB default buffers would cost ~256 KiB
    // per idle peer. The buffers still grow on demand for larger frames.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .on_upgrade(move |socket| run(socket, state, addr, params, host))
}

async fn run(
    socket: WebSocket,
    state: AppState,
    addr: std::net::IpAddr,
    params: ConnectParams,
    host: Option<String>,
) {
    let peer_id = params
        .token
        .as_deref()
        .and_then(|t| state.tokens.verify(t))
        .unwrap_or_else(new_peer_id);
    let client = sanitize_client(params.client.as_deref());
    let token = state.tokens.issue(&peer_id);
    let ice_servers = state.ice_servers_for_host(&peer_id, host.as_deref());
    let (session, mut outbox) =
        state
            .hub
            .connect(peer_id, client, lan_room_key(addr), token, ice_servers);
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

    let close: Option<CloseFrame> = loop {
        tokio::select! {
            queued = outbox.recv() => match queued {
                Some(text) => {
                    if sink.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break None;
                    }
                }
                // The hub dropped us: replaced by a newer connection, or too slow.
                None => break Some(close_frame(4000, "session closed by server (replaced or too slow)")),
            },
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else {
                    break None;
                };
                last_seen = Instant::now();
                // Pongs answer our own heartbeat; they never count as client traffic.
                if matches!(frame, Message::Pong(_)) {
                    continue;
                }
                match limiter.check(Instant::now()) {
                    Verdict::Allow => {}
                    Verdict::Drop { warn } => {
                        if warn {
                            state.hub.reply(&session, &ServerMessage::error(
                                ErrorCode::RateLimited,
                                "too many messages; slow down (messages are being dropped)",
                            ));
                        }
                        continue;
                    }
                    Verdict::Close => break Some(close_frame(1008, "flooding: too many messages")),
                }
                match frame {
                    Message::Text(text) => handle_text(&state, &session, text.as_str()),
                    Message::Binary(_) => state.hub.reply(&session, &ServerMessage::error(
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
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
        }
    };
    state.hub.disconnect(&session);
    if let Some(frame) = close {
        // Best effort, bounded: a dead peer must not hold the task. After our Close, keep reading
        // until the client's Close: closing a socket with unread input makes the kernel send a
        // reset, and the client would never see why it was disconnected.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            sink.send(Message::Close(Some(frame))).await?;
            while let Some(Ok(msg)) = stream.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
            Ok::<_, axum::Error>(())
        })
        .await;
    }
    tracing::debug!(peer = %session.peer_id, "signaling disconnected");
}

fn handle_text(state: &AppState, session: &Session, text: &str) {
    let hub = &state.hub;
    let msg = match ClientMessage::parse(text) {
        Ok(m) => m,
        Err(e) => {
            hub.reply(session, &ServerMessage::error(e.code(), e.to_string()));
            return;
        }
    };
    let result = match msg {
        ClientMessage::CreateRoom => hub
            .create_room(session)
            .map(|room| hub.reply_room(session, room)),
        ClientMessage::JoinRoom { code } => hub
            .join_room(session, &code)
            .map(|room| hub.reply_room(session, room)),
        ClientMessage::LeaveRoom { room } => hub
            .leave_room(session, &room)
            .map(|room| hub.reply(session, &ServerMessage::RoomLeft { room })),
        ClientMessage::SetName { name } => hub.set_name(session, &name),
        ClientMessage::Signal { to, signal } => hub.forward(session, &to, signal),
        ClientMessage::RelayOpen { to } => open_relay(state, session, &to),
        ClientMessage::Ping => {
            hub.reply(session, &ServerMessage::Pong);
            Ok(())
        }
    };
    if let Err(err) = result {
        hub.reply(session, &err.into());
    }
}

/// Authorizes a relay session for the pair and tells both peers where to connect.
fn open_relay(state: &AppState, session: &Session, to: &str) -> Result<(), HubError> {
    state.hub.check_room_mate(session, to)?;
    let relay_id = state
        .relays
        .authorize(&session.peer_id, to)
        .map_err(|_| HubError::new(ErrorCode::Limit, "too many pending relay sessions"))?;
    let expires_in_ms = crate::relay_ws::RELAY_JOIN_TIMEOUT.as_millis() as u64;
    state.hub.reply(
        session,
        &ServerMessage::RelayReady {
            relay_id: relay_id.clone(),
            peer_id: to.to_string(),
            expires_in_ms,
        },
    );
    state.hub.notify(
        to,
        &ServerMessage::RelayReady {
            relay_id,
            peer_id: session.peer_id.clone(),
            expires_in_ms,
        },
    );
    Ok(())
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
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
/// second; a client that keeps flooding (more dropped than `close_after` in a row) is closed.
struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    dropped_streak: u32,
    last_warning: Option<Instant>,
}

impl RateLimiter {
    fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: rate as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: Instant::now(),
            dropped_streak: 0,
            last_warning: None,
        }
    }

    fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped_streak = 0;
            return Verdict::Allow;
        }
        self.dropped_streak += 1;
        if self.dropped_streak as f64 > self.burst * 5.0 {
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

    #[test]
    fn client_names() {
        assert_eq!(sanitize_client(Some("cli")), "cli");
        assert_eq!(sanitize_client(Some("<script>")), "script");
        assert_eq!(sanitize_client(Some("")), "unknown");
        assert_eq!(sanitize_client(None), "unknown");
    }
}
