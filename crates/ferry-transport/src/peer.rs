//! Establishing the WebRTC connection to one peer over signaling: perfect negotiation
//! (`docs/protocol.md`, "WebRTC negotiation between peers") and the one negotiated DataChannel
//! `ferry/1` with id 0.

use std::sync::Arc;
use std::time::Duration;

use ferry_protocol::signaling::{IceCandidate, SdpType, ServerMessage, Signal};
use ferry_protocol::transfer::{CHANNEL_LABEL, MAX_FRAME_BYTES};
use tokio::sync::mpsc;
use webrtc::data_channel::RTCDataChannelInit;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceCandidateType, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

use crate::datachannel::DataChannelPipe;
use crate::ice::{IcePath, rtc_ice_servers};
use crate::signaling::{PeerSignaling, SignalingError};

/// Options for [`connect`].
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Local UDP addresses to bind, e.g. `0.0.0.0:0` (every interface but loopback) or
    /// `127.0.0.1:0` (loopback only, for tests: webrtc-rs skips loopback on wildcards).
    pub bind: Vec<String>,
    /// Per-channel send-buffer limit in bytes: the backpressure high-water mark.
    pub send_buffer_limit: usize,
    /// How long to wait for the channel to open.
    pub timeout: Duration,
    /// SCTP receive window (a_rwnd) in bytes; `None` keeps webrtc-rs's 1 MiB.
    /// [`SCTP_RECEIVE_WINDOW`] by default.
    pub sctp_receive_window: Option<u32>,
    /// SCTP packet size budget in bytes; `None` keeps webrtc-rs's 1191 (fits TURN over IPv6).
    pub sctp_mtu: Option<u32>,
}

/// The SCTP receive window native peers advertise. webrtc-rs's 1 MiB is about one loss
/// recovery's worth of data at 25 MB/s over a 20 ms path: while a hole waits for its
/// retransmission, what arrives behind it fills the buffer and the window closes. Measured over
/// 20 ms RTT / 0.5 % loss (docs/benchmarks.md): 1 MiB 15.6 MB/s, 4 MiB 30.2, 8 MiB 35.7,
/// 16 MiB 25.6 (medians of 5); the receiver's RSS stays under 40 MiB.
pub const SCTP_RECEIVE_WINDOW: u32 = 8 * 1024 * 1024;

/// SCTP packet size between two native peers on one host over loopback: one full DTLS record
/// (2^14 bytes of plaintext). Per-packet work (a DTLS record, a CRC32c, allocations, a syscall)
/// is most of the CPU a transfer costs (`docs/benchmarks.md`), and loopback carries 64 KiB
/// datagrams, so 14× fewer packets than the 1191-byte default.
pub const LOOPBACK_SCTP_MTU: u32 = 16 * 1024;

impl PeerOptions {
    /// These options for the connection to a peer whose hub-reported client kind is
    /// `peer_client` (`PeerInfo::client`): [`LOOPBACK_SCTP_MTU`]-sized packets when nothing else
    /// could carry or receive them wrongly, else the default.
    ///
    /// The packet size is fixed before ICE (webrtc-rs takes it only in its setting engine), so it
    /// is decided from what is known then: every local address is loopback (so the path is this
    /// host's `lo`), the peer is a native peer (a browser's receive path is not ours to size),
    /// and this host's UDP sockets do GRO — webrtc-rs receives into 64 × 1500-byte buffers only
    /// then, and into 2000-byte ones otherwise, which would truncate a 16 KiB datagram. The peer
    /// shares this host, so its sockets are sized the same.
    pub fn for_peer(&self, peer_client: &str) -> PeerOptions {
        let mut opts = self.clone();
        if opts.sctp_mtu.is_none()
            && peer_client == "cli"
            && all_loopback(&opts.bind)
            && receives_datagrams_of(LOOPBACK_SCTP_MTU as usize + DTLS_RECORD_OVERHEAD)
        {
            tracing::debug!(
                mtu = LOOPBACK_SCTP_MTU,
                "native peer over loopback: large SCTP packets"
            );
            opts.sctp_mtu = Some(LOOPBACK_SCTP_MTU);
        }
        opts
    }
}

/// DTLS 1.2 AES-GCM record overhead: 13-byte header, 8-byte explicit nonce, 16-byte tag.
const DTLS_RECORD_OVERHEAD: usize = 13 + 8 + 16;

fn all_loopback(bind: &[String]) -> bool {
    !bind.is_empty()
        && bind.iter().all(|b| {
            b.parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback())
        })
}

