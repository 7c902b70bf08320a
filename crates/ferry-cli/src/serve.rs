use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use ferry_server::{BoundServer, ServerConfig};
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
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        listen: SocketAddr::new(args.host, args.port),
        trusted_proxies: args.trusted_proxies,
        code_room_ttl: args.room_ttl,
        heartbeat_interval: args.heartbeat,
        heartbeat_timeout: args.heartbeat * 3,
        ice_urls: args.ice_urls,
        secret: args.secret.map(String::into_bytes),
        ..ServerConfig::default()
    };
    let server = BoundServer::bind(config.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = server.local_addr()?;
    // Tests and scripts read this line to learn the port when started with --port 0.
    println!("ferry {} listening on http://{addr}", ferry_server::VERSION);
    std::io::stdout().flush()?;
    tracing::info!(%addr, "serving");
    tokio::select! {
        r = server.run() => r?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}
