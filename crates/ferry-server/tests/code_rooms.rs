//! Code rooms: create, join (forgivingly typed), membership alongside the LAN room, leave, expiry.

mod common;

use common::*;
use ferry_protocol::signaling::{RoomKind, ServerMessage};
use serde_json::json;
use std::time::Duration;

async fn create_room(c: &mut Client) -> String {
    send_json(&mut c.ws, json!({"type":"create-room"})).await;
    match recv_until(&mut c.ws, |m| matches!(m, ServerMessage::RoomJoined { .. })).await {
        ServerMessage::RoomJoined { room } => {
            assert_eq!(room.kind, RoomKind::Code);
            assert!(room.peers.is_empty());
            assert_eq!(room.id.len(), 6);
            room.id
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn peers_on_different_networks_meet_in_a_code_room() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let addr = start(cfg).await;
    let mut a = connect_with(addr, "", Some("203.0.113.1")).await;
    let mut b = connect_with(addr, "", Some("198.51.100.1")).await;

    let code = create_room(&mut a).await;
    // Typed by a human: lower case, with a dash.
    let typed = format!("{}-{}", &code[..3], &code[3..]).to_lowercase();
    send_json(&mut b.ws, json!({"type":"join-room","code": typed})).await;
    match recv(&mut b.ws).await {
        ServerMessage::RoomJoined { room } => {
            assert_eq!(room.id, code);
            assert_eq!(room.peers.len(), 1);
            assert_eq!(room.peers[0].id, a.id);
        }
        other => panic!("expected room-joined, got {other:?}"),
    }
    match recv(&mut a.ws).await {
        ServerMessage::PeerJoined { room, peer } => {
            assert_eq!(room, code);
            assert_eq!(peer.id, b.id);
        }
        other => panic!("expected peer-joined, got {other:?}"),
    }

    // Signals now flow between them (they share no LAN room).
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id, "signal":{"kind":"app","payload":{"hello":1}}}),
    )
    .await;
    match recv(&mut b.ws).await {
        ServerMessage::Signal { from, .. } => assert_eq!(from, a.id),
        other => panic!("expected signal, got {other:?}"),
    }

    // Leaving the room tells the other member and stops forwarding.
    send_json(&mut b.ws, json!({"type":"leave-room","room": code})).await;
    assert!(matches!(recv(&mut b.ws).await, ServerMessage::RoomLeft { room } if room == code));
    assert!(
        matches!(recv(&mut a.ws).await, ServerMessage::PeerLeft { room, peer_id } if room == code && peer_id == b.id)
    );
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id, "signal":{"kind":"app","payload":{}}}),
    )
    .await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("peer-not-found")
    );
}

#[tokio::test]
async fn unknown_malformed_and_lan_codes_are_refused() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    for code in ["ZZZZZZ", "abc", "", "lan", "K7H3Q0"] {
        send_json(&mut a.ws, json!({"type":"join-room","code": code})).await;
        assert_eq!(
            error_code(&recv(&mut a.ws).await).as_deref(),
            Some("room-not-found"),
            "{code}"
        );
    }
    send_json(&mut a.ws, json!({"type":"leave-room","room":"lan"})).await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("room-not-found")
    );
}

#[tokio::test]
async fn peer_in_lan_and_code_room_is_listed_in_both() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    recv(&mut a.ws).await; // b joined lan
    let code = create_room(&mut a).await;
    send_json(&mut b.ws, json!({"type":"join-room","code": code})).await;
    match recv(&mut b.ws).await {
        ServerMessage::RoomJoined { room } => assert_eq!(room.peers[0].id, a.id),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(recv(&mut a.ws).await, ServerMessage::PeerJoined { room, .. } if room == code)
    );
    // b leaves entirely: a hears it for both rooms.
    let b_id = b.id.clone();
    drop(b);
    let mut rooms = vec![];
    for _ in 0..2 {
        match recv(&mut a.ws).await {
            ServerMessage::PeerLeft { room, peer_id } if peer_id == b_id => rooms.push(room),
            other => panic!("{other:?}"),
        }
    }
    rooms.sort();
    let mut want = vec![code, "lan".to_string()];
    want.sort();
    assert_eq!(rooms, want);
}

