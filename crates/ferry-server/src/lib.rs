//! `ferry serve`: the web app, the signaling hub, relays and STUN/TURN, on one port.
#![warn(clippy::unwrap_used)]

pub mod address_limits;
pub mod config;
mod display_name;
pub mod http_server;
pub mod hub;
pub mod lan_room;
pub mod metrics;
mod outbox;
pub mod pipe;
mod redirect;
pub mod redis_hub;
pub mod relay_ws;
mod signaling_ws;
pub mod tls;
pub mod token;
pub mod turn;
mod web_assets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use ferry_protocol::signaling::IceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use address_limits::AddressLimits;
pub use config::{MetricsEndpoint, ServerConfig};
use hub::{CloseReason, Hub};
use metrics::Metrics;
use token::TokenSigner;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub hub: Arc<Hub>,
    /// With `--redis`: the hub shared with other instances, used instead of `hub`.
    pub cluster: Option<Arc<redis_hub::RedisHub>>,
    pub tokens: TokenSigner,
    /// Authorized WebSocket relay sessions waiting for their two peers.
    pub relays: Arc<relay_ws::RelayRegistry>,
    /// STUN/TURN servers and per-peer TURN credentials for `welcome`.
    pub ice: Arc<turn::IceProvider>,
    /// Parties waiting on HTTP pipe paths, and the paths with a transfer running.
    pub pipes: Arc<pipe::Registry>,
    pub metrics: Arc<Metrics>,
    /// Budgets per source address that survive reconnects.
    pub address_limits: Arc<AddressLimits>,
    pub handshakes: Arc<http_server::Handshakes>,
    /// Upgraded WebSockets (signaling, relay), which outlive their HTTP connection; graceful
    /// shutdown waits for them.
    pub sockets: TaskTracker,
}

impl AppState {
    pub fn new(config: ServerConfig) -> Self {
        let secret = config
            .secret
            .clone()
            .unwrap_or_else(|| rand::random::<[u8; 32]>().to_vec());
        let metrics = Arc::new(Metrics::default());
        AppState {
            hub: Arc::new(Hub::new(config.hub.clone(), metrics.clone())),
            cluster: None,
            address_limits: Arc::new(AddressLimits::new(&config.address_quotas)),
            handshakes: Arc::new(http_server::Handshakes::new(
                config.http.max_handshakes_per_address,
            )),
            sockets: TaskTracker::new(),
            metrics,
            tokens: TokenSigner::new(secret),
            relays: Arc::new(relay_ws::RelayRegistry::new(config.relay.clone())),
            pipes: Arc::new(pipe::Registry::new(&config.pipe, &config.trusted_proxies)),
            ice: Arc::new(turn::IceProvider::new(
                &config.turn,
                config.ice_urls.clone(),
            )),
            config: Arc::new(config),
        }
    }

