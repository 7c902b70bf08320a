//! The signaling hub over Redis (`ferry serve --redis URL`): several instances behind one load
//! balancer behave as one server.
//!
//! Shape (docs/architecture.md, "Scale-out"):
//! - Presence, rooms, names and the peer → instance map live in Redis. Every operation is one
//!   call of `hub.lua`, which Redis runs atomically: the cluster's one critical section.
//! - Each instance keeps its own peers' outboxes and subscribes to its own channel. The script
//!   publishes what an operation causes to the channels of the instances holding the targets,
//!   in operation order; [`dispatch`] puts each batch into the local outboxes, in order.
//! - Instances heartbeat into Redis; one silent for [`DEAD_AFTER`] is swept by the others,
//!   with its peers' presence ([`link`]).
//! - When Redis goes away, connections stay up and answer what they can; once it is back the
//!   instance re-asserts its peers and sends each a fresh `welcome` (events published while it
//!   was away are lost, the fresh listing replaces them).

mod dispatch;
pub mod forward;
mod link;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferry_protocol::signaling::{
    ErrorCode, IceServer, MAX_PAIRED_ROOMS_PER_PEER, PeerInfo, ServerMessage, Signal,
    is_paired_room_id, validate_display_name,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::display_name::display_name_for;
use crate::hub::{
    HubError, HubOptions, HubStats, MAX_CODE_ROOMS_PER_PEER, MAX_PEERS_PER_PAIRED_ROOM, Session,
    normalize_room_code, too_many_paired_rooms,
};
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Outbox, Push};

/// How often an instance tells Redis it is alive (and sweeps dead instances and expired rooms).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance silent for this long is dead: its peers' presence is removed.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);
/// Longest wait for a Redis reply; an operation that takes longer fails (Redis is unreachable).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// A new connection's `welcome` comes back through this instance's channel; if it does not
/// within this time, the connection is refused (the client retries).
const WELCOME_TIMEOUT: Duration = Duration::from_secs(5);

/// One peer connected to this instance.
struct LocalPeer {
    conn: u64,
    outbox: Arc<Outbox>,
    info: PeerInfo,
    token: String,
    ice_servers: Vec<IceServer>,
    net: String,
    /// Code rooms it is in, as far as this instance knows (for re-asserting it after an outage).
    codes: BTreeSet<String>,
    /// Paired rooms it is in, likewise.
    paired: BTreeSet<String>,
    quiet: bool,
    /// Signalled when its `welcome` is in the outbox.
    welcomed: Arc<tokio::sync::Notify>,
    /// Its `welcome` is queued: events reach it from then on. (Events published before it,
    /// e.g. for a connection this one replaced, are already reflected in the welcome's listing,
    /// and must not come before it.)
    ready: bool,
}

pub struct RedisHub {
    /// This instance's id: its channel name and its entry among the live instances.
    inst: String,
    client: redis::Client,
    cmd: ConnectionManager,
    script: redis::Script,
    local: Mutex<HashMap<String, LocalPeer>>,
    next_conn: AtomicU64,
    opts: HubOptions,
    metrics: Arc<Metrics>,
    /// Subscribed and answering (the `ferry_redis_up` gauge).
    up: AtomicBool,
    /// Quiet peers and when to announce them, oldest first.
    quiet: Mutex<VecDeque<(String, u64, Instant)>>,
    /// Code rooms in the cluster, as of the last heartbeat.
    code_rooms: AtomicUsize,
    /// Where other instances reach this one (`--cluster-url`), for relays and pipes.
    url: Option<String>,
    /// This instance's HTTP pipes, whose path claims the heartbeat keeps.
    pipes: Mutex<Option<Arc<crate::pipe::Registry>>>,
}

impl RedisHub {
    /// Connects lazily: the server starts (and serves the web app, pipes, relays) even while
    /// Redis is unreachable. [`RedisHub::start`] runs the subscriber and the heartbeat.
    pub fn new(
        redis_url: &str,
        cluster_url: Option<String>,
        opts: HubOptions,
        metrics: Arc<Metrics>,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let cmd = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(RedisHub {
            inst: hex::encode(rand::random::<[u8; 8]>()),
            client,
            cmd,
            script: redis::Script::new(include_str!("hub.lua")),
            local: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            opts,
            metrics,
            up: AtomicBool::new(false),
            quiet: Mutex::new(VecDeque::new()),
            code_rooms: AtomicUsize::new(0),
            url: cluster_url,
            pipes: Mutex::new(None),
        })
    }

