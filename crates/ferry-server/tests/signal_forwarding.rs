//! Forwarding SDP, candidates and app payloads to exactly one peer, stamped with the sender's id.

mod common;

use common::*;
use ferry_protocol::signaling::{ServerMessage, Signal};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn signals_reach_only_their_target_with_a_stamped_sender() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    let mut c = connect(addr).await;
    // Drain join notifications.
    for _ in 0..2 {
        recv(&mut a.ws).await;
    }
    recv(&mut b.ws).await;

    let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n";
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id,
        "signal":{"kind":"description","sdpType":"offer","sdp": sdp}}),
    )
    .await;
    send_json(&mut a.ws, json!({"type":"signal","to": b.id,
        "signal":{"kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}})).await;
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id,
        "signal":{"kind":"candidate","candidate": null}}),
    )
    .await;
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id,
        "signal":{"kind":"app","payload":{"relay":"please","n":[1,2,3]}}}),
    )
    .await;

    match recv(&mut b.ws).await {
        ServerMessage::Signal {
            from,
            signal: Signal::Description { sdp: got, .. },
        } => {
            assert_eq!(from, a.id);
            assert_eq!(got, sdp);
        }
        other => panic!("{other:?}"),
    }
    match recv(&mut b.ws).await {
        ServerMessage::Signal {
            from,
            signal: Signal::Candidate { candidate: Some(c) },
        } => {
            assert_eq!(from, a.id);
            assert!(c.candidate.contains("typ host"));
            assert_eq!(c.sdp_m_line_index, Some(0));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        recv(&mut b.ws).await,
        ServerMessage::Signal {
            signal: Signal::Candidate { candidate: None },
            ..
        }
    ));
    match recv(&mut b.ws).await {
        ServerMessage::Signal {
            from,
            signal: Signal::App { payload },
        } => {
            assert_eq!(from, a.id);
            assert_eq!(payload, json!({"relay":"please","n":[1,2,3]}));
        }
        other => panic!("{other:?}"),
    }
    // The bystander hears nothing.
    assert_silent(&mut c.ws, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_sender_cannot_forge_from_or_reach_strangers() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let addr = start(cfg).await;
    let mut a = connect_with(addr, "", Some("203.0.113.1")).await;
    let mut b = connect_with(addr, "", Some("203.0.113.1")).await;
    let mut stranger = connect_with(addr, "", Some("198.51.100.1")).await;
    recv(&mut a.ws).await;

    // A `from` field is refused outright rather than silently overwritten.
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id,"from": stranger.id,
        "signal":{"kind":"app","payload":1}}),
    )
    .await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("bad-message")
    );

    // A peer in another network (no shared room) is not reachable, nor is an unknown id or oneself.
    for to in [stranger.id.clone(), "ffffffffffffffff".into(), a.id.clone()] {
        send_json(
            &mut a.ws,
            json!({"type":"signal","to": to,
            "signal":{"kind":"app","payload":1}}),
        )
        .await;
        assert_eq!(
            error_code(&recv(&mut a.ws).await).as_deref(),
            Some("peer-not-found")
        );
    }
    assert_silent(&mut b.ws, Duration::from_millis(200)).await;
    assert_silent(&mut stranger.ws, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn token_keeps_identity_and_replaces_the_old_connection() {
    let addr = start(loopback_config()).await;
    let mut observer = connect(addr).await;
    let a = connect(addr).await;
    recv(&mut observer.ws).await; // a joined

    let mut again = connect_with(addr, &format!("?token={}", a.token), None).await;
    assert_eq!(again.id, a.id);
    assert_eq!(again.name, a.name);
    // The old connection is closed by the server with 4000.
    let mut old = a.ws;
    let closed = tokio::time::timeout(WAIT, async {
        use futures_util::StreamExt;
        while let Some(Ok(m)) = old.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(Some(f)) = m {
                return u16::from(f.code);
            }
        }
        0
    })
    .await
    .unwrap();
    assert_eq!(closed, 4000);

    // A forged token just gets a fresh identity.
    let forged = format!("{}.{}", a.id, "0".repeat(32));
    let fresh = connect_with(addr, &format!("?token={forged}"), None).await;
    assert_ne!(fresh.id, a.id);

    // Name changes reach room mates and the peer itself.
    send_json(
        &mut again.ws,
        json!({"type":"set-name","name":"  Kitchen \n laptop "}),
    )
    .await;
    let updated = recv_until(&mut again.ws, |m| {
        matches!(m, ServerMessage::PeerUpdated { .. })
    })
    .await;
    let ServerMessage::PeerUpdated { peer } = updated else {
        unreachable!()
    };
    assert_eq!(peer.name, "Kitchen laptop");
    let seen = recv_until(&mut observer.ws, |m| {
        matches!(m, ServerMessage::PeerUpdated { .. })
    })
    .await;
    assert!(
        matches!(seen, ServerMessage::PeerUpdated { peer } if peer.id == a.id && peer.name == "Kitchen laptop")
    );
}
