//! LAN rooms: who sees whom, decided by source address (and trusted proxies only).

mod common;

use common::*;
use ferry_protocol::signaling::{RoomKind, ServerMessage};
use std::time::Duration;

fn lan_peers(welcome: &ServerMessage) -> Vec<String> {
    let ServerMessage::Welcome { rooms, .. } = welcome else {
        panic!("not a welcome")
    };
    let lan = rooms.iter().find(|r| r.kind == RoomKind::Lan).unwrap();
    assert_eq!(lan.id, "lan");
    lan.peers.iter().map(|p| p.id.clone()).collect()
}

#[tokio::test]
async fn peers_on_loopback_share_the_local_room_and_see_joins_and_leaves() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    assert!(lan_peers(&a.welcome).is_empty());
    assert!(
        !a.name.is_empty() && a.name.contains(' '),
        "friendly name: {}",
        a.name
    );

    let b = connect_with(addr, "?client=cli", None).await;
    assert_eq!(lan_peers(&b.welcome), vec![a.id.clone()]);
    match recv(&mut a.ws).await {
        ServerMessage::PeerJoined { room, peer } => {
            assert_eq!(room, "lan");
            assert_eq!(peer.id, b.id);
            assert_eq!(peer.name, b.name);
            assert_eq!(peer.client, "cli");
        }
        other => panic!("expected peer-joined, got {other:?}"),
    }

    let b_id = b.id.clone();
    drop(b);
    match recv(&mut a.ws).await {
        ServerMessage::PeerLeft { room, peer_id } => {
            assert_eq!(room, "lan");
            assert_eq!(peer_id, b_id);
        }
        other => panic!("expected peer-left, got {other:?}"),
    }
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_trusted_proxy() {
    let addr = start(loopback_config()).await;
    let a = connect_with(addr, "", Some("203.0.113.1")).await;
    let b = connect_with(addr, "", Some("198.51.100.1")).await;
    assert_eq!(lan_peers(&b.welcome), vec![a.id]);
}

#[tokio::test]
async fn trusted_proxy_separates_networks() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let addr = start(cfg).await;

    let mut home1 = connect_with(addr, "", Some("203.0.113.1")).await;
    let home2 = connect_with(addr, "", Some("203.0.113.1")).await;
    let mut office = connect_with(addr, "", Some("198.51.100.1")).await;
    // Same /64, different host bits: same room. Different /64: different room.
    let v6a = connect_with(addr, "", Some("2001:db8:1:2::a")).await;
    let v6b = connect_with(addr, "", Some("2001:db8:1:2:ffff::b")).await;
    let v6c = connect_with(addr, "", Some("2001:db8:1:3::c")).await;

    assert_eq!(lan_peers(&home2.welcome), vec![home1.id.clone()]);
    assert!(lan_peers(&office.welcome).is_empty());
    assert_eq!(lan_peers(&v6b.welcome), vec![v6a.id.clone()]);
    assert!(lan_peers(&v6c.welcome).is_empty());

    // home1 hears about home2 only; office hears nothing at all.
    match recv(&mut home1.ws).await {
        ServerMessage::PeerJoined { peer, .. } => assert_eq!(peer.id, home2.id),
        other => panic!("expected peer-joined, got {other:?}"),
    }
    assert_silent(&mut home1.ws, Duration::from_millis(300)).await;
    assert_silent(&mut office.ws, Duration::from_millis(300)).await;

    // A private address behind the proxy folds into the local room with direct loopback peers.
    let lan_proxy = connect_with(addr, "", Some("192.168.1.20")).await;
    let direct = connect_with(addr, "", Some("10.1.2.3")).await;
    assert_eq!(lan_peers(&direct.welcome), vec![lan_proxy.id]);
}

#[tokio::test]
async fn a_big_rooms_peer_list_arrives_in_pages_after_the_welcome() {
    use ferry_protocol::signaling::ROOM_PEERS_PAGE;
    let mut cfg = loopback_config();
    cfg.hub.lan_room_size = 4 * ROOM_PEERS_PAGE;
    let addr = start(cfg).await;
    let mut others = Vec::new();
    for _ in 0..2 * ROOM_PEERS_PAGE + 5 {
        others.push(connect(addr).await);
    }
    let mut late = connect(addr).await;
    let mut seen = lan_peers(&late.welcome);
    assert_eq!(seen.len(), ROOM_PEERS_PAGE, "the welcome lists one page");
    for expected in [ROOM_PEERS_PAGE, 5] {
        match recv(&mut late.ws).await {
            ServerMessage::RoomPeers { room, peers } => {
                assert_eq!(room, "lan");
                assert_eq!(peers.len(), expected);
                seen.extend(peers.into_iter().map(|p| p.id));
            }
            other => panic!("expected room-peers, got {other:?}"),
        }
    }
    let mut want: Vec<String> = others.iter().map(|c| c.id.clone()).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "every peer already there, once");
}

#[tokio::test]
async fn peers_carry_the_device_they_said_and_nothing_else() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let b = connect_with(addr, "?client=browser&device=phone", None).await;
    let ServerMessage::Welcome { peer, .. } = &b.welcome else {
        unreachable!()
    };
    assert_eq!(peer.device, "phone", "the welcome says it back");
    match recv(&mut a.ws).await {
        ServerMessage::PeerJoined { peer, .. } => assert_eq!(peer.device, "phone"),
        other => panic!("expected peer-joined, got {other:?}"),
    }
    // Only the kinds the app draws; anything else is "not said" and absent on the wire.
    let mut raw = connect_raw(addr, "?client=browser&device=%3Cimg%3E", None).await;
    let welcome = recv(&mut raw).await;
    let ServerMessage::Welcome { peer, .. } = &welcome else {
        panic!("expected welcome, got {welcome:?}")
    };
    assert_eq!(peer.device, "");
    let json = serde_json::to_string(peer).unwrap();
    assert!(!json.contains("\"device\""), "{json}");
}