#[tokio::test]
async fn empty_code_rooms_expire_after_ttl() {
    let mut cfg = loopback_config();
    // Time is an input of the sweep: the test hands it "now + TTL" instead of sleeping, so the
    // TTL can be long enough that "right after" below holds on any machine.
    let ttl = Duration::from_secs(60);
    cfg.hub.code_room_ttl = ttl;
    let server = ferry_server::BoundServer::bind(cfg).await.unwrap();
    let addr = server.local_addr().unwrap();
    let hub = server.state().hub.clone();
    tokio::spawn(server.run());

    let mut a = connect(addr).await;
    let code = create_room(&mut a).await;
    drop(a);
    // Still joinable right after the creator left…
    let mut b = connect(addr).await;
    send_json(&mut b.ws, json!({"type":"join-room","code": code})).await;
    assert!(matches!(
        recv(&mut b.ws).await,
        ServerMessage::RoomJoined { .. }
    ));
    send_json(&mut b.ws, json!({"type":"leave-room","room": code})).await;
    assert!(matches!(
        recv(&mut b.ws).await,
        ServerMessage::RoomLeft { .. }
    ));
    // …and not swept while the TTL runs…
    assert_eq!(hub.sweep_expired_rooms(std::time::Instant::now()), 0);
    // …but once it has been empty for the TTL.
    assert!(hub.sweep_expired_rooms(std::time::Instant::now() + ttl) >= 1);
    send_json(&mut b.ws, json!({"type":"join-room","code": code})).await;
    assert_eq!(
        error_code(&recv(&mut b.ws).await).as_deref(),
        Some("room-not-found")
    );
}

#[tokio::test]
async fn at_most_eight_code_rooms_per_peer() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    for _ in 0..8 {
        create_room(&mut a).await;
    }
    send_json(&mut a.ws, json!({"type":"create-room"})).await;
    assert_eq!(error_code(&recv(&mut a.ws).await).as_deref(), Some("limit"));
}

#[tokio::test]
async fn joining_a_big_code_room_lists_its_peers_in_pages() {
    use ferry_protocol::signaling::ROOM_PEERS_PAGE;
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let addr = start(cfg).await;
    // Each member on its own network, so only the code room is shared.
    let mut first = connect_with(addr, "", Some("203.0.113.1")).await;
    let code = create_room(&mut first).await;
    let mut members = vec![first.id.clone()];
    let mut keep = vec![first];
    for i in 0..ROOM_PEERS_PAGE + 3 {
        let mut c = connect_with(addr, "", Some(&format!("198.51.100.{}", i + 1))).await;
        send_json(&mut c.ws, json!({"type":"join-room","code": code})).await;
        recv_until(&mut c.ws, |m| matches!(m, ServerMessage::RoomJoined { .. })).await;
        members.push(c.id.clone());
        keep.push(c);
    }
    let mut late = connect_with(addr, "", Some("192.0.2.200")).await;
    send_json(&mut late.ws, json!({"type":"join-room","code": code})).await;
    let mut seen = match recv(&mut late.ws).await {
        ServerMessage::RoomJoined { room } => {
            assert_eq!(room.peers.len(), ROOM_PEERS_PAGE);
            room.peers.into_iter().map(|p| p.id).collect::<Vec<_>>()
        }
        other => panic!("expected room-joined, got {other:?}"),
    };
    match recv(&mut late.ws).await {
        ServerMessage::RoomPeers { room, peers } => {
            assert_eq!(room, code);
            seen.extend(peers.into_iter().map(|p| p.id));
        }
        other => panic!("expected room-peers, got {other:?}"),
    }
    seen.sort();
    members.sort();
    assert_eq!(seen, members);
}
