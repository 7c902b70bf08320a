//! ICE configuration from the server's `welcome`, and how a selected path is described to users.

use ferry_protocol::signaling::IceServer;
use webrtc::peer_connection::RTCIceServer;

pub fn rtc_ice_servers(servers: &[IceServer]) -> Vec<RTCIceServer> {
    servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect()
}

/// The network path the connection took, from the selected candidate pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcePath {
    /// `direct` or `relay`.
    pub kind: &'static str,
    /// The candidate type that decides the path: `host`, `srflx`, `prflx`, `relay`, `unknown`.
    pub candidate: &'static str,
    pub local: String,
    pub remote: String,
}

impl IcePath {
    pub fn unknown() -> Self {
        IcePath {
            kind: "unknown",
            candidate: "unknown",
            local: String::new(),
            remote: String::new(),
        }
    }

    pub fn from_types(local: &'static str, remote: &'static str, la: String, ra: String) -> Self {
        // The "most indirect" end names the path: relay beats reflexive beats host.
        let rank = |t: &str| match t {
            "relay" => 3,
            "srflx" | "prflx" => 2,
            "host" => 1,
            _ => 0,
        };
        let candidate = if rank(local) >= rank(remote) {
            local
        } else {
            remote
        };
        IcePath {
            kind: if candidate == "relay" {
                "relay"
            } else {
                "direct"
            },
            candidate,
            local: la,
            remote: ra,
        }
    }
}

impl std::fmt::Display for IcePath {
    /// e.g. `direct (host)`, `relay (relay)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.candidate)
    }
}
