//! A paired relay WebSocket as a [`MessagePipe`]: one writer task seals and sends in order, one
//! reader task opens into a bounded queue (backpressure as described in [`super`]).

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use ferry_protocol::relay_crypto::{RELAY_OVERHEAD, RelayPayload, RelaySession};
use ferry_protocol::transfer::MAX_FRAME_BYTES;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::MAX_INCOMING_FRAME;
use super::link::Ws;
use crate::pipe::{Message, MessagePipe, PipeError};

/// Messages queued for the writer task (each up to a 256 KiB frame).
const SEND_QUEUE: usize = 16;
/// Messages opened but not yet taken by the engine driver.
const RECEIVE_QUEUE: usize = 16;
/// Close code sent when a frame fails to decrypt (application range, like the server's 44xx).
const CLOSE_DECRYPT: u16 = 4400;

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
