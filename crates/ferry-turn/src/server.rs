//! ferry's own read loop around the `turn` crate's request handler.
//!
//! Why not `turn::server::Server`: its nonce table is private and never evicted (50,000
//! unauthenticated Allocates held +4.8 MB for good), it has no allocation quota, no rate limit,
//! and it answers bad credentials with 400 instead of RFC 8489's 401. The crate's per-datagram
//! handler (`turn::server::request::Request`) and allocation `Manager` are public, so this loop
//! does what the crate's does — one datagram at a time — with the checks in front:
//!
//! 1. STUN requests (not ChannelData or Send indications, which need an allocation already)
//!    pass a per-source token bucket; beyond it they are dropped unanswered.
//! 2. Requests that would get a new nonce first make room in the bounded nonce table.
//! 3. Authenticated requests with an unknown or expired username, or a wrong
//!    MESSAGE-INTEGRITY, get 401 with a fresh nonce and the realm.
//! 4. An authenticated Allocate beyond the quota of its username or its source IP gets 486.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use stun::error_code::{
    CODE_ALLOC_QUOTA_REACHED, CODE_UNAUTHORIZED, ErrorCode, ErrorCodeAttribute,
};
use stun::integrity::MessageIntegrity;
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_REQUEST, Getter, METHOD_ALLOCATE, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_REFRESH, Message, MessageType, Setter,
};
use stun::textattrs::TextAttribute;
use tokio::time::Instant;
use turn::allocation::AllocationInfo;
use turn::allocation::allocation_manager::Manager;
use turn::allocation::five_tuple::FiveTuple;
use turn::auth::AuthHandler;
use turn::proto::PROTO_UDP;
use webrtc_util::Conn;

use crate::rate::RateTable;

/// Limits of the embedded STUN/TURN server (docs/turn.md, docs/security.md).
#[derive(Debug, Clone)]
pub struct TurnLimits {
    /// Live allocations per TURN username (one credential = one peer).
    pub allocations_per_user: usize,
    /// Live allocations per client source IP (IPv6: per /64).
    pub allocations_per_source: usize,
    /// STUN requests answered per source IP per second (token bucket rate) …
    pub requests_per_second: u32,
    /// … and the bucket's size (burst).
    pub request_burst: u32,
    /// Nonces kept at most; the oldest go first when full.
    pub max_nonces: usize,
    /// A nonce older than this is forgotten (the client then gets 438 Stale Nonce and retries).
    pub nonce_lifetime: Duration,
    /// Source addresses the rate limiter remembers at most; sources beyond share one bucket.
    pub rate_table_size: usize,
}

impl Default for TurnLimits {
    fn default() -> Self {
        TurnLimits {
            allocations_per_user: 32,
            allocations_per_source: 128,
            requests_per_second: 100,
            request_burst: 200,
            max_nonces: 10_000,
            nonce_lifetime: Duration::from_secs(30 * 60),
            rate_table_size: 65_536,
        }
    }
}

/// Counters and gauges of the STUN/TURN server, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Live allocations (gauge).
    pub allocations: u64,
    /// Nonces held (gauge).
    pub nonces: u64,
    /// Source addresses in the rate limiter's table (gauge).
    pub rate_table_entries: u64,
    /// STUN requests dropped by the per-source rate limit (counter).
    pub stun_rate_limited: u64,
    /// Allocates refused with 486 (counter).
    pub quota_refusals: u64,
    /// Requests refused with 401 for a bad username or MESSAGE-INTEGRITY (counter).
    pub auth_failures: u64,
}

type Nonces = Arc<tokio::sync::Mutex<HashMap<String, Instant>>>;

/// Live allocations by client address, with per-user and per-source counts.
#[derive(Default)]
struct Allocations {
    by_client: HashMap<SocketAddr, (String, IpAddr)>,
    per_user: HashMap<String, usize>,
    per_source: HashMap<IpAddr, usize>,
}