/// Whether webrtc-rs will hand this host's UDP sockets receive buffers of at least `len` bytes:
/// it sizes them from the socket's GRO segment count (`gro_recv_buf_len` in webrtc-rs's
/// transport: segments × 1500 when GRO works, 2000 bytes when it does not).
fn receives_datagrams_of(len: usize) -> bool {
    static GRO_SEGMENTS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if tokio::runtime::Handle::try_current().is_err() {
        return false; // the probe registers with tokio's reactor
    }
    let segments = *GRO_SEGMENTS.get_or_init(|| {
        use webrtc::runtime::Runtime;
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| {
            s.set_nonblocking(true)?;
            webrtc::runtime::TokioRuntime.wrap_udp_socket(s)
        });
        match probe {
            Ok(s) => s.max_gro_segments(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot probe UDP GRO; keeping small SCTP packets");
                1
            }
        }
    });
    segments > 1 && segments.min(64) * 1500 >= len
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            bind: vec!["0.0.0.0:0".into()],
            send_buffer_limit: 4 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            sctp_receive_window: Some(SCTP_RECEIVE_WINDOW),
            sctp_mtu: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("WebRTC error: {0}")]
    Rtc(String),
    #[error("could not reach the peer: no network path worked within {0:?} (ICE {1})")]
    Timeout(Duration, String),
    #[error("the peer left before the connection was up")]
    PeerLeft,
    #[error("the connection to the peer failed (ICE could not find a path)")]
    Failed,
    /// The peer gave up on ICE and asked for the WebSocket relay (`relay-ready` arrived).
    #[error("the peer moved to the WebSocket relay")]
    RelayRequested(crate::relay::RelayInvite),
}

fn rtc<E: std::fmt::Display>(e: E) -> ConnectError {
    ConnectError::Rtc(e.to_string())
}

/// A live connection: keep it alive as long as the pipe is used.
pub struct PeerLink {
    pub pipe: DataChannelPipe,
    pub path: IcePath,
    /// Our DTLS identity (`ferry_protocol::verify::dtls_identity` of the local description) and
    /// the peer's (`certificate_identity` of the certificate its DTLS handshake presented): the
    /// keys the security code binds.
    pub identities: Option<(String, String)>,
    pc: Arc<dyn PeerConnection>,
    state: tokio::sync::watch::Receiver<RTCPeerConnectionState>,
}

impl PeerLink {
    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }

    /// Resolves once the peer is known to be gone, having marked the pipe lost, so a transfer
    /// ends within seconds of a peer being killed rather than after ICE's 30 s consent timeout.
    /// Gone means both: the hub says the peer left (its signaling socket closed), and ICE has
    /// stopped hearing from it (webrtc-rs calls a path disconnected after 5 s of silence). Either
    /// alone is not enough: a browser's signaling socket can drop and reconnect while its
    /// DataChannel stays healthy, and a congested path can go quiet for a moment.
    ///
    /// Reading signaling here also answers the hub's heartbeats during long transfers. If the
    /// signaling connection itself ends, this stops watching and ICE alone decides.
    pub async fn departed(&self, sig: &mut impl PeerSignaling, peer_id: &str) {
        let mut left = false;
        loop {
            let mut state = self.state.clone();
            let silent = async move {
                if !left {
                    return std::future::pending().await;
                }
                let _ = state
                    .wait_for(|s| {
                        matches!(
                            s,
                            RTCPeerConnectionState::Disconnected
                                | RTCPeerConnectionState::Failed
                                | RTCPeerConnectionState::Closed
                        )
                    })
                    .await;
            };
            tokio::select! {
                m = sig.recv() => match m {
                    Ok(ServerMessage::PeerLeft { peer_id: p, .. }) if p == peer_id => left = true,
                    Ok(ServerMessage::PeerJoined { peer, .. }) if peer.id == peer_id => left = false,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!("signaling ended during the transfer: {e}");
                        return std::future::pending().await;
                    }
                },
                _ = silent => {
                    tracing::info!("the peer left signaling and went silent: treating it as gone");
                    self.pipe.mark_lost();
                    return;
                }
            }
        }
    }

    /// Resolves when the peer connection fails or closes.
    pub async fn lost(&self) {
        let mut s = self.state.clone();
        let _ = s
            .wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                )
            })
            .await;
    }
}

enum HandlerEvent {
    Candidate(RTCIceCandidateInit),
    GatheringDone,
}

