//! Setting up a relay session: `relay-open` → `relay-ready`, the key swap as `relay-key` app
//! signals, the WebSocket to `/relay/<id>`, and the server's `paired`.

use std::time::Duration;

use ferry_protocol::relay_crypto::RelayKeyPair;
use ferry_protocol::signaling::{ClientMessage, ServerMessage, Signal};
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{MAX_INCOMING_FRAME, RelayError, RelayPipe};
use crate::signaling::PeerSignaling;

/// Longest `publicKey` accepted in a `relay-key` signal (a raw P-256 point is 87 characters).
const MAX_PUBLIC_KEY_CHARS: usize = 200;

/// A relay session the hub has authorized (from `relay-ready`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInvite {
    pub relay_id: String,
}

impl RelayInvite {
    /// The invite in `msg` if it is a `relay-ready` for a session with `peer_id`.
    pub fn from_message(msg: &ServerMessage, peer_id: &str) -> Option<Self> {
        match msg {
            ServerMessage::RelayReady {
                relay_id,
                peer_id: p,
                ..
            } if p == peer_id => Some(RelayInvite {
                relay_id: relay_id.clone(),
            }),
            _ => None,
        }
    }
}

/// A paired, encrypted relay session with one peer.
pub struct RelayLink {
    pub pipe: RelayPipe,
    pub relay_id: String,
    /// "123 456": both peers see the same code unless the keys were substituted. Derived from
    /// the keys alone, so a server that substitutes them could grind its own until the codes
    /// match; what users are shown is the `verify` code bound to [`RelayLink::identities`].
    pub security_code: String,
    /// Our relay identity and the peer's (`ferry_protocol::verify::relay_identity`).
    pub identities: (String, String),
}

/// Sets up a relay session with `peer_id`. With `invite` (the peer asked first, and our ICE
/// attempt saw its `relay-ready`) the session is joined; without, it is requested.
/// `timeout` bounds the whole setup.
pub async fn open_relay(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    invite: Option<RelayInvite>,
    timeout: Duration,
) -> Result<RelayLink, RelayError> {
    match tokio::time::timeout(timeout, open_relay_inner(sig, peer_id, invite)).await {
        Ok(r) => r,
        Err(_) => Err(RelayError::Timeout(timeout, "setting up the relay")),
    }
}

async fn open_relay_inner(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    invite: Option<RelayInvite>,
) -> Result<RelayLink, RelayError> {
    // A peer's key may arrive while we still wait for `relay-ready`; keep it.
    let mut early_key: Option<(String, String)> = None;
    let invite = match invite {
        Some(i) => i,
        None => {
            sig.send(&ClientMessage::RelayOpen {
                to: peer_id.to_string(),
            })
            .await?;
            loop {
                let msg = sig.recv().await?;
                if let Some(i) = RelayInvite::from_message(&msg, peer_id) {
                    break i;
                }
                handle_other(&msg, peer_id, &mut early_key)?;
            }
        }
    };
    let keys = RelayKeyPair::generate();
    let key_signal = Signal::App {
        payload: serde_json::json!({
            "type": "relay-key",
            "relayId": invite.relay_id,
            "publicKey": keys.public_key(),
        }),
    };
    sig.send_signal(peer_id, key_signal.clone()).await?;

    let url = relay_url(sig.http_base(), &invite.relay_id, sig.token());
    let mut ws = connect_ws(&url).await?;

    let peer_key = loop {
        if let Some((id, key)) = early_key.take()
            && id == invite.relay_id
        {
            break key;
        }
        let msg = sig.recv().await?;
        // The peer asking for the same session again means it missed our key (its ICE attempt
        // was still running and dropped it): send it again.
        if RelayInvite::from_message(&msg, peer_id).is_some_and(|i| i == invite) {
            sig.send_signal(peer_id, key_signal.clone()).await?;
            continue;
        }
        handle_other(&msg, peer_id, &mut early_key)?;
    };
    let session = keys
        .agree(&invite.relay_id, &sig.me().id, peer_id, &peer_key)
        .map_err(|e| RelayError::BadKey(e.to_string()))?;

    wait_paired(&mut ws).await?;
    let security_code = session.security_code().to_string();
    let identities = (
        ferry_protocol::verify::relay_identity(keys.public_key()),
        ferry_protocol::verify::relay_identity(&peer_key),
    );
    Ok(RelayLink {
        pipe: RelayPipe::start(ws, session),
        relay_id: invite.relay_id,
        security_code,
        identities,
    })
}

