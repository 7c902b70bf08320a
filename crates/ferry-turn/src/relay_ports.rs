//! Relay sockets come from a configured port range (so operators can open exactly that range
//! in a firewall) and are wrapped in the peer policy.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::net::UdpSocket;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

use crate::guard::RelayGuard;
use crate::peer_policy::PeerPolicy;

pub(crate) struct PolicyRelayGenerator {
    /// What XOR-RELAYED-ADDRESS tells clients (the public IP behind NAT).
    pub(crate) advertised_ip: IpAddr,
    pub(crate) bind_ip: IpAddr,
    pub(crate) ports: RangeInclusive<u16>,
    pub(crate) policy: Arc<PeerPolicy>,
}

const MAX_TRIES: usize = 32;

#[async_trait]
impl RelayAddressGenerator for PolicyRelayGenerator {
    fn validate(&self) -> Result<(), turn::Error> {
        if *self.ports.start() == 0 || self.ports.is_empty() {
            return Err(turn::Error::Other("relay port range is empty".into()));
        }
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.bind_ip.is_ipv4() && !self.bind_ip.is_unspecified() {
            return Err(turn::Error::Other("address family not served".into()));
        }
        let candidates: Vec<u16> = if requested_port != 0 {
            if !self.ports.contains(&requested_port) {
                return Err(turn::Error::Other(
                    "requested port outside relay range".into(),
                ));
            }
            vec![requested_port]
        } else {
            let (lo, hi) = (*self.ports.start() as u32, *self.ports.end() as u32);
            (0..MAX_TRIES)
                .map(|_| (lo + rand::random::<u32>() % (hi - lo + 1)) as u16)
                .collect()
        };
        for port in candidates {
            let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.bind_ip, port)).await else {
                continue;
            };
            crate::enlarge_buffers(&socket, crate::RELAY_BUFFER);
            let local = socket.local_addr()?;
            let conn = RelayGuard {
                socket,
                policy: self.policy.clone(),
            };
            return Ok((
                Arc::new(conn),
                SocketAddr::new(self.advertised_ip, local.port()),
            ));
        }
        Err(turn::Error::Other("no free port in relay range".into()))
    }
}
