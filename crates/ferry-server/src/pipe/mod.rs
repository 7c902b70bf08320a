//! The piping-server-compatible HTTP pipe: `curl -T file http://host/path` on one machine,
//! `curl http://host/path > file` on another, in either order. Every path that is not one of
//! the app's own ([`reserved::RESERVED_PATHS`]) is a pipe path. Behaviour, and where ferry
//! deliberately differs from piping-server 1.12: docs/relay.md.
//!
//! Data flows sender body → [`window`] (bounded, per receiver) → receiver response bodies;
//! nothing is stored, and the slowest receiver paces the sender.

mod help;
pub mod liveness;
mod messages;
pub mod quota;
mod registry;
pub mod reserved;
mod response;
mod sender;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt};

pub use help::help;
use registry::InfoTx;
pub use registry::{PipeStats, Registry};
use response::{
    ALLOWED_METHODS, info_body, message, method_not_allowed, preflight, sender_response,
};
use sender::{Prefetch, SenderMeta, SenderTask};

/// How long a second sender on a path waits to learn whether the waiting sender is dead (a
/// round trip for its reset to come back).
const RETRY_PROBE_WAIT: Duration = Duration::from_millis(300);

/// Limits of the HTTP pipe (flags in `ferry serve --help`, table in docs/security.md).
#[derive(Debug, Clone)]
pub struct PipeLimits {
    /// Senders one client address may have waiting at once (a running transfer no longer
    /// counts).
    pub waiting_senders_per_addr: usize,
    /// Receivers one client address may have waiting at once.
    pub waiting_receivers_per_addr: usize,
    /// How often waiting parties' connections are checked for having closed
    /// ([`liveness`]); zero turns the check off.
    pub liveness_interval: Duration,
    /// A waiting sender whose read-ahead is full gets a `[INFO] Still waiting …` line this
    /// often; zero: never. (Its dead connection can only be noticed by sending to it.)
    pub stalled_probe_interval: Duration,
}

impl Default for PipeLimits {
    fn default() -> Self {
        PipeLimits {
            waiting_senders_per_addr: 16,
            waiting_receivers_per_addr: 64,
            liveness_interval: Duration::from_secs(1),
            stalled_probe_interval: Duration::from_secs(10),
        }
    }
}

/// Entry point for every request the app's own routes do not take.
pub async fn handle(registry: Arc<Registry>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if reserved::is_reserved(&path) {
        return reserved_path(request).await;
    }
    match *request.method() {
        Method::POST | Method::PUT => send(registry, path, request).await,
        Method::GET => receive(registry, path, request).await,
        Method::OPTIONS => preflight(request.headers()),
        ref other => method_not_allowed(other.as_str(), ALLOWED_METHODS),
    }
}