    /// Runs the subscriber and heartbeat until the returned handle is aborted.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(link::run(self.clone()))
    }

    /// The pipe registry whose paths this instance claims.
    pub fn set_pipes(&self, pipes: Arc<crate::pipe::Registry>) {
        *self.pipes.lock().unwrap_or_else(|e| e.into_inner()) = Some(pipes);
    }

    pub fn instance_id(&self) -> &str {
        &self.inst
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, LocalPeer>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one operation of `hub.lua`; its reply as strings.
    async fn call(&self, op: &str, args: &[&str]) -> Result<Vec<String>, HubError> {
        let mut inv = self.script.prepare_invoke();
        inv.arg(op)
            .arg(&self.inst)
            .arg(self.opts.lan_room_size.max(2))
            .arg(self.opts.code_room_ttl.as_millis() as u64);
        for a in args {
            inv.arg(*a);
        }
        let mut con = self.cmd.clone();
        let reply: Result<redis::Value, _> =
            tokio::time::timeout(REDIS_TIMEOUT, inv.invoke_async(&mut con))
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::TimedOut,
                    )))
                });
        match reply {
            Ok(v) => Ok(strings(v)),
            Err(e) => {
                self.metrics.redis_errors.inc();
                tracing::warn!(op, error = %e, "redis operation failed");
                Err(unavailable())
            }
        }
    }

    /// Registers a connection; returns once its `welcome` is queued in the outbox. If `peer_id`
    /// is connected anywhere in the cluster, that connection is closed.
    /// `device` is what the peer said it is (`PeerInfo::device`, may be empty).
    #[allow(clippy::too_many_arguments)]
    pub async fn connect_with(
        &self,
        peer_id: String,
        client: String,
        device: String,
        lan_key: String,
        token: String,
        ice_servers: Vec<IceServer>,
        quiet_for: Option<Duration>,
    ) -> Result<(Session, Arc<Outbox>), HubError> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let outbox = Outbox::new(self.opts.outbox_bytes, self.opts.outbox_messages);
        let info = PeerInfo {
            id: peer_id.clone(),
            name: display_name_for(&peer_id),
            client: client.clone(),
            device,
        };
        let welcomed = Arc::new(tokio::sync::Notify::new());
        let peer = LocalPeer {
            conn,
            outbox: outbox.clone(),
            info: info.clone(),
            token,
            ice_servers,
            net: lan_key.clone(),
            codes: BTreeSet::new(),
            paired: BTreeSet::new(),
            quiet: quiet_for.is_some(),
            welcomed: welcomed.clone(),
            ready: false,
        };
        if let Some(old) = self.local().insert(peer_id.clone(), peer) {
            old.outbox.close(CloseReason::Replaced);
        }
        let session = Session { peer_id, conn };
        let conn_s = conn.to_string();
        let quiet = if quiet_for.is_some() { "1" } else { "0" };
        let registered = self
            .call(
                "connect",
                &[
                    &session.peer_id,
                    &conn_s,
                    &client,
                    &info.name,
                    &lan_key,
                    quiet,
                    &info.device,
                ],
            )
            .await;
        let welcomed = match registered {
            Ok(_) => tokio::time::timeout(WELCOME_TIMEOUT, welcomed.notified())
                .await
                .is_ok(),
            Err(_) => false,
        };
        if !welcomed {
            // Registered but never welcomed (the channel lagged or dropped): take it out again.
            self.disconnect(&session).await;
            return Err(unavailable());
        }
        if let Some(delay) = quiet_for {
            self.quiet_queue()
                .push_back((session.peer_id.clone(), conn, Instant::now() + delay));
            self.metrics.limit_hit("announcements");
        }
        Ok((session, outbox))
    }

    fn quiet_queue(&self) -> MutexGuard<'_, VecDeque<(String, u64, Instant)>> {
        self.quiet.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the local entry if it is still this session's; true if it was.
    fn forget_local(&self, session: &Session) -> bool {
        let mut local = self.local();
        if local
            .get(&session.peer_id)
            .is_some_and(|p| p.conn == session.conn)
        {
            if let Some(p) = local.remove(&session.peer_id) {
                p.outbox.close(CloseReason::Replaced);
            }
            return true;
        }
        false
    }

    pub async fn disconnect(&self, session: &Session) {
        if self.forget_local(session) {
            let conn = session.conn.to_string();
            // If Redis is away, the re-assertion after it returns prunes this peer.
            let _ = self.call("disconnect", &[&session.peer_id, &conn]).await;
        }
    }

    /// Sends a message to one session only, straight into its outbox.
    pub fn reply(&self, session: &Session, msg: &ServerMessage) {
        let full = {
            let local = self.local();
            match local.get(&session.peer_id) {
                Some(p) if p.conn == session.conn => {
                    p.outbox.push(msg.to_json().into()) == Push::Full
                }
                _ => false,
            }
        };
        if full {
            self.drop_slow(vec![(session.peer_id.clone(), session.conn)]);
        }
    }

    /// Closes peers whose outbox overflowed and takes them out of the cluster.
    fn drop_slow(&self, slow: Vec<(String, u64)>) {
        for (peer_id, conn) in slow {
            let session = Session { peer_id, conn };
            let outbox = self
                .local()
                .get(&session.peer_id)
                .filter(|p| p.conn == conn)
                .map(|p| p.outbox.clone());
            let Some(outbox) = outbox else { continue };
            tracing::warn!(peer = %session.peer_id, "outbox full; disconnecting slow peer");
            self.metrics.slow_peer_drops.inc();
            outbox.close(CloseReason::TooSlow);
            // The connection task sees the closed outbox and calls `disconnect`, which takes
            // the peer out of Redis.
        }
    }

    pub async fn create_room(&self, session: &Session) -> Result<String, HubError> {
        let conn = session.conn.to_string();
        let max = self.opts.max_code_rooms.to_string();
        let candidates: Vec<String> = (0..8)
            .map(|_| crate::hub::new_room_code(self.opts.room_code_len))
            .collect();
        let mut args: Vec<&str> = vec![&session.peer_id, &conn, &max];
        args.extend(candidates.iter().map(String::as_str));
        let reply = self.call("create", &args).await?;
        match reply.as_slice() {
            [ok, code] if ok == "ok" => {
                self.with_local(session, |p| {
                    p.codes.insert(code.clone());
                });
                Ok(code.clone())
            }
            [_, e, ..] if e == "server-full" => {
                self.metrics.limit_hit("code-rooms-total");
                Err(HubError::new(
                    ErrorCode::Limit,
                    "the server has too many rooms right now; try again in a few minutes",
                ))
            }
            other => Err(script_error(other)),
        }
    }

    pub async fn join_room(&self, session: &Session, code: &str) -> Result<(), HubError> {
        let Some(code) = normalize_room_code(code) else {
            return Err(HubError::new(
                ErrorCode::RoomNotFound,
                "room codes are 6 or more letters and digits",
            ));
        };
        let conn = session.conn.to_string();
        let limit = self.opts.wrong_guesses_per_room.to_string();
        let reply = self
            .call("join", &[&session.peer_id, &conn, &code, &limit])
            .await?;
        match reply.as_slice() {
            [ok] if ok == "ok" => {
                self.with_local(session, |p| {
                    p.codes.insert(code);
                });
                Ok(())
            }
            [_, e, closed @ ..] if e == "not-found" => {
                for c in closed {
                    tracing::warn!(room = %c, "room closed to newcomers after repeated wrong codes");
                    self.metrics.limit_hit("room-wrong-guesses");
                }
                Err(HubError::new(
                    ErrorCode::RoomNotFound,
                    format!("no room {code}; it may have expired — ask for a new code"),
                ))
            }
            [_, e] if e == "full" => Err(HubError::new(
                ErrorCode::Limit,
                format!("room {code} is full"),
            )),
            other => Err(script_error(other)),
        }
    }

    /// `join-paired`, as [`crate::hub::Hub::join_paired`].
    pub async fn join_paired(&self, session: &Session, rooms: &[String]) -> Result<(), HubError> {
        let (valid, invalid): (Vec<&String>, Vec<&String>) =
            rooms.iter().partition(|r| is_paired_room_id(r));
        let conn = session.conn.to_string();
        let per_peer = MAX_PAIRED_ROOMS_PER_PEER.to_string();
        let per_room = MAX_PEERS_PER_PAIRED_ROOM.to_string();
        let mut args: Vec<&str> = vec![&session.peer_id, &conn, &per_peer, &per_room];
        args.extend(valid.iter().map(|r| r.as_str()));
        let reply = self.call("join-pair", &args).await?;
        let [refusal, about, joined @ ..] = reply.as_slice() else {
            return Err(script_error(&reply));
        };
        if refusal == "err" {
            return Err(script_error(&reply));
        }
        // What the script joined is what Redis holds now; remembered for a resync.
        self.with_local(session, |p| p.paired.extend(joined.iter().cloned()));
        let refused = match refusal.as_str() {
            "" => None,
            "too-many-paired" => Some(too_many_paired_rooms()),
            "paired-full" => {
                self.metrics.limit_hit("paired-room-full");
                Some(HubError::new(
                    ErrorCode::Limit,
                    format!("paired room {about} is full ({MAX_PEERS_PER_PAIRED_ROOM} devices)"),
                ))
            }
            _ => return Err(script_error(&reply)),
        };
        if !invalid.is_empty() {
            return Err(crate::hub::invalid_paired_room_id());
        }
        refused.map_or(Ok(()), Err)
    }

    pub async fn leave_room(&self, session: &Session, code: &str) -> Result<(), HubError> {
        let not_in = || {
            HubError::new(
                ErrorCode::RoomNotFound,
                "you are not in that room (the LAN room cannot be left)",
            )
        };
        let (kind, room) = if is_paired_room_id(code) {
            ("pair", code.to_string())
        } else {
            ("code", normalize_room_code(code).ok_or_else(not_in)?)
        };
        let conn = session.conn.to_string();
        let reply = self
            .call("leave", &[&session.peer_id, &conn, kind, &room])
            .await?;
        match reply.as_slice() {
            [ok] if ok == "ok" => {
                self.with_local(session, |p| {
                    let rooms = if kind == "pair" {
                        &mut p.paired
                    } else {
                        &mut p.codes
                    };
                    rooms.remove(&room);
                });
                Ok(())
            }
            [_, e] if e == "not-in-room" => Err(not_in()),
            other => Err(script_error(other)),
        }
    }

    pub async fn set_name(&self, session: &Session, name: &str) -> Result<(), HubError> {
        let name =
            validate_display_name(name).map_err(|e| HubError::new(ErrorCode::InvalidValue, e))?;
        let conn = session.conn.to_string();
        let reply = self.call("name", &[&session.peer_id, &conn, &name]).await?;
        match reply.as_slice() {
            [ok] if ok == "ok" => {
                self.with_local(session, |p| p.info.name = name);
                Ok(())
            }
            other => Err(script_error(other)),
        }
    }

    /// Forwards a signal to `to`, stamped with the sender's id, if they share a room.
    pub async fn forward(
        &self,
        session: &Session,
        to: &str,
        signal: Signal,
    ) -> Result<(), HubError> {
        let msg = ServerMessage::Signal {
            from: session.peer_id.clone(),
            signal,
        }
        .to_json();
        let conn = session.conn.to_string();
        let reply = match self
            .call("signal", &[&session.peer_id, &conn, to, &msg])
            .await
        {
            Ok(reply) => reply,
            Err(e) => return self.forward_locally(session, to, msg).ok_or(e),
        };
        match reply.as_slice() {
            [ok] if ok == "ok" => {
                self.metrics.signals_forwarded.inc();
                Ok(())
            }
            other => Err(mate_error(other, to)),
        }
    }

    /// Without Redis, a signal between two peers of this instance that share a network, a code
    /// room or a paired room still goes through, so that a negotiation under way survives a Redis restart.
    /// (The LAN shard is not known here: the network stands for it.)
    fn forward_locally(&self, session: &Session, to: &str, msg: String) -> Option<()> {
        let full = {
            let local = self.local();
            let from = local
                .get(&session.peer_id)
                .filter(|p| p.conn == session.conn)?;
            let target = local.get(to).filter(|p| p.ready && to != session.peer_id)?;
            let shared = from.net == target.net
                || !from.codes.is_disjoint(&target.codes)
                || !from.paired.is_disjoint(&target.paired);
            if !shared {
                return None;
            }
            target.outbox.push(msg.into()) == Push::Full
        };
        self.metrics.signals_forwarded.inc();
        if full {
            let conn = self.local().get(to).map(|p| p.conn);
            if let Some(conn) = conn {
                self.drop_slow(vec![(to.to_string(), conn)]);
            }
        }
        Some(())
    }

    /// `relay-open`: checks that `to` is a room mate, lets `authorize` make the relay session,
    /// and sends `relay-ready` to both peers.
    pub async fn open_relay(
        &self,
        session: &Session,
        to: &str,
        expires_in_ms: u64,
        authorize: impl FnOnce(&str, &str) -> Result<String, HubError>,
    ) -> Result<(), HubError> {
        let conn = session.conn.to_string();
        let reply = self.call("mate", &[&session.peer_id, &conn, to]).await?;
        if reply.first().is_none_or(|s| s != "ok") {
            return Err(mate_error(&reply, to));
        }
        let relay_id = authorize(&session.peer_id, to)?;
        let id = relay_id.clone();
        let ttl = (crate::relay_ws::RELAY_JOIN_TIMEOUT + DEAD_AFTER)
            .as_millis()
            .to_string();
        let mine = ServerMessage::RelayReady {
            relay_id: relay_id.clone(),
            peer_id: to.to_string(),
            expires_in_ms,
        }
        .to_json();
        let theirs = ServerMessage::RelayReady {
            relay_id,
            peer_id: session.peer_id.clone(),
            expires_in_ms,
        }
        .to_json();
        let reply = self
            .call(
                "relay",
                &[&session.peer_id, &conn, to, &mine, &theirs, &id, &ttl],
            )
            .await?;
        match reply.as_slice() {
            [ok] if ok == "ok" => Ok(()),
            other => Err(mate_error(other, to)),
        }
    }

    fn with_local(&self, session: &Session, f: impl FnOnce(&mut LocalPeer)) {
        if let Some(p) = self
            .local()
            .get_mut(&session.peer_id)
            .filter(|p| p.conn == session.conn)
        {
            f(p);
        }
    }

    /// Announces quiet peers that stayed long enough (called by the housekeeping tick).
    pub async fn announce_quiet(&self, now: Instant) -> usize {
        let mut due = Vec::new();
        {
            let mut q = self.quiet_queue();
            while q.front().is_some_and(|(_, _, t)| *t <= now) {
                if let Some((id, conn, _)) = q.pop_front() {
                    due.push((id, conn));
                }
            }
        }
        let mut announced = 0;
        for (id, conn) in due {
            let still_here = self
                .local()
                .get_mut(&id)
                .filter(|p| p.conn == conn)
                .map(|p| p.quiet = false)
                .is_some();
            if still_here
                && self
                    .call("announce", &[&id, &conn.to_string()])
                    .await
                    .is_ok()
            {
                announced += 1;
            }
        }
        announced
    }

    /// Closes every local connection with `reason` and, on a graceful shutdown, takes this
    /// instance's peers out of the cluster at once (their clients reconnect elsewhere).
    pub async fn close_all(&self, reason: CloseReason) {
        for p in self.local().values() {
            p.outbox.close(reason);
        }
        let _ = self.call("leave-instance", &[]).await;
    }

    pub fn stats(&self) -> HubStats {
        let local = self.local();
        HubStats {
            peers: local.len(),
            code_rooms: self.code_rooms.load(Ordering::Relaxed),
            paired_rooms: 0,
            lan_rooms: 0,
            lan_networks: 0,
            queued_bytes: local.values().map(|p| p.outbox.queued_bytes()).sum(),
        }
    }
}

