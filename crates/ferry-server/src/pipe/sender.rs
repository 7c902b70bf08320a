//! One sender's life: wait for the receivers (noticing if the sender leaves meanwhile), then pump
//! its body through a bounded window to every receiver, reporting progress as `[INFO]` lines.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::{Stream, StreamExt, stream};

use tokio::sync::oneshot;

use super::liveness::WatchHandle;
use super::messages;
use super::quota::QuotaGuard;
use super::registry::{InfoTx, Registry, SenderTicket, Start};
use super::response::{message, receiver_response};
use super::window::{Delivery, FanOut, MAX_CHUNK, WINDOW_CHUNKS, window};

type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// How much of the body is read ahead while waiting for receivers: reading is how a sender that
/// leaves is noticed, and the cap keeps a waiting sender from costing more than one window.
const PREFETCH_LIMIT: usize = WINDOW_CHUNKS * MAX_CHUNK;

/// The sender's headers that receivers get to see.
pub struct SenderMeta {
    pub content_length: Option<u64>,
    pub content_type: Option<HeaderValue>,
    pub content_disposition: Option<HeaderValue>,
    pub x_piping: Vec<HeaderValue>,
    /// Set when the body is `multipart/form-data`: only its first part is forwarded.
    pub multipart_boundary: Option<String>,
}

/// The body as read so far while waiting.
pub struct Prefetch {
    chunks: Vec<Bytes>,
    len: usize,
    state: BodyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Open,
    Ended,
    Failed,
}

impl Prefetch {
    pub fn new() -> Self {
        Prefetch {
            chunks: Vec::new(),
            len: 0,
            state: BodyState::Open,
        }
    }

    /// Records one item of the body stream.
    pub fn take(&mut self, item: Option<Result<Bytes, axum::Error>>) {
        match item {
            Some(Ok(chunk)) => {
                self.len += chunk.len();
                self.chunks.push(chunk);
            }
            None => self.state = BodyState::Ended,
            Some(Err(_)) => self.state = BodyState::Failed,
        }
    }

    fn wants_more(&self) -> bool {
        self.state == BodyState::Open && self.len < PREFETCH_LIMIT
    }

    /// The whole body: what was read ahead, then the rest.
    fn into_stream(self, rest: BodyDataStream) -> ByteStream {
        let head = stream::iter(self.chunks.into_iter().map(Ok));
        match self.state {
            BodyState::Open => Box::pin(head.chain(rest.map(|r| r.map_err(io::Error::other)))),
            BodyState::Ended => Box::pin(head),
            BodyState::Failed => Box::pin(head.chain(stream::once(async {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "sender went away",
                ))
            }))),
        }
    }
}

pub struct SenderTask {
    pub registry: Arc<Registry>,
    pub path: String,
    pub ticket: SenderTicket,
    pub body: BodyDataStream,
    pub prefetch: Prefetch,
    pub meta: SenderMeta,
    pub info: InfoTx,
    /// Fires when the liveness watch found the connection closed; `true` if that removed the
    /// sender from its path (false: the transfer had been established just before).
    pub dead: oneshot::Receiver<bool>,
    /// Held while waiting only: the liveness watch and this address's waiting-sender quota.
    pub waiting: (Option<WatchHandle>, Option<QuotaGuard>),
}

