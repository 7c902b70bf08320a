use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ferry_server::address_limits::{AddressQuotas, RateLimit};
use ferry_server::tls::{AcmeOptions, TlsOptions};
use ferry_server::{BoundServer, MetricsEndpoint, ServerConfig};
use ipnet::IpNet;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FERRY_HOST", default_value = "0.0.0.0")]
    host: IpAddr,
    /// TCP port for HTTP and WebSockets (0 picks a free one).
    #[arg(long, short, env = "FERRY_PORT", default_value_t = 8080)]
    port: u16,
    /// Proxies whose X-Forwarded-For is believed (IP or CIDR; repeat or comma-separate).
    #[arg(long = "trusted-proxy", env = "FERRY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<IpNet>,
    /// How long an empty code room keeps its code, e.g. `10m`.
    #[arg(long, env = "FERRY_ROOM_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    room_ttl: Duration,
    /// Seconds between WebSocket pings; a peer silent for 3 intervals is dropped.
    #[arg(long, env = "FERRY_HEARTBEAT", default_value = "10s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// Extra STUN/TURN URLs handed to clients (repeat or comma-separate).
    #[arg(long = "ice-url", env = "FERRY_ICE_URLS", value_delimiter = ',')]
    ice_urls: Vec<String>,
    /// Secret for peer tokens; set it to keep identities valid across restarts.
    #[arg(long, env = "FERRY_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Share presence, rooms and signaling with other instances through this Redis
    /// (`redis://host:6379/0`); give all of them the same --secret. Docs: docs/deployment.md.
    #[arg(long, env = "FERRY_REDIS_URL", hide_env_values = true)]
    redis: Option<String>,
    /// With --redis: `http://host:port` where the other instances reach this one (it carries
    /// relays and pipes whose two ends reached different instances). Default: the listen address.
    #[arg(long, env = "FERRY_CLUSTER_URL")]
    cluster_url: Option<String>,
    /// UDP port of the embedded STUN/TURN server [default: 3478, or 0 (a free port) with --port 0].
    #[arg(long, env = "FERRY_TURN_PORT")]
    turn_port: Option<u16>,
    /// Do not run the embedded STUN/TURN server.
    #[arg(long, env = "FERRY_NO_TURN")]
    no_turn: bool,
    /// Shared secret for TURN credentials (coturn `static-auth-secret`); random if not set.
    #[arg(long, env = "FERRY_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// Address peers reach this server at (for a server behind NAT); used in the STUN/TURN
    /// URLs and as the TURN relay address. Auto-detected when not set.
    #[arg(long, env = "FERRY_PUBLIC_IP")]
    public_ip: Option<IpAddr>,
    /// UDP port range for TURN relay allocations, e.g. `49152-65535`.
    #[arg(long, env = "FERRY_RELAY_PORTS", default_value = "49152-65535", value_parser = parse_port_range)]
    relay_ports: std::ops::RangeInclusive<u16>,
    /// External TURN URLs sharing --turn-secret (e.g. a coturn with use-auth-secret); peers get
    /// credentials for them (repeat or comma-separate).
    #[arg(long = "turn-url", env = "FERRY_TURN_URLS", value_delimiter = ',')]
    turn_urls: Vec<String>,
    /// Let TURN relay to private and link-local addresses (LAN-only deployments).
    #[arg(long, env = "FERRY_TURN_ALLOW_PRIVATE")]
    turn_allow_private: bool,
    /// Let TURN relay to loopback addresses: for tests and benchmarks on one machine only.
    #[arg(long, hide = true)]
    turn_allow_loopback: bool,
    /// Peers one LAN room shows; a network (public address) with more is split into rooms of
    /// this size, and its peers are told to pair by code.
    #[arg(long, env = "FERRY_LAN_ROOM_SIZE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=1024))]
    lan_room_size: u32,
    /// Code rooms on the whole server (live, and empty ones keeping their code).
    #[arg(long, env = "FERRY_MAX_ROOMS", default_value_t = 50_000)]
    max_rooms: usize,
    /// Characters in new room codes (6-12); each one more makes guessing 31 times harder.
    #[arg(long, env = "FERRY_ROOM_CODE_LENGTH", default_value_t = 6, value_parser = clap::value_parser!(u8).range(6..=12))]
    room_code_length: u8,
    /// Wrong codes tried against a room's first half before it admits no newcomers.
    #[arg(long, env = "FERRY_WRONG_GUESSES_PER_ROOM", default_value_t = 10)]
    wrong_guesses_per_room: u32,
    /// `join-room` attempts per source address per minute (also the burst).
    #[arg(long, env = "FERRY_JOINS_PER_MINUTE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    joins_per_minute: u32,
    /// Signaling connections per source address per second (burst: 10 times this).
    #[arg(long, env = "FERRY_CONNECTS_PER_SECOND", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    connects_per_second: u32,
    /// Signaling frames per source address per second, over all its connections (burst: twice).
    #[arg(long, env = "FERRY_ADDRESS_MESSAGES_PER_SECOND", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    address_messages_per_second: u32,
    /// A signaling write that takes longer than this drops the client.
    #[arg(long, env = "FERRY_SEND_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    send_timeout: Duration,
    /// Time a connection has to send a request's headers (also the keep-alive idle timeout).
    #[arg(long, env = "FERRY_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Connections still in their first request, server-wide; more are closed at once.
    #[arg(long, env = "FERRY_MAX_HANDSHAKES", default_value_t = 2048)]
    max_handshakes: usize,
    /// Connections still in their first request, per source address.
    #[arg(long, env = "FERRY_MAX_HANDSHAKES_PER_ADDRESS", default_value_t = 64)]
    max_handshakes_per_address: usize,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090) instead of the main port.
    #[arg(long, env = "FERRY_METRICS_ADDR", conflicts_with = "no_metrics")]
    metrics_addr: Option<SocketAddr>,
    /// Do not serve /metrics.
    #[arg(long, env = "FERRY_NO_METRICS")]
    no_metrics: bool,
    /// On SIGTERM/SIGINT, how long running pipes and relays may finish.
    #[arg(long, env = "FERRY_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// How long issued TURN credentials stay valid.
    #[arg(long, env = "FERRY_TURN_TTL", default_value = "12h", value_parser = humantime::parse_duration)]
    turn_ttl: Duration,
    #[command(flatten)]
    quotas: QuotaArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// Do not print a QR code of the address to open.
    #[arg(long, env = "FERRY_NO_QR")]
    no_qr: bool,
}

