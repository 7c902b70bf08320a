//! A webrtc-rs DataChannel as a [`MessagePipe`].
//!
//! Backpressure: the peer connection is built with a per-channel send-buffer limit
//! (`with_data_channel_send_buffer_limit`), so `writable()` waits until the bytes SCTP has not
//! yet had acknowledged drop below it, like a browser sender waiting on `bufferedamountlow`.
//! Receiving: one task polls the channel and forwards into a bounded queue; when the consumer
//! (the disk) is slow the task stops polling, webrtc-rs stops delivering, and SCTP's receive
//! window closes — the sender slows down instead of anyone buffering without bound.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::{Mutex, mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::pipe::{Message, MessagePipe, PipeError};

/// Messages received but not yet taken by the engine driver.
const RECEIVE_QUEUE: usize = 64;

pub struct DataChannelPipe {
    dc: Arc<dyn DataChannel>,
    rx: Mutex<mpsc::Receiver<Message>>,
    open: watch::Receiver<ChannelState>,
    state_tx: Arc<watch::Sender<ChannelState>>,
    max_message_size: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Connecting,
    Open,
    Closed,
}

impl DataChannelPipe {
    /// Wraps `dc` and starts forwarding its events. Call right after creating the channel.
    pub fn new(dc: Arc<dyn DataChannel>) -> Self {
        let (tx, rx) = mpsc::channel(RECEIVE_QUEUE);
        let (state_tx, state_rx) = watch::channel(ChannelState::Connecting);
        let state_tx = Arc::new(state_tx);
        let pipe_state = state_tx.clone();
        let poll_dc = dc.clone();
        tokio::spawn(async move {
            while let Some(event) = poll_dc.poll().await {
                match event {
                    DataChannelEvent::OnOpen => {
                        let _ = state_tx.send(ChannelState::Open);
                    }
                    DataChannelEvent::OnMessage(m) => {
                        let msg = if m.is_string {
                            match String::from_utf8(Vec::from(m.data)) {
                                Ok(s) => Message::Text(s),
                                // Not valid UTF-8: hand it on as text the engine will refuse.
                                Err(_) => Message::Text(String::from("\u{fffd}")),
                            }
                        } else {
                            Message::Binary(Vec::from(m.data))
                        };
                        if tx.send(msg).await.is_err() {
                            break;
                        }
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
            let _ = state_tx.send(ChannelState::Closed);
        });
        DataChannelPipe {
            dc,
            rx: Mutex::new(rx),
            open: state_rx,
            state_tx: pipe_state,
            max_message_size: std::sync::atomic::AtomicUsize::new(
                ferry_protocol::transfer::MAX_FRAME_BYTES,
            ),
        }
    }

    /// Waits until the channel is open; `false` if it closed first.
    pub async fn opened(&self) -> bool {
        let mut state = self.open.clone();
        match state.wait_for(|s| *s != ChannelState::Connecting).await {
            Ok(s) => *s == ChannelState::Open,
            Err(_) => false,
        }
    }

    /// The connection under the channel is gone (ICE failed: the peer vanished without closing).
    /// Ends `recv` (after what is already queued) and fails `writable` / `send`.
    pub fn mark_lost(&self) {
        let _ = self.state_tx.send(ChannelState::Closed);
    }

    /// A handle that marks this pipe lost, for a task watching the peer connection.
    pub(crate) fn state_handle(&self) -> Arc<watch::Sender<ChannelState>> {
        self.state_tx.clone()
    }

    pub fn set_max_message_size(&self, n: usize) {
        self.max_message_size
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn closed(&self) -> bool {
        *self.open.borrow() == ChannelState::Closed
    }
}

impl MessagePipe for DataChannelPipe {
    async fn send(&self, msg: Message) -> Result<(), PipeError> {
        if self.closed() {
            return Err(PipeError::Closed);
        }
        let r = match msg {
            Message::Text(t) => self.dc.send_text(&t).await,
            Message::Binary(b) => {
                if b.len() > self.max_message_size() {
                    return Err(PipeError::TooLarge(b.len()));
                }
                // Zero-copy: a uniquely owned Vec becomes the BytesMut without copying.
                self.dc.send(BytesMut::from(bytes::Bytes::from(b))).await
            }
        };
        r.map_err(map_err)
    }

    async fn writable(&self) -> Result<(), PipeError> {
        if self.closed() {
            return Err(PipeError::Closed);
        }
        let mut state = self.open.clone();
        tokio::select! {
            w = self.dc.writable() => w.map_err(map_err),
            _ = state.wait_for(|s| *s == ChannelState::Closed) => Err(PipeError::Closed),
        }
    }

    async fn recv(&self) -> Option<Message> {
        let mut rx = self.rx.lock().await;
        let mut state = self.open.clone();
        tokio::select! {
            // Queued messages first: a `done` right before the close must not be lost.
            biased;
            m = rx.recv() => m,
            _ = state.wait_for(|s| *s == ChannelState::Closed) => rx.try_recv().ok(),
        }
    }

    fn max_message_size(&self) -> usize {
        self.max_message_size
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn close(&self) {
        // Let what is queued drain first: closing drops unsent data.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline && !self.closed() {
            match self.dc.outstanding_bytes().await {
                Ok(0) | Err(_) => break,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        let _ = self.dc.close().await;
    }
}

fn map_err(e: webrtc::error::Error) -> PipeError {
    match e {
        webrtc::error::Error::ErrDataChannelClosed => PipeError::Closed,
        other => PipeError::Transport(other.to_string()),
    }
}
