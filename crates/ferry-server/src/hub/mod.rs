//! The signaling hub: who is connected, which rooms they share, and forwarding between them.
//!
//! Rules:
//! - The hub never waits on a peer. Messages go into each peer's bounded [`Outbox`]; a peer whose
//!   outbox is full is too slow and is disconnected, after the operation, without recursion
//!   (`state.rs`).
//! - One operation, one critical section: an operation queues every message it causes — its own
//!   reply and the room's events — before it unlocks. So a room's listing always reaches a peer
//!   before any event of that room that the listing does not already include.
//! - No operation's cost grows with a room: LAN rooms are split into shards, code rooms are capped.
//!
//! The in-memory [`Hub`] is the default. Its public methods are the seam that
//! [`crate::redis_hub::RedisHub`] implements over Redis to scale out (`--redis`).

mod room_code;
mod state;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_protocol::signaling::{
    ErrorCode, IceServer, MAX_PAIRED_ROOMS_PER_PEER, PAIRED_ROOM_ID_LEN, PeerInfo,
    SIGNALING_VERSION, ServerMessage, Signal, is_paired_room_id, validate_display_name,
};

pub use room_code::{
    DEFAULT_CODE_LEN, MAX_CODE_LEN, MIN_CODE_LEN, new_room_code, normalize_room_code,
};
use state::{Peer, RoomKey, State};

use crate::display_name::display_name_for;
use crate::metrics::Metrics;
pub use crate::outbox::CloseReason;
use crate::outbox::Outbox;

/// Code rooms a single peer may be in at once.
pub const MAX_CODE_ROOMS_PER_PEER: usize = 8;
/// Peers in one code room.
pub const MAX_PEERS_PER_CODE_ROOM: usize = 64;
/// Peers in one paired room: a pairing joins two devices, each with a few tabs or windows open.
pub const MAX_PEERS_PER_PAIRED_ROOM: usize = 8;

/// The hub's limits; `Default` is what `ferry serve` uses.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// How long an empty code room keeps its code.
    pub code_room_ttl: Duration,
    /// Peers one LAN room shows; a network with more is split into rooms of this size.
    pub lan_room_size: usize,
    /// Code rooms on the whole server (live and lingering).
    pub max_code_rooms: usize,
    /// Characters in a new room code.
    pub room_code_len: usize,
    /// Wrong codes tried against a room's nameplate before the room admits no newcomers.
    pub wrong_guesses_per_room: u32,
    /// Bytes a peer's outbox may hold before the peer counts as too slow.
    pub outbox_bytes: usize,
    /// Messages a peer's outbox may hold before the peer counts as too slow.
    pub outbox_messages: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            code_room_ttl: Duration::from_secs(10 * 60),
            lan_room_size: 64,
            max_code_rooms: 50_000,
            room_code_len: DEFAULT_CODE_LEN,
            wrong_guesses_per_room: 10,
            outbox_bytes: 1024 * 1024,
            outbox_messages: 1024,
        }
    }
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

/// Counts for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub peers: usize,
    pub code_rooms: usize,
    pub paired_rooms: usize,
    pub lan_rooms: usize,
    pub lan_networks: usize,
    pub queued_bytes: usize,
}

pub struct Hub {
    state: std::sync::Mutex<State>,
    next_conn: AtomicU64,
    opts: HubOptions,
}

/// The lock guard of one hub operation. Dropping it removes the peers the operation found too
/// slow, still under the lock, so every operation ends with a consistent state.
struct Op<'a>(std::sync::MutexGuard<'a, State>);

impl std::ops::Deref for Op<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl std::ops::DerefMut for Op<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.0
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.0.reap();
    }
}

impl Hub {
    pub fn new(opts: HubOptions, metrics: Arc<Metrics>) -> Self {
        Hub {
            state: std::sync::Mutex::new(State::new(opts.lan_room_size, metrics)),
            next_conn: AtomicU64::new(1),
            opts,
        }
    }