struct Handler {
    tx: mpsc::UnboundedSender<HandlerEvent>,
    state: tokio::sync::watch::Sender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.tx.send(HandlerEvent::Candidate(init));
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.tx.send(HandlerEvent::GatheringDone);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection state");
        let _ = self.state.send(state);
    }
}

/// Whether this host can open the mDNS socket (multicast on 224.0.0.251:5353). mDNS only
/// resolves browsers' `.local` host candidates, so where it cannot be opened — a network
/// namespace with only `lo` and no multicast route, some containers — the transfer goes on
/// without it instead of failing with ENODEV. Probed once per process.
fn mdns_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| match rtc::mdns::MulticastSocket::new().into_std() {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "skipping mDNS: no multicast here, browsers' .local candidates will not be resolved");
            false
        }
    })
}

/// Connects to `peer_id` (who must share a room with us) and opens the `ferry/1` channel.
pub async fn connect(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    opts: &PeerOptions,
) -> Result<PeerLink, ConnectError> {
    let polite = sig.me().id.as_str() < peer_id;
    let (tx, mut events) = mpsc::unbounded_channel();
    let (state_tx, state_rx) = tokio::sync::watch::channel(RTCPeerConnectionState::New);
    let mut setting_engine = SettingEngineBuilder::new()
        // Receive frames up to the protocol's 256 KiB (the default advertises 64 KiB).
        .with_sctp_max_message_size(
            rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize::Bounded(
                MAX_FRAME_BYTES as u32,
            ),
        );
    if let Some(w) = opts.sctp_receive_window {
        setting_engine = setting_engine.with_sctp_max_receive_buffer_size(w);
    }
    if let Some(m) = opts.sctp_mtu {
        setting_engine = setting_engine.with_sctp_mtu(m);
    }
    if !mdns_available() {
        setting_engine =
            setting_engine.with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled);
    }
    let setting_engine = setting_engine.build();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(rtc_ice_servers(sig.ice_servers()))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(setting_engine)
        .with_handler(Arc::new(Handler {
            tx,
            state: state_tx,
        }))
        .with_udp_addrs(opts.bind.clone())
        .with_runtime(crate::socket_buffers::BufferedUdpRuntime::new())
        .with_data_channel_send_buffer_limit(opts.send_buffer_limit)
        .build()
        .await
        .map_err(rtc)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let dc = pc
        .create_data_channel(
            CHANNEL_LABEL,
            Some(RTCDataChannelInit {
                ordered: true,
                negotiated: Some(0),
                ..Default::default()
            }),
        )
        .await
        .map_err(rtc)?;
    let pipe = DataChannelPipe::new(dc);

    // Perfect negotiation: we offer right away (as a browser's negotiationneeded would); on glare
    // the polite side rolls back and answers, the impolite side ignores the other offer.
    let mut ignore_offer = false;
    let mut remote_set = false;
    let mut queued: Vec<RTCIceCandidateInit> = Vec::new();
    let offer = pc.create_offer(None).await.map_err(rtc)?;
    pc.set_local_description(offer.clone()).await.map_err(rtc)?;
    let mut have_local_offer = true;
    send_description(sig, peer_id, SdpType::Offer, offer.sdp).await?;

    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let mut state = state_rx.clone();
    loop {
        tokio::select! {
            opened = pipe.opened() => {
                if !opened {
                    return Err(ConnectError::Failed);
                }
                break;
            }
            // `.map(drop)`: the guard `wait_for` returns must not live in the future (not Send).
            _ = async { state.wait_for(|s| *s == RTCPeerConnectionState::Failed).await.map(drop) } => {
                return Err(ConnectError::Failed);
            }
            _ = &mut deadline => {
                let s = *state_rx.borrow();
                return Err(ConnectError::Timeout(opts.timeout, s.to_string()));
            }
            ev = events.recv() => match ev {
                Some(HandlerEvent::Candidate(_)) if drop_ice() => {}
                Some(HandlerEvent::Candidate(init)) => {
                    let candidate = IceCandidate {
                        candidate: init.candidate,
                        sdp_mid: init.sdp_mid,
                        sdp_m_line_index: init.sdp_mline_index,
                        username_fragment: init.username_fragment,
                    };
                    sig.send_signal(peer_id, Signal::Candidate { candidate: Some(candidate) }).await?;
                }
                Some(HandlerEvent::GatheringDone) => {
                    sig.send_signal(peer_id, Signal::Candidate { candidate: None }).await?;
                }
                None => {}
            },
            msg = sig.recv() => match msg? {
                ServerMessage::Signal { from, signal } if from == peer_id => match signal {
                    Signal::Description { sdp_type: SdpType::Offer, sdp } => {
                        let collision = have_local_offer;
                        ignore_offer = !polite && collision;
                        if ignore_offer {
                            tracing::debug!("glare: impolite, ignoring the peer's offer");
                            continue;
                        }
                        if collision {
                            tracing::debug!("glare: polite, rolling back our offer");
                            pc.set_local_description(RTCSessionDescription::rollback(None).map_err(rtc)?)
                                .await
                                .map_err(rtc)?;
                            have_local_offer = false;
                        }
                        pc.set_remote_description(RTCSessionDescription::offer(sdp).map_err(rtc)?)
                            .await
                            .map_err(rtc)?;
                        remote_set = true;
                        for c in queued.drain(..) {
                            let _ = pc.add_ice_candidate(c).await;
                        }
                        let answer = pc.create_answer(None).await.map_err(rtc)?;
                        pc.set_local_description(answer.clone()).await.map_err(rtc)?;
                        send_description(sig, peer_id, SdpType::Answer, answer.sdp).await?;
                    }
                    Signal::Description { sdp_type: SdpType::Answer, sdp } => {
                        if !have_local_offer {
                            continue; // an answer to an offer we rolled back
                        }
                        pc.set_remote_description(RTCSessionDescription::answer(sdp).map_err(rtc)?)
                            .await
                            .map_err(rtc)?;
                        have_local_offer = false;
                        remote_set = true;
                        for c in queued.drain(..) {
                            let _ = pc.add_ice_candidate(c).await;
                        }
                    }
                    Signal::Description { .. } => {}
                    Signal::Candidate { candidate: Some(c) } => {
                        let init = RTCIceCandidateInit {
                            candidate: c.candidate,
                            sdp_mid: c.sdp_mid,
                            sdp_mline_index: c.sdp_m_line_index,
                            username_fragment: c.username_fragment,
                            ..Default::default()
                        };
                        if !remote_set {
                            queued.push(init);
                        } else if let Err(e) = pc.add_ice_candidate(init).await
                            && !ignore_offer
                        {
                            tracing::debug!("remote candidate refused: {e}");
                        }
                    }
                    Signal::Candidate { candidate: None } | Signal::App { .. } => {}
                },
                ServerMessage::PeerLeft { peer_id: left, .. } if left == peer_id => {
                    return Err(ConnectError::PeerLeft);
                }
                ServerMessage::RelayReady { relay_id, peer_id: with, .. } if with == peer_id => {
                    let _ = pc.close().await;
                    return Err(ConnectError::RelayRequested(crate::relay::RelayInvite { relay_id }));
                }
                _ => {}
            },
        }
    }

    // A peer that vanishes (killed, network gone) never closes the channel; ICE consent
    // failing is how we learn it. Close the pipe then, so transfers end with a clear error.
    let pipe_state = pipe.state_handle();
    let mut watch_state = state_rx.clone();
    tokio::spawn(async move {
        let _ = watch_state
            .wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                )
            })
            .await;
        let _ = pipe_state.send(crate::datachannel::ChannelState::Closed);
    });
    let path = selected_path(&pc).await;
    if let Some(sctp) = pc.sctp().await
        && let Ok(max) = sctp.max_message_size().await
    {
        pipe.set_max_message_size((max as usize).min(MAX_FRAME_BYTES));
    }
    let sdp_identity = |d: Option<RTCSessionDescription>| {
        d.and_then(|d| ferry_protocol::verify::dtls_identity(&d.sdp))
    };
    let own = sdp_identity(pc.local_description().await);
    let peer = remote_certificate_identity(&pc).await;
    if let (Some(cert), Some(sdp)) = (&peer, sdp_identity(pc.remote_description().await))
        && *cert != sdp
    {
        // The handshake's key is the one the channel is bound to; the code then differs from
        // the peer's, which is the honest outcome.
        tracing::warn!(%cert, %sdp, "the peer's DTLS certificate does not match its SDP fingerprint");
    }
    let identities = own.zip(peer);
    Ok(PeerLink {
        pipe,
        path,
        identities,
        pc,
        state: state_rx,
    })
}