impl Allocations {
    fn add(&mut self, client: SocketAddr, user: &str) {
        let source = source_key(client.ip());
        if self
            .by_client
            .insert(client, (user.to_owned(), source))
            .is_none()
        {
            *self.per_user.entry(user.to_owned()).or_insert(0) += 1;
            *self.per_source.entry(source).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, client: SocketAddr) {
        let Some((user, source)) = self.by_client.remove(&client) else {
            return;
        };
        decrement(&mut self.per_user, &user);
        decrement(&mut self.per_source, &source);
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// IPv4 as it is; IPv6 per /64 (one host usually holds a whole /64).
pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// State shared by the read loop, the sweeper and [`crate::TurnServer::stats`].
pub(crate) struct Shared {
    limits: TurnLimits,
    nonces: Nonces,
    nonce_count: AtomicU64,
    allocations: Mutex<Allocations>,
    rate: Mutex<RateTable>,
    rate_limited: AtomicU64,
    quota_refusals: AtomicU64,
    auth_failures: AtomicU64,
}

impl Shared {
    pub(crate) fn new(limits: TurnLimits) -> Arc<Self> {
        Arc::new(Shared {
            rate: Mutex::new(RateTable::new(
                limits.requests_per_second,
                limits.request_burst,
                limits.rate_table_size,
            )),
            limits,
            nonces: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
            nonce_count: AtomicU64::new(0),
            allocations: Mutex::new(Allocations::default()),
            rate_limited: AtomicU64::new(0),
            quota_refusals: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
        })
    }

    fn allocations(&self) -> std::sync::MutexGuard<'_, Allocations> {
        self.allocations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rate(&self) -> std::sync::MutexGuard<'_, RateTable> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> TurnStats {
        TurnStats {
            allocations: self.allocations().by_client.len() as u64,
            nonces: self.nonce_count.load(Ordering::Relaxed),
            rate_table_entries: self.rate().len() as u64,
            stun_rate_limited: self.rate_limited.load(Ordering::Relaxed),
            quota_refusals: self.quota_refusals.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
        }
    }

    /// Drops expired nonces; when still full, the oldest quarter. Called before anything that
    /// may add a nonce, so the table never passes `max_nonces` by more than one.
    async fn make_room_for_nonce(&self) {
        let mut nonces = self.nonces.lock().await;
        if nonces.len() >= self.limits.max_nonces {
            let now = Instant::now();
            let lifetime = self.limits.nonce_lifetime;
            nonces.retain(|_, born| now.duration_since(*born) < lifetime);
        }
        if nonces.len() >= self.limits.max_nonces {
            let mut ages: Vec<(Instant, String)> =
                nonces.iter().map(|(n, born)| (*born, n.clone())).collect();
            ages.sort_unstable();
            for (_, nonce) in ages.iter().take(nonces.len() / 4 + 1) {
                nonces.remove(nonce);
            }
        }
        self.nonce_count
            .store(nonces.len() as u64, Ordering::Relaxed);
    }

    async fn sweep(&self) {
        let now = Instant::now();
        let lifetime = self.limits.nonce_lifetime;
        let mut nonces = self.nonces.lock().await;
        nonces.retain(|_, born| now.duration_since(*born) < lifetime);
        self.nonce_count
            .store(nonces.len() as u64, Ordering::Relaxed);
        drop(nonces);
        self.rate().sweep(std::time::Instant::now());
    }

    async fn fresh_nonce(&self) -> String {
        self.make_room_for_nonce().await;
        let nonce = hex_nonce();
        let mut nonces = self.nonces.lock().await;
        nonces.insert(nonce.clone(), Instant::now());
        self.nonce_count
            .store(nonces.len() as u64, Ordering::Relaxed);
        nonce
    }
}

fn hex_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) struct Loop {
    pub(crate) conn: Arc<dyn Conn + Send + Sync>,
    pub(crate) manager: Arc<Manager>,
    pub(crate) auth: Arc<dyn AuthHandler + Send + Sync>,
    pub(crate) realm: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) closed: tokio::sync::watch::Receiver<bool>,
}

