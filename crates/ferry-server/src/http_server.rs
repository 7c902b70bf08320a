//! The accept loop: HTTP/1.1 with upgrades (WebSockets), optionally inside TLS, a header-read
//! timeout that is also the keep-alive idle timeout, a header size cap, caps on connections still
//! in their handshake, and graceful shutdown.
//!
//! A TLS handshake is part of a connection's handshake: it holds the same slot and must finish,
//! with the first request's headers, within the same header-read timeout.
//!
//! Why not `axum::serve`: it has no timeouts at all, so a connection that never finishes a request
//! stays open for good (5,000 such connections held 75 s and more, and at the default soft file
//! limit ~1,000 made `accept` fail for everyone).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::HttpLimits;
use crate::metrics::Metrics;
use crate::pipe::quota::{AddrQuota, QuotaGuard};

/// Counts connections that have not completed their first request, in total and per address
/// (the per-address part is the pipe's quota table: an entry lives only while a slot is held).
pub struct Handshakes {
    total: AtomicUsize,
    per_address: Arc<AddrQuota>,
}

impl Handshakes {
    pub fn new(per_address: usize) -> Self {
        Handshakes {
            total: AtomicUsize::new(0),
            per_address: AddrQuota::new(per_address),
        }
    }

    /// A slot for a new connection from `ip`, or `None` when a cap is reached. Trusted proxies,
    /// whose connections carry many clients, skip the per-address cap.
    fn enter(self: &Arc<Self>, ip: IpAddr, total: usize, trusted: bool) -> Option<HandshakeSlot> {
        let address = match trusted {
            true => None,
            false => Some(self.per_address.acquire(ip)?),
        };
        if self.total.fetch_add(1, Ordering::Relaxed) >= total {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(HandshakeSlot {
            owner: self.clone(),
            _address: address,
        })
    }

    pub fn count(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

struct HandshakeSlot {
    owner: Arc<Handshakes>,
    _address: Option<QuotaGuard>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.owner.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the accept loop needs besides the router.
#[derive(Clone)]
pub struct Serving {
    pub limits: HttpLimits,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics: Arc<Metrics>,
    pub handshakes: Arc<Handshakes>,
    /// Every connection's task, so shutdown can wait for them.
    pub connections: TaskTracker,
    /// HTTPS: every connection starts with a TLS handshake.
    pub tls: Option<crate::tls::TlsAcceptor>,
}

/// Serves `router` on `listener` until `stop` is cancelled, then asks every connection to finish
/// its current request and returns. Connections are still running when this returns; wait on
/// `serving.connections` for them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    serving: Serving,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => break,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE/ENFILE and friends: keep the listener, give the process a moment.
                tracing::warn!(error = %e, "accept failed");
                serving.metrics.limit_hit("accept-errors");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let trusted = serving
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&remote.ip()));
        let slot = serving
            .handshakes
            .enter(remote.ip(), serving.limits.max_handshakes, trusted);
        let Some(slot) = slot else {
            serving.metrics.limit_hit("http-handshakes");
            drop(tcp);
            continue;
        };
        let conn = connection(
            tcp,
            remote,
            slot,
            router.clone(),
            serving.clone(),
            stop.clone(),
        );
        serving.connections.spawn(conn);
    }
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    slot: HandshakeSlot,
    router: Router,
    serving: Serving,
    stop: CancellationToken,
) {
    let _ = tcp.set_nodelay(true);
    let Some(tls) = serving.tls.clone() else {
        return http(tcp, remote, slot, router, serving, stop).await;
    };
    let deadline = tokio::time::sleep(serving.limits.header_read_timeout);
    let accept = tls.accept(tcp);
    tokio::pin!(deadline, accept);
    let accepted = tokio::select! {
        r = &mut accept => r,
        _ = &mut deadline => {
            serving.metrics.limit_hit("tls-handshake-timeout");
            // The slot is free before the client sees its connection close.
            drop(slot);
            return;
        }
        _ = stop.cancelled() => return,
    };
    match accepted {
        Ok(Some(stream)) => http(stream, remote, slot, router, serving, stop).await,
        // An ACME validation: nothing follows the handshake.
        Ok(None) => {}
        Err(e) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
    }
}

/// Serves HTTP/1.1 on a connection (plain or TLS); `slot` is released by the first request.
async fn http<S>(
    stream: S,
    remote: SocketAddr,
    slot: HandshakeSlot,
    router: Router,
    serving: Serving,
    stop: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Some(slot)));
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        // The first request ends the handshake.
        slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        req.extensions_mut().insert(ConnectInfo(remote));
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(serving.limits.header_read_timeout)
        .max_header_size(serving.limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let gauge = &serving.metrics.gauges.http_connections;
    gauge.inc();
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    gauge.dec();
    if let Err(e) = result {
        tracing::trace!(%remote, error = %e, "connection ended with an error");
    }
}

/// Raises the soft limit on open files to the hard limit: each peer holds a socket, and the
/// default soft limit (often 1,024) is reached long before memory or CPU.
pub fn raise_fd_limit() -> Option<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match rlimit::increase_nofile_limit(hard) {
        Ok(now) => {
            tracing::info!(from = soft, to = now, "raised the open-file limit");
            Some(now)
        }
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "could not raise the open-file limit");
            Some(soft)
        }
    }
}