// --- HTTPS built in (docs/architecture.md "HTTPS"): certificate files or ACME. ---
#[derive(Args)]
struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); a changed file is picked up
    /// without a restart and without dropping connections.
    #[arg(
        long,
        env = "FERRY_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "acme_domains"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FERRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for changes.
    #[arg(long, env = "FERRY_TLS_RELOAD_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    tls_reload_interval: Duration,
    /// Serve HTTPS with a certificate for this name from an ACME CA (Let's Encrypt by default),
    /// validated with TLS-ALPN-01 on this port: the CA connects to port 443 of the name, so use
    /// --port 443 or forward 443 here (repeat or comma-separate for more names).
    #[arg(
        long = "acme-domain",
        env = "FERRY_ACME_DOMAINS",
        value_delimiter = ','
    )]
    acme_domains: Vec<String>,
    /// Contact address for the ACME account (expiry notices).
    #[arg(
        long = "acme-email",
        env = "FERRY_ACME_EMAIL",
        requires = "acme_domains"
    )]
    acme_emails: Vec<String>,
    /// ACME directory URL.
    #[arg(long, env = "FERRY_ACME_DIRECTORY", default_value = ferry_server::tls::LETS_ENCRYPT_DIRECTORY)]
    acme_directory: String,
    /// Folder for the ACME account key and certificates, kept across restarts
    /// [default: $XDG_CACHE_HOME/ferry/acme or ~/.cache/ferry/acme].
    #[arg(long, env = "FERRY_ACME_CACHE")]
    acme_cache: Option<PathBuf>,
    /// With HTTPS: also listen for plain HTTP on this port and redirect every request to HTTPS.
    #[arg(long, env = "FERRY_HTTP_REDIRECT_PORT")]
    http_redirect_port: Option<u16>,
}

