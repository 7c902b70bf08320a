//! The path decision with the real server: a peer that forces the relay gets one at once and the
//! other follows from its ICE attempt; peers whose ICE cannot succeed (both drop every candidate)
//! fall back to one relay session after their timeout.

mod common;

use common::start_server;

use std::time::{Duration, Instant};

use ferry_transport::{
    Link, Message, MessagePipe, PeerOptions, RelayMode, SignalingClient, connect_with_fallback,
};

fn loopback() -> PeerOptions {
    PeerOptions {
        bind: vec!["127.0.0.1:0".into()],
        ..PeerOptions::default()
    }
}

#[tokio::test]
async fn a_forced_relay_on_one_side_brings_the_other_at_once() {
    let addr = start_server().await;
    let server = format!("http://{addr}");
    let mut a = SignalingClient::connect(&server).await.unwrap();
    let mut b = SignalingClient::connect(&server).await.unwrap();
    let (a_id, b_id) = (a.me.id.clone(), b.me.id.clone());
    let started = Instant::now();
    // B's own ICE timeout is long: if B got the relay link before it, B followed A (its ICE
    // cannot connect, A does no WebRTC). A short timeout would make this a race on a loaded
    // machine.
    let after = Duration::from_secs(60);
    // One task: webrtc-rs's connect future is not Send.
    let opts = loopback();
    let (la, lb) = tokio::join!(
        connect_with_fallback(&mut a, &b_id, &opts, RelayMode::Forced),
        connect_with_fallback(&mut b, &a_id, &opts, RelayMode::After(after))
    );
    let (la, lb) = (la.expect("forced relay"), lb.expect("fallback"));
    // B follows as soon as A's `relay-ready` reaches its ICE attempt, not after its timeout.
    assert!(
        started.elapsed() < after,
        "B waited {:?}",
        started.elapsed()
    );
    for l in [&la, &lb] {
        assert!(matches!(l, Link::Relay(_)));
        assert_eq!(l.path_kind(), "websocket");
        assert_eq!(l.path_label(), "relay (WebSocket, end-to-end encrypted)");
    }
    // The keys the security code binds: each side's own first, the same pair mirrored.
    let (own_a, peer_a) = la.identities().expect("relay identities");
    let (own_b, peer_b) = lb.identities().expect("relay identities");
    assert_eq!(
        (own_a.as_str(), peer_a.as_str()),
        (peer_b.as_str(), own_b.as_str())
    );
    assert!(own_a.starts_with("relay-p256:"), "{own_a}");
    la.send(Message::Text("over the relay".into()))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), lb.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(Message::Text("over the relay".into())));
}

#[tokio::test]
async fn without_fallback_a_peer_that_does_no_webrtc_is_an_ice_timeout() {
    let addr = start_server().await;
    let server = format!("http://{addr}");
    let a = SignalingClient::connect(&server).await.unwrap();
    let mut b = SignalingClient::connect(&server).await.unwrap();
    let opts = PeerOptions {
        timeout: Duration::from_secs(1),
        ..loopback()
    };
    let r = connect_with_fallback(&mut b, &a.me.id, &opts, RelayMode::Never).await;
    assert!(r.is_err());
}
