//! What `ferry send` and `ferry receive` share: server and network options, connecting to the
//! peer, Ctrl-C, and the end-of-run report.

use std::time::Duration;

use clap::Args;
use ferry_engine::CONNECTION_LOST;
use ferry_protocol::signaling::{SdpType, ServerMessage, Signal};
use ferry_transport::{Link, PeerOptions, PeerSignaling, RelayMode, SignalingClient};

use crate::session::{Outcome, Session};
use crate::ui::{Ui, json_line, rate_line};

#[derive(Args, Clone)]
pub struct PeerArgs {
    /// The ferry server to meet the peer through.
    #[arg(long, env = "FERRY_SERVER", default_value = "http://localhost:8080")]
    pub server: String,
    /// Local UDP address(es) for WebRTC, e.g. `0.0.0.0:0` (all interfaces but loopback) or
    /// `127.0.0.1:0` (loopback only).
    #[arg(
        long,
        env = "FERRY_BIND",
        value_delimiter = ',',
        default_value = "0.0.0.0:0"
    )]
    pub bind: Vec<String>,
    /// Print machine-readable JSON lines on stdout (room, path, summary).
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the WebRTC connection to come up.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout: u64,
    /// Skip WebRTC and carry the transfer through the server's WebSocket relay (end-to-end
    /// encrypted; the peer follows).
    #[arg(long, env = "FERRY_RELAY", conflicts_with = "no_relay")]
    pub relay: bool,
    /// Seconds WebRTC gets before falling back to the WebSocket relay.
    #[arg(long, default_value_t = 10)]
    pub relay_after: u64,
    /// Never fall back to the WebSocket relay.
    #[arg(long)]
    pub no_relay: bool,
    /// Tuning for benchmarks: send-buffer high-water mark in bytes.
    #[arg(long, env = "FERRY_SEND_BUFFER", hide = true)]
    pub send_buffer: Option<usize>,
    /// Tuning for benchmarks: SCTP receive window in bytes.
    #[arg(long, env = "FERRY_SCTP_RWND", hide = true)]
    pub sctp_rwnd: Option<u32>,
    /// Tuning for benchmarks: SCTP packet size budget in bytes.
    #[arg(long, env = "FERRY_SCTP_MTU", hide = true)]
    pub sctp_mtu: Option<u32>,
}

impl PeerArgs {
    pub fn peer_options(&self) -> PeerOptions {
        PeerOptions {
            bind: self.bind.clone(),
            timeout: Duration::from_secs(self.connect_timeout),
            send_buffer_limit: self
                .send_buffer
                .unwrap_or(PeerOptions::default().send_buffer_limit),
            sctp_receive_window: self
                .sctp_rwnd
                .or(PeerOptions::default().sctp_receive_window),
            sctp_mtu: self.sctp_mtu,
        }
    }
}

impl PeerArgs {
    pub fn relay_mode(&self) -> RelayMode {
        if self.relay {
            RelayMode::Forced
        } else if self.no_relay {
            RelayMode::Never
        } else {
            RelayMode::After(Duration::from_secs(self.relay_after))
        }
    }
}

/// Who we are on the server: the name browsers show for this peer.
pub fn announce_self(sig: &SignalingClient, ui: &Ui) {
    eprintln!("You appear to others as \"{}\".", sig.me.name);
    if ui.json {
        json_line(serde_json::json!({"event":"welcome","id":sig.me.id,"name":sig.me.name}));
    }
}

