//! Shared by the turn_*.rs tests: a real `ferry serve` (HTTP + embedded TURN) on loopback, its
//! welcome message fetched over a real WebSocket, and real TURN clients (webrtc-rs `turn`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_protocol::signaling::{IceServer, ServerMessage};
use ferry_server::turn::TurnOptions;
use ferry_server::{BoundServer, ServerConfig};
use futures_util::StreamExt;
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;
use turn::client::{Client, ClientConfig};

/// How long to wait for something that must happen. Only catches hangs: generous, because a
/// loaded machine is slow, and a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(20);
pub const SECRET: &str = "turn-test-secret";

pub struct Running {
    pub http: SocketAddr,
    pub turn: SocketAddr,
    pub state: ferry_server::AppState,
}

pub fn options() -> TurnOptions {
    TurnOptions {
        enabled: true,
        port: 0,
        secret: Some(SECRET.into()),
        relay_ports: 50000..=59999,
        ..TurnOptions::default()
    }
}

pub async fn start(turn: TurnOptions) -> Running {
    let config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        turn,
        ..ServerConfig::default()
    };
    let server = BoundServer::bind(config).await.expect("bind");
    let http = server.local_addr().unwrap();
    let turn = server.turn_addr().expect("TURN enabled");
    let state = server.state().clone();
    tokio::spawn(server.run());
    Running { http, turn, state }
}

/// The welcome's ICE servers, as a browser or native peer would receive them.
pub async fn welcome_ice_servers(http: SocketAddr) -> Vec<IceServer> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .expect("connect");
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("welcome in time")
            .expect("open")
            .expect("ws ok");
        if let Message::Text(t) = frame {
            match serde_json::from_str::<ServerMessage>(t.as_str()).expect("json") {
                ServerMessage::Welcome { ice_servers, .. } => return ice_servers,
                other => panic!("expected welcome, got {other:?}"),
            }
        }
    }
}

pub async fn turn_credentials(http: SocketAddr) -> (String, String) {
    let servers = welcome_ice_servers(http).await;
    let turn = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("a TURN server in welcome");
    (
        turn.username.clone().expect("username"),
        turn.credential.clone().expect("credential"),
    )
}

pub async fn client(turn: SocketAddr, username: &str, password: &str) -> Client {
    client_from("127.0.0.1", turn, username, password).await
}

/// A client whose socket is bound to `ip` (127.0.0.0/8 offers many "other" sources).
pub async fn client_from(ip: &str, turn: SocketAddr, username: &str, password: &str) -> Client {
    let conn = Arc::new(UdpSocket::bind((ip, 0)).await.unwrap());
    let client = Client::new(ClientConfig {
        stun_serv_addr: turn.to_string(),
        turn_serv_addr: turn.to_string(),
        username: username.into(),
        password: password.into(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn,
        vnet: None,
    })
    .await
    .expect("client");
    client.listen().await.expect("listen");
    client
}
