//! The WebSocket relay as a [`MessagePipe`]: the path of last resort when no ICE path works
//! (`docs/protocol.md` §4). The server forwards frames between the two peers; every message is
//! sealed end to end with [`ferry_protocol::relay_crypto`] so the server sees only ciphertext
//! (`docs/security.md`).
//!
//! Setting up ([`open_relay`]): ask the hub for a session (`relay-open` → `relay-ready`, unless
//! the peer asked first), swap ephemeral public keys as `relay-key` app signals, connect
//! `/relay/<id>?token=…`, wait for `{"type":"paired"}`.
//!
//! Backpressure: outgoing messages go through a bounded queue to one writer task that seals them
//! in order and awaits each WebSocket write, so a slow relay or peer (TCP) holds back `send`.
//! Incoming frames are opened by one reader task into a bounded queue; when the consumer is slow
//! the reader stops reading and TCP pushes back through the relay to the sender.

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use ferry_protocol::relay_crypto::{RELAY_OVERHEAD, RelayKeyPair, RelayPayload, RelaySession};
use ferry_protocol::signaling::{ClientMessage, ServerMessage, Signal};
use ferry_protocol::transfer::MAX_FRAME_BYTES;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::pipe::{Message, MessagePipe, PipeError};
use crate::signaling::{SignalingClient, SignalingError};

/// Messages queued for the writer task (each up to a 256 KiB frame).
const SEND_QUEUE: usize = 16;
/// Messages opened but not yet taken by the engine driver.
const RECEIVE_QUEUE: usize = 16;
/// Largest frame accepted from the relay: the server's own limit.
const MAX_INCOMING_FRAME: usize = 512 * 1024;
/// Longest `publicKey` accepted in a `relay-key` signal (a raw P-256 point is 87 characters).
const MAX_PUBLIC_KEY_CHARS: usize = 200;
/// Close code sent when a frame fails to decrypt (application range, like the server's 44xx).
const CLOSE_DECRYPT: u16 = 4400;

/// How the path is shown to users.
pub const RELAY_PATH_LABEL: &str = "relay (WebSocket, end-to-end encrypted)";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("the server refused the relay: {0}")]
    Server(String),
    #[error("the server refused the relay connection (HTTP {0}): {1}")]
    Refused(u16, String),
    #[error("cannot connect to the relay at {0}: {1}")]
    Connect(String, String),
    #[error("the peer left before the relay was set up")]
    PeerLeft,
    #[error("the peer sent an unusable relay key: {0}")]
    BadKey(String),
    #[error("relay setup timed out after {0:?} while {1}")]
    Timeout(Duration, &'static str),
    #[error("the relay closed before pairing: {0}")]
    Closed(String),
}

/// A relay session the hub has authorized (from `relay-ready`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInvite {
    pub relay_id: String,
}

impl RelayInvite {
    /// The invite in `msg` if it is a `relay-ready` for a session with `peer_id`.
    pub fn from_message(msg: &ServerMessage, peer_id: &str) -> Option<Self> {
        match msg {
            ServerMessage::RelayReady {
                relay_id,
                peer_id: p,
                ..
            } if p == peer_id => Some(RelayInvite {
                relay_id: relay_id.clone(),
            }),
            _ => None,
        }
    }
}

/// A paired, encrypted relay session with one peer.
pub struct RelayLink {
    pub pipe: RelayPipe,
    pub relay_id: String,
    /// "123 456": both peers see the same code unless the keys were substituted.
    pub security_code: String,
}

/// Sets up a relay session with `peer_id`. With `invite` (the peer asked first, and our ICE
/// attempt saw its `relay-ready`) the session is joined; without, it is requested.
/// `timeout` bounds the whole setup.
pub async fn open_relay(
    sig: &mut SignalingClient,
    peer_id: &str,
    invite: Option<RelayInvite>,
    timeout: Duration,
) -> Result<RelayLink, RelayError> {
    match tokio::time::timeout(timeout, open_relay_inner(sig, peer_id, invite)).await {
        Ok(r) => r,
        Err(_) => Err(RelayError::Timeout(timeout, "setting up the relay")),
    }
}