/// What the checks decided for one datagram.
enum Verdict {
    /// Hand it to the crate. `Some(user)` for an authenticated Allocate (to count it after).
    Pass(Option<String>),
    /// Answered or dropped here.
    Done,
}

impl Loop {
    pub(crate) fn spawn(self, mut closes: tokio::sync::mpsc::Receiver<AllocationInfo>) {
        let shared = self.shared.clone();
        let mut closed = self.closed.clone();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    info = closes.recv() => match info {
                        Some(info) => shared.allocations().remove(info.five_tuple.src_addr),
                        None => return,
                    },
                    _ = sweep.tick() => shared.sweep().await,
                    _ = closed.changed() => return,
                }
            }
        });
        tokio::spawn(self.run());
    }

    async fn run(mut self) {
        // One datagram's worth; STUN/TURN over UDP never needs more than an MTU (the crate
        // uses the same).
        let mut buf = vec![0u8; 1500];
        let local = match self.conn.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "TURN listener has no address");
                return;
            }
        };
        loop {
            let (n, from) = tokio::select! {
                r = self.conn.recv_from(&mut buf) => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "TURN read loop ends");
                        break;
                    }
                },
                _ = self.closed.changed() => break,
            };
            let packet = &buf[..n];
            let counted_user = match self.check(packet, from).await {
                Verdict::Done => continue,
                Verdict::Pass(user) => user,
            };
            let mut request = turn::server::request::Request::new(
                self.conn.clone(),
                from,
                self.manager.clone(),
                self.auth.clone(),
            );
            request.buff = packet.to_vec();
            request.nonces = self.shared.nonces.clone();
            request.realm = self.realm.clone();
            request.channel_bind_timeout = turn::proto::lifetime::DEFAULT_LIFETIME;
            if let Err(e) = request.handle_request().await {
                tracing::debug!(client = %from, error = %e, "TURN request failed");
            }
            if let Some(user) = counted_user {
                let five_tuple = FiveTuple {
                    protocol: PROTO_UDP,
                    src_addr: from,
                    dst_addr: local,
                };
                if self.manager.get_allocation(&five_tuple).await.is_some() {
                    self.shared.allocations().add(from, &user);
                }
            }
            // The crate may have added a nonce (401/438 answers).
            let count = self.shared.nonces.lock().await.len();
            self.shared
                .nonce_count
                .store(count as u64, Ordering::Relaxed);
        }
        let _ = self.manager.close().await;
    }

    async fn check(&self, packet: &[u8], from: SocketAddr) -> Verdict {
        // Only STUN requests are limited (ChannelData and Send indications need an allocation,
        // which needs authentication). Decided from the 20-byte header before any parsing, so a
        // flood costs a lookup per datagram, not a decode.
        if !is_stun_request(packet) {
            return Verdict::Pass(None);
        }
        if !self
            .shared
            .rate()
            .allow(from.ip(), std::time::Instant::now())
        {
            self.shared.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Verdict::Done;
        }
        let mut m = Message {
            raw: packet.to_vec(),
            ..Default::default()
        };
        if m.decode().is_err() {
            // The crate would only log it; nothing to answer.
            return Verdict::Done;
        }
        if m.typ.class != CLASS_REQUEST {
            return Verdict::Pass(None);
        }
        let authenticated_method = [
            METHOD_ALLOCATE,
            METHOD_REFRESH,
            METHOD_CREATE_PERMISSION,
            METHOD_CHANNEL_BIND,
        ]
        .contains(&m.typ.method);
        if !authenticated_method {
            return Verdict::Pass(None);
        }
        if !m.contains(ATTR_MESSAGE_INTEGRITY) {
            // The crate answers 401 with a new nonce.
            self.shared.make_room_for_nonce().await;
            return Verdict::Pass(None);
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            text_attr(&m, ATTR_USERNAME),
            text_attr(&m, ATTR_REALM),
            text_attr(&m, ATTR_NONCE),
        ) else {
            // Missing attributes: the crate's 400 is the right answer (RFC 8489 9.2.4).
            return Verdict::Pass(None);
        };
        let known_nonce = {
            let nonces = self.shared.nonces.lock().await;
            nonces
                .get(&nonce)
                .is_some_and(|born| born.elapsed() < self.shared.limits.nonce_lifetime)
        };
        if !known_nonce {
            // The crate answers 438 Stale Nonce with a new one.
            self.shared.make_room_for_nonce().await;
            return Verdict::Pass(None);
        }
        let key_ok = match self.auth.auth_handle(&username, &realm, from) {
            Ok(key) => MessageIntegrity(key).check(&mut m.clone()).is_ok(),
            Err(_) => false,
        };
        if !key_ok {
            self.shared.auth_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(client = %from, username, "TURN request with bad credentials: 401");
            let nonce = self.shared.fresh_nonce().await;
            self.reply_error(&m, from, CODE_UNAUTHORIZED, b"Unauthorized", Some(nonce))
                .await;
            return Verdict::Done;
        }
        if m.typ.method != METHOD_ALLOCATE {
            return Verdict::Pass(None);
        }
        let over = {
            let allocations = self.shared.allocations();
            if allocations.by_client.contains_key(&from) {
                // The crate answers 437 (or a retransmission); not a new allocation.
                None
            } else if allocations.per_user.get(&username).copied().unwrap_or(0)
                >= self.shared.limits.allocations_per_user
            {
                Some("user")
            } else if allocations
                .per_source
                .get(&source_key(from.ip()))
                .copied()
                .unwrap_or(0)
                >= self.shared.limits.allocations_per_source
            {
                Some("source")
            } else {
                None
            }
        };
        if let Some(which) = over {
            self.shared.quota_refusals.fetch_add(1, Ordering::Relaxed);
            tracing::info!(client = %from, username, quota = which, "TURN allocation quota reached: 486");
            self.reply_error(
                &m,
                from,
                CODE_ALLOC_QUOTA_REACHED,
                b"Allocation Quota Reached",
                None,
            )
            .await;
            return Verdict::Done;
        }
        Verdict::Pass(Some(username))
    }

    async fn reply_error(
        &self,
        request: &Message,
        to: SocketAddr,
        code: ErrorCode,
        reason: &[u8],
        nonce: Option<String>,
    ) {
        let realm = nonce.map(|n| (n, self.realm.clone()));
        if let Some(raw) = error_response(request, code, reason, realm) {
            let _ = self.conn.send_to(&raw, to).await;
        }
    }
}

