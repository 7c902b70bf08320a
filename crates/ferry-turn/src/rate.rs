//! A per-source token bucket with a bounded table, for STUN/TURN requests.
//!
//! One rule: the table never holds more than `capacity` sources. Entries whose bucket has
//! refilled are forgotten by [`RateTable::sweep`] (a full bucket and a missing entry behave the
//! same); sources that arrive while the table is full share one overflow bucket, so a flood
//! from many (spoofable) UDP source addresses costs bounded memory and still gets only one
//! source's rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::server::source_key;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

pub(crate) struct RateTable {
    rate: f64,
    burst: f64,
    capacity: usize,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
}

impl RateTable {
    pub(crate) fn new(rate: u32, burst: u32, capacity: usize) -> Self {
        let now = Instant::now();
        RateTable {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            capacity,
            buckets: HashMap::new(),
            overflow: Bucket {
                tokens: f64::from(burst.max(1)),
                last: now,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Takes one token for `ip`; false when its bucket is empty.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let key = source_key(ip);
        let (rate, burst) = (self.rate, self.burst);
        let full = self.buckets.len() >= self.capacity;
        let bucket = match self.buckets.get_mut(&key) {
            Some(b) => b,
            None if full => &mut self.overflow,
            None => self.buckets.entry(key).or_insert(Bucket {
                tokens: burst,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets sources whose bucket is full again.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let refill = self.burst / self.rate;
        self.buckets.retain(|_, b| {
            let idle = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens + idle * self.rate < self.burst || idle < refill
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut t = RateTable::new(10, 20, 100);
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let now = Instant::now();
        assert_eq!((0..50).filter(|_| t.allow(a, now)).count(), 20);
        let later = now + Duration::from_millis(500);
        assert_eq!((0..50).filter(|_| t.allow(a, later)).count(), 5);
        // Another source is not affected.
        assert!(t.allow("198.51.100.2".parse().unwrap(), later));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_sources() {
        let mut t = RateTable::new(10, 20, 1000);
        let now = Instant::now();
        for i in 0..5000u32 {
            t.allow(IpAddr::from(i.to_be_bytes()), now);
        }
        assert_eq!(t.len(), 1000);
        t.sweep(now + Duration::from_secs(3));
        assert_eq!(t.len(), 0);
    }
}
