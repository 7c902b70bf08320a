//! The hub's state and the primitive operations on it. Everything here runs under the hub's one
//! lock, and nothing here waits or recurses:
//!
//! - a message goes into a peer's [`Outbox`] with a non-blocking push;
//! - a peer whose outbox is full is only *marked* (`doomed`); [`State::reap`] removes marked peers
//!   in a loop at the end of the operation, and a removal that overflows more outboxes marks more
//!   peers for the same loop. (Removing at once recursed send → remove → leave → send once per slow
//!   peer and overflowed the stack at a few thousand peers.)
//! - every room holds a bounded number of members: code rooms by their limit, LAN rooms by being
//!   split into shards of [`super::HubOptions::lan_room_size`]. No join, leave or message costs more
//!   as a network or the server grows.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use ferry_protocol::signaling::{PeerInfo, RoomInfo, RoomKind, ServerMessage};

use super::room_code::nameplate;
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Outbox, Push};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum RoomKey {
    /// One shard of the LAN room of a network (`net` is the server-side key of the address).
    Lan {
        net: Arc<str>,
        shard: u32,
    },
    Code(String),
    /// A paired room, by the id its devices derived from their shared secret.
    Paired(String),
}

impl RoomKey {
    pub(super) fn public_id(&self) -> &str {
        match self {
            RoomKey::Lan { .. } => "lan",
            RoomKey::Code(c) | RoomKey::Paired(c) => c,
        }
    }

    fn kind(&self) -> RoomKind {
        match self {
            RoomKey::Lan { .. } => RoomKind::Lan,
            RoomKey::Code(_) => RoomKind::Code,
            RoomKey::Paired(_) => RoomKind::Paired,
        }
    }
}

pub(super) struct Peer {
    pub info: PeerInfo,
    pub conn: u64,
    pub outbox: Arc<Outbox>,
    pub lan: RoomKey,
    pub codes: BTreeSet<String>,
    /// Paired rooms it is in.
    pub paired: BTreeSet<String>,
    /// Marked for removal by [`State::reap`]: its outbox overflowed.
    doomed: bool,
    /// Order of arrival in its LAN room: who saw this peer in their listing, and who did not.
    lan_seq: u64,
    /// Not yet announced to the LAN room mates that were there before it (see [`State::join_room`]).
    pub lan_quiet: bool,
}

impl Peer {
    pub fn new(info: PeerInfo, conn: u64, outbox: Arc<Outbox>, lan: RoomKey) -> Self {
        Peer {
            info,
            conn,
            outbox,
            lan,
            codes: BTreeSet::new(),
            paired: BTreeSet::new(),
            doomed: false,
            lan_seq: 0,
            lan_quiet: false,
        }
    }

    pub fn rooms(&self) -> impl Iterator<Item = RoomKey> + '_ {
        std::iter::once(self.lan.clone())
            .chain(self.codes.iter().cloned().map(RoomKey::Code))
            .chain(self.paired.iter().cloned().map(RoomKey::Paired))
    }
}

#[derive(Default)]
pub(super) struct Room {
    pub members: BTreeSet<String>,
    pub empty_since: Option<Instant>,
    /// Wrong codes tried against this room's nameplate (code rooms only).
    pub wrong_guesses: u32,
    /// Set once `wrong_guesses` reached the limit: only former members may (re)join.
    pub closed_to_newcomers: bool,
    /// Peers that have been members, so that they can rejoin a room closed to newcomers (after a
    /// reconnect, say). Bounded by the room's member limit times a small factor.
    pub former: BTreeSet<String>,
}

/// A network's LAN room, split into shards of bounded size.
#[derive(Default)]
struct LanNetwork {
    /// Shards with room for one more peer, lowest first: newcomers fill the lowest, so devices
    /// that join about the same time (one person's phone and laptop) land together.
    open: BTreeSet<u32>,
    shards: u32,
    members: usize,
}

pub(super) struct State {
    pub peers: HashMap<String, Peer>,
    pub rooms: HashMap<RoomKey, Room>,
    lans: HashMap<Arc<str>, LanNetwork>,
    /// Nameplate → live code rooms with it (usually one).
    nameplates: HashMap<String, Vec<String>>,
    pub code_rooms: usize,
    pub paired_rooms: usize,
    doomed: Vec<String>,
    lan_room_size: usize,
    next_lan_seq: u64,
    /// Quiet peers and when to announce them, oldest first.
    quiet: std::collections::VecDeque<(String, u64, Instant)>,
    pub metrics: Arc<Metrics>,
}

impl State {
    pub fn new(lan_room_size: usize, metrics: Arc<Metrics>) -> Self {
        State {
            peers: HashMap::new(),
            rooms: HashMap::new(),
            lans: HashMap::new(),
            nameplates: HashMap::new(),
            code_rooms: 0,
            paired_rooms: 0,
            doomed: Vec::new(),
            lan_room_size: lan_room_size.max(2),
            next_lan_seq: 0,
            quiet: Default::default(),
            metrics,
        }
    }

