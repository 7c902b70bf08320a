use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

/// Everything `ferry serve` can be told. `Default` is the no-config setup.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Sources whose `X-Forwarded-For` is believed. Empty by default: never trust the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Rooms, codes and per-peer queues.
    pub hub: crate::hub::HubOptions,
    pub heartbeat_interval: Duration,
    /// A connection silent for this long (no frame, no pong) is dropped.
    pub heartbeat_timeout: Duration,
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// A signaling write that does not complete in this time drops the client.
    pub send_timeout: Duration,
    /// Budgets per source address (connections, messages, room requests).
    pub address_quotas: crate::address_limits::AddressQuotas,
    /// Timeouts and caps of the HTTP server itself.
    pub http: HttpLimits,
    /// Where `/metrics` is served.
    pub metrics: MetricsEndpoint,
    /// On SIGTERM/SIGINT, how long running pipes and relays may finish before the process exits.
    pub shutdown_grace: Duration,
    /// Secret for peer tokens (and later TURN credentials); random per process if not given.
    pub secret: Option<Vec<u8>>,
    /// `redis://…`: share presence, rooms and forwarding with other instances (docs/deployment.md).
    /// `None`: the embedded hub.
    pub redis_url: Option<String>,
    /// With `redis_url`: the `http://host:port` other instances reach this one at (relays and
    /// pipes whose ends are on different instances). Default: the listen address, unless it is
    /// a wildcard.
    pub cluster_url: Option<String>,
    /// STUN/TURN URLs handed to clients, e.g. `stun:stun.example.org:3478`.
    pub ice_urls: Vec<String>,
    /// Embedded STUN/TURN server and TURN credentials (off in `Default`, on in `ferry serve`).
    pub turn: crate::turn::TurnOptions,
    // --- Relay and HTTP-pipe limits (docs/security.md "Limits and quotas") ---
    /// WebSocket relay: pending sessions per peer, sockets per address, heartbeat.
    pub relay: crate::relay_ws::RelayLimits,
    /// HTTP pipe: waiting senders/receivers per address, how dead waiting parties are noticed.
    pub pipe: crate::pipe::PipeLimits,
    /// HTTPS on the main port (certificate files or ACME); plain HTTP when `None`.
    pub tls: Option<crate::tls::TlsOptions>,
    /// With TLS: a plain-HTTP listener that answers every request with a redirect to HTTPS.
    pub http_redirect: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            trusted_proxies: Vec::new(),
            hub: crate::hub::HubOptions::default(),
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            messages_per_second: 50,
            message_burst: 100,
            send_timeout: Duration::from_secs(5),
            address_quotas: Default::default(),
            http: HttpLimits::default(),
            metrics: MetricsEndpoint::Main,
            shutdown_grace: Duration::from_secs(30),
            secret: None,
            redis_url: None,
            cluster_url: None,
            ice_urls: Vec::new(),
            turn: crate::turn::TurnOptions::default(),
            relay: crate::relay_ws::RelayLimits::default(),
            pipe: crate::pipe::PipeLimits::default(),
            tls: None,
            http_redirect: None,
        }
    }
}

/// Limits of the HTTP layer, before any route runs.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A connection must deliver a request's headers within this time (also the idle timeout
    /// of a keep-alive connection between requests).
    pub header_read_timeout: Duration,
    /// Request line plus headers; more gets 431.
    pub max_header_bytes: usize,
    /// Connections that have not completed their first request, server-wide.
    pub max_handshakes: usize,
    /// The same, per source address.
    pub max_handshakes_per_address: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_handshakes: 2048,
            max_handshakes_per_address: 64,
        }
    }
}

/// Where Prometheus metrics are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// `/metrics` on the main port.
    Main,
    /// `/metrics` on its own listener only (e.g. `127.0.0.1:9090`, reachable by the scraper only).
    Separate(SocketAddr),
    Disabled,
}