    /// The Prometheus text exposition, with gauges read now.
    pub fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let g = &m.gauges;
        let hub = match &self.cluster {
            Some(cluster) => cluster.stats(),
            None => self.hub.stats(),
        };
        g.redis_up
            .set(self.cluster.as_ref().is_some_and(|c| c.is_up()) as i64);
        g.signaling_peers.set(hub.peers as i64);
        let kind = |kind| metrics::KindLabel { kind };
        g.rooms
            .get_or_create(&kind("lan"))
            .set(hub.lan_rooms as i64);
        g.rooms
            .get_or_create(&kind("code"))
            .set(hub.code_rooms as i64);
        g.rooms
            .get_or_create(&kind("paired"))
            .set(hub.paired_rooms as i64);
        g.lan_networks.set(hub.lan_networks as i64);
        g.outbox_bytes.set(hub.queued_bytes as i64);
        g.address_limit_entries
            .set(self.address_limits.tracked() as i64);
        g.http_handshakes.set(self.handshakes.count() as i64);
        if let Some(n) = metrics::open_fds() {
            g.open_fds.set(n);
        }
        if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
            g.max_fds.set(soft.min(i64::MAX as u64) as i64);
        }
        let pipe = self.pipes.stats();
        let relay = self.relays.stats();
        // (name, help, value, is a counter)
        let mut extra = vec![
            (
                "pipe_waiting_senders",
                "HTTP-pipe senders waiting for receivers",
                pipe.waiting_senders,
                false,
            ),
            (
                "pipe_waiting_receivers",
                "HTTP-pipe receivers waiting for a sender",
                pipe.waiting_receivers,
                false,
            ),
            (
                "pipe_transfers",
                "HTTP-pipe transfers streaming",
                pipe.active_transfers,
                false,
            ),
            (
                "pipe_bytes",
                "HTTP-pipe bytes streamed to receivers",
                pipe.bytes_total,
                true,
            ),
            (
                "pipe_quota_refusals",
                "HTTP-pipe parties refused (429) by the per-address quota",
                pipe.quota_refusals,
                true,
            ),
            (
                "pipe_dead_parties_removed",
                "Waiting HTTP-pipe parties removed because their connection had closed",
                pipe.dead_parties_removed,
                true,
            ),
            (
                "relay_pending_sessions",
                "WebSocket relay sessions authorized, not yet paired",
                relay.pending_sessions,
                false,
            ),
            (
                "relay_waiting_sockets",
                "WebSocket relay sockets waiting for their peer",
                relay.waiting_sockets,
                false,
            ),
            (
                "relay_sessions",
                "WebSocket relay sessions forwarding",
                relay.active_sessions,
                false,
            ),
            (
                "relay_bytes",
                "WebSocket relay payload bytes forwarded",
                relay.bytes_total,
                true,
            ),
            (
                "relay_quota_refusals",
                "WebSocket relay sessions or sockets refused by a quota",
                relay.quota_refusals,
                true,
            ),
            (
                "relay_heartbeat_timeouts",
                "WebSocket relay sockets closed for not answering pings",
                relay.heartbeat_timeouts,
                true,
            ),
            (
                "relay_bad_frames",
                "WebSocket relay sockets closed for a broken frame",
                relay.bad_frames,
                true,
            ),
        ];
        if let Some(turn) = self.ice.turn_stats() {
            extra.extend([
                (
                    "turn_allocations",
                    "TURN allocations",
                    turn.allocations,
                    false,
                ),
                ("turn_nonces", "TURN nonces held", turn.nonces, false),
                (
                    "turn_rate_table_entries",
                    "Sources in the STUN/TURN rate limiter",
                    turn.rate_table_entries,
                    false,
                ),
                (
                    "stun_rate_limited",
                    "STUN/TURN requests dropped by the per-source rate limit",
                    turn.stun_rate_limited,
                    true,
                ),
                (
                    "turn_quota_refusals",
                    "TURN Allocates refused with 486",
                    turn.quota_refusals,
                    true,
                ),
                (
                    "turn_auth_failures",
                    "TURN requests answered 401 for bad credentials",
                    turn.auth_failures,
                    true,
                ),
            ]);
        }
        m.encode(&extra)
    }

    pub fn ice_servers_for(&self, peer_id: &str) -> Vec<IceServer> {
        self.ice.ice_servers_for(peer_id, None)
    }

    /// `host` is the request's Host header: the name this client reaches us by.
    pub fn ice_servers_for_host(&self, peer_id: &str, host: Option<&str>) -> Vec<IceServer> {
        self.ice.ice_servers_for(peer_id, host)
    }
}

async fn metrics_handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.render_metrics(),
    )
}

fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    let fallback_state = state.clone();
    let metrics =
        (state.config.metrics == MetricsEndpoint::Main).then(|| metrics_router(state.clone()));
    let app = Router::new()
        .route("/", get(web_assets::index))
        .route("/index.html", get(web_assets::index))
        .route("/app/{*path}", get(web_assets::app_file))
        .route("/ws", get(signaling_ws::upgrade))
        .route("/relay/{id}", get(relay_ws::upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/version",
            // CORS like piping-server's /version, so web pages can probe the server.
            get(|| async {
                (
                    [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
                    format!("ferry {VERSION}\n"),
                )
            }),
        )
        .route("/help", get(pipe::help))
        // Keep these two last: the method fallback only covers routes added before it.
        // POST/PUT to an app route is refused like a send to a reserved path; every path
        // that is not the app's is a piping-server-compatible pipe (docs/relay.md).
        .method_not_allowed_fallback(pipe::reserved_path)
        .fallback(move |request| redis_hub::forward::pipe(fallback_state.clone(), request))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    match metrics {
        Some(m) => m.merge(app),
        // Reserved either way, so that no pipe ever waits on the path a scraper polls.
        None => app.route(
            "/metrics",
            get(|| async {
                (
                    axum::http::StatusCode::NOT_FOUND,
                    "metrics are not served on this address\n",
                )
            }),
        ),
    }
}

/// A server bound to its port; `run` serves until the process ends.
pub struct BoundServer {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    /// Plain HTTP that redirects to HTTPS (`--http-redirect-port`).
    redirect_listener: Option<TcpListener>,
    state: AppState,
    turn: Option<ferry_turn::TurnServer>,
    tls: Option<tls::Tls>,
}

impl BoundServer {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let metrics_listener = match config.metrics {
            MetricsEndpoint::Separate(addr) => Some(TcpListener::bind(addr).await?),
            _ => None,
        };
        let redirect_listener = match config.http_redirect {
            Some(addr) if config.tls.is_some() => Some(TcpListener::bind(addr).await?),
            _ => None,
        };
        let tls = config.tls.as_ref().map(tls::Tls::start).transpose()?;
        let mut state = AppState::new(config);
        if let Some(url) = &state.config.redis_url {
            // Where the other instances reach this one, for relays and pipes that span them.
            let bound = listener.local_addr()?;
            let advertised = state
                .config
                .cluster_url
                .clone()
                .or_else(|| (!bound.ip().is_unspecified()).then(|| format!("http://{bound}")));
            if advertised.is_none() {
                tracing::warn!(
                    "--redis without --cluster-url on a wildcard address: relays and pipes \
                     whose two ends reach different instances will not meet"
                );
            }
            let cluster = redis_hub::RedisHub::new(
                url,
                advertised,
                state.config.hub.clone(),
                state.metrics.clone(),
            )
            .map_err(|e| std::io::Error::other(format!("--redis {url}: {e}")))?;
            cluster.set_pipes(state.pipes.clone());
            state.cluster = Some(Arc::new(cluster));
        }
        let turn = if state.config.turn.enabled {
            let credentials = state.ice.credentials().clone();
            let server =
                turn::start_embedded(state.config.listen.ip(), &state.config.turn, credentials)
                    .await?;
            let mut ice = (*state.ice).clone();
            ice.set_embedded_server(&server);
            state.ice = Arc::new(ice);
            Some(server)
        } else {
            None
        };
        Ok(BoundServer {
            listener,
            metrics_listener,
            redirect_listener,
            state,
            turn,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` when TLS is on, else `http`.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "https",
            None => "http",
        }
    }

    /// The names the HTTPS certificate is for (none without TLS).
    pub fn tls_names(&self) -> Vec<String> {
        self.tls
            .as_ref()
            .map(|t| t.names.clone())
            .unwrap_or_default()
    }

    /// The plain-HTTP redirect listener's address, when it runs.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The embedded STUN/TURN server's UDP address, when it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().map(|t| t.local_addr())
    }

    /// Serves until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then stops gracefully: no new connections, signaling
    /// clients closed with 1001 (so they reconnect, to another instance if there is one), and
    /// running pipes and relays given up to `shutdown_grace` to finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        // The TURN server's tasks live on their own; holding it here ties its lifetime to ours.
        let _turn = self.turn;
        // So is the certificate reloader / ACME client.
        let tls = self.tls;
        let state = self.state;
        let background = spawn_housekeeping(&state);
        let link = state.cluster.as_ref().map(|c| c.start());
        let stop = CancellationToken::new();
        let serving = http_server::Serving {
            limits: state.config.http.clone(),
            trusted_proxies: state.config.trusted_proxies.clone(),
            metrics: state.metrics.clone(),
            handshakes: state.handshakes.clone(),
            connections: TaskTracker::new(),
            tls: None,
        };
        if let Some(listener) = self.redirect_listener {
            let https_port = self.listener.local_addr()?.port();
            tokio::spawn(http_server::serve(
                listener,
                redirect::router(https_port),
                serving.clone(),
                stop.clone(),
            ));
        }
        if let Some(listener) = self.metrics_listener {
            tracing::info!(addr = ?listener.local_addr(), "metrics on their own listener");
            tokio::spawn(http_server::serve(
                listener,
                metrics_router(state.clone()),
                serving.clone(),
                stop.clone(),
            ));
        }
        let main = http_server::serve(
            self.listener,
            router(state.clone()),
            http_server::Serving {
                tls: tls.as_ref().map(|t| t.acceptor.clone()),
                ..serving.clone()
            },
            stop.clone(),
        );
        tokio::select! {
            () = main => {}
            () = shutdown => {}
        }
        tracing::info!("shutting down: closing signaling, letting transfers finish");
        stop.cancel();
        match &state.cluster {
            Some(cluster) => cluster.close_all(CloseReason::ShuttingDown).await,
            None => state.hub.close_all(CloseReason::ShuttingDown),
        }
        serving.connections.close();
        state.sockets.close();
        let grace = state.config.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            serving.connections.wait().await;
            state.sockets.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = serving.connections.len(),
                sockets = state.sockets.len(),
                "shutdown grace period over; closing what is still running"
            );
        }
        background.abort();
        if let Some(link) = link {
            link.abort();
        }
        Ok(())
    }
}

/// Periodic work: quiet peers announced, expired code rooms and idle per-address buckets swept.
fn spawn_housekeeping(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        for round in 0u64.. {
            tick.tick().await;
            if let Some(cluster) = &state.cluster {
                // Code rooms in Redis expire with the instances' heartbeats (redis_hub/link.rs).
                cluster.announce_quiet(Instant::now()).await;
            } else {
                state.hub.announce_quiet(Instant::now());
                if round % 20 == 0 {
                    let n = state.hub.sweep_expired_rooms(Instant::now());
                    if n > 0 {
                        tracing::debug!(expired = n, "code rooms expired");
                    }
                }
            }
            if round % 20 == 0 {
                state.address_limits.sweep();
            }
        }
    })
}