    /// Queues a message for a peer. A full outbox marks the peer for [`State::reap`].
    pub fn send_to(&mut self, peer_id: &str, msg: Arc<str>) {
        let Some(peer) = self.peers.get_mut(peer_id) else {
            return;
        };
        if peer.doomed {
            return;
        }
        match peer.outbox.push(msg) {
            Push::Queued | Push::Closed => {}
            Push::Full => {
                peer.doomed = true;
                self.doomed.push(peer_id.to_string());
            }
        }
    }

    /// Removes every peer marked too slow, including those its removal marks in turn.
    pub fn reap(&mut self) {
        while let Some(id) = self.doomed.pop() {
            tracing::warn!(peer = %id, "outbox full; disconnecting slow peer");
            self.metrics.slow_peer_drops.inc();
            self.remove_peer(&id, CloseReason::TooSlow);
        }
    }

    /// Picks the LAN shard a new peer of `net` goes into. `crowded` when the network has more
    /// peers than one shard shows.
    pub fn lan_shard_for(&mut self, net: &str) -> (RoomKey, bool) {
        let net: Arc<str> = net.into();
        let network = self.lans.entry(net.clone()).or_default();
        let shard = match network.open.first() {
            Some(&s) => s,
            None => {
                network.shards += 1;
                network.open.insert(network.shards - 1);
                network.shards - 1
            }
        };
        let crowded = network.members + 1 > self.lan_room_size;
        (RoomKey::Lan { net, shard }, crowded)
    }

    pub fn room_info(&self, key: &RoomKey, viewer: &str, crowded: bool) -> RoomInfo {
        let peers = self
            .rooms
            .get(key)
            .map(|r| {
                r.members
                    .iter()
                    .filter(|id| id.as_str() != viewer)
                    .filter_map(|id| self.peers.get(id).map(|p| p.info.clone()))
                    .collect()
            })
            .unwrap_or_default();
        RoomInfo {
            id: key.public_id().to_string(),
            kind: key.kind(),
            peers,
            crowded,
        }
    }

    /// Queues `first` (a `welcome` or `room-joined` listing the first page of `room`) and the
    /// `room-peers` pages after it, in that order, before anything else can reach the peer.
    pub fn send_room_listing(
        &mut self,
        peer_id: &str,
        room: RoomInfo,
        first: impl FnOnce(RoomInfo) -> ServerMessage,
    ) {
        let (room, pages) = room.paged();
        self.send_to(peer_id, first(room).to_json().into());
        for page in pages {
            self.send_to(peer_id, page.to_json().into());
        }
    }

    pub fn room_mates(&self, peer_id: &str) -> BTreeSet<String> {
        let Some(peer) = self.peers.get(peer_id) else {
            return BTreeSet::new();
        };
        peer.rooms()
            .filter_map(|k| self.rooms.get(&k))
            .flat_map(|r| r.members.iter().cloned())
            .filter(|id| id != peer_id)
            .collect()
    }

    /// Adds a peer to a room (creating it) and tells the others.
    pub fn join_room(&mut self, key: &RoomKey, peer_id: &str) {
        let Some(info) = self.peers.get(peer_id).map(|p| p.info.clone()) else {
            return;
        };
        if let RoomKey::Code(code) = key
            && !self.rooms.contains_key(key)
        {
            self.code_rooms += 1;
            self.nameplates
                .entry(nameplate(code).to_string())
                .or_default()
                .push(code.clone());
        }
        if matches!(key, RoomKey::Paired(_)) && !self.rooms.contains_key(key) {
            self.paired_rooms += 1;
        }
        let room = self.rooms.entry(key.clone()).or_default();
        room.empty_since = None;
        if !room.members.insert(peer_id.to_string()) {
            return;
        }
        if matches!(key, RoomKey::Code(_)) && room.former.len() < 4 * super::MAX_PEERS_PER_CODE_ROOM
        {
            room.former.insert(peer_id.to_string());
        }
        let mut others: Vec<String> = room
            .members
            .iter()
            .filter(|id| id.as_str() != peer_id)
            .cloned()
            .collect();
        if let RoomKey::Lan { .. } = key
            && let Some(peer) = self.peers.get_mut(peer_id)
        {
            peer.lan_seq = self.next_lan_seq;
            self.next_lan_seq += 1;
            if peer.lan_quiet {
                others.clear();
            }
        }
        if let RoomKey::Lan { net, shard } = key
            && let Some(network) = self.lans.get_mut(net)
        {
            network.members += 1;
            if room.members.len() >= self.lan_room_size {
                network.open.remove(shard);
            }
        }
        let msg: Arc<str> = ServerMessage::PeerJoined {
            room: key.public_id().to_string(),
            peer: info,
        }
        .to_json()
        .into();
        for other in others {
            self.send_to(&other, msg.clone());
        }
    }

