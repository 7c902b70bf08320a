//! Client side of signaling v1 (`/ws`): a WebSocket to the ferry server, speaking the types of
//! `ferry_protocol::signaling`.

use ferry_protocol::signaling::{
    ClientMessage, IceServer, PeerInfo, RoomInfo, ServerMessage, Signal,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    #[error("invalid server URL {0:?}: {1}")]
    BadUrl(String, String),
    #[error("cannot connect to the ferry server at {0}: {1}")]
    Connect(String, String),
    #[error("the server closed the signaling connection")]
    Closed,
    #[error("signaling connection failed: {0}")]
    Io(String),
    #[error("the server sent something unexpected: {0}")]
    Unexpected(String),
    #[error("server error {code}: {message}")]
    Server { code: String, message: String },
}

/// What connecting to one peer needs from signaling: who we are, the ICE servers and relay
/// token from `welcome`, sending, and the messages that concern that peer. A
/// [`SignalingClient`] is one (it sees every message); a [`crate::signaling_mux::MuxPeer`] is
/// another (one peer's share of a signaling connection that serves several links at once).
pub trait PeerSignaling: Send {
    /// This peer, as `welcome` named it.
    fn me(&self) -> &PeerInfo;
    /// The token from `welcome` (authorizes this peer on `/relay/<id>`).
    fn token(&self) -> &str;
    fn ice_servers(&self) -> &[IceServer];
    /// The HTTP base URL of the server.
    fn http_base(&self) -> &str;
    fn send(
        &mut self,
        msg: &ClientMessage,
    ) -> impl std::future::Future<Output = Result<(), SignalingError>> + Send;
    /// The next message; cancel-safe.
    fn recv(
        &mut self,
    ) -> impl std::future::Future<Output = Result<ServerMessage, SignalingError>> + Send;
    fn send_signal(
        &mut self,
        to: &str,
        signal: Signal,
    ) -> impl std::future::Future<Output = Result<(), SignalingError>> + Send {
        let msg = ClientMessage::Signal {
            to: to.to_string(),
            signal,
        };
        async move { self.send(&msg).await }
    }
}

impl PeerSignaling for SignalingClient {
    fn me(&self) -> &PeerInfo {
        &self.me
    }
    fn token(&self) -> &str {
        &self.token
    }
    fn ice_servers(&self) -> &[IceServer] {
        &self.ice_servers
    }
    fn http_base(&self) -> &str {
        &self.http_base
    }
    async fn send(&mut self, msg: &ClientMessage) -> Result<(), SignalingError> {
        SignalingClient::send(self, msg).await
    }
    async fn recv(&mut self) -> Result<ServerMessage, SignalingError> {
        SignalingClient::recv(self).await
    }
}

/// A connected signaling session, after `welcome`.
pub struct SignalingClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub me: PeerInfo,
    /// This peer's token from `welcome` (authorizes it on `/relay/<id>`).
    pub token: String,
    pub ice_servers: Vec<IceServer>,
    pub rooms: Vec<RoomInfo>,
    /// The HTTP base URL of the server (for links to the web app).
    pub http_base: String,
    /// Messages handed back with [`SignalingClient::unread`], returned by `recv()` first.
    held: std::collections::VecDeque<ServerMessage>,
}

/// Turns `http://host:port[/]` (or ws://) into the `/ws` WebSocket URL and the HTTP base.
pub fn server_urls(server: &str) -> Result<(String, String), SignalingError> {
    let bad = |why: &str| SignalingError::BadUrl(server.to_string(), why.to_string());
    let mut url = url::Url::parse(server).map_err(|e| bad(&e.to_string()))?;
    let (ws_scheme, http_scheme) = match url.scheme() {
        "http" | "ws" => ("ws", "http"),
        "https" | "wss" => ("wss", "https"),
        other => return Err(bad(&format!("scheme {other:?} is not http(s) or ws(s)"))),
    };
    url.set_scheme(http_scheme)
        .map_err(|_| bad("cannot set scheme"))?;
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    let http_base = url.as_str().trim_end_matches('/').to_string();
    url.set_scheme(ws_scheme)
        .map_err(|_| bad("cannot set scheme"))?;
    url.set_path(&format!("{path}/ws"));
    url.set_query(Some("client=cli"));
    Ok((url.to_string(), http_base))
}

/// The library's error, plus what to do about the one users hit with self-hosted servers.
pub fn explain_connect_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    let text = e.to_string();
    if text.contains("certificate") {
        format!(
            "{text} (the server's TLS certificate is not trusted here; for a private CA or a \
             self-signed certificate set SSL_CERT_FILE to its PEM file)"
        )
    } else {
        text
    }
}

impl SignalingClient {
    /// Connects to `server` (e.g. `http://localhost:8080`) and waits for `welcome`.
    pub async fn connect(server: &str) -> Result<Self, SignalingError> {
        Self::connect_as(server, None).await
    }

