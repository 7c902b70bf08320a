//! One signaling connection shared by several links at once (`ferry send --receivers N`).
//!
//! A task owns the [`SignalingClient`] and routes each message to the peer it concerns: a
//! `signal` by its `from`, a `relay-ready` by its `peerId`, `peer-left` / `peer-joined` to that
//! peer *and* to the lobby. Everything else (presence, room listings, errors) goes to the
//! lobby, read by whoever decides which peers to connect to. Each [`MuxPeer`] is one peer's share
//! and implements [`PeerSignaling`], so `connect_with_fallback` and `Link::departed` run on it as
//! on a whole client.
//!
//! Signals of a peer that has no handle yet (it started connecting while the user was still
//! asked about it) are held, in order and bounded, and handed to its handle when it registers:
//! registration and routing happen in the one task, so nothing is lost or reordered between
//! them.

use std::collections::HashMap;

use ferry_protocol::signaling::{ClientMessage, IceServer, PeerInfo, ServerMessage};
use tokio::sync::mpsc;

use crate::signaling::{PeerSignaling, SignalingClient, SignalingError};

/// What a peer may say before it has a handle is bounded: an SDP offer and its ICE candidates
/// are a few dozen messages; a peer that sends more (a guesser flooding us) loses the rest.
const MAX_HELD_PER_PEER: usize = 128;
/// Peers whose early signals are held at once (the room holds 64 peers).
const MAX_HELD_PEERS: usize = 64;

enum Command {
    Send(ClientMessage),
    Register(String, mpsc::UnboundedSender<ServerMessage>),
    Unregister(String),
    Forget(String),
}

/// What `welcome` said, shared by every handle.
#[derive(Clone)]
struct Identity {
    me: PeerInfo,
    token: String,
    ice_servers: Vec<IceServer>,
    http_base: String,
}

/// The lobby side of a shared signaling connection: room events, and handles for peers.
pub struct SignalingMux {
    id: Identity,
    cmd: mpsc::UnboundedSender<Command>,
    lobby: mpsc::UnboundedReceiver<ServerMessage>,
    task: tokio::task::JoinHandle<()>,
}

/// One peer's share of a [`SignalingMux`]: the messages about that peer, and sending.
pub struct MuxPeer {
    id: Identity,
    peer_id: String,
    cmd: mpsc::UnboundedSender<Command>,
    rx: mpsc::UnboundedReceiver<ServerMessage>,
}

impl SignalingMux {
    /// Takes over `client`; from now on its messages arrive through the mux.
    pub fn start(client: SignalingClient) -> Self {
        let id = Identity {
            me: client.me.clone(),
            token: client.token.clone(),
            ice_servers: client.ice_servers.clone(),
            http_base: client.http_base.clone(),
        };
        let (cmd, cmds) = mpsc::unbounded_channel();
        let (lobby_tx, lobby) = mpsc::unbounded_channel();
        let task = tokio::spawn(route(client, cmds, lobby_tx));
        SignalingMux {
            id,
            cmd,
            lobby,
            task,
        }
    }

    pub fn me(&self) -> &PeerInfo {
        &self.id.me
    }

    /// The next lobby message (presence, listings, errors); `Closed` once signaling ended.
    pub async fn recv(&mut self) -> Result<ServerMessage, SignalingError> {
        self.lobby.recv().await.ok_or(SignalingError::Closed)
    }

    pub fn send(&self, msg: ClientMessage) -> Result<(), SignalingError> {
        self.cmd
            .send(Command::Send(msg))
            .map_err(|_| SignalingError::Closed)
    }

    /// A handle for `peer_id`, starting with whatever it said before.
    pub fn peer(&self, peer_id: &str) -> MuxPeer {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.cmd.send(Command::Register(peer_id.to_string(), tx));
        MuxPeer {
            id: self.id.clone(),
            peer_id: peer_id.to_string(),
            cmd: self.cmd.clone(),
            rx,
        }
    }

    /// Drops what a peer said before a handle was made (it will not get one).
    pub fn forget(&self, peer_id: &str) {
        let _ = self.cmd.send(Command::Forget(peer_id.to_string()));
    }

    /// Closes the signaling connection once every handle is gone.
    pub async fn close(self) {
        drop(self.cmd);
        drop(self.lobby);
        let _ = self.task.await;
    }
}

/// The peer a message is about, when it is about one.
fn addressee(msg: &ServerMessage) -> Option<&str> {
    match msg {
        ServerMessage::Signal { from, .. } => Some(from),
        ServerMessage::RelayReady { peer_id, .. } => Some(peer_id),
        ServerMessage::PeerLeft { peer_id, .. } => Some(peer_id),
        ServerMessage::PeerJoined { peer, .. } => Some(&peer.id),
        _ => None,
    }
}

/// Presence goes to the lobby as well as to the peer's handle.
fn is_presence(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::PeerLeft { .. } | ServerMessage::PeerJoined { .. }
    )
}

