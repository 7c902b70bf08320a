//! Which peers a TURN client may reach through its allocation. An open relay lets anyone on the
//! internet talk to the server's loopback services or the LAN behind it, so by default only
//! public unicast addresses are allowed, plus the server's own relay ports (relay-to-relay
//! candidate pairs are common when both peers are behind symmetric NATs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;

#[derive(Debug, Clone)]
pub struct PeerPolicy {
    /// RFC 1918, CGNAT (100.64/10), link-local, IPv6 ULA and link-local: for LAN-only deployments.
    pub allow_private: bool,
    /// 127/8 and ::1: only for tests and benchmarks on one machine.
    pub allow_loopback: bool,
    /// Addresses of this server: reachable only on `relay_ports`.
    pub own_ips: Vec<IpAddr>,
    pub relay_ports: RangeInclusive<u16>,
}

impl PeerPolicy {
    /// Control plane (CreatePermission, ChannelBind): permissions are per IP address.
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.own_ips.iter().any(|own| own.to_canonical() == ip) && !is_loopback(ip) {
            return true;
        }
        match classify(ip) {
            Class::Public => true,
            Class::Private => self.allow_private,
            Class::Loopback => self.allow_loopback,
            Class::Never => false,
        }
    }

    /// Data plane (every relayed datagram): the server's own addresses only on relay ports,
    /// so a permission to our own IP cannot reach the HTTP port or anything else we run.
    pub fn permits(&self, peer: SocketAddr) -> bool {
        let ip = peer.ip().to_canonical();
        let own = is_loopback(ip) || self.own_ips.iter().any(|o| o.to_canonical() == ip);
        if own && !self.relay_ports.contains(&peer.port()) {
            return false;
        }
        self.permits_ip(ip)
    }
}

enum Class {
    Public,
    Private,
    Loopback,
    Never,
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 || a >= 240 {
        Class::Never
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() {
        Class::Never
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
        Class::Private
    } else if ip.to_ipv4().is_some() && (first == 0) {
        // IPv4-compatible / NAT64-less embeddings: never relay to these, they alias IPv4 space.
        Class::Never
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PeerPolicy {
        PeerPolicy {
            allow_private: false,
            allow_loopback: false,
            own_ips: vec!["203.0.113.10".parse().unwrap()],
            relay_ports: 49152..=65535,
        }
    }

    #[test]
    fn default_refuses_internal_ranges() {
        let p = policy();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "::7f00:1",
        ] {
            assert!(!p.permits_ip(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["198.51.100.7", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(p.permits_ip(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn own_address_only_on_relay_ports() {
        let p = policy();
        assert!(p.permits("203.0.113.10:50000".parse().unwrap()));
        assert!(!p.permits("203.0.113.10:8080".parse().unwrap()));
        assert!(!p.permits("203.0.113.10:3478".parse().unwrap()));
        assert!(p.permits("198.51.100.7:22".parse().unwrap()));
    }

    #[test]
    fn flags_open_private_and_loopback_but_loopback_stays_port_limited() {
        let p = PeerPolicy {
            allow_private: true,
            allow_loopback: true,
            ..policy()
        };
        assert!(p.permits("192.168.1.1:80".parse().unwrap()));
        assert!(p.permits("127.0.0.1:50000".parse().unwrap()));
        assert!(!p.permits("127.0.0.1:8080".parse().unwrap()));
        assert!(!p.permits_ip("0.0.0.0".parse().unwrap()));
    }
}
