//! The signaling hub: who is connected, which rooms they share, and forwarding between them.
//!
//! One rule: the hub never waits on a peer. Messages go into each peer's bounded outbox with
//! `try_send`; a peer whose outbox is full is too slow to keep up and is disconnected (dropping its
//! outbox sender closes its connection). This keeps one stuck client from stalling everyone else.
//!
//! The in-memory [`Hub`] is the only implementation today. Its public methods are the seam a
//! Redis-backed hub (rooms and forwarding over pub/sub) would implement to scale out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_protocol::signaling::{
    ErrorCode, IceServer, PeerInfo, RoomInfo, RoomKind, SIGNALING_VERSION, ServerMessage, Signal,
    validate_display_name,
};
use tokio::sync::mpsc;

use crate::display_name::display_name_for;

/// Queued messages per peer before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 512;
/// Code rooms a single peer may be in at once.
pub const MAX_CODE_ROOMS_PER_PEER: usize = 8;
/// Peers in one code room.
pub const MAX_PEERS_PER_CODE_ROOM: usize = 64;

const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 6;

/// What a connection task receives from the hub.
pub type Outbox = mpsc::Receiver<Arc<str>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RoomKey {
    Lan(String),
    Code(String),
}

impl RoomKey {
    fn public_id(&self) -> &str {
        match self {
            RoomKey::Lan(_) => "lan",
            RoomKey::Code(c) => c,
        }
    }

    fn kind(&self) -> RoomKind {
        match self {
            RoomKey::Lan(_) => RoomKind::Lan,
            RoomKey::Code(_) => RoomKind::Code,
        }
    }
}

struct Peer {
    info: PeerInfo,
    conn: u64,
    tx: mpsc::Sender<Arc<str>>,
    lan: RoomKey,
    codes: BTreeSet<String>,
}

impl Peer {
    fn rooms(&self) -> impl Iterator<Item = RoomKey> + '_ {
        std::iter::once(self.lan.clone()).chain(self.codes.iter().cloned().map(RoomKey::Code))
    }
}

#[derive(Default)]
struct Room {
    members: BTreeSet<String>,
    empty_since: Option<Instant>,
}

#[derive(Default)]
struct State {
    peers: HashMap<String, Peer>,
    rooms: HashMap<RoomKey, Room>,
}

/// Why the hub refused a request; sent to the client as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubError {
    pub code: ErrorCode,
    pub message: String,
}

impl HubError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HubError {
            code,
            message: message.into(),
        }
    }
}

impl From<HubError> for ServerMessage {
    fn from(e: HubError) -> Self {
        ServerMessage::Error {
            code: e.code,
            message: e.message,
        }
    }
}

/// Identifies one connection of a peer (a peer id can reconnect and replace its old connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub peer_id: String,
    pub conn: u64,
}

pub struct Hub {
    state: std::sync::Mutex<State>,
    next_conn: AtomicU64,
    code_room_ttl: Duration,
}

