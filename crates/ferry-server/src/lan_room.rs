//! Which LAN room a connection belongs to, and which address it really comes from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Room key for peers that share a network: same public IPv4, same IPv6 /64, or "local" for
/// loopback and private sources (they can only be on the server's own network).
pub fn lan_room_key(addr: IpAddr) -> String {
    let addr = match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match addr {
        IpAddr::V4(v4) if is_local_v4(v4) => "local".into(),
        IpAddr::V4(v4) => format!("v4:{v4}"),
        IpAddr::V6(v6) if is_local_v6(v6) => "local".into(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("v6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn is_local_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        // Carrier-grade NAT space (RFC 6598).
        || (o[0] == 100 && (64..128).contains(&o[1]))
}

fn is_local_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    a.is_loopback()
        || a.is_unspecified()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// The client's address: the socket peer, unless that peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_addr(socket_peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&socket_peer) {
        return socket_peer;
    }
    let Some(header) = forwarded_for else {
        return socket_peer;
    };
    let mut chosen = socket_peer;
    for entry in header.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // A garbled hop: stop at the last address we could trust.
            break;
        };
        chosen = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rooms() {
        assert_eq!(lan_room_key(ip("127.0.0.1")), "local");
        assert_eq!(lan_room_key(ip("192.168.1.9")), "local");
        assert_eq!(lan_room_key(ip("100.64.3.3")), "local");
        assert_eq!(lan_room_key(ip("::1")), "local");
        assert_eq!(lan_room_key(ip("fd00::1")), "local");
        assert_eq!(lan_room_key(ip("203.0.113.7")), "v4:203.0.113.7");
        assert_eq!(lan_room_key(ip("::ffff:203.0.113.7")), "v4:203.0.113.7");
        assert_eq!(
            lan_room_key(ip("2001:db8:1:2:aaaa::1")),
            lan_room_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            lan_room_key(ip("2001:db8:1:2::1")),
            lan_room_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn forwarded_only_from_trusted() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_addr(ip("203.0.113.1"), Some("198.51.100.1"), &trusted),
            ip("203.0.113.1")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), Some("198.51.100.1, 10.0.0.3"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), Some("junk"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_addr(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
    }
}
