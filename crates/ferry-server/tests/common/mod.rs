//! Shared helpers: a real server on an ephemeral loopback port and real WebSocket clients.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ferry_protocol::signaling::ServerMessage;
use ferry_server::{BoundServer, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long to wait for something that must happen. Only catches hangs: generous, because a
/// loaded machine is slow, and a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn loopback_config() -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    }
}

pub async fn start(config: ServerConfig) -> SocketAddr {
    let server = BoundServer::bind(config).await.expect("bind");
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    addr
}

pub struct Client {
    pub ws: Ws,
    pub id: String,
    pub name: String,
    pub token: String,
    pub welcome: ServerMessage,
}

pub async fn connect_raw(addr: SocketAddr, query: &str, forwarded_for: Option<&str>) -> Ws {
    let mut req = format!("ws://{addr}/ws{query}")
        .into_client_request()
        .unwrap();
    if let Some(xff) = forwarded_for {
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    ws
}

pub async fn connect_with(addr: SocketAddr, query: &str, forwarded_for: Option<&str>) -> Client {
    let mut ws = connect_raw(addr, query, forwarded_for).await;
    let welcome = recv(&mut ws).await;
    let ServerMessage::Welcome { peer, token, .. } = &welcome else {
        panic!("expected welcome, got {welcome:?}");
    };
    Client {
        id: peer.id.clone(),
        name: peer.name.clone(),
        token: token.clone(),
        welcome: welcome.clone(),
        ws,
    }
}

pub async fn connect(addr: SocketAddr) -> Client {
    connect_with(addr, "", None).await
}

/// Next signaling message, skipping WebSocket control frames.
pub async fn recv(ws: &mut Ws) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection ended")
            .expect("websocket error");
        match frame {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).expect("valid server JSON");
            }
            Message::Close(c) => panic!("closed by server: {c:?}"),
            _ => continue,
        }
    }
}

/// Waits for a message matching `pred`, skipping others.
pub async fn recv_until(ws: &mut Ws, pred: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, recv(ws))
            .await
            .expect("timed out waiting for a matching message");
        if pred(&msg) {
            return msg;
        }
    }
}

/// Asserts nothing but control frames arrive within `d`.
pub async fn assert_silent(ws: &mut Ws, d: Duration) {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(t)))) => panic!("unexpected message: {t}"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended: {other:?}"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: serde_json::Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub async fn send_text(ws: &mut Ws, s: &str) {
    ws.send(Message::Text(s.to_string().into())).await.unwrap();
}

pub fn error_code(msg: &ServerMessage) -> Option<String> {
    match msg {
        ServerMessage::Error { code, .. } => Some(
            serde_json::to_value(code)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
        ),
        _ => None,
    }
}
