//! Guessing room codes is hopeless: join attempts are budgeted per source address (and a
//! reconnect does not refill the budget), and a room closes to newcomers after a few wrong codes
//! against its first half. Behind a trusted proxy the forwarded address is what counts.

mod common;

use common::*;
use ferry_protocol::signaling::ServerMessage;
use serde_json::json;

async fn create_room(c: &mut Client) -> String {
    send_json(&mut c.ws, json!({"type":"create-room"})).await;
    match recv_until(&mut c.ws, |m| matches!(m, ServerMessage::RoomJoined { .. })).await {
        ServerMessage::RoomJoined { room } => room.id,
        _ => unreachable!(),
    }
}

async fn try_join(c: &mut Client, code: &str) -> Option<String> {
    send_json(&mut c.ws, json!({"type":"join-room","code": code})).await;
    let reply = recv_until(&mut c.ws, |m| {
        matches!(
            m,
            ServerMessage::RoomJoined { .. } | ServerMessage::Error { .. }
        )
    })
    .await;
    error_code(&reply)
}

/// A code that is surely not `code`: another secret half.
fn wrong_code(code: &str, n: usize) -> String {
    let alphabet = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut candidate;
    let mut k = n;
    loop {
        candidate = code[..3].to_string();
        for i in 0..3 {
            candidate.push(alphabet[(k / alphabet.len().pow(i)) % alphabet.len()] as char);
        }
        if candidate != code {
            return candidate;
        }
        k += 1000;
    }
}

#[tokio::test]
async fn guesses_are_budgeted_per_address_across_reconnects() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    // Keep rooms open so that only the address budget is tested here.
    cfg.hub.wrong_guesses_per_room = u32::MAX;
    let addr = start(cfg).await;
    let mut owner = connect_with(addr, "", Some("203.0.113.1")).await;
    let code = create_room(&mut owner).await;

    let budget = cfg_budget();
    let mut refused_at = None;
    for attempt in 0..budget + 5 {
        // A new connection for every guess, as a guessing script would do.
        let mut guesser = connect_with(addr, "", Some("198.51.100.7")).await;
        let err = try_join(&mut guesser, &wrong_code(&code, attempt as usize)).await;
        match err.as_deref() {
            Some("room-not-found") => {}
            Some("rate-limited") => {
                refused_at = Some(attempt);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused_at, Some(budget), "the budget is the burst");
    // Even the right code is refused now: the answer must not tell a throttled guesser anything.
    let mut guesser = connect_with(addr, "", Some("198.51.100.7")).await;
    assert_eq!(
        try_join(&mut guesser, &code).await.as_deref(),
        Some("rate-limited")
    );
    // Someone on another network is not affected.
    let mut friend = connect_with(addr, "", Some("192.0.2.44")).await;
    assert_eq!(try_join(&mut friend, &code).await, None);
}

fn cfg_budget() -> u32 {
    ferry_server::address_limits::AddressQuotas::default()
        .room_joins
        .burst
}

#[tokio::test]
async fn wrong_codes_against_a_room_close_it_to_newcomers() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let limit = cfg.hub.wrong_guesses_per_room;
    let addr = start(cfg).await;
    let mut owner = connect_with(addr, "", Some("203.0.113.1")).await;
    let code = create_room(&mut owner).await;

    // Someone who saw the first half tries secrets, each from a different address.
    for n in 0..limit {
        let xff = format!("198.51.100.{}", n + 1);
        let mut g = connect_with(addr, "", Some(&xff)).await;
        assert_eq!(
            try_join(&mut g, &wrong_code(&code, n as usize))
                .await
                .as_deref(),
            Some("room-not-found")
        );
    }
    // The owner is told, and the right code no longer lets a newcomer in.
    let notice = recv_until(&mut owner.ws, |m| matches!(m, ServerMessage::Error { .. })).await;
    assert_eq!(error_code(&notice).as_deref(), Some("limit"));
    let mut late = connect_with(addr, "", Some("192.0.2.9")).await;
    assert_eq!(
        try_join(&mut late, &code).await.as_deref(),
        Some("room-not-found")
    );
}
