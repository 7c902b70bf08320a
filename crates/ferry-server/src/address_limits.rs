//! Budgets per source address that survive reconnects: a client that is closed for flooding and
//! reconnects starts from the same (empty) budget, not from a fresh burst.
//!
//! Keyed by the client address as [`crate::lan_room::client_addr`] resolves it (behind a trusted
//! proxy: the forwarded address); IPv6 by its /64, since one host can hold a whole /64. Tables are
//! swept of full buckets every few seconds, so their size follows the addresses active recently.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota};

/// A token bucket: `burst` at once, then one more every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub every: Duration,
}

impl RateLimit {
    pub const fn new(burst: u32, every: Duration) -> Self {
        RateLimit { burst, every }
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.every.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// What a source address may do, per [`RateLimit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressQuotas {
    /// `/ws` connections opened.
    pub connects: RateLimit,
    /// Signaling frames of every kind (text, binary, ping, pong) over all of the address's
    /// connections together.
    pub messages: RateLimit,
    /// `join-room` attempts, right or wrong: what makes guessing codes slow.
    pub room_joins: RateLimit,
    /// `create-room` requests.
    pub room_creates: RateLimit,
    /// How long an address closed for flooding may not open signaling connections.
    pub flood_penalty: Duration,
    /// Arrivals announced to the LAN room at once; beyond it, a newcomer is announced only
    /// after `quiet_delay` (and not at all if it left by then).
    pub announcements: RateLimit,
    pub quiet_delay: Duration,
}

impl Default for AddressQuotas {
    fn default() -> Self {
        AddressQuotas {
            connects: RateLimit::new(100, Duration::from_millis(100)),
            messages: RateLimit::new(2000, Duration::from_micros(1000)),
            room_joins: RateLimit::new(20, Duration::from_secs(3)),
            room_creates: RateLimit::new(20, Duration::from_secs(3)),
            flood_penalty: Duration::from_secs(30),
            announcements: RateLimit::new(20, Duration::from_secs(1)),
            quiet_delay: Duration::from_secs(3),
        }
    }
}

/// One keyed bucket table.
pub struct Budget {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Budget {
    pub fn new(limit: RateLimit) -> Self {
        Budget {
            limiter: DefaultKeyedRateLimiter::keyed(limit.quota()),
        }
    }

    /// Takes one token; `false` when the address is over its budget.
    pub fn take(&self, addr: IpAddr) -> bool {
        self.limiter.check_key(&address_key(addr)).is_ok()
    }

    /// Forgets addresses whose buckets are full again.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// Addresses barred for a while (closed for flooding), until their time is up.
pub struct Penalties {
    until: Mutex<HashMap<IpAddr, Instant>>,
    duration: Duration,
}

impl Penalties {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn impose(&self, addr: IpAddr) {
        self.lock()
            .insert(address_key(addr), Instant::now() + self.duration);
    }

    pub fn applies(&self, addr: IpAddr) -> bool {
        self.lock()
            .get(&address_key(addr))
            .is_some_and(|until| *until > Instant::now())
    }

    fn sweep(&self) {
        let now = Instant::now();
        self.lock().retain(|_, until| *until > now);
    }

    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// All per-address budgets of the signaling endpoint.
pub struct AddressLimits {
    pub connects: Budget,
    pub messages: Budget,
    pub room_joins: Budget,
    pub room_creates: Budget,
    pub announcements: Budget,
    pub quiet_delay: Duration,
    /// Barred after a flood; a reconnect does not start afresh.
    pub flooders: Penalties,
}

impl AddressLimits {
    pub fn new(q: &AddressQuotas) -> Self {
        AddressLimits {
            connects: Budget::new(q.connects),
            messages: Budget::new(q.messages),
            room_joins: Budget::new(q.room_joins),
            room_creates: Budget::new(q.room_creates),
            announcements: Budget::new(q.announcements),
            quiet_delay: q.quiet_delay,
            flooders: Penalties {
                until: Mutex::new(HashMap::new()),
                duration: q.flood_penalty,
            },
        }
    }

    pub fn sweep(&self) {
        self.connects.sweep();
        self.messages.sweep();
        self.room_joins.sweep();
        self.room_creates.sweep();
        self.announcements.sweep();
        self.flooders.sweep();
    }

    pub fn tracked(&self) -> usize {
        self.connects.tracked()
            + self.messages.tracked()
            + self.room_joins.tracked()
            + self.room_creates.tracked()
            + self.announcements.tracked()
            + self.flooders.tracked()
    }
}

/// The key an address is budgeted under: IPv4 as is, IPv6 by its /64 (the same key the pipe
/// and relay quotas use).
pub fn address_key(addr: IpAddr) -> IpAddr {
    crate::pipe::quota::AddrKey::of(addr).ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_per_address() {
        let b = Budget::new(RateLimit::new(3, Duration::from_secs(3600)));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let c: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(b.take(a) && b.take(a) && b.take(a));
        assert!(!b.take(a));
        assert!(b.take(c));
    }

    #[test]
    fn ipv6_keyed_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