/// Connects to `peer_id` and reports the path taken.
pub async fn link(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    peer_client: &str,
    args: &PeerArgs,
    ui: &Ui,
) -> anyhow::Result<Link> {
    ui.note("Connecting to the peer…");
    let link = ferry_transport::connect_with_fallback(
        sig,
        peer_id,
        &args.peer_options().for_peer(peer_client),
        args.relay_mode(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    ui.note(&format!("Connected, path: {}", link.path_label()));
    ui.json_event(path_json(&link));
    Ok(link)
}

pub fn path_json(link: &Link) -> serde_json::Value {
    match link {
        Link::Ice(l) => {
            let p = &l.path;
            serde_json::json!({"event":"connected","path":p.kind,"candidate":p.candidate,"local":p.local,"remote":p.remote})
        }
        Link::Relay(_) => serde_json::json!({"event":"connected","path":link.path_kind()}),
    }
}

/// Ctrl-C as a future (first press cancels the transfer cleanly; the peer is told).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Prints the summary and turns the outcome into the exit status.
pub fn report(
    outcome: Outcome,
    session: &Session,
    path: &Link,
    verb: &str,
    ui: &Ui,
) -> anyhow::Result<()> {
    match outcome {
        Outcome::Done {
            bytes,
            files,
            failed,
        } => {
            let elapsed = session.elapsed();
            let hash = match files.as_slice() {
                [one] => format!("sha256 {}", one.sha256),
                _ if failed == 0 => "all files verified (SHA-256)".to_string(),
                _ => format!("{failed} file(s) failed verification"),
            };
            let code = session
                .security_code()
                .map(|c| format!(", security code {c}"))
                .unwrap_or_default();
            eprintln!(
                "{verb} {}, {hash}, path: {}{code}",
                rate_line(bytes, elapsed),
                path.path_label()
            );
            for f in &files {
                if let Some(p) = &f.saved_as {
                    tracing::info!(name = %f.name, saved = %p.display(), "saved");
                }
            }
            if ui.json {
                json_line(serde_json::json!({
                    "event":"done","bytes":bytes,"seconds":elapsed.as_secs_f64(),
                    "failed":failed,"path":path.path_kind(),"securityCode":session.security_code(),
                    "candidate":match path { Link::Ice(l) => l.path.candidate, Link::Relay(_) => "websocket" },
                    "files": files.iter().map(|f| serde_json::json!({"name":f.name,"sha256":f.sha256,"savedAs":f.saved_as})).collect::<Vec<_>>(),
                }));
            }
            if failed > 0 {
                anyhow::bail!("{failed} file(s) arrived damaged (hash mismatch) and were not kept");
            }
            Ok(())
        }
        Outcome::TextOnly { received } => {
            if ui.json {
                json_line(
                    serde_json::json!({"event":"done","texts":received,"path":path.path_kind()}),
                );
            }
            if received == 0 {
                eprintln!("Text message sent, path: {}", path.path_label());
            }
            Ok(())
        }
        Outcome::Declined => {
            if ui.json {
                json_line(serde_json::json!({"event":"declined"}));
            }
            anyhow::bail!("the transfer was declined")
        }
        Outcome::Cancelled { by_peer, reason } => {
            if ui.json {
                json_line(
                    serde_json::json!({"event":"cancelled","byPeer":by_peer,"reason":reason}),
                );
            }
            if by_peer {
                anyhow::bail!("the peer cancelled the transfer: {reason}")
            } else {
                anyhow::bail!("transfer cancelled: {reason}")
            }
        }
    }
}

/// The session ended because the connection went (not a cancel, decline or refusal): what was
/// cut short can resume on a new connection.
pub fn connection_lost(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Cancelled { by_peer: false, reason } if reason == CONNECTION_LOST)
}

/// How long `ferry send` / `ferry receive` wait for a peer whose connection broke off
/// mid-transfer.
pub const WAIT_FOR_RETURN: Duration = Duration::from_secs(10 * 60);

/// Waits until the peer is back: it offers a new connection (its tab reloaded, its network came
/// back), or it returns to the room (then we connect). `Ok(false)`: it did not within
/// [`WAIT_FOR_RETURN`]; Ctrl-C ends the wait as an error. `who`: "sender" or "receiver".
pub async fn wait_for_return(
    sig: &mut SignalingClient,
    peer_id: &str,
    room: &str,
    who: &str,
) -> anyhow::Result<bool> {
    let deadline = tokio::time::sleep(WAIT_FOR_RETURN);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = sig.recv() => match m? {
                m @ ServerMessage::Signal {
                    signal: Signal::Description { sdp_type: SdpType::Offer, .. },
                    ..
                } if matches!(&m, ServerMessage::Signal { from, .. } if from == peer_id) => {
                    // Part of the new connection: handed back for it.
                    sig.unread([m]);
                    return Ok(true);
                }
                ServerMessage::PeerJoined { room: r, peer } if r == room && peer.id == peer_id => {
                    return Ok(true);
                }
                // Late candidates of the old connection, others in the room: nothing to do.
                _ => {}
            },
            _ = &mut deadline => return Ok(false),
            _ = ctrl_c() => anyhow::bail!("cancelled while waiting for the {who} to come back"),
        }
    }
}

/// What [`wait_after_loss`] says: who is waited for, what this side keeps meanwhile, what
/// happens once the peer is back, and the hint of the error when it is not.
pub struct LossWording {
    pub who: &'static str,
    pub kept: &'static str,
    pub then: &'static str,
    pub otherwise: &'static str,
}

/// After a connection lost mid-transfer: closes it, says so (`--json`: `connection-lost`),
/// waits for the peer ([`wait_for_return`]) and returns once it is back (`reconnecting`; the
/// caller connects again); an error when it is not back within [`WAIT_FOR_RETURN`].
pub async fn wait_after_loss(
    sig: &mut SignalingClient,
    lost: &Link,
    peer_id: &str,
    room: &str,
    say: &LossWording,
    ui: &Ui,
) -> anyhow::Result<()> {
    lost.close().await;
    let min = WAIT_FOR_RETURN.as_secs() / 60;
    let LossWording {
        who,
        kept,
        then,
        otherwise,
    } = say;
    ui.note(&format!(
        "The connection to the {who} was lost{kept}. Waiting up to {min} min for the {who} to come back{then} (Ctrl-C to stop)…"
    ));
    ui.json_event(
        serde_json::json!({"event":"connection-lost","waitSeconds":WAIT_FOR_RETURN.as_secs()}),
    );
    if wait_for_return(sig, peer_id, room, who).await? {
        ui.json_event(serde_json::json!({"event":"reconnecting"}));
        return Ok(());
    }
    anyhow::bail!("the {who} did not come back within {min} min{otherwise}")
}