    fn lock(&self) -> Op<'_> {
        // A panic while holding the lock would be a bug in this module; keep serving anyway.
        Op(self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Registers a connection. If `peer_id` is already connected, the old connection is closed.
    /// The `welcome` (and the LAN room's further pages) are queued first in the outbox.
    pub fn connect(
        &self,
        peer_id: String,
        client: String,
        lan_key: String,
        token: String,
        ice_servers: Vec<IceServer>,
    ) -> (Session, Arc<Outbox>) {
        let device = String::new();
        self.connect_with(peer_id, client, device, lan_key, token, ice_servers, None)
    }

    /// [`Hub::connect`], with the device the peer said it is (`PeerInfo::device`, may be empty)
    /// and `quiet_for`: announce the peer to its LAN room only after this long (and never if it
    /// leaves first). Given to connections from addresses over their announcement budget, so
    /// that reconnect churn is not amplified into the room.
    #[allow(clippy::too_many_arguments)]
    pub fn connect_with(
        &self,
        peer_id: String,
        client: String,
        device: String,
        lan_key: String,
        token: String,
        ice_servers: Vec<IceServer>,
        quiet_for: Option<Duration>,
    ) -> (Session, Arc<Outbox>) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let outbox = Outbox::new(self.opts.outbox_bytes, self.opts.outbox_messages);
        let mut st = self.lock();
        if st.peers.contains_key(&peer_id) {
            st.remove_peer(&peer_id, CloseReason::Replaced);
        }
        let info = PeerInfo {
            id: peer_id.clone(),
            name: display_name_for(&peer_id),
            client,
            device,
        };
        let (lan, crowded) = st.lan_shard_for(&lan_key);
        let lan_room = st.room_info(&lan, &peer_id, crowded);
        st.peers.insert(
            peer_id.clone(),
            Peer::new(info.clone(), conn, outbox.clone(), lan.clone()),
        );
        if let Some(delay) = quiet_for {
            st.quiet_until(&peer_id, conn, Instant::now() + delay);
            st.metrics.limit_hit("announcements");
        }
        st.send_room_listing(&peer_id, lan_room, |room| ServerMessage::Welcome {
            version: SIGNALING_VERSION,
            peer: info,
            token,
            rooms: vec![room],
            ice_servers,
        });
        st.join_room(&lan, &peer_id);
        (Session { peer_id, conn }, outbox)
    }

    /// Removes a connection (if it is still the peer's current one) and tells its rooms.
    pub fn disconnect(&self, session: &Session) {
        let mut st = self.lock();
        if is_current(&st, session) {
            st.remove_peer(&session.peer_id, CloseReason::Replaced);
        }
    }

    /// Sends a message to one session only.
    pub fn reply(&self, session: &Session, msg: &ServerMessage) {
        let mut st = self.lock();
        if is_current(&st, session) {
            st.send_to(&session.peer_id, msg.to_json().into());
        }
    }

    /// `create-room`: a new code room with this peer in it; `room-joined` is queued.
    pub fn create_room(&self, session: &Session) -> Result<String, HubError> {
        let mut st = self.lock();
        let peer = current(&st, session)?;
        if peer.codes.len() >= MAX_CODE_ROOMS_PER_PEER {
            return Err(too_many_rooms());
        }
        if st.code_rooms >= self.opts.max_code_rooms {
            st.metrics.limit_hit("code-rooms-total");
            return Err(HubError::new(
                ErrorCode::Limit,
                "the server has too many rooms right now; try again in a few minutes",
            ));
        }
        let code = loop {
            let code = room_code::new_room_code(self.opts.room_code_len);
            if !st.rooms.contains_key(&RoomKey::Code(code.clone())) {
                break code;
            }
        };
        let key = RoomKey::Code(code.clone());
        st.join_room(&key, &session.peer_id);
        if let Some(p) = st.peers.get_mut(&session.peer_id) {
            p.codes.insert(code.clone());
        }
        let info = st.room_info(&key, &session.peer_id, false);
        st.send_room_listing(&session.peer_id, info, |room| ServerMessage::RoomJoined {
            room,
        });
        Ok(code)
    }

