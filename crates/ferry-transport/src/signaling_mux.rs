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
