//! `ferry serve`: the web app, the signaling hub, and (in later modules) relays and STUN/TURN,
//! on one port.
#![forbid(unsafe_code)]

pub mod config;
mod display_name;
pub mod hub;
pub mod lan_room;
pub mod pipe;
pub mod relay_ws;
mod signaling_ws;
pub mod token;
pub mod turn;
mod web_assets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use ferry_protocol::signaling::IceServer;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use config::ServerConfig;
use hub::Hub;
use token::TokenSigner;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub hub: Arc<Hub>,
    pub tokens: TokenSigner,
    /// Authorized WebSocket relay sessions waiting for their two peers.
    pub relays: Arc<relay_ws::RelayRegistry>,
    /// STUN/TURN servers and per-peer TURN credentials for `welcome`.
    pub ice: Arc<turn::IceProvider>,
    /// Parties waiting on HTTP pipe paths, and the paths with a transfer running.
    pub pipes: Arc<pipe::Registry>,
}

impl AppState {
    pub fn new(config: ServerConfig) -> Self {
        let secret = config
            .secret
            .clone()
            .unwrap_or_else(|| rand::random::<[u8; 32]>().to_vec());
        AppState {
            hub: Arc::new(Hub::new(config.code_room_ttl)),
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

    pub fn ice_servers_for(&self, peer_id: &str) -> Vec<IceServer> {
        self.ice.ice_servers_for(peer_id, None)
    }

    /// `host` is the request's Host header: the name this client reaches us by.
    pub fn ice_servers_for_host(&self, peer_id: &str, host: Option<&str>) -> Vec<IceServer> {
        self.ice.ice_servers_for(peer_id, host)
    }
}

pub fn router(state: AppState) -> Router {
    let pipes = state.pipes.clone();
    Router::new()
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
        .fallback(move |request| pipe::handle(pipes.clone(), request))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A server bound to its port; `run` serves until the process ends.
pub struct BoundServer {
    listener: TcpListener,
    state: AppState,
    turn: Option<ferry_turn::TurnServer>,
}

impl BoundServer {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let mut state = AppState::new(config);
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
            state,
            turn,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The embedded STUN/TURN server's UDP address, when it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().map(|t| t.local_addr())
    }

    pub async fn run(self) -> std::io::Result<()> {
        // The TURN server's tasks live on their own; holding it here ties its lifetime to ours.
        let _turn = self.turn;
        let hub = self.state.hub.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let n = hub.sweep_expired_rooms(Instant::now());
                if n > 0 {
                    tracing::debug!(expired = n, "code rooms expired");
                }
            }
        });
        let app = router(self.state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }
}
