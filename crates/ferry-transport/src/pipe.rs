//! The message pipe: what the transfer engine runs over. Ordered, reliable, text and binary
//! messages, with backpressure. A WebRTC DataChannel is one ([`crate::datachannel`]), the
//! WebSocket relay another ([`crate::relay::RelayPipe`]); [`memory_pipe`] is the in-process one.

use std::future::Future;

use tokio::sync::{Mutex, mpsc};

/// One message on a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipeError {
    #[error("the connection to the peer is closed")]
    Closed,
    #[error("message of {0} bytes is larger than the pipe carries")]
    TooLarge(usize),
    #[error("transport error: {0}")]
    Transport(String),
}

/// An ordered, reliable message pipe with backpressure.
///
/// `recv` and `writable` are cancel-safe (they can lose a race in `select!` without losing a
/// message); `send` is not and should be awaited to completion.
pub trait MessagePipe: Send + Sync + 'static {
    /// Waits until the pipe has room (below its high-water mark), then queues `msg`.
    fn send(&self, msg: Message) -> impl Future<Output = Result<(), PipeError>> + Send;
    /// Resolves once the pipe has room for more.
    fn writable(&self) -> impl Future<Output = Result<(), PipeError>> + Send;
    /// The next message from the peer; `None` once the pipe is closed.
    fn recv(&self) -> impl Future<Output = Option<Message>> + Send;
    /// Largest message (header included) the peer accepts.
    fn max_message_size(&self) -> usize;
    /// Waits until everything queued has left (or the pipe closed), then closes.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// An in-process pipe: two ends joined by bounded channels, so a slow reader holds back the
/// writer like a real transport does.
pub struct MemoryPipe {
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    rx: Mutex<mpsc::Receiver<Message>>,
    max: usize,
}

/// Two connected ends; `capacity` messages may be in flight each way.
pub fn memory_pipe(capacity: usize, max_message_size: usize) -> (MemoryPipe, MemoryPipe) {
    let (a_tx, b_rx) = mpsc::channel(capacity);
    let (b_tx, a_rx) = mpsc::channel(capacity);
    let end = |tx, rx| MemoryPipe {
        tx: Mutex::new(Some(tx)),
        rx: Mutex::new(rx),
        max: max_message_size,
    };
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

impl MessagePipe for MemoryPipe {
    async fn send(&self, msg: Message) -> Result<(), PipeError> {
        if let Message::Binary(b) = &msg
            && b.len() > self.max
        {
            return Err(PipeError::TooLarge(b.len()));
        }
        let tx = self.tx.lock().await.clone().ok_or(PipeError::Closed)?;
        tx.send(msg).await.map_err(|_| PipeError::Closed)
    }

    async fn writable(&self) -> Result<(), PipeError> {
        let tx = self.tx.lock().await.clone().ok_or(PipeError::Closed)?;
        // Reserve-and-release: resolves when a slot is free.
        tx.reserve().await.map(drop).map_err(|_| PipeError::Closed)
    }

    async fn recv(&self) -> Option<Message> {
        self.rx.lock().await.recv().await
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    async fn close(&self) {
        self.tx.lock().await.take();
    }
}
