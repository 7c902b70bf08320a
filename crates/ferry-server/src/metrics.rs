//! Prometheus metrics (`/metrics`, text format). Counters are bumped where things happen; gauges
//! are read from their owners at scrape time, so nothing keeps a second copy of the state.
//! Every metric is listed in docs/metrics.md.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

type IntGauge = Gauge<i64, AtomicI64>;

/// Gauges filled in at scrape time.
#[derive(Default)]
pub struct Gauges {
    pub signaling_peers: IntGauge,
    pub rooms: Family<KindLabel, IntGauge>,
    pub lan_networks: IntGauge,
    pub outbox_bytes: IntGauge,
    pub address_limit_entries: IntGauge,
    pub http_connections: IntGauge,
    pub http_handshakes: IntGauge,
    pub open_fds: IntGauge,
    pub max_fds: IntGauge,
    pub redis_up: IntGauge,
}

#[derive(Default)]
pub struct Metrics {
    pub signaling_connections: Counter<u64, AtomicU64>,
    pub signals_forwarded: Counter<u64, AtomicU64>,
    pub slow_peer_drops: Counter<u64, AtomicU64>,
    pub send_timeouts: Counter<u64, AtomicU64>,
    pub limit_hits: Family<KindLabel, Counter<u64, AtomicU64>>,
    pub redis_errors: Counter<u64, AtomicU64>,
    pub redis_disconnects: Counter<u64, AtomicU64>,
    pub redis_resyncs: Counter<u64, AtomicU64>,
    pub gauges: Gauges,
}

impl Metrics {
    /// Counts one refusal by a limit; `kind` is one of the kinds in docs/metrics.md.
    pub fn limit_hit(&self, kind: &'static str) {
        self.limit_hits.get_or_create(&KindLabel { kind }).inc();
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("ferry");
        let g = &self.gauges;
        r.register(
            "signaling_peers",
            "Peers connected to signaling",
            g.signaling_peers.clone(),
        );
        r.register(
            "signaling_rooms",
            "Rooms by kind (lan counts each LAN room shard)",
            g.rooms.clone(),
        );
        r.register(
            "signaling_lan_networks",
            "Distinct networks (public addresses) with peers",
            g.lan_networks.clone(),
        );
        r.register(
            "signaling_outbox_bytes",
            "Bytes queued for signaling clients",
            g.outbox_bytes.clone(),
        );
        r.register(
            "signaling_connections",
            "Signaling connections accepted",
            self.signaling_connections.clone(),
        );
        r.register(
            "signals_forwarded",
            "Signals forwarded between peers",
            self.signals_forwarded.clone(),
        );
        r.register(
            "slow_peer_drops",
            "Peers disconnected because their outbox overflowed",
            self.slow_peer_drops.clone(),
        );
        r.register(
            "send_timeouts",
            "Signaling clients dropped because a socket write did not complete in time",
            self.send_timeouts.clone(),
        );
        r.register(
            "limit_hits",
            "Requests refused or connections closed by a limit, by kind",
            self.limit_hits.clone(),
        );
        r.register(
            "address_limit_entries",
            "Addresses tracked by per-address rate limits",
            g.address_limit_entries.clone(),
        );
        r.register(
            "http_connections",
            "Open HTTP connections (including upgraded WebSockets)",
            g.http_connections.clone(),
        );
        r.register(
            "http_handshakes",
            "HTTP connections that have not completed their first request",
            g.http_handshakes.clone(),
        );
        r.register(
            "open_fds",
            "File descriptors open in the process",
            g.open_fds.clone(),
        );
        r.register(
            "max_fds",
            "Soft limit on open file descriptors",
            g.max_fds.clone(),
        );
        r.register(
            "redis_up",
            "1 while this instance is subscribed to Redis (--redis); 0 when not, or without --redis",
            g.redis_up.clone(),
        );
        r.register(
            "redis_errors",
            "Hub operations that failed because Redis did not answer",
            self.redis_errors.clone(),
        );
        r.register(
            "redis_disconnects",
            "Times this instance lost its Redis link",
            self.redis_disconnects.clone(),
        );
        r.register(
            "redis_resyncs",
            "Times this instance re-asserted its peers in Redis after losing it",
            self.redis_resyncs.clone(),
        );
        r
    }

    /// The text exposition. Gauges must have been refreshed by the caller.
    pub fn encode(&self, extra: &[(&str, &str, u64, bool)]) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry());
        for (name, help, value, counter) in extra {
            let (kind, suffix) = if *counter {
                ("counter", "_total")
            } else {
                ("gauge", "")
            };
            out.push_str(&format!(
                "# HELP ferry_{name} {help}\n# TYPE ferry_{name} {kind}\nferry_{name}{suffix} {value}\n"
            ));
        }
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}

/// Open descriptors of this process (Linux: entries of /proc/self/fd), if known.
pub fn open_fds() -> Option<i64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_text_format() {
        let m = Metrics::default();
        m.signals_forwarded.inc();
        m.limit_hit("room-joins");
        m.gauges
            .rooms
            .get_or_create(&KindLabel { kind: "code" })
            .set(3);
        let text = m.encode(&[("pipe_waiting", "Waiting pipe parties", 2, false)]);
        assert!(text.contains("ferry_signals_forwarded_total 1"), "{text}");
        assert!(
            text.contains("ferry_limit_hits_total{kind=\"room-joins\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ferry_signaling_rooms{kind=\"code\"} 3"),
            "{text}"
        );
        assert!(text.contains("ferry_pipe_waiting 2\n"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