/// Requests to reserved paths that no route of the app answers (also used as the router's
/// method-not-allowed fallback): sending is refused the piping-server way.
pub async fn reserved_path(request: Request) -> Response {
    let path = request.uri().path();
    match *request.method() {
        Method::POST | Method::PUT => {
            message(StatusCode::BAD_REQUEST, messages::reserved_path(path))
        }
        Method::GET | Method::HEAD => match path {
            "/favicon.ico" => StatusCode::NO_CONTENT.into_response(),
            "/robots.txt" => StatusCode::NOT_FOUND.into_response(),
            _ => (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
        },
        ref other => method_not_allowed(other.as_str(), "GET, HEAD"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum BadN {
    NotANumber,
    NotPositive(i64),
}

/// `?n=` (the first one counts, as with URLSearchParams.get). Stricter than piping-server's
/// `parseInt`: `3abc` is refused instead of read as 3.
fn receivers_wanted(query: Option<&str>) -> Result<u64, BadN> {
    let value = query.unwrap_or("").split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "n").then_some(value)
    });
    let Some(value) = value else { return Ok(1) };
    let n: i64 = value.parse().map_err(|_| BadN::NotANumber)?;
    if n <= 0 {
        return Err(BadN::NotPositive(n));
    }
    Ok(n as u64)
}

async fn send(registry: Arc<Registry>, path: String, request: Request) -> Response {
    let n = match receivers_wanted(request.uri().query()) {
        Ok(n) => n,
        Err(BadN::NotANumber) => {
            return message(StatusCode::BAD_REQUEST, messages::SENDER_INVALID_N.into());
        }
        Err(BadN::NotPositive(n)) => {
            return message(StatusCode::BAD_REQUEST, messages::n_not_positive(n));
        }
    };
    if request.headers().contains_key(header::CONTENT_RANGE) {
        return message(
            StatusCode::BAD_REQUEST,
            messages::content_range_unsupported(request.method().as_str()),
        );
    }
    let client = quota::request_client_ip(&request, &registry.trusted_proxies);
    let peer = tcp_peer(&request);
    let quota = match client.map(|ip| (ip, registry.waiting_senders.acquire(ip))) {
        Some((ip, None)) => {
            tracing::info!(client = %ip, "pipe sender refused: waiting-senders quota");
            return message(
                StatusCode::TOO_MANY_REQUESTS,
                messages::too_many_waiting("senders", registry.waiting_senders.limit()),
            );
        }
        Some((_, Some(guard))) => Some(guard),
        None => None,
    };
    let (parts, body) = request.into_parts();
    let meta = sender_meta(&parts.headers, &body);
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));

    let (info, info_rx) = InfoTx::new();
    let mut joined = registry.join_sender(&path, n, info.clone());
    if joined.is_err() && registry.probe_stalled_sender(&path) {
        // The sender in the way may be one whose client was killed a moment ago (a user
        // retrying `curl -T`): probe it and look at its connection now rather than at the
        // next tick. (One that is still being read would have been noticed by the read.)
        reap_probed_sender(&registry, &path).await;
        joined = registry.join_sender(&path, n, info.clone());
    }
    let ticket = match joined {
        Ok(ticket) => ticket,
        Err(error) => return message(StatusCode::BAD_REQUEST, error),
    };
    let (dead_tx, dead) = tokio::sync::oneshot::channel();
    let watch = peer.map(|peer| {
        let (registry, path, id) = (registry.clone(), path.clone(), ticket.id);
        registry.clone().watch.watch(
            peer,
            Box::new(move || {
                let _ = dead_tx.send(registry.leave_sender(&path, id));
            }),
        )
    });
    let mut body = body.into_data_stream();
    let mut prefetch = Prefetch::new();
    if expects_continue {
        // hyper sends `100 Continue` only once the body is asked for, and never after the
        // final response head; ask now, then let the connection run once so that curl's
        // `Expect: 100-continue` upload starts at once instead of after its 1 s timeout.
        if let Some(item) = body.next().now_or_never() {
            prefetch.take(item);
        }
        tokio::task::yield_now().await;
    }
    tokio::spawn(
        SenderTask {
            registry,
            path,
            ticket,
            body,
            prefetch,
            meta,
            info,
            dead,
            waiting: (watch, quota),
        }
        .run(),
    );
    sender_response(info_body(info_rx))
}

fn sender_meta(headers: &HeaderMap, body: &Body) -> SenderMeta {
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    let multipart_boundary = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.to_ascii_lowercase().contains("multipart/form-data"))
        .and_then(|v| multer::parse_boundary(v).ok());
    SenderMeta {
        // The length hyper framed the body with, not the raw header: they differ when a
        // request carries both Content-Length and chunked encoding.
        content_length: body.size_hint().exact(),
        content_type,
        content_disposition: headers.get(header::CONTENT_DISPOSITION).cloned(),
        x_piping: headers.get_all("x-piping").iter().cloned().collect(),
        multipart_boundary,
    }
}