/// Signaling traffic while setting up: the peer's key is kept, a departure or a refusal ends the
/// setup, the rest (late ICE signals of an abandoned attempt, presence) is ignored.
fn handle_other(
    msg: &ServerMessage,
    peer_id: &str,
    key: &mut Option<(String, String)>,
) -> Result<(), RelayError> {
    match msg {
        ServerMessage::Signal {
            from,
            signal: Signal::App { payload },
        } if from == peer_id => {
            if payload.get("type").and_then(|t| t.as_str()) == Some("relay-key") {
                let field = |k: &str| payload.get(k).and_then(|v| v.as_str());
                match (field("relayId"), field("publicKey")) {
                    (Some(id), Some(pk)) if pk.len() <= MAX_PUBLIC_KEY_CHARS => {
                        *key = Some((id.to_string(), pk.to_string()));
                    }
                    _ => return Err(RelayError::BadKey("malformed relay-key signal".into())),
                }
            }
            Ok(())
        }
        ServerMessage::PeerLeft { peer_id: p, .. } if p == peer_id => Err(RelayError::PeerLeft),
        ServerMessage::Error { message, .. } => Err(RelayError::Server(message.clone())),
        _ => Ok(()),
    }
}

/// `http(s)://host[/base]` → `ws(s)://host[/base]/relay/<id>?token=…`.
pub fn relay_url(http_base: &str, relay_id: &str, token: &str) -> String {
    let ws_base = if let Some(rest) = http_base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_base.to_string()
    };
    format!(
        "{}/relay/{}?token={}",
        ws_base.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(relay_id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect_ws(url: &str) -> Result<Ws, RelayError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_INCOMING_FRAME))
        .max_frame_size(Some(MAX_INCOMING_FRAME));
    let shown = url.split('?').next().unwrap_or(url).to_string();
    match tokio_tungstenite::connect_async_with_config(url, Some(config), true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            Err(RelayError::Refused(resp.status().as_u16(), body))
        }
        Err(e) => Err(RelayError::Connect(
            shown,
            crate::signaling::explain_connect_error(&e),
        )),
    }
}

async fn wait_paired(ws: &mut Ws) -> Result<(), RelayError> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                if v.get("type").and_then(|t| t.as_str()) == Some("paired") {
                    return Ok(());
                }
                return Err(RelayError::Closed(format!("unexpected message {t:?}")));
            }
            Some(Ok(WsMessage::Close(f))) => {
                return Err(RelayError::Closed(
                    f.map(|f| f.reason.to_string())
                        .unwrap_or_else(|| "closed without a reason".into()),
                ));
            }
            Some(Ok(WsMessage::Binary(_))) => {
                return Err(RelayError::Closed("data before pairing".into()));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(RelayError::Closed(e.to_string())),
            None => return Err(RelayError::Closed("connection ended".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relay_url;

    #[test]
    fn urls() {
        assert_eq!(
            relay_url("http://127.0.0.1:8080", "ab12", "p.q"),
            "ws://127.0.0.1:8080/relay/ab12?token=p.q"
        );
        assert_eq!(
            relay_url("https://ferry.example/base", "ab", "t+/"),
            "wss://ferry.example/base/relay/ab?token=t%2B%2F"
        );
    }
}
