//! A peer's queue of signaling messages: bounded in bytes and in count, filled by the hub without
//! waiting, drained by the peer's connection task.
//!
//! Why not an `mpsc` channel: a channel bounds messages, not bytes (512 queued SDPs of 64 KiB were
//! 30 MB per stuck client), and a peer the hub drops keeps its queue alive until its task notices.
//! [`Outbox::close`] frees the queue at once and tells the task why.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Why the hub closed a peer's outbox; the connection task turns it into a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A newer connection with the same token took over.
    Replaced,
    /// The outbox filled up: the client does not read fast enough.
    TooSlow,
    /// The server is shutting down; the client should reconnect (elsewhere).
    ShuttingDown,
}

/// Result of [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Push {
    Queued,
    /// Over the byte or message bound: the message was not queued.
    Full,
    /// The outbox is closed; the message was discarded.
    Closed,
}

pub struct Outbox {
    inner: Mutex<Inner>,
    ready: Notify,
    max_bytes: usize,
    max_messages: usize,
}

struct Inner {
    queue: VecDeque<Arc<str>>,
    bytes: usize,
    closed: Option<CloseReason>,
}

impl Outbox {
    pub fn new(max_bytes: usize, max_messages: usize) -> Arc<Self> {
        Arc::new(Outbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                closed: None,
            }),
            ready: Notify::new(),
            max_bytes,
            max_messages,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, msg: Arc<str>) -> Push {
        let mut inner = self.lock();
        if inner.closed.is_some() {
            return Push::Closed;
        }
        if inner.queue.len() >= self.max_messages || inner.bytes + msg.len() > self.max_bytes {
            return Push::Full;
        }
        inner.bytes += msg.len();
        inner.queue.push_back(msg);
        drop(inner);
        // One consumer: `notify_one` keeps a permit if the task is not waiting right now.
        self.ready.notify_one();
        Push::Queued
    }

    /// Closes the outbox and frees what it held. The first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut inner = self.lock();
        if inner.closed.is_none() {
            inner.closed = Some(reason);
        }
        inner.queue = VecDeque::new();
        inner.bytes = 0;
        drop(inner);
        self.ready.notify_one();
    }

    /// Waits for messages and moves up to `max` of them into `out`. Returns the close reason once
    /// the outbox is closed (queued messages of a closed outbox are dropped, not delivered).
    pub async fn next_batch(&self, out: &mut Vec<Arc<str>>, max: usize) -> Result<(), CloseReason> {
        loop {
            {
                let mut inner = self.lock();
                if let Some(reason) = inner.closed {
                    return Err(reason);
                }
                if !inner.queue.is_empty() {
                    let n = inner.queue.len().min(max);
                    let inner = &mut *inner;
                    for msg in inner.queue.drain(..n) {
                        inner.bytes -= msg.len();
                        out.push(msg);
                    }
                    // An idle peer should not keep the capacity of the last burst it was sent.
                    if inner.queue.is_empty() && inner.queue.capacity() > 16 {
                        inner.queue = VecDeque::new();
                    }
                    return Ok(());
                }
            }
            self.ready.notified().await;
        }
    }

    /// Takes whatever is queued without waiting (tests and diagnostics).
    pub fn drain_now(&self) -> Result<Vec<Arc<str>>, CloseReason> {
        let mut inner = self.lock();
        if let Some(reason) = inner.closed {
            return Err(reason);
        }
        inner.bytes = 0;
        Ok(inner.queue.drain(..).collect())
    }

    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounds_bytes_and_count_and_frees_on_close() {
        let ob = Outbox::new(10, 3);
        assert_eq!(ob.push("abcd".into()), Push::Queued);
        assert_eq!(ob.push("efgh".into()), Push::Queued);
        assert_eq!(ob.push("ijk".into()), Push::Full, "11 bytes > 10");
        assert_eq!(ob.push("ij".into()), Push::Queued);
        assert_eq!(ob.push("k".into()), Push::Full, "4th message > 3");
        let mut out = Vec::new();
        ob.next_batch(&mut out, 2).await.unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(ob.queued_bytes(), 2);
        ob.close(CloseReason::TooSlow);
        ob.close(CloseReason::Replaced);
        assert_eq!(ob.queued_bytes(), 0);
        assert_eq!(ob.push("x".into()), Push::Closed);
        assert_eq!(ob.next_batch(&mut out, 2).await, Err(CloseReason::TooSlow));
    }

    #[tokio::test]
    async fn wakes_a_waiting_reader() {
        let ob = Outbox::new(100, 10);
        let reader = {
            let ob = ob.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                ob.next_batch(&mut out, 10).await.map(|()| out)
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(ob.push("hello".into()), Push::Queued);
        let got = reader.await.unwrap().unwrap();
        assert_eq!(got[0].as_ref(), "hello");
    }
}