    /// `join-room`: `room-joined` with the room's peers is queued for the joiner, then
    /// `peer-joined` for the others, in one critical section.
    pub fn join_room(&self, session: &Session, code: &str) -> Result<(), HubError> {
        let mut st = self.lock();
        let peer = current(&st, session)?;
        let Some(code) = normalize_room_code(code) else {
            return Err(HubError::new(
                ErrorCode::RoomNotFound,
                "room codes are 6 or more letters and digits",
            ));
        };
        let already_in = peer.codes.contains(&code);
        if !already_in && peer.codes.len() >= MAX_CODE_ROOMS_PER_PEER {
            return Err(too_many_rooms());
        }
        let key = RoomKey::Code(code.clone());
        let ttl = self.opts.code_room_ttl;
        // An expired room that the sweep has not reached yet is gone all the same.
        let live = |r: &&state::Room| r.empty_since.is_none_or(|t| t.elapsed() < ttl);
        let admitted = st.rooms.get(&key).filter(live).map(|r| {
            (
                !r.closed_to_newcomers || r.former.contains(&session.peer_id),
                r.members.len() < MAX_PEERS_PER_CODE_ROOM,
            )
        });
        match admitted {
            None | Some((false, _)) => {
                let closed = st.count_wrong_guess(&code, self.opts.wrong_guesses_per_room);
                for closed_code in closed {
                    self.tell_room_closed(&mut st, &closed_code);
                }
                // A room closed to newcomers looks exactly like one that does not exist.
                return Err(HubError::new(
                    ErrorCode::RoomNotFound,
                    format!("no room {code}; it may have expired — ask for a new code"),
                ));
            }
            Some((true, false)) if !already_in => {
                return Err(HubError::new(
                    ErrorCode::Limit,
                    format!("room {code} is full"),
                ));
            }
            Some(_) => {}
        }
        if list_and_join(&mut st, session, &key, already_in)
            && let Some(p) = st.peers.get_mut(&session.peer_id)
        {
            p.codes.insert(code);
        }
        Ok(())
    }

    /// `join-paired`: each room named is joined (created if need be) as `join-room` joins a code
    /// room: `room-joined` for the joiner, `peer-joined` for the others, in one critical section.
    /// Rooms the peer is in already are listed again. Every room that can be joined is; the
    /// answer is then `invalid-value` if an id was malformed, else the first refusal.
    pub fn join_paired(&self, session: &Session, rooms: &[String]) -> Result<(), HubError> {
        let mut st = self.lock();
        current(&st, session)?;
        let mut refused = None;
        for id in rooms.iter().filter(|r| is_paired_room_id(r)) {
            if let Err(e) = join_one_paired(&mut st, session, id) {
                refused.get_or_insert(e);
            }
        }
        if !rooms.iter().all(|r| is_paired_room_id(r)) {
            return Err(invalid_paired_room_id());
        }
        refused.map_or(Ok(()), Err)
    }

    fn tell_room_closed(&self, st: &mut State, code: &str) {
        tracing::warn!(
            room = code,
            "room closed to newcomers after repeated wrong codes"
        );
        st.metrics.limit_hit("room-wrong-guesses");
        let msg: Arc<str> = ServerMessage::error(
            ErrorCode::Limit,
            format!(
                "room {code} no longer admits new peers: too many wrong codes were tried \
                 against it. Peers already in it stay; create a new room to invite more."
            ),
        )
        .to_json()
        .into();
        let members: Vec<String> = st
            .rooms
            .get(&RoomKey::Code(code.to_string()))
            .map(|r| r.members.iter().cloned().collect())
            .unwrap_or_default();
        for m in members {
            st.send_to(&m, msg.clone());
        }
    }

