//! Per-address counters for things a client holds open (waiting pipe parties, relay sockets).
//!
//! One rule: an entry exists only while someone holds a [`QuotaGuard`] for it, so the table is
//! never bigger than the number of live connections — a flood of new addresses cannot grow it
//! beyond what the connections themselves already cost.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Request};
use ipnet::IpNet;

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (one host usually
/// holds a whole /64, so counting single IPv6 addresses would be no limit at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                AddrKey(IpAddr::V6(std::net::Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
            v4 => AddrKey(v4),
        }
    }

    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            v4 => write!(f, "{v4}"),
        }
    }
}

/// The client address of a request: the TCP peer, or behind a trusted proxy the forwarded
/// address (the same rule signaling uses, `lan_room::client_addr`). `None` when the server
/// runs without connect info (a router used in-process).
pub fn request_client_ip<B>(request: &Request<B>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0;
    Some(client_ip(peer.ip(), request.headers(), trusted))
}

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    crate::lan_room::client_addr(peer, forwarded, trusted)
}

/// At most `limit` held guards per address.
pub struct AddrQuota {
    limit: usize,
    counts: Mutex<HashMap<AddrKey, usize>>,
    refusals: AtomicU64,
}

impl AddrQuota {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(AddrQuota {
            limit,
            counts: Mutex::new(HashMap::new()),
            refusals: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddrKey, usize>> {
        // Every change is one insert/remove, so a poisoned map is still consistent.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one unit for `ip`, or `None` when the address is at its limit (counted in
    /// [`Self::refusals`]).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<QuotaGuard> {
        let key = AddrKey::of(ip);
        let mut counts = self.lock();
        let count = counts.entry(key).or_insert(0);
        if *count >= self.limit {
            drop(counts);
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *count += 1;
        Some(QuotaGuard {
            quota: self.clone(),
            key,
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Addresses holding at least one unit (the table's size).
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    pub fn held_by(&self, ip: IpAddr) -> usize {
        self.lock().get(&AddrKey::of(ip)).copied().unwrap_or(0)
    }
}

/// One unit of an address's quota, given back on drop.
pub struct QuotaGuard {
    quota: Arc<AddrQuota>,
    key: AddrKey,
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        let mut counts = self.quota.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_forgets_released_ones() {
        let q = AddrQuota::new(2);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let g1 = q.acquire(a).unwrap();
        let _g2 = q.acquire(a).unwrap();
        assert!(q.acquire(a).is_none());
        assert_eq!(q.refusals(), 1);
        assert!(q.acquire("203.0.113.2".parse().unwrap()).is_some());
        drop(g1);
        assert!(q.acquire(a).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let q = AddrQuota::new(1);
        let _g = q.acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(q.acquire("2001:db8:1:2:ffff::9".parse().unwrap()).is_none());
        assert!(q.acquire("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = q.acquire("198.51.100.7".parse().unwrap()).unwrap();
        assert!(q.acquire("::ffff:198.51.100.7".parse().unwrap()).is_none());
        drop(_g);
        drop(_v4);
    }

    #[test]
    fn the_table_holds_only_live_entries() {
        let q = AddrQuota::new(4);
        let guards: Vec<_> = (0..100u8)
            .map(|i| q.acquire(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(q.addresses(), 100);
        drop(guards);
        assert_eq!(q.addresses(), 0);
    }
}