async fn send_description(
    sig: &mut impl PeerSignaling,
    peer_id: &str,
    sdp_type: SdpType,
    sdp: String,
) -> Result<(), SignalingError> {
    let sdp = if drop_ice() {
        sdp.split_inclusive('\n')
            .filter(|l| !l.starts_with("a=candidate"))
            .collect()
    } else {
        sdp
    };
    sig.send_signal(peer_id, Signal::Description { sdp_type, sdp })
        .await
}

/// Test switch: with `FERRY_TEST_DROP_ICE=1` this peer tells the other none of its ICE
/// candidates (trickled or in SDP). On both peers no ICE path can form, which exercises the
/// WebSocket relay fallback (`crates/ferry-cli/tests/cli_relay.rs`).
fn drop_ice() -> bool {
    std::env::var_os("FERRY_TEST_DROP_ICE").is_some_and(|v| v == "1")
}

/// The peer's DTLS identity from the certificate its handshake presented (not from its SDP),
/// `None` before the handshake completed.
async fn remote_certificate_identity(pc: &Arc<dyn PeerConnection>) -> Option<String> {
    let sctp = pc.sctp().await?;
    let certs = sctp.transport().get_remote_certificates().await.ok()?;
    certs
        .first()
        .map(|der| ferry_protocol::verify::certificate_identity(der))
}

