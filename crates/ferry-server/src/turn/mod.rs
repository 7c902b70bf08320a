//! STUN/TURN as `ferry serve` offers it: options, starting the embedded server (crate
//! `ferry-turn`), and the ICE server list each peer gets in its `welcome`.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime};

use ferry_protocol::signaling::IceServer;
use ferry_turn::{RestCredentials, TurnConfig, TurnServer};
// For `ferry serve` flags and `/metrics`.
pub use ferry_turn::{TurnLimits, TurnStats};

/// TURN-related configuration. `Default` keeps the embedded server off so a library user (and
/// every test) does not grab UDP 3478; the `ferry serve` CLI turns it on by default.
#[derive(Debug, Clone)]
pub struct TurnOptions {
    /// Run the embedded STUN/TURN server.
    pub enabled: bool,
    /// UDP port for STUN and TURN on the HTTP listen address; 0 picks a free one.
    pub port: u16,
    /// Address clients and peers reach this server at, for a server behind NAT. Used in the ICE
    /// URLs and as the advertised relay address. Auto-detected when not set.
    pub public_ip: Option<IpAddr>,
    pub relay_ports: RangeInclusive<u16>,
    /// coturn `static-auth-secret`; random per process when not set (embedded TURN only).
    pub secret: Option<String>,
    pub credential_ttl: Duration,
    /// External TURN servers sharing `secret` (e.g. coturn with `use-auth-secret`); peers get
    /// credentials for them too.
    pub external_urls: Vec<String>,
    pub allow_private_peers: bool,
    /// Relaying to 127.0.0.0/8: tests and benchmarks on one machine only.
    pub allow_loopback_peers: bool,
    /// Allocation quotas, STUN rate limit, nonce bounds (docs/turn.md "Limits").
    pub limits: ferry_turn::TurnLimits,
}

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            enabled: false,
            port: 3478,
            public_ip: None,
            relay_ports: 49152..=65535,
            secret: None,
            credential_ttl: Duration::from_secs(12 * 3600),
            external_urls: Vec::new(),
            allow_private_peers: false,
            allow_loopback_peers: false,
            limits: ferry_turn::TurnLimits::default(),
        }
    }
}

/// What the welcome message needs to build per-peer ICE servers.
#[derive(Debug, Clone)]
pub struct IceProvider {
    credentials: RestCredentials,
    ttl: Duration,
    stun_urls: Vec<String>,
    external_turn_urls: Vec<String>,
    public_ip: Option<IpAddr>,
    /// Port and fallback host of the embedded server, once it runs.
    embedded: Option<(u16, IpAddr)>,
    /// The embedded server's counters, once it runs.
    stats: Option<ferry_turn::TurnStatsHandle>,
}

impl IceProvider {
    pub fn new(opts: &TurnOptions, stun_urls: Vec<String>) -> Self {
        let credentials = match &opts.secret {
            Some(s) => RestCredentials::new(s.clone()),
            None => RestCredentials::random(),
        };
        IceProvider {
            credentials,
            ttl: opts.credential_ttl,
            stun_urls,
            external_turn_urls: opts.external_urls.clone(),
            public_ip: opts.public_ip,
            embedded: None,
            stats: None,
        }
    }

    pub fn credentials(&self) -> &RestCredentials {
        &self.credentials
    }

    pub fn set_embedded(&mut self, port: u16, advertised: IpAddr) {
        self.embedded = Some((port, advertised));
    }

    /// [`Self::set_embedded`] for a running server, keeping its stats handle for `/metrics`.
    pub fn set_embedded_server(&mut self, server: &TurnServer) {
        self.set_embedded(server.local_addr().port(), server.advertised_ip());
        self.stats = Some(server.stats_handle());
    }

    /// The embedded STUN/TURN server's counters, when it runs.
    pub fn turn_stats(&self) -> Option<ferry_turn::TurnStats> {
        self.stats.as_ref().map(|s| s.get())
    }