impl TlsArgs {
    fn options(&self) -> anyhow::Result<Option<TlsOptions>> {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return Ok(Some(TlsOptions::Files {
                cert: cert.clone(),
                key: key.clone(),
                reload_interval: self.tls_reload_interval,
            }));
        }
        if self.acme_domains.is_empty() {
            if self.http_redirect_port.is_some() {
                anyhow::bail!(
                    "--http-redirect-port needs HTTPS: --tls-cert/--tls-key or --acme-domain"
                );
            }
            return Ok(None);
        }
        let cache = match &self.acme_cache {
            Some(c) => c.clone(),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .ok_or_else(|| anyhow::anyhow!("no HOME or XDG_CACHE_HOME: set --acme-cache"))?
                .join("ferry")
                .join("acme"),
        };
        Ok(Some(TlsOptions::Acme(AcmeOptions {
            domains: self.acme_domains.clone(),
            emails: self.acme_emails.clone(),
            directory: self.acme_directory.clone(),
            cache,
        })))
    }
}

// --- Per-address quotas of the pipe, the relay and TURN (docs/security.md "Limits and
// quotas"); defaults are those of ferry_server's `PipeLimits`, `RelayLimits`, `TurnLimits`. ---
#[derive(Args)]
struct QuotaArgs {
    /// HTTP pipe: senders one client address may have waiting at once (429 beyond).
    #[arg(long, env = "FERRY_PIPE_SENDERS_PER_ADDR", default_value_t = 16)]
    pipe_senders_per_addr: usize,
    /// HTTP pipe: receivers one client address may have waiting at once (429 beyond).
    #[arg(long, env = "FERRY_PIPE_RECEIVERS_PER_ADDR", default_value_t = 64)]
    pipe_receivers_per_addr: usize,
    /// WebSocket relay: pending sessions a peer may have opened at once (`limit` error beyond).
    #[arg(long, env = "FERRY_RELAY_PENDING_PER_PEER", default_value_t = 8)]
    relay_pending_per_peer: usize,
    /// WebSocket relay: relay sockets one client address may hold at once (429 beyond).
    #[arg(long, env = "FERRY_RELAY_SOCKETS_PER_ADDR", default_value_t = 32)]
    relay_sockets_per_addr: usize,
    /// TURN: live allocations per credential, i.e. per peer (486 beyond).
    #[arg(long, env = "FERRY_TURN_ALLOCATIONS_PER_USER", default_value_t = 32)]
    turn_allocations_per_user: usize,
    /// TURN: live allocations per client source IP, IPv6 per /64 (486 beyond).
    #[arg(long, env = "FERRY_TURN_ALLOCATIONS_PER_SOURCE", default_value_t = 128)]
    turn_allocations_per_source: usize,
    /// STUN/TURN requests answered per source IP per second (dropped beyond).
    #[arg(long, env = "FERRY_STUN_RATE", default_value_t = 100)]
    stun_rate: u32,
    /// Burst allowance of --stun-rate.
    #[arg(long, env = "FERRY_STUN_BURST", default_value_t = 200)]
    stun_burst: u32,
    /// TURN nonces kept at most (the oldest are forgotten first; clients then retry).
    #[arg(long, env = "FERRY_TURN_MAX_NONCES", default_value_t = 10_000)]
    turn_max_nonces: usize,
}

impl QuotaArgs {
    fn pipe(&self) -> ferry_server::pipe::PipeLimits {
        ferry_server::pipe::PipeLimits {
            waiting_senders_per_addr: self.pipe_senders_per_addr,
            waiting_receivers_per_addr: self.pipe_receivers_per_addr,
            ..Default::default()
        }
    }

    fn relay(&self, heartbeat: Duration) -> ferry_server::relay_ws::RelayLimits {
        ferry_server::relay_ws::RelayLimits {
            pending_per_peer: self.relay_pending_per_peer,
            sockets_per_addr: self.relay_sockets_per_addr,
            heartbeat_interval: heartbeat,
            heartbeat_timeout: heartbeat * 3,
        }
    }

    fn turn(&self) -> ferry_server::turn::TurnLimits {
        ferry_server::turn::TurnLimits {
            allocations_per_user: self.turn_allocations_per_user,
            allocations_per_source: self.turn_allocations_per_source,
            requests_per_second: self.stun_rate,
            request_burst: self.stun_burst,
            max_nonces: self.turn_max_nonces,
            ..Default::default()
        }
    }
}

fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let err = || format!("{s:?} is not a port range like 49152-65535");
    let (lo, hi) = s.trim().split_once('-').ok_or_else(err)?;
    let lo: u16 = lo.trim().parse().map_err(|_| err())?;
    let hi: u16 = hi.trim().parse().map_err(|_| err())?;
    if lo == 0 || lo > hi {
        return Err(err());
    }
    Ok(lo..=hi)
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.turn_urls.is_empty() && args.turn_secret.is_none() {
        anyhow::bail!("--turn-url needs --turn-secret: the external TURN server's shared secret");
    }
    let tls = args.tls.options()?;
    let config = ServerConfig {
        listen: SocketAddr::new(args.host, args.port),
        http_redirect: args
            .tls
            .http_redirect_port
            .map(|p| SocketAddr::new(args.host, p)),
        tls,
        trusted_proxies: args.trusted_proxies,
        hub: ferry_server::hub::HubOptions {
            code_room_ttl: args.room_ttl,
            lan_room_size: args.lan_room_size as usize,
            max_code_rooms: args.max_rooms,
            room_code_len: args.room_code_length as usize,
            wrong_guesses_per_room: args.wrong_guesses_per_room,
            ..Default::default()
        },
        address_quotas: AddressQuotas {
            connects: RateLimit::new(
                args.connects_per_second * 10,
                Duration::from_secs(1) / args.connects_per_second,
            ),
            messages: RateLimit::new(
                args.address_messages_per_second * 2,
                Duration::from_secs(1) / args.address_messages_per_second,
            ),
            room_joins: RateLimit::new(
                args.joins_per_minute,
                Duration::from_secs(60) / args.joins_per_minute,
            ),
            ..Default::default()
        },
        send_timeout: args.send_timeout,
        http: ferry_server::config::HttpLimits {
            header_read_timeout: args.header_timeout,
            max_handshakes: args.max_handshakes,
            max_handshakes_per_address: args.max_handshakes_per_address,
            ..Default::default()
        },
        metrics: match (args.no_metrics, args.metrics_addr) {
            (true, _) => MetricsEndpoint::Disabled,
            (false, Some(addr)) => MetricsEndpoint::Separate(addr),
            (false, None) => MetricsEndpoint::Main,
        },
        shutdown_grace: args.shutdown_grace,
        heartbeat_interval: args.heartbeat,
        heartbeat_timeout: args.heartbeat * 3,
        ice_urls: args.ice_urls,
        secret: args.secret.map(String::into_bytes),
        redis_url: args.redis,
        cluster_url: args.cluster_url,
        turn: ferry_server::turn::TurnOptions {
            enabled: !args.no_turn,
            port: args
                .turn_port
                .unwrap_or(if args.port == 0 { 0 } else { 3478 }),
            public_ip: args.public_ip,
            relay_ports: args.relay_ports,
            secret: args.turn_secret,
            credential_ttl: args.turn_ttl,
            external_urls: args.turn_urls,
            allow_private_peers: args.turn_allow_private,
            allow_loopback_peers: args.turn_allow_loopback,
            limits: args.quotas.turn(),
        },
        pipe: args.quotas.pipe(),
        relay: args.quotas.relay(args.heartbeat),
        ..ServerConfig::default()
    };
    ferry_server::http_server::raise_fd_limit();
    let server = BoundServer::bind(config.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve on {}: {e}", config.listen))?;
    let addr = server.local_addr()?;
    let scheme = server.scheme();
    // Tests and scripts read the first line to learn the port when started with --port 0.
    let mut banner = format!(
        "ferry {} listening on {scheme}://{addr}\n",
        ferry_server::VERSION
    );
    if let Some(turn) = server.turn_addr() {
        banner.push_str(&format!("ferry stun/turn on udp://{turn}\n"));
    }
    if let Some(redirect) = server.redirect_addr() {
        banner.push_str(&format!("ferry redirects http://{redirect} to https\n"));
    }
    let urls = crate::serve_urls::urls(scheme, addr, &server.tls_names());
    banner.push_str(&crate::serve_urls::listing(&urls, !args.no_qr));
    // One write; a reader that took the first line and closed the pipe must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(banner.as_bytes());
    let _ = stdout.flush();
    tracing::info!(%addr, "serving");
    server.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (service managers, `docker stop`) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