impl Hub {
    pub fn new(code_room_ttl: Duration) -> Self {
        Hub {
            state: Default::default(),
            next_conn: AtomicU64::new(1),
            code_room_ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in this module; keep serving anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection. If `peer_id` is already connected, the old connection is dropped.
    /// Returns the session, its outbox, and the welcome message (already queued first).
    pub fn connect(
        &self,
        peer_id: String,
        client: String,
        lan_key: String,
        token: String,
        ice_servers: Vec<IceServer>,
    ) -> (Session, Outbox) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let mut st = self.lock();
        if st.peers.contains_key(&peer_id) {
            remove_peer(&mut st, &peer_id);
        }
        let info = PeerInfo {
            id: peer_id.clone(),
            name: display_name_for(&peer_id),
            client,
        };
        let lan = RoomKey::Lan(lan_key);
        let (lan_room, more_peers) = room_info(&st, &lan, &peer_id).paged();
        let welcome = ServerMessage::Welcome {
            version: SIGNALING_VERSION,
            peer: info.clone(),
            token,
            rooms: vec![lan_room],
            ice_servers,
        };
        let _ = tx.try_send(welcome.to_json().into());
        for page in more_peers {
            let _ = tx.try_send(page.to_json().into());
        }
        let peer = Peer {
            info: info.clone(),
            conn,
            tx,
            lan: lan.clone(),
            codes: BTreeSet::new(),
        };
        st.peers.insert(peer_id.clone(), peer);
        join_room(&mut st, &lan, &peer_id);
        (Session { peer_id, conn }, rx)
    }

    /// Removes a connection (if it is still the peer's current one) and tells its rooms.
    pub fn disconnect(&self, session: &Session) {
        let mut st = self.lock();
        if st
            .peers
            .get(&session.peer_id)
            .is_some_and(|p| p.conn == session.conn)
        {
            remove_peer(&mut st, &session.peer_id);
        }
    }

    /// Answers `create-room` / `join-room`: `room-joined` with the first page of peers, then
    /// `room-peers` for the rest.
    pub fn reply_room(&self, session: &Session, room: RoomInfo) {
        let (room, more_peers) = room.paged();
        self.reply(session, &ServerMessage::RoomJoined { room });
        for page in &more_peers {
            self.reply(session, page);
        }
    }

    /// Sends a message to one session only.
    pub fn reply(&self, session: &Session, msg: &ServerMessage) {
        let mut st = self.lock();
        if st
            .peers
            .get(&session.peer_id)
            .is_some_and(|p| p.conn == session.conn)
        {
            send_to(&mut st, &session.peer_id, msg.to_json().into());
        }
    }

    pub fn create_room(&self, session: &Session) -> Result<RoomInfo, HubError> {
        let mut st = self.lock();
        let peer = self.current(&st, session)?;
        if peer.codes.len() >= MAX_CODE_ROOMS_PER_PEER {
            return Err(HubError::new(
                ErrorCode::Limit,
                "you are in 8 code rooms already; leave one first",
            ));
        }
        let code = loop {
            let code = new_room_code();
            if !st.rooms.contains_key(&RoomKey::Code(code.clone())) {
                break code;
            }
        };
        let key = RoomKey::Code(code.clone());
        st.rooms.insert(key.clone(), Room::default());
        join_room(&mut st, &key, &session.peer_id);
        if let Some(p) = st.peers.get_mut(&session.peer_id) {
            p.codes.insert(code);
        }
        Ok(room_info(&st, &key, &session.peer_id))
    }

    pub fn join_room(&self, session: &Session, code: &str) -> Result<RoomInfo, HubError> {
        let mut st = self.lock();
        let peer = self.current(&st, session)?;
        let Some(code) = normalize_room_code(code) else {
            return Err(HubError::new(
                ErrorCode::RoomNotFound,
                "room codes are 6 letters and digits",
            ));
        };
        if peer.codes.contains(&code) {
            let key = RoomKey::Code(code);
            return Ok(room_info(&st, &key, &session.peer_id));
        }
        if peer.codes.len() >= MAX_CODE_ROOMS_PER_PEER {
            return Err(HubError::new(
                ErrorCode::Limit,
                "you are in 8 code rooms already; leave one first",
            ));
        }
        let key = RoomKey::Code(code.clone());
        match st.rooms.get(&key) {
            None => {
                return Err(HubError::new(
                    ErrorCode::RoomNotFound,
                    format!("no room {code}; it may have expired — ask for a new code"),
                ));
            }
            Some(r) if r.members.len() >= MAX_PEERS_PER_CODE_ROOM => {
                return Err(HubError::new(
                    ErrorCode::Limit,
                    format!("room {code} is full"),
                ));
            }
            Some(_) => {}
        }
        let info = room_info(&st, &key, &session.peer_id);
        join_room(&mut st, &key, &session.peer_id);
        if let Some(p) = st.peers.get_mut(&session.peer_id) {
            p.codes.insert(code);
        }
        Ok(info)
    }

    pub fn leave_room(&self, session: &Session, code: &str) -> Result<String, HubError> {
        let mut st = self.lock();
        let peer = self.current(&st, session)?;
        let code = normalize_room_code(code).filter(|c| peer.codes.contains(c));
        let Some(code) = code else {
            return Err(HubError::new(
                ErrorCode::RoomNotFound,
                "you are not in that room (the LAN room cannot be left)",
            ));
        };
        let key = RoomKey::Code(code.clone());
        leave_room(&mut st, &key, &session.peer_id);
        if let Some(p) = st.peers.get_mut(&session.peer_id) {
            p.codes.remove(&code);
        }
        Ok(code)
    }

    pub fn set_name(&self, session: &Session, name: &str) -> Result<(), HubError> {
        let mut st = self.lock();
        self.current(&st, session)?;
        let name =
            validate_display_name(name).map_err(|e| HubError::new(ErrorCode::InvalidValue, e))?;
        let Some(p) = st.peers.get_mut(&session.peer_id) else {
            return Ok(());
        };
        p.info.name = name;
        let info = p.info.clone();
        let msg: Arc<str> = ServerMessage::PeerUpdated { peer: info }.to_json().into();
        let mut targets = room_mates(&st, &session.peer_id);
        targets.insert(session.peer_id.clone());
        for t in targets {
            send_to(&mut st, &t, msg.clone());
        }
        Ok(())
    }

    /// Forwards a signal to `to`, stamped with the sender's id, if they share a room.
    pub fn forward(&self, session: &Session, to: &str, signal: Signal) -> Result<(), HubError> {
        let mut st = self.lock();
        self.check_room_mate_locked(&st, session, to)?;
        let msg = ServerMessage::Signal {
            from: session.peer_id.clone(),
            signal,
        };
        send_to(&mut st, to, msg.to_json().into());
        Ok(())
    }

    /// Checks that `to` is another peer sharing a room with the session's peer.
    pub fn check_room_mate(&self, session: &Session, to: &str) -> Result<(), HubError> {
        let st = self.lock();
        self.check_room_mate_locked(&st, session, to)
    }

    fn check_room_mate_locked(
        &self,
        st: &State,
        session: &Session,
        to: &str,
    ) -> Result<(), HubError> {
        let peer = self.current(st, session)?;
        // Signals are the hub's hot path: look `to` up in each of the sender's rooms rather than
        // collecting every room mate.
        let shares_room = to != session.peer_id
            && peer
                .rooms()
                .any(|k| st.rooms.get(&k).is_some_and(|r| r.members.contains(to)));
        if !shares_room {
            return Err(HubError::new(
                ErrorCode::PeerNotFound,
                format!(
                    "no peer {:?} in your rooms; it may have left",
                    to.chars().take(32).collect::<String>()
                ),
            ));
        }
        Ok(())
    }

    /// Queues a message for a connected peer, whichever connection it is on now.
    pub fn notify(&self, peer_id: &str, msg: &ServerMessage) {
        let mut st = self.lock();
        send_to(&mut st, peer_id, msg.to_json().into());
    }

    /// Drops code rooms that have been empty for longer than the TTL.
    pub fn sweep_expired_rooms(&self, now: Instant) -> usize {
        let ttl = self.code_room_ttl;
        let mut st = self.lock();
        let before = st.rooms.len();
        st.rooms.retain(|key, room| match (key, room.empty_since) {
            (RoomKey::Code(_), Some(since)) => now.duration_since(since) < ttl,
            _ => true,
        });
        before - st.rooms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.lock().peers.len()
    }

    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    fn current<'a>(&self, st: &'a State, session: &Session) -> Result<&'a Peer, HubError> {
        st.peers
            .get(&session.peer_id)
            .filter(|p| p.conn == session.conn)
            .ok_or_else(|| HubError::new(ErrorCode::PeerNotFound, "session replaced"))
    }
}