    /// `host_header` is the HTTP Host the client used: the name it can reach us by. An explicit
    /// public IP wins over it (the operator knows better than a proxy's Host).
    pub fn ice_servers_for(&self, peer_id: &str, host_header: Option<&str>) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        let mut turn_urls = Vec::new();
        if let Some((port, advertised)) = self.embedded {
            let host = match (self.public_ip, host_header.and_then(host_of)) {
                (Some(ip), _) => ip_literal(ip),
                (None, Some(h)) => h,
                (None, None) => ip_literal(advertised),
            };
            turn_urls.push(format!("stun:{host}:{port}"));
            turn_urls.push(format!("turn:{host}:{port}?transport=udp"));
        }
        turn_urls.extend(self.external_turn_urls.iter().cloned());
        if !turn_urls.is_empty() {
            let c = self.credentials.issue(peer_id, self.ttl, SystemTime::now());
            servers.push(IceServer {
                urls: turn_urls,
                username: Some(c.username),
                credential: Some(c.password),
            });
        }
        servers
    }
}

fn ip_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The host part of a Host header, if it is a plain DNS name or IP literal. Anything else is
/// ignored rather than pasted into a URL the client will parse.
fn host_of(header: &str) -> Option<String> {
    let header = header.trim();
    if let Some(rest) = header.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = inside.parse().ok()?;
        return Some(format!("[{ip}]"));
    }
    let host = header.split(':').next()?;
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then(|| host.to_ascii_lowercase())
}

/// Starts the embedded server on the HTTP listen IP. Returns it with the IP it advertises.
pub async fn start_embedded(
    listen_ip: IpAddr,
    opts: &TurnOptions,
    credentials: RestCredentials,
) -> std::io::Result<TurnServer> {
    let advertised_ip = opts
        .public_ip
        .or((!listen_ip.is_unspecified()).then_some(listen_ip))
        .or_else(|| ferry_turn::detect_outbound_ip(listen_ip.is_ipv6()))
        .ok_or_else(|| {
            std::io::Error::other(
                "cannot tell which address TURN should advertise: pass --public-ip",
            )
        })?;
    let config = TurnConfig {
        listen: SocketAddr::new(listen_ip, opts.port),
        advertised_ip,
        relay_ports: opts.relay_ports.clone(),
        credentials,
        allow_private_peers: opts.allow_private_peers,
        allow_loopback_peers: opts.allow_loopback_peers,
        limits: opts.limits.clone(),
    };
    TurnServer::start(config)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_validated() {
        assert_eq!(
            host_of("Ferry.Example:8080").as_deref(),
            Some("ferry.example")
        );
        assert_eq!(host_of("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(host_of("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_of("evil?transport=tcp"), None);
        assert_eq!(host_of("a b"), None);
        assert_eq!(host_of("[zz]:1"), None);
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn urls_use_public_ip_then_host_then_advertised() {
        let mut p = IceProvider::new(&TurnOptions::default(), vec!["stun:s.example:19302".into()]);
        assert_eq!(p.ice_servers_for("a", Some("h.example")).len(), 1);
        p.set_embedded(3478, "192.0.2.9".parse().unwrap());
        let s = p.ice_servers_for("peer1", Some("h.example:8080"));
        assert_eq!(
            s[1].urls,
            ["stun:h.example:3478", "turn:h.example:3478?transport=udp"]
        );
        let user = s[1].username.as_deref().unwrap();
        assert!(user.ends_with(":peer1"), "{user}");
        assert_eq!(
            s[1].credential.as_deref(),
            Some(p.credentials().password_for(user).as_str())
        );
        assert_eq!(
            p.ice_servers_for("x", None)[1].urls[0],
            "stun:192.0.2.9:3478"
        );
        p.public_ip = Some("2001:db8::7".parse().unwrap());
        assert_eq!(
            p.ice_servers_for("x", Some("h.example"))[1].urls[1],
            "turn:[2001:db8::7]:3478?transport=udp"
        );
    }
}