async fn route(
    mut client: SignalingClient,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    lobby: mpsc::UnboundedSender<ServerMessage>,
) {
    let mut peers: HashMap<String, mpsc::UnboundedSender<ServerMessage>> = HashMap::new();
    let mut held: HashMap<String, Vec<ServerMessage>> = HashMap::new();
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                // The mux and every handle are gone.
                None => break,
                Some(Command::Send(m)) => {
                    if let Err(e) = client.send(&m).await {
                        tracing::debug!("signaling send failed: {e}");
                        break;
                    }
                }
                Some(Command::Register(id, tx)) => {
                    for m in held.remove(&id).unwrap_or_default() {
                        let _ = tx.send(m);
                    }
                    peers.insert(id, tx);
                }
                Some(Command::Unregister(id)) => {
                    peers.remove(&id);
                }
                Some(Command::Forget(id)) => {
                    held.remove(&id);
                }
            },
            m = client.recv() => {
                let Ok(m) = m else { break };
                let Some(to) = addressee(&m).map(str::to_string) else {
                    let _ = lobby.send(m);
                    continue;
                };
                if is_presence(&m) {
                    if matches!(m, ServerMessage::PeerLeft { .. }) {
                        held.remove(&to);
                    }
                    let _ = lobby.send(m.clone());
                    if let Some(tx) = peers.get(&to) {
                        let _ = tx.send(m);
                    }
                } else if let Some(tx) = peers.get(&to) {
                    let _ = tx.send(m);
                } else if held.contains_key(&to) || held.len() < MAX_HELD_PEERS {
                    let q = held.entry(to).or_default();
                    if q.len() < MAX_HELD_PER_PEER {
                        q.push(m);
                    }
                }
            }
        }
    }
    // Handles see `Closed` once their channels end (their senders are dropped here).
    client.close().await;
}

impl Drop for MuxPeer {
    fn drop(&mut self) {
        let _ = self.cmd.send(Command::Unregister(self.peer_id.clone()));
    }
}

impl PeerSignaling for MuxPeer {
    fn me(&self) -> &PeerInfo {
        &self.id.me
    }
    fn token(&self) -> &str {
        &self.id.token
    }
    fn ice_servers(&self) -> &[IceServer] {
        &self.id.ice_servers
    }
    fn http_base(&self) -> &str {
        &self.id.http_base
    }
    async fn send(&mut self, msg: &ClientMessage) -> Result<(), SignalingError> {
        self.cmd
            .send(Command::Send(msg.clone()))
            .map_err(|_| SignalingError::Closed)
    }
    async fn recv(&mut self) -> Result<ServerMessage, SignalingError> {
        self.rx.recv().await.ok_or(SignalingError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::SignalingMux;
    use crate::signaling::{PeerSignaling, SignalingClient};
    use ferry_protocol::signaling::{ClientMessage, PeerInfo, ServerMessage, Signal};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    fn peer(id: &str) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            name: format!("Peer {id}"),
            client: "cli".into(),
            device: String::new(),
        }
    }

    fn signal(from: &str, n: u32) -> String {
        ServerMessage::Signal {
            from: from.into(),
            signal: Signal::App {
                payload: serde_json::json!({ "n": n }),
            },
        }
        .to_json()
    }

    fn n_of(m: &ServerMessage) -> Option<u64> {
        match m {
            ServerMessage::Signal {
                signal: Signal::App { payload },
                ..
            } => payload["n"].as_u64(),
            _ => None,
        }
    }

    /// A real WebSocket server on loopback plays the hub: signals of peers that have no handle
    /// yet are held and handed over in order; later ones go straight to the handle; presence
    /// reaches both the lobby and the handle; sends from a handle reach the server.
    #[tokio::test]
    async fn routes_by_peer_and_hands_over_held_signals_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let welcome = ServerMessage::Welcome {
                version: 2,
                peer: peer("me"),
                token: "t".into(),
                rooms: vec![],
                ice_servers: vec![],
            };
            ws.send(Message::text(welcome.to_json())).await.unwrap();
            for m in [signal("p1", 1), signal("p2", 1), signal("p1", 2)] {
                ws.send(Message::text(m)).await.unwrap();
            }
            let joined = ServerMessage::PeerJoined {
                room: "ROOM42".into(),
                peer: peer("p2"),
            };
            ws.send(Message::text(joined.to_json())).await.unwrap();
            // The handle for p1 exists once its first message arrives here.
            let got = loop {
                if let Some(Ok(Message::Text(t))) = ws.next().await {
                    break t.to_string();
                }
            };
            ws.send(Message::text(signal("p1", 3))).await.unwrap();
            let left = ServerMessage::PeerLeft {
                room: "ROOM42".into(),
                peer_id: "p1".into(),
            };
            ws.send(Message::text(left.to_json())).await.unwrap();
            // Keep the socket open until the client closes it.
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
            got
        });
        let client = SignalingClient::connect(&url).await.unwrap();
        let mut mux = SignalingMux::start(client);
        assert_eq!(mux.me().id, "me");
        // Signals are not lobby business: the first lobby message is the presence event.
        assert!(matches!(
            mux.recv().await.unwrap(),
            ServerMessage::PeerJoined { .. }
        ));
        let mut p1 = mux.peer("p1");
        assert_eq!(n_of(&p1.recv().await.unwrap()), Some(1));
        assert_eq!(n_of(&p1.recv().await.unwrap()), Some(2));
        p1.send(&ClientMessage::Signal {
            to: "p1".into(),
            signal: Signal::App {
                payload: serde_json::json!({ "hello": true }),
            },
        })
        .await
        .unwrap();
        assert_eq!(n_of(&p1.recv().await.unwrap()), Some(3));
        assert!(matches!(
            p1.recv().await.unwrap(),
            ServerMessage::PeerLeft { ref peer_id, .. } if peer_id == "p1"
        ));
        assert!(matches!(
            mux.recv().await.unwrap(),
            ServerMessage::PeerLeft { ref peer_id, .. } if peer_id == "p1"
        ));
        // p2's early signal waited for its handle; the joined event went to the lobby only.
        let mut p2 = mux.peer("p2");
        assert_eq!(n_of(&p2.recv().await.unwrap()), Some(1));
        drop(p1);
        drop(p2);
        mux.close().await;
        let sent = server.await.unwrap();
        assert!(sent.contains(r#""hello":true"#), "{sent}");
    }
}