async fn open_relay_inner(
    sig: &mut SignalingClient,
    peer_id: &str,
    invite: Option<RelayInvite>,
) -> Result<RelayLink, RelayError> {
    // A peer's key may arrive while we still wait for `relay-ready`; keep it.
    let mut early_key: Option<(String, String)> = None;
    let invite = match invite {
        Some(i) => i,
        None => {
            sig.send(&ClientMessage::RelayOpen {
                to: peer_id.to_string(),
            })
            .await?;
            loop {
                let msg = sig.recv().await?;
                if let Some(i) = RelayInvite::from_message(&msg, peer_id) {
                    break i;
                }
                handle_other(&msg, peer_id, &mut early_key)?;
            }
        }
    };
    let keys = RelayKeyPair::generate();
    let key_signal = Signal::App {
        payload: serde_json::json!({
            "type": "relay-key",
            "relayId": invite.relay_id,
            "publicKey": keys.public_key(),
        }),
    };
    sig.send_signal(peer_id, key_signal.clone()).await?;

    let url = relay_url(&sig.http_base, &invite.relay_id, &sig.token);
    let mut ws = connect_ws(&url).await?;

    let peer_key = loop {
        if let Some((id, key)) = early_key.take()
            && id == invite.relay_id
        {
            break key;
        }
        let msg = sig.recv().await?;
        // The peer asking for the same session again means it missed our key (its ICE attempt
        // was still running and dropped it): send it again.
        if RelayInvite::from_message(&msg, peer_id).is_some_and(|i| i == invite) {
            sig.send_signal(peer_id, key_signal.clone()).await?;
            continue;
        }
        handle_other(&msg, peer_id, &mut early_key)?;
    };
    let session = keys
        .agree(&invite.relay_id, &sig.me.id, peer_id, &peer_key)
        .map_err(|e| RelayError::BadKey(e.to_string()))?;

    wait_paired(&mut ws).await?;
    let security_code = session.security_code().to_string();
    Ok(RelayLink {
        pipe: RelayPipe::start(ws, session),
        relay_id: invite.relay_id,
        security_code,
    })
}

/// Signaling traffic while setting up: the peer's key is kept, a departure or a refusal ends the
/// setup, the rest (late ICE signals of an abandoned attempt, presence) is ignored.
fn handle_other(
    msg: &ServerMessage,
    peer_id: &str,
    key: &mut Option<(String, String)>,
) -> Result<(), RelayError> {
    match msg {
        ServerMessage::Signal {
            from,
            signal: Signal::App { payload },
        } if from == peer_id => {
            if payload.get("type").and_then(|t| t.as_str()) == Some("relay-key") {
                let field = |k: &str| payload.get(k).and_then(|v| v.as_str());
                match (field("relayId"), field("publicKey")) {
                    (Some(id), Some(pk)) if pk.len() <= MAX_PUBLIC_KEY_CHARS => {
                        *key = Some((id.to_string(), pk.to_string()));
                    }
                    _ => return Err(RelayError::BadKey("malformed relay-key signal".into())),
                }
            }
            Ok(())
        }
        ServerMessage::PeerLeft { peer_id: p, .. } if p == peer_id => Err(RelayError::PeerLeft),
        ServerMessage::Error { message, .. } => Err(RelayError::Server(message.clone())),
        _ => Ok(()),
    }
}