    /// Like [`Self::connect`], presenting a `token` from an earlier `welcome` to come back as
    /// the same peer (the hub ignores one it did not issue and gives a new id).
    pub async fn connect_as(server: &str, token: Option<&str>) -> Result<Self, SignalingError> {
        let (mut ws_url, http_base) = server_urls(server)?;
        if let Some(t) = token {
            let mut u = url::Url::parse(&ws_url).expect("server_urls builds a valid URL");
            u.query_pairs_mut().append_pair("token", t);
            ws_url = u.to_string();
        }
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .map_err(|e| SignalingError::Connect(http_base.clone(), explain_connect_error(&e)))?;
        let mut client = SignalingClient {
            ws,
            me: PeerInfo {
                id: String::new(),
                name: String::new(),
                client: String::new(),
                device: String::new(),
            },
            token: String::new(),
            ice_servers: Vec::new(),
            rooms: Vec::new(),
            http_base,
            held: std::collections::VecDeque::new(),
        };
        match client.recv().await? {
            ServerMessage::Welcome {
                peer,
                token,
                ice_servers,
                rooms,
                ..
            } => {
                client.me = peer;
                client.token = token;
                client.ice_servers = ice_servers;
                client.rooms = rooms;
                Ok(client)
            }
            other => Err(SignalingError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), SignalingError> {
        let json = serde_json::to_string(msg).expect("client messages serialize");
        self.ws
            .send(WsMessage::text(json))
            .await
            .map_err(|e| SignalingError::Io(e.to_string()))
    }

    pub async fn send_signal(&mut self, to: &str, signal: Signal) -> Result<(), SignalingError> {
        self.send(&ClientMessage::Signal {
            to: to.to_string(),
            signal,
        })
        .await
    }

    /// Hands messages back: the next `recv()` calls return them, in order, before anything new.
    /// For a caller that had to keep reading (to answer heartbeats) while it could not act on
    /// the messages yet — `ferry send` asking its user whether to send to a peer that is already
    /// starting to connect.
    pub fn unread(&mut self, msgs: impl IntoIterator<Item = ServerMessage>) {
        let mut msgs: Vec<ServerMessage> = msgs.into_iter().collect();
        for m in msgs.drain(..).rev() {
            self.held.push_front(m);
        }
    }

    /// The next message from the server. Cancel-safe.
    pub async fn recv(&mut self) -> Result<ServerMessage, SignalingError> {
        if let Some(m) = self.held.pop_front() {
            return Ok(m);
        }
        loop {
            let frame = self
                .ws
                .next()
                .await
                .ok_or(SignalingError::Closed)?
                .map_err(|e| SignalingError::Io(e.to_string()))?;
            match frame {
                WsMessage::Text(t) => match serde_json::from_str(t.as_str()) {
                    Ok(msg) => return Ok(msg),
                    // A newer server may send message types this client does not know yet:
                    // they are additions, so skip them rather than end the session.
                    Err(e) if e.to_string().starts_with("unknown variant") => {
                        tracing::debug!("ignoring an unknown signaling message: {t}");
                        continue;
                    }
                    Err(e) => return Err(SignalingError::Unexpected(format!("{e}: {t}"))),
                },
                WsMessage::Close(_) => return Err(SignalingError::Closed),
                _ => continue, // pings are answered by tungstenite
            }
        }
    }

    /// Creates a code room; returns it.
    pub async fn create_room(&mut self) -> Result<RoomInfo, SignalingError> {
        self.send(&ClientMessage::CreateRoom).await?;
        self.await_room().await
    }

    /// Joins the code room `code` (typed codes may have spaces, dashes, lower case).
    pub async fn join_room(&mut self, code: &str) -> Result<RoomInfo, SignalingError> {
        self.send(&ClientMessage::JoinRoom {
            code: code.to_string(),
        })
        .await?;
        self.await_room().await
    }

    async fn await_room(&mut self) -> Result<RoomInfo, SignalingError> {
        loop {
            match self.recv().await? {
                ServerMessage::RoomJoined { room } => return Ok(room),
                ServerMessage::Error { code, message } => {
                    let code = serde_json::to_value(code)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    return Err(SignalingError::Server { code, message });
                }
                _ => continue, // presence of the LAN room and the like
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::server_urls;

    #[test]
    fn urls() {
        assert_eq!(
            server_urls("http://localhost:8080").unwrap(),
            (
                "ws://localhost:8080/ws?client=cli".into(),
                "http://localhost:8080".into()
            )
        );
        assert_eq!(
            server_urls("https://ferry.example/base/").unwrap(),
            (
                "wss://ferry.example/base/ws?client=cli".into(),
                "https://ferry.example/base".into()
            )
        );
        assert!(server_urls("ftp://x").is_err());
    }

    /// A server one protocol version ahead: a message type we do not know is skipped, a broken
    /// message of a known type is still an error.
    #[tokio::test]
    async fn unknown_message_types_are_skipped() {
        use super::{SignalingClient, SignalingError};
        use ferry_protocol::signaling::{PeerInfo, ServerMessage};
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for broken in [false, true] {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let future = r#"{"type":"from-the-future","x":1}"#;
                ws.send(Message::text(future)).await.unwrap();
                let welcome = if broken {
                    r#"{"type":"welcome","version":"two"}"#.to_string()
                } else {
                    ServerMessage::Welcome {
                        version: 9,
                        peer: PeerInfo {
                            id: "0123456789abcdef".into(),
                            name: "Swift Heron".into(),
                            client: "cli".into(),
                            device: String::new(),
                        },
                        token: "t".into(),
                        rooms: vec![],
                        ice_servers: vec![],
                    }
                    .to_json()
                };
                ws.send(Message::text(welcome)).await.unwrap();
                let _ = ws.close(None).await;
            }
        });
        let client = SignalingClient::connect(&url)
            .await
            .expect("welcome after the unknown");
        assert_eq!(client.me.name, "Swift Heron");
        assert!(matches!(
            SignalingClient::connect(&url).await,
            Err(SignalingError::Unexpected(_))
        ));
    }
}