fn room_info(st: &State, key: &RoomKey, viewer: &str) -> RoomInfo {
    let peers = st
        .rooms
        .get(key)
        .map(|r| {
            r.members
                .iter()
                .filter(|id| id.as_str() != viewer)
                .filter_map(|id| st.peers.get(id).map(|p| p.info.clone()))
                .collect()
        })
        .unwrap_or_default();
    RoomInfo {
        id: key.public_id().to_string(),
        kind: key.kind(),
        peers,
    }
}

fn room_mates(st: &State, peer_id: &str) -> BTreeSet<String> {
    let Some(peer) = st.peers.get(peer_id) else {
        return BTreeSet::new();
    };
    peer.rooms()
        .filter_map(|k| st.rooms.get(&k))
        .flat_map(|r| r.members.iter().cloned())
        .filter(|id| id != peer_id)
        .collect()
}

fn join_room(st: &mut State, key: &RoomKey, peer_id: &str) {
    let Some(info) = st.peers.get(peer_id).map(|p| p.info.clone()) else {
        return;
    };
    let room = st.rooms.entry(key.clone()).or_default();
    room.empty_since = None;
    if !room.members.insert(peer_id.to_string()) {
        return;
    }
    let others: Vec<String> = room
        .members
        .iter()
        .filter(|id| id.as_str() != peer_id)
        .cloned()
        .collect();
    let msg: Arc<str> = ServerMessage::PeerJoined {
        room: key.public_id().to_string(),
        peer: info,
    }
    .to_json()
    .into();
    for other in others {
        send_to(st, &other, msg.clone());
    }
}