    pub fn leave_room(&mut self, key: &RoomKey, peer_id: &str) {
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        if !room.members.remove(peer_id) {
            return;
        }
        let mut others: Vec<String> = room.members.iter().cloned().collect();
        // A quiet peer was seen only by those who arrived after it (in their listing).
        if let (RoomKey::Lan { .. }, Some(p)) = (key, self.peers.get(peer_id))
            && p.lan_quiet
        {
            let seq = p.lan_seq;
            others.retain(|o| self.peers.get(o).is_some_and(|m| m.lan_seq > seq));
        }
        match key {
            RoomKey::Lan { net, shard } => {
                let empty = room.members.is_empty();
                if empty {
                    // LAN rooms cost nothing to recreate.
                    self.rooms.remove(key);
                }
                if let Some(network) = self.lans.get_mut(net) {
                    network.members = network.members.saturating_sub(1);
                    network.open.insert(*shard);
                    if network.members == 0 {
                        self.lans.remove(net);
                    }
                }
            }
            // Code rooms linger when empty so that a link stays valid a while.
            RoomKey::Code(_) if room.members.is_empty() => {
                room.empty_since = Some(Instant::now());
            }
            RoomKey::Code(_) => {}
            // Nothing to keep: the devices that share the id join it again whenever they come.
            RoomKey::Paired(_) => {
                if room.members.is_empty() {
                    self.rooms.remove(key);
                    self.paired_rooms -= 1;
                }
            }
        }
        let msg: Arc<str> = ServerMessage::PeerLeft {
            room: key.public_id().to_string(),
            peer_id: peer_id.to_string(),
        }
        .to_json()
        .into();
        for other in others {
            self.send_to(&other, msg.clone());
        }
    }

    /// Takes a peer out of every room and closes its outbox (which ends its connection task and
    /// frees what it had queued).
    pub fn remove_peer(&mut self, peer_id: &str, reason: CloseReason) {
        let Some(peer) = self.peers.get(peer_id) else {
            return;
        };
        let rooms: Vec<RoomKey> = peer.rooms().collect();
        for key in rooms {
            self.leave_room(&key, peer_id);
        }
        if let Some(peer) = self.peers.remove(peer_id) {
            peer.outbox.close(reason);
        }
    }

    /// Forgets code rooms empty for longer than `ttl`.
    pub fn expire_code_rooms(&mut self, now: Instant, ttl: std::time::Duration) -> usize {
        let expired: Vec<RoomKey> = self
            .rooms
            .iter()
            .filter(|(k, r)| {
                matches!(k, RoomKey::Code(_))
                    && r.empty_since
                        .is_some_and(|since| now.duration_since(since) >= ttl)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            self.rooms.remove(key);
            self.code_rooms -= 1;
            if let RoomKey::Code(code) = key {
                let np = nameplate(code);
                if let Some(codes) = self.nameplates.get_mut(np) {
                    codes.retain(|c| c != code);
                    if codes.is_empty() {
                        self.nameplates.remove(np);
                    }
                }
            }
        }
        expired.len()
    }

    /// Counts a wrong code against the live rooms sharing its nameplate. Returns the codes that
    /// reached `limit` just now.
    pub fn count_wrong_guess(&mut self, wrong: &str, limit: u32) -> Vec<String> {
        let Some(codes) = self.nameplates.get(nameplate(wrong)) else {
            return Vec::new();
        };
        let mut closed = Vec::new();
        for code in codes {
            if code.len() != wrong.len() {
                continue;
            }
            if let Some(room) = self.rooms.get_mut(&RoomKey::Code(code.clone())) {
                room.wrong_guesses += 1;
                if room.wrong_guesses >= limit && !room.closed_to_newcomers {
                    room.closed_to_newcomers = true;
                    closed.push(code.clone());
                }
            }
        }
        closed
    }

    /// Makes a peer quiet: its arrival is announced to its LAN room only after `delay`, and not
    /// at all if it leaves first. For addresses that connect faster than their announcement
    /// budget: churn then costs the room nothing.
    pub fn quiet_until(&mut self, peer_id: &str, conn: u64, due: Instant) {
        if let Some(p) = self.peers.get_mut(peer_id) {
            p.lan_quiet = true;
            self.quiet.push_back((peer_id.to_string(), conn, due));
        }
    }

    /// Announces quiet peers whose time has come and who are still here, to the LAN room mates
    /// that arrived before them (the later ones listed them already).
    pub fn announce_quiet(&mut self, now: Instant) -> usize {
        let mut announced = 0;
        while let Some((_, _, due)) = self.quiet.front() {
            if *due > now {
                break;
            }
            let Some((id, conn, _)) = self.quiet.pop_front() else {
                break;
            };
            let Some(p) = self
                .peers
                .get_mut(&id)
                .filter(|p| p.conn == conn && p.lan_quiet)
            else {
                continue;
            };
            p.lan_quiet = false;
            let (seq, key, info) = (p.lan_seq, p.lan.clone(), p.info.clone());
            let earlier: Vec<String> = self
                .rooms
                .get(&key)
                .map(|r| {
                    r.members
                        .iter()
                        .filter(|m| self.peers.get(*m).is_some_and(|m| m.lan_seq < seq))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let msg: Arc<str> = ServerMessage::PeerJoined {
                room: key.public_id().to_string(),
                peer: info,
            }
            .to_json()
            .into();
            for m in earlier {
                self.send_to(&m, msg.clone());
            }
            announced += 1;
        }
        announced
    }

    pub fn lan_networks(&self) -> usize {
        self.lans.len()
    }
}