impl SenderTask {
    pub async fn run(self) {
        let SenderTask {
            registry,
            path,
            ticket,
            mut body,
            mut prefetch,
            meta,
            info,
            mut dead,
            waiting,
        } = self;
        let mut start_rx = ticket.start;
        let mut left = false;
        let mut watching = true;
        let probing = !registry.probe_interval.is_zero();
        let mut probe = tokio::time::interval(if probing {
            registry.probe_interval
        } else {
            std::time::Duration::from_secs(3600)
        });
        probe.reset();
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let start = loop {
            let stalled = !left && !prefetch.wants_more() && prefetch.state == BodyState::Open;
            info.set_stalled(stalled);
            tokio::select! {
                _ = probe.tick(), if probing && stalled => {
                    registry.probe_sender(&path);
                }
                removed = &mut dead, if !left && watching => match removed {
                    Ok(true) => return,
                    Ok(false) => left = true,
                    // Not watched (no connection info): only the other signals count.
                    Err(_) => watching = false,
                },
                start = &mut start_rx => match start {
                    Ok(start) => break start,
                    // The registry never drops a waiting sender's channel; nothing to do.
                    Err(_) => return,
                },
                _ = info.closed(), if !left => {
                    left = true;
                    if registry.leave_sender(&path, ticket.id) {
                        return;
                    }
                }
                item = body.next(), if !left && prefetch.wants_more() => {
                    prefetch.take(item);
                    if prefetch.state == BodyState::Failed {
                        left = true;
                        if registry.leave_sender(&path, ticket.id) {
                            return;
                        }
                    }
                }
            }
        };
        drop(waiting);
        registry.active_transfers.fetch_add(1, Ordering::Relaxed);
        pump(&registry, start, prefetch.into_stream(body), meta, info).await;
        registry.active_transfers.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn pump(
    registry: &Registry,
    start: Start,
    source: ByteStream,
    meta: SenderMeta,
    info: InfoTx,
) {
    let Start { receivers, guard } = start;
    let n = receivers.len();
    info.line(messages::start_sending(n));

    // Keeps the multipart parser alive for as long as its field is read.
    let mut _multipart = None;
    let (headers, mut data): (HeaderMap, ByteStream) = match &meta.multipart_boundary {
        None => (receiver_headers(&meta), source),
        Some(boundary) => {
            let mut multipart = multer::Multipart::new(source, boundary.clone());
            match multipart.next_field().await {
                Ok(Some(field)) => {
                    let headers = part_headers(field.headers(), &meta);
                    _multipart = Some(multipart);
                    (
                        headers,
                        Box::pin(field.map(|r| r.map_err(io::Error::other))),
                    )
                }
                Ok(None) | Err(_) => {
                    for receiver in receivers {
                        let _ = receiver.send(message(
                            StatusCode::BAD_GATEWAY,
                            messages::SENDER_FAILED_BEFORE_DATA.to_owned(),
                        ));
                    }
                    info.line(messages::FAILED_TO_SEND);
                    return;
                }
            }
        }
    };

    let mut sinks = Vec::with_capacity(n);
    for receiver in receivers {
        let (tx, rx) = window();
        let rx = rx.with_expected_len(
            headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        );
        // A failed delivery drops `rx`, so the first send to `tx` reports the receiver gone.
        let _ = receiver.send(receiver_response(headers.clone(), Body::from_stream(rx)));
        sinks.push(tx);
    }
    let mut fan = FanOut::new(sinks);
    let mut aborted = 0;
    while let Some(item) = data.next().await {
        match item {
            Ok(chunk) => {
                registry
                    .bytes_total
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let gone = fan.send(chunk).await;
                for _ in 0..gone {
                    info.line(messages::A_RECEIVER_ABORTED);
                }
                aborted += gone;
                if fan.live() == 0 {
                    info.line(messages::ALL_RECEIVERS_ABORTED);
                    return;
                }
            }
            Err(_) => {
                // Dropping `fan` cuts every receiver off mid-stream, so none mistakes the
                // truncated data for the whole.
                info.line(messages::FAILED_TO_SEND);
                return;
            }
        }
    }
    info.line(messages::SENT_SUCCESSFULLY);
    drop(data);
    // The whole body is read: the path may serve the next transfer while receivers drain.
    drop(guard);
    let deliveries = fan.finish().await;
    let ok = deliveries
        .iter()
        .filter(|d| **d == Delivery::Complete)
        .count();
    for _ in aborted..(n - ok) {
        info.line(messages::A_RECEIVER_ABORTED);
    }
    if ok == n {
        info.line(messages::ALL_RECEIVED);
    } else if ok == 0 {
        info.line(messages::ALL_RECEIVERS_ABORTED);
    } else {
        info.line(messages::some_received(ok, n));
    }
}

fn receiver_headers(meta: &SenderMeta) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(len) = meta.content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(ct) = &meta.content_type {
        headers.insert(
            header::CONTENT_TYPE,
            super::response::defang_content_type(ct),
        );
    }
    if let Some(cd) = &meta.content_disposition {
        headers.insert(header::CONTENT_DISPOSITION, cd.clone());
    }
    add_x_piping(&mut headers, meta);
    headers
}

/// For a multipart body the first part's own headers describe the data. Its length is only
/// known when the part says so (piping-server guesses it from the whole body's length, which
/// is wrong as soon as there is a second part).
fn part_headers(part: &HeaderMap, meta: &SenderMeta) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(len) = part
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(ct) = part.get(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            super::response::defang_content_type(ct),
        );
    }
    if let Some(cd) = part.get(header::CONTENT_DISPOSITION) {
        headers.insert(header::CONTENT_DISPOSITION, cd.clone());
    }
    add_x_piping(&mut headers, meta);
    headers
}

fn add_x_piping(headers: &mut HeaderMap, meta: &SenderMeta) {
    for value in &meta.x_piping {
        headers.append("x-piping", value.clone());
    }
}

/// What a receiver gets when the transfer could not start at all.
pub fn not_started() -> Response {
    message(
        StatusCode::BAD_GATEWAY,
        messages::SENDER_FAILED_BEFORE_DATA.to_owned(),
    )
}