/// `http(s)://host[/base]` → `ws(s)://host[/base]/relay/<id>?token=…`.
pub fn relay_url(http_base: &str, relay_id: &str, token: &str) -> String {
    let ws_base = if let Some(rest) = http_base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_base.to_string()
    };
    format!(
        "{}/relay/{}?token={}",
        ws_base.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(relay_id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect_ws(url: &str) -> Result<Ws, RelayError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_INCOMING_FRAME))
        .max_frame_size(Some(MAX_INCOMING_FRAME));
    let shown = url.split('?').next().unwrap_or(url).to_string();
    match tokio_tungstenite::connect_async_with_config(url, Some(config), true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            Err(RelayError::Refused(resp.status().as_u16(), body))
        }
        Err(e) => Err(RelayError::Connect(
            shown,
            crate::signaling::explain_connect_error(&e),
        )),
    }
}

async fn wait_paired(ws: &mut Ws) -> Result<(), RelayError> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                if v.get("type").and_then(|t| t.as_str()) == Some("paired") {
                    return Ok(());
                }
                return Err(RelayError::Closed(format!("unexpected message {t:?}")));
            }
            Some(Ok(WsMessage::Close(f))) => {
                return Err(RelayError::Closed(
                    f.map(|f| f.reason.to_string())
                        .unwrap_or_else(|| "closed without a reason".into()),
                ));
            }
            Some(Ok(WsMessage::Binary(_))) => {
                return Err(RelayError::Closed("data before pairing".into()));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(RelayError::Closed(e.to_string())),
            None => return Err(RelayError::Closed("connection ended".into())),
        }
    }
}

/// What the reader and writer tasks share.
struct Shared {
    crypto: SyncMutex<RelaySession>,
    /// Why the pipe ended, once it has.
    reason: SyncMutex<Option<String>>,
    /// `Some(close frame)` tells the writer to stop (and what to send).
    stop: watch::Sender<Option<(u16, String)>>,
}

impl Shared {
    fn end(&self, reason: String, close: Option<(u16, String)>) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        drop(r);
        let close = close.unwrap_or((1000, String::new()));
        self.stop.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(close);
                true
            } else {
                false
            }
        });
    }

    fn ended(&self) -> bool {
        self.stop.borrow().is_some()
    }
}

