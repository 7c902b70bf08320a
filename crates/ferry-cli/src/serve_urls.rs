//! Where another device can open this server: the certificate's names (HTTPS), every address of
//! this machine the listener answers on, and a QR code of the likeliest one for a phone.

use std::net::{IpAddr, SocketAddr};

/// One address to open, and why it is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUrl {
    pub url: String,
    pub note: String,
    /// Only this machine can open it.
    pub local_only: bool,
}

/// The URLs for a server listening on `addr`; `names` are the names its certificate is for.
/// Interfaces are enumerated only when listening on a wildcard address.
pub fn urls(scheme: &str, addr: SocketAddr, names: &[String]) -> Vec<OpenUrl> {
    let interfaces: Vec<(String, IpAddr)> = if addr.ip().is_unspecified() {
        match if_addrs::get_if_addrs() {
            Ok(all) => all.into_iter().map(|i| (i.name.clone(), i.ip())).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot list network interfaces");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    urls_from(scheme, addr, names, &interfaces)
}

fn url_for(scheme: &str, host: &str, port: u16) -> String {
    match (scheme, port) {
        ("https", 443) | ("http", 80) => format!("{scheme}://{host}/"),
        _ => format!("{scheme}://{host}:{port}/"),
    }
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Link-local IPv6 needs a zone (`%eth0`) that browsers do not take in a URL.
fn openable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    }
}

fn urls_from(
    scheme: &str,
    addr: SocketAddr,
    names: &[String],
    interfaces: &[(String, IpAddr)],
) -> Vec<OpenUrl> {
    let port = addr.port();
    let mut out: Vec<OpenUrl> = names
        .iter()
        .filter(|n| !n.starts_with('*'))
        .map(|n| OpenUrl {
            url: url_for(scheme, n, port),
            note: "name on the certificate".into(),
            local_only: n == "localhost",
        })
        .collect();
    let listen = addr.ip();
    if listen.is_unspecified() {
        // An IPv4 wildcard answers IPv4 only; an IPv6 one (dual-stack) both.
        let mut lan: Vec<&(String, IpAddr)> = interfaces
            .iter()
            .filter(|(_, ip)| !ip.is_loopback() && openable(*ip))
            .filter(|(_, ip)| listen.is_ipv6() || ip.is_ipv4())
            .collect();
        // Private IPv4 first: what a phone on the same Wi-Fi reaches.
        lan.sort_by_key(|(_, ip)| match ip {
            IpAddr::V4(v4) if v4.is_private() => 0,
            IpAddr::V4(_) => 1,
            IpAddr::V6(_) => 2,
        });
        out.extend(lan.into_iter().map(|(name, ip)| OpenUrl {
            url: url_for(scheme, &host_of(*ip), port),
            note: name.clone(),
            local_only: false,
        }));
        out.push(OpenUrl {
            url: url_for(scheme, "localhost", port),
            note: "this machine".into(),
            local_only: true,
        });
    } else {
        out.push(OpenUrl {
            url: url_for(scheme, &host_of(listen), port),
            note: match listen.is_loopback() {
                true => "this machine".into(),
                false => "listen address".into(),
            },
            local_only: listen.is_loopback(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|u| seen.insert(u.url.clone()));
    out
}

/// The block `ferry serve` prints at start.
pub fn listing(urls: &[OpenUrl], with_qr: bool) -> String {
    let mut s = String::from("Open ferry in a browser:\n");
    for u in urls {
        s.push_str(&format!("  {}   ({})\n", u.url, u.note));
    }
    let best = urls.iter().find(|u| !u.local_only);
    if with_qr
        && let Some(best) = best
        && let Some(q) = crate::ui::qr(&best.url)
    {
        s.push_str(&format!("Scan with a phone to open {}:\n{q}\n", best.url));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs() -> Vec<(String, IpAddr)> {
        [
            ("lo", "127.0.0.1"),
            ("docker0", "203.0.113.9"),
            ("wlan0", "192.168.1.20"),
            ("wlan0", "fe80::1"),
            ("wlan0", "2001:db8::20"),
        ]
        .iter()
        .map(|(n, ip)| (n.to_string(), ip.parse().unwrap()))
        .collect()
    }

    fn just_urls(v: &[OpenUrl]) -> Vec<&str> {
        v.iter().map(|u| u.url.as_str()).collect()
    }

    #[test]
    fn ipv4_wildcard_lists_private_lan_first_then_localhost() {
        let u = urls_from("http", "0.0.0.0:8080".parse().unwrap(), &[], &ifs());
        assert_eq!(
            just_urls(&u),
            [
                "http://192.168.1.20:8080/",
                "http://203.0.113.9:8080/",
                "http://localhost:8080/"
            ]
        );
        assert_eq!(u[0].note, "wlan0");
    }

    #[test]
    fn ipv6_wildcard_adds_global_ipv6_but_not_link_local() {
        let u = urls_from("http", "[::]:8080".parse().unwrap(), &[], &ifs());
        assert!(just_urls(&u).contains(&"http://[2001:db8::20]:8080/"));
        assert!(!just_urls(&u).iter().any(|u| u.contains("fe80")));
    }

    #[test]
    fn certificate_names_come_first_and_default_ports_are_left_out() {
        let names = vec!["ferry.example.org".to_string(), "*.example.org".to_string()];
        let u = urls_from("https", "0.0.0.0:443".parse().unwrap(), &names, &ifs());
        assert_eq!(u[0].url, "https://ferry.example.org/");
        assert_eq!(u[1].url, "https://192.168.1.20/");
        assert!(!just_urls(&u).iter().any(|u| u.contains('*')));
    }

    #[test]
    fn a_specific_address_is_the_only_one() {
        let u = urls_from("https", "127.0.0.1:8443".parse().unwrap(), &[], &ifs());
        assert_eq!(just_urls(&u), ["https://127.0.0.1:8443/"]);
        assert!(u[0].local_only);
    }

    #[test]
    fn qr_is_of_the_best_url_that_another_device_can_open() {
        let u = urls_from("http", "0.0.0.0:8080".parse().unwrap(), &[], &ifs());
        let text = listing(&u, true);
        assert!(text.contains("Scan with a phone to open http://192.168.1.20:8080/"));
        assert!(!listing(&u, false).contains("Scan"));
        // Only loopback: nothing for a phone to scan.
        let local = urls_from("http", "127.0.0.1:8080".parse().unwrap(), &[], &[]);
        assert!(!listing(&local, true).contains("Scan"));
    }
}