/// The reply of `hub.lua` as strings (`ok`, or `err` and a reason, or values).
fn strings(v: redis::Value) -> Vec<String> {
    match v {
        redis::Value::Array(items) => items.into_iter().flat_map(strings).collect(),
        redis::Value::BulkString(b) => vec![String::from_utf8_lossy(&b).into_owned()],
        redis::Value::SimpleString(s) => vec![s],
        redis::Value::Okay => vec!["ok".into()],
        redis::Value::Int(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn unavailable() -> HubError {
    HubError::new(
        ErrorCode::Limit,
        "the server cannot reach its coordination store (Redis) right now; try again in a few seconds",
    )
}

fn script_error(reply: &[String]) -> HubError {
    match reply {
        [_, e] if e == "replaced" => HubError::new(ErrorCode::PeerNotFound, "session replaced"),
        [_, e] if e == "too-many-rooms" => HubError::new(
            ErrorCode::Limit,
            format!("you are in {MAX_CODE_ROOMS_PER_PEER} code rooms already; leave one first"),
        ),
        other => {
            tracing::error!(?other, "unexpected reply from the Redis hub script");
            unavailable()
        }
    }
}

fn mate_error(reply: &[String], to: &str) -> HubError {
    match reply {
        [_, e] if e == "no-peer" => HubError::new(
            ErrorCode::PeerNotFound,
            format!(
                "no peer {:?} in your rooms; it may have left",
                to.chars().take(32).collect::<String>()
            ),
        ),
        other => script_error(other),
    }
}