/// The relay WebSocket as a message pipe; everything on it is sealed end to end.
pub struct RelayPipe {
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    rx: Mutex<mpsc::Receiver<Message>>,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RelayPipe {
    /// Runs the pipe over a paired relay WebSocket with the agreed session.
    pub fn start(ws: Ws, session: RelaySession) -> Self {
        let (sink, stream) = ws.split();
        let (stop_tx, stop_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            crypto: SyncMutex::new(session),
            reason: SyncMutex::new(None),
            stop: stop_tx,
        });
        let (out_tx, out_rx) = mpsc::channel(SEND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(RECEIVE_QUEUE);
        let writer = tokio::spawn(write_loop(sink, out_rx, shared.clone(), stop_rx));
        tokio::spawn(read_loop(stream, in_tx, shared.clone()));
        RelayPipe {
            tx: Mutex::new(Some(out_tx)),
            rx: Mutex::new(in_rx),
            shared,
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Why the pipe ended (the peer left, a frame failed to decrypt, …), once it has.
    pub fn close_reason(&self) -> Option<String> {
        self.shared
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn sender(&self) -> Result<mpsc::Sender<Message>, PipeError> {
        if self.shared.ended() {
            return Err(self.ended_error());
        }
        self.tx.lock().await.clone().ok_or(PipeError::Closed)
    }

    fn ended_error(&self) -> PipeError {
        match self.close_reason() {
            Some(r) => PipeError::Transport(r),
            None => PipeError::Closed,
        }
    }
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<Ws, WsMessage>,
    mut out: mpsc::Receiver<Message>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<Option<(u16, String)>>,
) {
    let close_with = loop {
        let msg = tokio::select! {
            m = out.recv() => m,
            s = stopped(&mut stop) => break s,
        };
        let Some(msg) = msg else {
            // Our side closed the pipe: everything queued has been written.
            break Some((1000, "closed".to_string()));
        };
        let payload = match msg {
            Message::Text(t) => RelayPayload::Text(t),
            Message::Binary(b) => RelayPayload::Binary(b),
        };
        let frame = shared
            .crypto
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seal(&payload);
        drop(payload);
        let sent = tokio::select! {
            r = sink.send(WsMessage::Binary(frame.into())) => r,
            s = stopped(&mut stop) => break s,
        };
        if let Err(e) = sent {
            shared.end(format!("the relay connection failed: {e}"), None);
            break None;
        }
    };
    if let Some((code, reason)) = close_with {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            sink.send(WsMessage::Close(Some(frame))),
        )
        .await;
    }
}

/// The close frame to send once the pipe is told to stop.
async fn stopped(stop: &mut watch::Receiver<Option<(u16, String)>>) -> Option<(u16, String)> {
    match stop.wait_for(|s| s.is_some()).await {
        Ok(s) => s.clone(),
        Err(_) => None,
    }
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<Ws>,
    inbox: mpsc::Sender<Message>,
    shared: Arc<Shared>,
) {
    let reason = loop {
        let frame = match stream.next().await {
            Some(Ok(f)) => f,
            Some(Err(e)) => break (format!("the relay connection failed: {e}"), None),
            None => break ("the relay connection ended".to_string(), None),
        };
        match frame {
            WsMessage::Binary(b) => {
                let opened = shared
                    .crypto
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .open(&b);
                let msg = match opened {
                    Ok(RelayPayload::Text(t)) => Message::Text(t),
                    Ok(RelayPayload::Binary(b)) => Message::Binary(b),
                    Err(e) => {
                        let why = format!("{e}; the relay session was closed");
                        tracing::warn!("{why}");
                        break (why, Some((CLOSE_DECRYPT, "decryption failed".to_string())));
                    }
                };
                if inbox.send(msg).await.is_err() {
                    break ("the pipe was dropped".to_string(), None);
                }
            }
            WsMessage::Text(_) => {
                break (
                    "the relay sent an unencrypted text frame; the session was closed".to_string(),
                    Some((CLOSE_DECRYPT, "unexpected text frame".to_string())),
                );
            }
            WsMessage::Close(f) => {
                let why = f
                    .map(|f| f.reason.to_string())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "the relay closed the connection".to_string());
                break (why, None);
            }
            _ => continue, // pings are answered by tungstenite
        }
    };
    shared.end(reason.0, reason.1);
}

impl MessagePipe for RelayPipe {
    async fn send(&self, msg: Message) -> Result<(), PipeError> {
        if let Message::Binary(b) = &msg
            && b.len() > self.max_message_size()
        {
            return Err(PipeError::TooLarge(b.len()));
        }
        let tx = self.sender().await?;
        tx.send(msg).await.map_err(|_| self.ended_error())
    }

    async fn writable(&self) -> Result<(), PipeError> {
        let tx = self.sender().await?;
        tx.reserve().await.map(drop).map_err(|_| self.ended_error())
    }

    async fn recv(&self) -> Option<Message> {
        self.rx.lock().await.recv().await
    }

    fn max_message_size(&self) -> usize {
        // Sealed, a full transfer frame still fits the relay's 512 KiB frame limit.
        MAX_FRAME_BYTES.min(MAX_INCOMING_FRAME - RELAY_OVERHEAD)
    }

    async fn close(&self) {
        // Dropping the sender lets the writer drain the queue, then send the close frame.
        self.tx.lock().await.take();
        if let Some(writer) = self.writer.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
        self.shared.end("closed".to_string(), None);
    }
}

impl Drop for RelayPipe {
    fn drop(&mut self) {
        self.shared.end("closed".to_string(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::relay_url;

    #[test]
    fn urls() {
        assert_eq!(
            relay_url("http://127.0.0.1:8080", "ab12", "p.q"),
            "ws://127.0.0.1:8080/relay/ab12?token=p.q"
        );
        assert_eq!(
            relay_url("https://ferry.example/base", "ab", "t+/"),
            "wss://ferry.example/base/relay/ab?token=t%2B%2F"
        );
    }
}
