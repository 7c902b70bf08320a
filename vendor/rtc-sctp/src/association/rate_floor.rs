//! FERRY PATCH (see FERRY-PATCHES.md): a congestion-window floor from the measured delivery rate.
//!
//! RFC 9260's congestion control halves cwnd on every fast retransmit, so on a path with random
//! (non-congestion) loss its throughput is capped by the loss rate alone: about
//! `MTU / RTT * 1.22 / sqrt(p)` (Mathis et al.), ~1 MB/s for 1191-byte packets at 20 ms and 0.5 %,
//! however fast the path is. BBR (Cardwell et al., "BBR: Congestion-Based Congestion Control",
//! ACM Queue 2016) instead sizes the window from what the path has been seen to deliver: twice
//! the bandwidth-delay product, estimated as the windowed maximum delivery rate times the
//! minimum RTT. This keeps that one idea: cwnd never drops below `2 * max_rate * min_rtt`, so a
//! random loss costs a retransmission, not half the window, while a path that really delivers
//! less (congestion, a slower link) lowers the measured rate and with it the floor. Loss still
//! shrinks the RFC 9260 window above the floor, and a T3 timeout (an outage, or loss the floor
//! could not ride out) forgets the rate so the association starts again from one MTU.

use std::time::{Duration, Instant};

/// How many rate samples (each at least one min RTT long) the maximum is taken over: BBR's
/// bandwidth filter spans 10 round trips.
const RATE_SAMPLES: usize = 10;
/// BBR's cwnd gain: one BDP in flight on the wire plus one of headroom for ACK aggregation.
const CWND_GAIN: f64 = 2.0;
/// Rate samples shorter than this are too coarse (timer and ACK-batching jitter) on loopback.
const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(1);

#[derive(Debug, Default)]
pub(crate) struct RateFloor {
    /// Smallest RTT seen on this association. Never expires: a stale (too small) value only
    /// lowers the floor, i.e. errs towards RFC 9260's behaviour.
    min_rtt: Option<Duration>,
    /// Payload bytes newly acknowledged (cumulatively or by gap blocks) since the association began.
    delivered: u64,
    /// Start of the current rate sample: when and at which `delivered` count.
    sample_start: Option<(Instant, u64)>,
    /// Recent delivery rates in bytes per second, a ring of RATE_SAMPLES.
    rates: [f64; RATE_SAMPLES],
    next: usize,
}

impl RateFloor {
    pub(crate) fn on_rtt(&mut self, rtt: Duration) {
        if !rtt.is_zero() && self.min_rtt.is_none_or(|m| rtt < m) {
            self.min_rtt = Some(rtt);
        }
    }

    /// Accounts a SACK that newly acknowledged `bytes` of payload.
    pub(crate) fn on_delivered(&mut self, bytes: u64, now: Instant) {
        self.delivered += bytes;
        let Some(min_rtt) = self.min_rtt else {
            return;
        };
        let Some((start, delivered_then)) = self.sample_start else {
            self.sample_start = Some((now, self.delivered));
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < min_rtt.max(MIN_SAMPLE_INTERVAL) {
            return;
        }
        self.rates[self.next] = (self.delivered - delivered_then) as f64 / elapsed.as_secs_f64();
        self.next = (self.next + 1) % RATE_SAMPLES;
        self.sample_start = Some((now, self.delivered));
    }

    /// The window, in bytes, the delivery rate and min RTT justify; 0 before both are known.
    pub(crate) fn cwnd(&self) -> u32 {
        let Some(min_rtt) = self.min_rtt else {
            return 0;
        };
        let max_rate = self.rates.iter().copied().fold(0.0, f64::max);
        (CWND_GAIN * max_rate * min_rtt.as_secs_f64())
            .round()
            .min(u32::MAX as f64) as u32
    }

    /// After a T3 timeout: the rate measured before it no longer says what the path carries.
    pub(crate) fn forget_rate(&mut self) {
        self.rates = [0.0; RATE_SAMPLES];
        self.sample_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_floor_until_rtt_and_rate_are_known() {
        let mut f = RateFloor::default();
        let t = Instant::now();
        f.on_delivered(100_000, t);
        assert_eq!(f.cwnd(), 0);
        f.on_rtt(Duration::from_millis(20));
        assert_eq!(f.cwnd(), 0);
    }

    #[test]
    fn floor_is_twice_the_bandwidth_delay_product() {
        let mut f = RateFloor::default();
        let t = Instant::now();
        f.on_rtt(Duration::from_millis(20));
        f.on_delivered(0, t);
        // 250 kB in 20 ms: 12.5 MB/s; BDP at 20 ms = 250 kB.
        f.on_delivered(250_000, t + Duration::from_millis(20));
        assert_eq!(f.cwnd(), 500_000);
    }

    #[test]
    fn short_samples_are_not_taken_and_rates_age_out() {
        let mut f = RateFloor::default();
        let mut t = Instant::now();
        f.on_rtt(Duration::from_millis(10));
        f.on_delivered(0, t);
        f.on_delivered(1_000_000, t + Duration::from_millis(5)); // shorter than min RTT
        assert_eq!(f.cwnd(), 0);
        t += Duration::from_millis(10);
        f.on_delivered(0, t); // 1 MB in 10 ms
        assert_eq!(f.cwnd(), 2_000_000);
        for _ in 0..RATE_SAMPLES {
            t += Duration::from_millis(10);
            f.on_delivered(10_000, t); // 1 MB/s from now on
        }
        assert_eq!(f.cwnd(), 20_000);
    }

    #[test]
    fn a_timeout_forgets_the_rate_but_not_the_rtt() {
        let mut f = RateFloor::default();
        let t = Instant::now();
        f.on_rtt(Duration::from_millis(20));
        f.on_delivered(0, t);
        f.on_delivered(250_000, t + Duration::from_millis(20));
        f.forget_rate();
        assert_eq!(f.cwnd(), 0);
        f.on_delivered(0, t + Duration::from_millis(30));
        f.on_delivered(25_000, t + Duration::from_millis(50));
        assert_eq!(f.cwnd(), 50_000);
    }
}
