//! STUN + TURN (RFC 5389 / 5766) for `ferry serve`, built on the webrtc-rs `turn` server, with
//! coturn-compatible time-limited credentials and a peer address policy that keeps the relay
//! from being an open proxy into the server's own network.
#![warn(clippy::unwrap_used)]

mod credentials;
mod guard;
mod peer_policy;
mod rate;
mod relay_ports;
mod server;

use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;

pub use credentials::{Credential, CredentialError, RestCredentials};
pub use peer_policy::PeerPolicy;
pub use server::{TurnLimits, TurnStats};

use credentials::RestAuthHandler;
use guard::ListenerGuard;
use relay_ports::PolicyRelayGenerator;

pub const REALM: &str = "ferry";

#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// UDP address for STUN and TURN (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Address put into XOR-RELAYED-ADDRESS; must be reachable by peers.
    pub advertised_ip: IpAddr,
    pub relay_ports: RangeInclusive<u16>,
    pub credentials: RestCredentials,
    pub allow_private_peers: bool,
    pub allow_loopback_peers: bool,
    /// Quotas, rate limits and nonce bounds.
    pub limits: TurnLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TURN server: {0}")]
    Turn(#[from] turn::Error),
}

/// A running STUN/TURN server; dropping it without [`TurnServer::close`] leaves the tasks
/// running until the runtime ends, which is what `ferry serve` wants.
pub struct TurnServer {
    shared: Arc<server::Shared>,
    closed: tokio::sync::watch::Sender<bool>,
    local_addr: SocketAddr,
    advertised_ip: IpAddr,
}

impl TurnServer {
    pub async fn start(config: TurnConfig) -> Result<Self, StartError> {
        let socket = tokio::net::UdpSocket::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        enlarge_buffers(&socket, LISTENER_BUFFER);
        let local_addr = socket.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut own_ips = vec![config.advertised_ip, local_addr.ip()];
        own_ips.retain(|ip| !ip.is_unspecified());
        let policy = Arc::new(PeerPolicy {
            allow_private: config.allow_private_peers,
            allow_loopback: config.allow_loopback_peers,
            own_ips,
            relay_ports: config.relay_ports.clone(),
        });
        let listener = ListenerGuard {
            socket: Arc::new(socket),
            policy: policy.clone(),
        };
        let (close_tx, close_rx) = tokio::sync::mpsc::channel(1024);
        let manager = Arc::new(turn::allocation::allocation_manager::Manager::new(
            turn::allocation::allocation_manager::ManagerConfig {
                relay_addr_generator: Box::new(PolicyRelayGenerator {
                    advertised_ip: config.advertised_ip,
                    bind_ip: config.listen.ip(),
                    ports: config.relay_ports.clone(),
                    policy: policy.clone(),
                }),
                alloc_close_notify: Some(close_tx),
            },
        ));
        let shared = server::Shared::new(config.limits.clone());
        let (closed, closed_rx) = tokio::sync::watch::channel(false);
        server::Loop {
            conn: Arc::new(listener),
            manager,
            auth: Arc::new(RestAuthHandler {
                credentials: config.credentials.clone(),
            }),
            realm: REALM.to_owned(),
            shared: shared.clone(),
            closed: closed_rx,
        }
        .spawn(close_rx);
        Ok(TurnServer {
            shared,
            closed,
            local_addr,
            advertised_ip: config.advertised_ip,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn advertised_ip(&self) -> IpAddr {
        self.advertised_ip
    }

    /// Stops the read loop; its allocations are closed.
    pub async fn close(&self) -> Result<(), turn::Error> {
        let _ = self.closed.send(true);
        Ok(())
    }

    /// Counters and gauges for `/metrics` (cheap: a few atomics and two map sizes).
    pub fn stats(&self) -> TurnStats {
        self.shared.stats()
    }

    /// A cloneable handle to [`Self::stats`] for whoever serves metrics.
    pub fn stats_handle(&self) -> TurnStatsHandle {
        TurnStatsHandle(self.shared.clone())
    }
}

/// Reads a running server's [`TurnStats`]; outlives nothing (the server's tasks keep running
/// on their own).
#[derive(Clone)]
pub struct TurnStatsHandle(Arc<server::Shared>);

impl TurnStatsHandle {
    pub fn get(&self) -> TurnStats {
        self.0.stats()
    }
}

impl std::fmt::Debug for TurnStatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// Every relayed datagram passes the listening socket once; bursts from many peers overflow the
/// default ~200 KiB queue long before the CPU is busy. The kernel caps this at rmem_max/wmem_max.
const LISTENER_BUFFER: usize = 4 << 20;
pub(crate) const RELAY_BUFFER: usize = 1 << 20;

pub(crate) fn enlarge_buffers(socket: &tokio::net::UdpSocket, bytes: usize) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(bytes);
    let _ = s.set_send_buffer_size(bytes);
}

/// The address other hosts most likely reach us at when listening on a wildcard: the source
/// address the kernel picks for a route to the public internet. No packet is sent.
pub fn detect_outbound_ip(ipv6: bool) -> Option<IpAddr> {
    let (bind, probe): (SocketAddr, SocketAddr) = if ipv6 {
        ("[::]:0".parse().ok()?, "[2001:db8::1]:9".parse().ok()?)
    } else {
        ("0.0.0.0:0".parse().ok()?, "192.0.2.1:9".parse().ok()?)
    };
    let socket = StdUdpSocket::bind(bind).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}
