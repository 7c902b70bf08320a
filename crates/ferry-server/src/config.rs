use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

/// Everything `ferry serve` can be told. `Default` is the no-config setup.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Sources whose `X-Forwarded-For` is believed. Empty by default: never trust the client.
    pub trusted_proxies: Vec<IpNet>,
    /// How long an empty code room keeps its code.
    pub code_room_ttl: Duration,
    pub heartbeat_interval: Duration,
    /// A connection silent for this long (no frame, no pong) is dropped.
    pub heartbeat_timeout: Duration,
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Secret for peer tokens (and later TURN credentials); random per process if not given.
    pub secret: Option<Vec<u8>>,
    /// STUN/TURN URLs handed to clients, e.g. `stun:stun.example.org:3478`.
    pub ice_urls: Vec<String>,
    /// Embedded STUN/TURN server and TURN credentials (off in `Default`, on in `ferry serve`).
    pub turn: crate::turn::TurnOptions,
    // --- Relay and HTTP-pipe limits (docs/security.md "Limits and quotas") ---
    /// WebSocket relay: pending sessions per peer, sockets per address, heartbeat.
    pub relay: crate::relay_ws::RelayLimits,
    /// HTTP pipe: waiting senders/receivers per address, how dead waiting parties are noticed.
    pub pipe: crate::pipe::PipeLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            trusted_proxies: Vec::new(),
            code_room_ttl: Duration::from_secs(10 * 60),
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            messages_per_second: 50,
            message_burst: 100,
            secret: None,
            ice_urls: Vec::new(),
            turn: crate::turn::TurnOptions::default(),
            relay: crate::relay_ws::RelayLimits::default(),
            pipe: crate::pipe::PipeLimits::default(),
        }
    }
}