    /// `leave-room`: `room-left` is queued for the peer, `peer-left` for the others.
    pub fn leave_room(&self, session: &Session, code: &str) -> Result<(), HubError> {
        let mut st = self.lock();
        let peer = current(&st, session)?;
        if is_paired_room_id(code) && peer.paired.contains(code) {
            let key = RoomKey::Paired(code.to_string());
            st.leave_room(&key, &session.peer_id);
            if let Some(p) = st.peers.get_mut(&session.peer_id) {
                p.paired.remove(code);
            }
            st.send_to(
                &session.peer_id,
                ServerMessage::RoomLeft { room: code.into() }
                    .to_json()
                    .into(),
            );
            return Ok(());
        }
        let code = normalize_room_code(code).filter(|c| peer.codes.contains(c));
        let Some(code) = code else {
            return Err(HubError::new(
                ErrorCode::RoomNotFound,
                "you are not in that room (the LAN room cannot be left)",
            ));
        };
        let key = RoomKey::Code(code.clone());
        st.leave_room(&key, &session.peer_id);
        if let Some(p) = st.peers.get_mut(&session.peer_id) {
            p.codes.remove(&code);
        }
        st.send_to(
            &session.peer_id,
            ServerMessage::RoomLeft { room: code }.to_json().into(),
        );
        Ok(())
    }

    pub fn set_name(&self, session: &Session, name: &str) -> Result<(), HubError> {
        let mut st = self.lock();
        current(&st, session)?;
        let name =
            validate_display_name(name).map_err(|e| HubError::new(ErrorCode::InvalidValue, e))?;
        let Some(p) = st.peers.get_mut(&session.peer_id) else {
            return Ok(());
        };
        p.info.name = name;
        let info = p.info.clone();
        let msg: Arc<str> = ServerMessage::PeerUpdated { peer: info }.to_json().into();
        let mut targets = st.room_mates(&session.peer_id);
        targets.insert(session.peer_id.clone());
        for t in targets {
            st.send_to(&t, msg.clone());
        }
        Ok(())
    }

    /// Forwards a signal to `to`, stamped with the sender's id, if they share a room.
    pub fn forward(&self, session: &Session, to: &str, signal: Signal) -> Result<(), HubError> {
        let mut st = self.lock();
        check_room_mate(&st, session, to)?;
        let msg = ServerMessage::Signal {
            from: session.peer_id.clone(),
            signal,
        };
        st.send_to(to, msg.to_json().into());
        st.metrics.signals_forwarded.inc();
        Ok(())
    }

    /// `relay-open`: if `to` is a room mate, `authorize` makes (or finds) the relay session, and
    /// `relay-ready` is queued for both peers in the same critical section.
    pub fn open_relay(
        &self,
        session: &Session,
        to: &str,
        expires_in_ms: u64,
        authorize: impl FnOnce(&str, &str) -> Result<String, HubError>,
    ) -> Result<(), HubError> {
        let mut st = self.lock();
        check_room_mate(&st, session, to)?;
        let relay_id = authorize(&session.peer_id, to)?;
        let mine = ServerMessage::RelayReady {
            relay_id: relay_id.clone(),
            peer_id: to.to_string(),
            expires_in_ms,
        };
        let theirs = ServerMessage::RelayReady {
            relay_id,
            peer_id: session.peer_id.clone(),
            expires_in_ms,
        };
        st.send_to(&session.peer_id, mine.to_json().into());
        st.send_to(to, theirs.to_json().into());
        Ok(())
    }

    /// Queues a message for a connected peer, whichever connection it is on now.
    pub fn notify(&self, peer_id: &str, msg: &ServerMessage) {
        self.lock().send_to(peer_id, msg.to_json().into());
    }

    /// Announces quiet peers that stayed long enough (called by the housekeeping tick).
    pub fn announce_quiet(&self, now: Instant) -> usize {
        self.lock().announce_quiet(now)
    }

    /// Drops code rooms that have been empty for longer than the TTL.
    pub fn sweep_expired_rooms(&self, now: Instant) -> usize {
        self.lock().expire_code_rooms(now, self.opts.code_room_ttl)
    }

