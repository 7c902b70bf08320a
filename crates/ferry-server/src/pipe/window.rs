//! The bounded window every relayed byte passes through.
//!
//! One rule: a writer may be at most [`WINDOW_CHUNKS`] chunks of at most [`MAX_CHUNK`] bytes
//! ahead of its reader; past that, `send` waits. Nothing is stored beyond the window, so memory
//! per pipe is flat whatever the transfer size, and a slow reader slows its writer down (for a
//! fan-out, the slowest reader paces everyone).
//!
//! The reader side is a `Stream` that can be handed to a response body as-is. A writer that goes
//! away without calling [`WindowTx::finish`] makes the reader's stream end with an error, so an
//! HTTP response is cut off (no terminating chunk, or short of its `Content-Length`) instead of
//! looking complete. The WebSocket relay uses the same pair for each direction.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

/// Largest chunk in the window; bigger frames are split (without copying) so that the window is
/// bounded in bytes and not only in count.
pub const MAX_CHUNK: usize = 64 * 1024;
/// Chunks a writer may have in flight per reader.
pub const WINDOW_CHUNKS: usize = 4;

enum Msg {
    Data(Bytes),
    /// The writer is done and everything before this was the whole stream.
    End,
}

/// How a reader's stream ended, as seen by the writer after [`WindowTx::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The reader took every byte and the end marker.
    Complete,
    /// The reader was dropped (its connection closed) before the end.
    Abandoned,
}

/// The reader went away; nothing more can be delivered to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderGone;

/// A new window: the writer half and the reader half.
pub fn window() -> (WindowTx, WindowRx) {
    let (tx, rx) = mpsc::channel(WINDOW_CHUNKS);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    (
        WindowTx {
            tx,
            outcome: outcome_rx,
        },
        WindowRx {
            rx,
            outcome: Some(outcome_tx),
            failed: false,
            delivered: 0,
            expected_len: None,
        },
    )
}

pub struct WindowTx {
    tx: mpsc::Sender<Msg>,
    outcome: oneshot::Receiver<Delivery>,
}

impl WindowTx {
    /// Queues `data`, waiting while the window is full.
    pub async fn send(&self, mut data: Bytes) -> Result<(), ReaderGone> {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_CHUNK));
            self.tx
                .send(Msg::Data(chunk))
                .await
                .map_err(|_| ReaderGone)?;
        }
        Ok(())
    }

    /// Marks the end of the stream and waits until the reader has taken all of it (or left).
    pub async fn finish(self) -> Delivery {
        // If the reader is already gone this fails, but the reader may still have reported
        // completion (a response with a length stops reading at that length).
        let _ = self.tx.send(Msg::End).await;
        drop(self.tx);
        self.outcome.await.unwrap_or(Delivery::Abandoned)
    }

    pub fn is_reader_gone(&self) -> bool {
        self.tx.is_closed()
    }
}

pub struct WindowRx {
    rx: mpsc::Receiver<Msg>,
    outcome: Option<oneshot::Sender<Delivery>>,
    failed: bool,
    delivered: u64,
    expected_len: Option<u64>,
}

impl WindowRx {
    /// Declares the stream's length. An HTTP response with a `Content-Length` is dropped as soon
    /// as that many bytes went out, without asking for the end marker; having delivered exactly
    /// this many bytes then counts as complete.
    pub fn with_expected_len(mut self, len: Option<u64>) -> Self {
        self.expected_len = len;
        self
    }

    fn report(&mut self, delivery: Delivery) {
        if let Some(tx) = self.outcome.take() {
            let _ = tx.send(delivery);
        }
    }
}

impl Stream for WindowRx {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed || self.outcome.is_none() {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Msg::Data(chunk))) => {
                self.delivered += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Msg::End)) => {
                self.report(Delivery::Complete);
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.failed = true;
                self.report(Delivery::Abandoned);
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the sender went away before the end of the stream",
                ))))
            }
        }
    }
}

impl Drop for WindowRx {
    fn drop(&mut self) {
        let complete = !self.failed && self.expected_len == Some(self.delivered);
        self.report(if complete {
            Delivery::Complete
        } else {
            Delivery::Abandoned
        });
    }
}