/// An error response to `request`; with `nonce_realm` (401) it carries NONCE and REALM.
fn error_response(
    request: &Message,
    code: ErrorCode,
    reason: &[u8],
    nonce_realm: Option<(String, String)>,
) -> Option<Vec<u8>> {
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(Message {
            transaction_id: request.transaction_id,
            ..Default::default()
        }),
        Box::new(MessageType::new(request.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute {
            code,
            reason: reason.to_vec(),
        }),
    ];
    if let Some((nonce, realm)) = nonce_realm {
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, nonce)));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, realm)));
    }
    let mut out = Message::new();
    out.build(&setters).ok()?;
    Some(out.raw)
}

/// A STUN request header: top bits 00, class bits (C1 = bit 8, C0 = bit 4 of the type) 00,
/// and the magic cookie.
fn is_stun_request(packet: &[u8]) -> bool {
    if packet.len() < 20 || packet[0] & 0xc0 != 0 || packet[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return false;
    }
    let typ = u16::from_be_bytes([packet[0], packet[1]]);
    typ & 0x0110 == 0
}

fn text_attr(m: &Message, attr: stun::attributes::AttrType) -> Option<String> {
    let mut t = TextAttribute::new(attr, String::new());
    t.get_from(m).ok()?;
    Some(t.text)
}