    /// Closes every connection with `reason` (graceful shutdown). Peers are not announced as
    /// leaving one by one: everyone is going.
    pub fn close_all(&self, reason: CloseReason) {
        let st = self.lock();
        for peer in st.peers.values() {
            peer.outbox.close(reason);
        }
    }

    pub fn stats(&self) -> HubStats {
        let st = self.lock();
        HubStats {
            peers: st.peers.len(),
            code_rooms: st.code_rooms,
            paired_rooms: st.paired_rooms,
            lan_rooms: st.rooms.len() - st.code_rooms - st.paired_rooms,
            lan_networks: st.lan_networks(),
            queued_bytes: st.peers.values().map(|p| p.outbox.queued_bytes()).sum(),
        }
    }

    pub fn peer_count(&self) -> usize {
        self.lock().peers.len()
    }

    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }
}

fn join_one_paired(st: &mut State, session: &Session, id: &str) -> Result<(), HubError> {
    let already_in = current(st, session)?.paired.contains(id);
    if !already_in && current(st, session)?.paired.len() >= MAX_PAIRED_ROOMS_PER_PEER {
        return Err(too_many_paired_rooms());
    }
    let key = RoomKey::Paired(id.to_string());
    let members = st.rooms.get(&key).map_or(0, |r| r.members.len());
    if !already_in && members >= MAX_PEERS_PER_PAIRED_ROOM {
        st.metrics.limit_hit("paired-room-full");
        return Err(HubError::new(
            ErrorCode::Limit,
            format!("paired room {id} is full ({MAX_PEERS_PER_PAIRED_ROOM} devices)"),
        ));
    }
    if list_and_join(st, session, &key, already_in)
        && let Some(p) = st.peers.get_mut(&session.peer_id)
    {
        p.paired.insert(id.to_string());
    }
    Ok(())
}

/// The common end of `join-room` and `join-paired`: the room's listing for the joiner (sent
/// again to a member), then, for a newcomer, the join and its `peer-joined`. Returns whether
/// the peer joined just now (the caller records the room with the peer).
fn list_and_join(st: &mut State, session: &Session, key: &RoomKey, already_in: bool) -> bool {
    let info = st.room_info(key, &session.peer_id, false);
    st.send_room_listing(&session.peer_id, info, |room| ServerMessage::RoomJoined {
        room,
    });
    if !already_in {
        st.join_room(key, &session.peer_id);
    }
    !already_in
}

/// The refusal of a malformed paired room id (both hubs).
pub fn invalid_paired_room_id() -> HubError {
    HubError::new(
        ErrorCode::InvalidValue,
        format!("a paired room id is {PAIRED_ROOM_ID_LEN} lowercase hex digits"),
    )
}

/// The refusal of a paired room past [`MAX_PAIRED_ROOMS_PER_PEER`] (both hubs).
pub fn too_many_paired_rooms() -> HubError {
    HubError::new(
        ErrorCode::Limit,
        format!(
            "you are in {MAX_PAIRED_ROOMS_PER_PEER} paired rooms already; unpair a device first"
        ),
    )
}

fn too_many_rooms() -> HubError {
    HubError::new(
        ErrorCode::Limit,
        format!("you are in {MAX_CODE_ROOMS_PER_PEER} code rooms already; leave one first"),
    )
}

fn is_current(st: &State, session: &Session) -> bool {
    st.peers
        .get(&session.peer_id)
        .is_some_and(|p| p.conn == session.conn)
}

fn current<'a>(st: &'a State, session: &Session) -> Result<&'a Peer, HubError> {
    st.peers
        .get(&session.peer_id)
        .filter(|p| p.conn == session.conn)
        .ok_or_else(|| HubError::new(ErrorCode::PeerNotFound, "session replaced"))
}

/// Checks that `to` is another peer sharing a room with the session's peer.
fn check_room_mate(st: &State, session: &Session, to: &str) -> Result<(), HubError> {
    let peer = current(st, session)?;
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

#[cfg(test)]
mod tests;
