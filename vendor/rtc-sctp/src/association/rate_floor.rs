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
    /// Start of the current rate sample: when, at which `delivered` count, and `newest_sent`.
    sample_start: Option<(Instant, u64, Option<Instant>)>,
    /// When the most recently sent of the chunks acknowledged so far was sent (first
    /// transmissions only: a retransmission's send time is not kept).
    newest_sent: Option<Instant>,
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

    /// A chunk first sent at `sent` was newly acknowledged (called before `on_delivered`).
    pub(crate) fn on_acked_sent_at(&mut self, sent: Option<Instant>) {
        if let Some(sent) = sent
            && self.newest_sent.is_none_or(|newest| sent > newest)
        {
            self.newest_sent = Some(sent);
        }
    }

    /// Accounts a SACK that newly acknowledged `bytes` of payload.
    ///
    /// A sample's rate is the bytes delivered over the longer of the time their SACKs took to
    /// arrive and the time they took to be sent (the delivery rate estimation of BBR,
    /// draft-cheng-iccrg-delivery-rate-estimation §3.3): SACKs bunched up on the way back (a busy
    /// router, a descheduled relay) would otherwise show a rate the path never carried, and
    /// the window built on it overflows the bottleneck's queue — measured 60–90 MB/s samples
    /// on a wire that carried 25.
    pub(crate) fn on_delivered(&mut self, bytes: u64, now: Instant) {
        self.delivered += bytes;
        let Some(min_rtt) = self.min_rtt else {
            return;
        };
        let Some((start, delivered_then, sent_then)) = self.sample_start else {
            self.sample_start = Some((now, self.delivered, self.newest_sent));
            return;
        };
        let ack_elapsed = now.saturating_duration_since(start);
        if ack_elapsed < min_rtt.max(MIN_SAMPLE_INTERVAL) {
            return;
        }
        let send_elapsed = match (sent_then, self.newest_sent) {
            (Some(then), Some(newest)) => newest.saturating_duration_since(then),
            _ => Duration::ZERO,
        };
        let elapsed = ack_elapsed.max(send_elapsed);
        self.rates[self.next] = (self.delivered - delivered_then) as f64 / elapsed.as_secs_f64();
        self.next = (self.next + 1) % RATE_SAMPLES;
        self.sample_start = Some((now, self.delivered, self.newest_sent));
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
    fn sacks_bunched_on_the_way_back_do_not_raise_the_rate() {
        let mut f = RateFloor::default();
        let t = Instant::now();
        let ms = Duration::from_millis;
        f.on_rtt(ms(20));
        f.on_acked_sent_at(Some(t));
        f.on_delivered(0, t + ms(20));
        // 250 kB sent over 40 ms (6.25 MB/s), its SACKs arriving within 20 ms of each other.
        f.on_acked_sent_at(Some(t + ms(40)));
        f.on_delivered(250_000, t + ms(40));
        assert_eq!(
            f.cwnd(),
            250_000,
            "the send interval bounds the sample, not the SACKs'"
        );
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