/// One writer feeding several windows: every chunk goes to every reader still there, in turn,
/// so the slowest reader sets the pace.
pub struct FanOut {
    sinks: Vec<Option<WindowTx>>,
}

impl FanOut {
    pub fn new(sinks: Vec<WindowTx>) -> Self {
        FanOut {
            sinks: sinks.into_iter().map(Some).collect(),
        }
    }

    /// Sends `data` to every live reader; returns how many readers left during this call.
    pub async fn send(&mut self, data: Bytes) -> usize {
        let mut gone = 0;
        for slot in &mut self.sinks {
            if let Some(sink) = slot
                && sink.send(data.clone()).await.is_err()
            {
                *slot = None;
                gone += 1;
            }
        }
        gone
    }

    pub fn live(&self) -> usize {
        self.sinks.iter().flatten().count()
    }

    /// Ends every stream and waits for each reader to take the rest; readers that left
    /// earlier count as abandoned.
    pub async fn finish(self) -> Vec<Delivery> {
        let waits = self.sinks.into_iter().map(|slot| async move {
            match slot {
                Some(sink) => sink.finish().await,
                None => Delivery::Abandoned,
            }
        });
        futures_util::future::join_all(waits).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn writer_waits_when_the_window_is_full() {
        let (tx, mut rx) = window();
        for _ in 0..WINDOW_CHUNKS {
            tx.send(Bytes::from(vec![1u8; MAX_CHUNK])).await.unwrap();
        }
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            tx.send(Bytes::from_static(b"x")),
        )
        .await;
        assert!(blocked.is_err(), "send must wait while the window is full");
        assert_eq!(rx.next().await.unwrap().unwrap().len(), MAX_CHUNK);
        tx.send(Bytes::from_static(b"x")).await.unwrap();
    }

    #[tokio::test]
    async fn big_frames_are_split_to_the_chunk_size() {
        let (tx, mut rx) = window();
        let writer = tokio::spawn(async move {
            tx.send(Bytes::from(vec![7u8; MAX_CHUNK * 2 + 3]))
                .await
                .unwrap();
            tx.finish().await
        });
        let mut sizes = Vec::new();
        while let Some(chunk) = rx.next().await {
            sizes.push(chunk.unwrap().len());
        }
        assert_eq!(sizes, vec![MAX_CHUNK, MAX_CHUNK, 3]);
        drop(rx);
        assert_eq!(writer.await.unwrap(), Delivery::Complete);
    }

    #[tokio::test]
    async fn a_dropped_writer_ends_the_reader_with_an_error() {
        let (tx, mut rx) = window();
        tx.send(Bytes::from_static(b"abc")).await.unwrap();
        drop(tx);
        assert_eq!(&rx.next().await.unwrap().unwrap()[..], b"abc");
        assert!(rx.next().await.unwrap().is_err());
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_reader_is_reported_to_the_writer() {
        let (tx, rx) = window();
        drop(rx);
        assert_eq!(tx.send(Bytes::from_static(b"a")).await, Err(ReaderGone));
        let (tx, rx) = window();
        drop(rx);
        assert_eq!(tx.finish().await, Delivery::Abandoned);
    }

    #[tokio::test]
    async fn a_reader_dropped_after_its_declared_length_is_complete() {
        let (tx, rx) = window();
        let mut rx = rx.with_expected_len(Some(3));
        let writer = tokio::spawn(async move {
            tx.send(Bytes::from_static(b"abc")).await.unwrap();
            tx.finish().await
        });
        assert_eq!(&rx.next().await.unwrap().unwrap()[..], b"abc");
        drop(rx);
        assert_eq!(writer.await.unwrap(), Delivery::Complete);
    }

    #[tokio::test]
    async fn fan_out_skips_readers_that_left() {
        let (a_tx, mut a_rx) = window();
        let (b_tx, b_rx) = window();
        let mut fan = FanOut::new(vec![a_tx, b_tx]);
        drop(b_rx);
        assert_eq!(fan.send(Bytes::from_static(b"hi")).await, 1);
        assert_eq!(fan.live(), 1);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = a_rx.next().await {
                got.extend_from_slice(&c.unwrap());
            }
            got
        });
        assert_eq!(
            fan.finish().await,
            vec![Delivery::Complete, Delivery::Abandoned]
        );
        assert_eq!(reader.await.unwrap(), b"hi");
    }
}