async fn selected_path(pc: &Arc<dyn PeerConnection>) -> IcePath {
    let Some(sctp) = pc.sctp().await else {
        return IcePath::unknown();
    };
    let ice = sctp.transport().ice_transport();
    match ice.get_selected_candidate_pair().await {
        Ok(Some(pair)) => {
            // A check that arrives before the peer's trickled candidate makes the remote end
            // peer-reflexive; once the candidate has arrived, its signaled type is the truth.
            let (ra, rp) = (&pair.remote().address, pair.remote().port);
            let mut remote = kind(pair.remote().typ);
            if pair.remote().typ == RTCIceCandidateType::Prflx
                && let Ok(known) = ice.get_remote_candidates().await
                && let Some(c) = known.iter().find(|c| {
                    &c.address == ra && c.port == rp && c.typ != RTCIceCandidateType::Prflx
                })
            {
                remote = kind(c.typ);
            }
            IcePath::from_types(
                kind(pair.local().typ),
                remote,
                format!("{}:{}", pair.local().address, pair.local().port),
                format!("{ra}:{rp}"),
            )
        }
        _ => IcePath::unknown(),
    }
}

fn kind(t: RTCIceCandidateType) -> &'static str {
    match t {
        RTCIceCandidateType::Host => "host",
        RTCIceCandidateType::Srflx => "srflx",
        RTCIceCandidateType::Prflx => "prflx",
        RTCIceCandidateType::Relay => "relay",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(addrs: &[&str]) -> PeerOptions {
        PeerOptions {
            bind: addrs.iter().map(|a| a.to_string()).collect(),
            ..PeerOptions::default()
        }
    }

    #[tokio::test]
    async fn large_packets_only_between_native_peers_on_loopback() {
        // What this host's sockets can take decides the one case that may use them.
        let big = receives_datagrams_of(LOOPBACK_SCTP_MTU as usize + DTLS_RECORD_OVERHEAD);
        let expected = big.then_some(LOOPBACK_SCTP_MTU);
        assert_eq!(bound(&["127.0.0.1:0"]).for_peer("cli").sctp_mtu, expected);
        assert_eq!(
            bound(&["127.0.0.1:0", "[::1]:0"]).for_peer("cli").sctp_mtu,
            expected
        );
        // A browser's receive path is not ours to size; any other interface may be a real
        // network with a 1500-byte MTU (or TURN over it).
        assert_eq!(bound(&["127.0.0.1:0"]).for_peer("browser").sctp_mtu, None);
        assert_eq!(bound(&["127.0.0.1:0"]).for_peer("unknown").sctp_mtu, None);
        assert_eq!(bound(&["0.0.0.0:0"]).for_peer("cli").sctp_mtu, None);
        assert_eq!(
            bound(&["127.0.0.1:0", "10.0.0.1:0"])
                .for_peer("cli")
                .sctp_mtu,
            None
        );
        assert_eq!(bound(&[]).for_peer("cli").sctp_mtu, None);
        // A size asked for explicitly (the benchmark probe) is kept.
        let asked = PeerOptions {
            sctp_mtu: Some(8192),
            ..bound(&["127.0.0.1:0"])
        };
        assert_eq!(asked.for_peer("cli").sctp_mtu, Some(8192));
    }

    #[test]
    fn without_a_runtime_the_probe_says_no() {
        assert!(!receives_datagrams_of(1));
    }
}
