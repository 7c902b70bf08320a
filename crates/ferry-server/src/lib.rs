//! `ferry serve`: the web app, the signaling hub, and (in later modules) relays and STUN/TURN,
//! on one port.
#![forbid(unsafe_code)]

pub mod config;
mod display_name;
pub mod hub;
pub mod lan_room;
mod signaling_ws;
pub mod token;
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
            config: Arc::new(config),
        }
    }

    pub fn ice_servers_for(&self, _peer_id: &str) -> Vec<IceServer> {
        if self.config.ice_urls.is_empty() {
            return Vec::new();
        }
        vec![IceServer {
            urls: self.config.ice_urls.clone(),
            username: None,
            credential: None,
        }]
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web_assets::index))
        .route("/index.html", get(web_assets::index))
        .route("/app/{*path}", get(web_assets::app_file))
        .route("/ws", get(signaling_ws::upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/version", get(|| async { format!("ferry {VERSION}\n") }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A server bound to its port; `run` serves until the process ends.
pub struct BoundServer {
    listener: TcpListener,
    state: AppState,
}

impl BoundServer {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(BoundServer {
            listener,
            state: AppState::new(config),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run(self) -> std::io::Result<()> {
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
