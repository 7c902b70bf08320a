//! `/relay/<id>`: the WebSocket relay that carries the transfer protocol when no ICE path works.
//!
//! The hub authorizes a session for exactly two peers (`relay-open`); each connects here with its
//! peer token. Once both are in, every data frame of one is written to the other, one at a time:
//! a frame is read only after the previous one was flushed to the other side, so the relay holds
//! at most one frame per direction and a slow reader throttles the sender through TCP.
//! The relay never parses what it forwards; peers encrypt it end to end (docs/security.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::AppState;

/// How long an authorized session waits for both peers to connect.
pub const RELAY_JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame forwarded (a 256 KiB transfer frame plus encryption overhead, with margin).
pub const MAX_RELAY_FRAME: usize = 512 * 1024;
/// Sessions a peer may have authorized at once.
const MAX_PENDING_PER_PEER: usize = 8;

struct Slot {
    peers: [String; 2],
    created: Instant,
    connected: [bool; 2],
    waiting: Option<oneshot::Sender<WebSocket>>,
}

#[derive(Default)]
pub struct RelayRegistry {
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    TooMany,
}

impl RelayRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Authorizes a session for the pair, reusing a pending one. Returns its id.
    pub fn authorize(&self, a: &str, b: &str) -> Result<String, AuthorizeError> {
        let mut slots = self.lock();
        let now = Instant::now();
        slots.retain(|_, s| now.duration_since(s.created) < RELAY_JOIN_TIMEOUT);
        let same_pair =
            |s: &Slot| (s.peers[0] == a && s.peers[1] == b) || (s.peers[0] == b && s.peers[1] == a);
        if let Some((id, _)) = slots
            .iter()
            .find(|(_, s)| same_pair(s) && !s.connected.iter().all(|c| *c))
        {
            return Ok(id.clone());
        }
        let pending = slots
            .values()
            .filter(|s| s.peers.iter().any(|p| p == a))
            .count();
        if pending >= MAX_PENDING_PER_PEER {
            return Err(AuthorizeError::TooMany);
        }
        let id = hex::encode(rand::random::<[u8; 16]>());
        slots.insert(
            id.clone(),
            Slot {
                peers: [a.to_string(), b.to_string()],
                created: now,
                connected: [false, false],
                waiting: None,
            },
        );
        Ok(id)
    }

    /// Claims this peer's side of a session before the WebSocket upgrade.
    fn claim(&self, relay_id: &str, peer_id: &str) -> Result<(), (StatusCode, &'static str)> {
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
        let Some(side) = slot.peers.iter().position(|p| p == peer_id) else {
            return Err((
                StatusCode::FORBIDDEN,
                "[ERROR] this relay session belongs to other peers\n",
            ));
        };
        if slot.connected[side] {
            return Err((
                StatusCode::CONFLICT,
                "[ERROR] you are already connected to this relay session\n",
            ));
        }
        slot.connected[side] = true;
        Ok(())
    }

    /// Either parks `socket` until the other side arrives, or hands it to the waiting side.
    fn meet(&self, relay_id: &str, socket: WebSocket) -> Meeting {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(relay_id) else {
            return Meeting::Gone(socket);
        };
        match slot.waiting.take() {
            Some(tx) => {
                slots.remove(relay_id);
                match tx.send(socket) {
                    Ok(()) => Meeting::HandedOver,
                    Err(socket) => Meeting::Gone(socket),
                }
            }
            None => {
                let (tx, rx) = oneshot::channel();
                slot.waiting = Some(tx);
                Meeting::Wait(socket, rx)
            }
        }
    }

    fn forget(&self, relay_id: &str) {
        self.lock().remove(relay_id);
    }

    pub fn pending_count(&self) -> usize {
        self.lock().len()
    }
}

enum Meeting {
    Wait(WebSocket, oneshot::Receiver<WebSocket>),
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
    if let Err(e) = state.relays.claim(&relay_id, &peer_id) {
        return e.into_response();
    }
    ws.max_message_size(MAX_RELAY_FRAME)
        .max_frame_size(MAX_RELAY_FRAME)
        .on_upgrade(move |socket| run(socket, state, relay_id))
}

async fn run(socket: WebSocket, state: AppState, relay_id: String) {
    match state.relays.meet(&relay_id, socket) {
        Meeting::HandedOver => {}
        Meeting::Gone(socket) => close(socket, 4404, "relay session expired").await,
        Meeting::Wait(socket, rx) => {
            let other = tokio::time::timeout(RELAY_JOIN_TIMEOUT, rx).await;
            match other {
                Ok(Ok(other)) => pipe(socket, other).await,
                _ => {
                    state.relays.forget(&relay_id);
                    close(
                        socket,
                        4408,
                        "the other peer did not join the relay in time",
                    )
                    .await;
                }
            }
        }
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

/// Tells both sides they are paired, then forwards frames until either side leaves.
async fn pipe(a: WebSocket, b: WebSocket) {
    let (mut a_tx, mut a_rx) = a.split();
    let (mut b_tx, mut b_rx) = b.split();
    let paired = Message::Text(r#"{"type":"paired"}"#.into());
    if a_tx.send(paired.clone()).await.is_err() || b_tx.send(paired).await.is_err() {
        return;
    }
    let a_to_b = forward(&mut a_rx, &mut b_tx);
    let b_to_a = forward(&mut b_rx, &mut a_tx);
    let reason = tokio::select! {
        r = a_to_b => r,
        r = b_to_a => r,
    };
    let frame = || {
        Message::Close(Some(CloseFrame {
            code: 1000,
            reason: reason.into(),
        }))
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = a_tx.send(frame()).await;
        let _ = b_tx.send(frame()).await;
    })
    .await;
}

async fn forward(
    from: &mut futures_util::stream::SplitStream<WebSocket>,
    to: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> &'static str {
    while let Some(msg) = from.next().await {
        let msg = match msg {
            Ok(m) => m,
            Err(_) => return "the other peer's connection failed",
        };
        match msg {
            Message::Binary(_) | Message::Text(_) => {
                if to.send(msg).await.is_err() {
                    return "the other peer's connection failed";
                }
            }
            Message::Close(_) => return "the other peer left the relay",
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    "the other peer left the relay"
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
        assert!(r.claim(&id, "c").is_err());
        assert!(r.claim(&id, "a").is_ok());
        assert_eq!(r.claim(&id, "a").unwrap_err().0, StatusCode::CONFLICT);
        for i in 0..6 {
            r.authorize("a", &format!("p{i}")).unwrap();
        }
        assert_eq!(r.authorize("a", "zz"), Err(AuthorizeError::TooMany));
    }
}