async fn receive(registry: Arc<Registry>, path: String, request: Request) -> Response {
    if request
        .headers()
        .get("service-worker")
        .is_some_and(|v| v == "script")
    {
        return message(
            StatusCode::BAD_REQUEST,
            messages::SERVICE_WORKER_REJECTED.into(),
        );
    }
    let n = match receivers_wanted(request.uri().query()) {
        Ok(n) => n,
        Err(BadN::NotANumber) => {
            return message(StatusCode::BAD_REQUEST, messages::RECEIVER_INVALID_N.into());
        }
        Err(BadN::NotPositive(n)) => {
            return message(StatusCode::BAD_REQUEST, messages::n_not_positive(n));
        }
    };
    let client = quota::request_client_ip(&request, &registry.trusted_proxies);
    let peer = tcp_peer(&request);
    let _quota = match client.map(|ip| (ip, registry.waiting_receivers.acquire(ip))) {
        Some((ip, None)) => {
            tracing::info!(client = %ip, "pipe receiver refused: waiting-receivers quota");
            return message(
                StatusCode::TOO_MANY_REQUESTS,
                messages::too_many_waiting("receivers", registry.waiting_receivers.limit()),
            );
        }
        Some((_, Some(guard))) => Some(guard),
        None => None,
    };
    if registry.waiting(&path).is_some_and(|(sender, _)| sender) {
        // Never start a transfer from a sender whose client is known to have left. (One whose
        // FIN is stuck behind its unsent upload looks alive until probed; probing here would
        // put a line into every such sender's output, so its receivers rely on the stream
        // being cut instead: a truncated response, never a complete-looking one.)
        registry.watch.scan_now();
    }
    let ticket = match registry.join_receiver(&path, n) {
        Ok(ticket) => ticket,
        Err(error) => return message(StatusCode::BAD_REQUEST, error),
    };
    // hyper drops this future when the client disconnects while waiting; the guard then takes
    // the receiver off the path.
    let _leave = LeaveOnDrop {
        registry: registry.clone(),
        path: path.clone(),
        id: ticket.id,
    };
    // For a client hyper does not notice leaving (a GET with a body nobody reads).
    let (dead_tx, dead_rx) = tokio::sync::oneshot::channel::<()>();
    let _watch = peer.map(|peer| {
        let (registry, id) = (registry.clone(), ticket.id);
        registry.clone().watch.watch(
            peer,
            Box::new(move || {
                registry.leave_receiver(&path, id);
                let _ = dead_tx.send(());
            }),
        )
    });
    let dead = async {
        if dead_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        response = ticket.response => response.unwrap_or_else(|_| sender::not_started()),
        // Nobody reads this answer; it only ends the request.
        _ = dead => sender::not_started(),
    }
}

/// After [`Registry::probe_sender`]: a dead client answers the probe with a reset within a
/// round trip; watch for that for at most [`RETRY_PROBE_WAIT`].
async fn reap_probed_sender(registry: &Registry, path: &str) {
    let deadline = tokio::time::Instant::now() + RETRY_PROBE_WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(25)).await;
        registry.watch.scan_now();
        if !registry.waiting(path).is_some_and(|(sender, _)| sender)
            || tokio::time::Instant::now() >= deadline
        {
            return;
        }
    }
}

/// The TCP peer (not a forwarded address): the connection whose state the liveness watch
/// checks.
fn tcp_peer(request: &Request) -> Option<std::net::SocketAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

struct LeaveOnDrop {
    registry: Arc<Registry>,
    path: String,
    id: u64,
}

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.registry.leave_receiver(&self.path, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_is_parsed_strictly() {
        assert_eq!(receivers_wanted(None), Ok(1));
        assert_eq!(receivers_wanted(Some("x=1")), Ok(1));
        assert_eq!(receivers_wanted(Some("n=3")), Ok(3));
        assert_eq!(receivers_wanted(Some("a=b&n=2&n=5")), Ok(2));
        assert_eq!(receivers_wanted(Some("n=0")), Err(BadN::NotPositive(0)));
        assert_eq!(receivers_wanted(Some("n=-4")), Err(BadN::NotPositive(-4)));
        assert_eq!(receivers_wanted(Some("n=abc")), Err(BadN::NotANumber));
        assert_eq!(receivers_wanted(Some("n=")), Err(BadN::NotANumber));
        assert_eq!(receivers_wanted(Some("n")), Err(BadN::NotANumber));
        assert_eq!(
            receivers_wanted(Some("n=99999999999999999999")),
            Err(BadN::NotANumber)
        );
    }
}