fn leave_room(st: &mut State, key: &RoomKey, peer_id: &str) {
    let Some(room) = st.rooms.get_mut(key) else {
        return;
    };
    if !room.members.remove(peer_id) {
        return;
    }
    let others: Vec<String> = room.members.iter().cloned().collect();
    if room.members.is_empty() {
        match key {
            // LAN rooms cost nothing to recreate; code rooms linger so a link stays valid a while.
            RoomKey::Lan(_) => {
                st.rooms.remove(key);
            }
            RoomKey::Code(_) => room.empty_since = Some(Instant::now()),
        }
    }
    let msg: Arc<str> = ServerMessage::PeerLeft {
        room: key.public_id().to_string(),
        peer_id: peer_id.to_string(),
    }
    .to_json()
    .into();
    for other in others {
        send_to(st, &other, msg.clone());
    }
}

fn remove_peer(st: &mut State, peer_id: &str) {
    let Some(peer) = st.peers.get(peer_id) else {
        return;
    };
    let rooms: Vec<RoomKey> = peer.rooms().collect();
    for key in rooms {
        leave_room(st, &key, peer_id);
    }
    // Dropping the peer drops its outbox sender, which ends its connection task.
    st.peers.remove(peer_id);
}

/// Queues a message for a peer; a peer whose outbox is full is disconnected.
fn send_to(st: &mut State, peer_id: &str, msg: Arc<str>) {
    let Some(peer) = st.peers.get(peer_id) else {
        return;
    };
    match peer.tx.try_send(msg) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(peer = peer_id, "outbox full; disconnecting slow peer");
            remove_peer(st, peer_id);
        }
    }
}

fn new_room_code() -> String {
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Accepts codes typed by humans: any case, spaces and dashes ignored. The alphabet has no
/// 0/O or 1/I/L, so there is nothing to confuse.
pub fn normalize_room_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalize() {
        let c = new_room_code();
        assert_eq!(normalize_room_code(&c.to_lowercase()), Some(c.clone()));
        assert_eq!(
            normalize_room_code(&format!("{}-{}", &c[..3], &c[3..])),
            Some(c)
        );
        assert_eq!(normalize_room_code("ABC"), None);
        assert_eq!(normalize_room_code("ABCDE!"), None);
    }
}
