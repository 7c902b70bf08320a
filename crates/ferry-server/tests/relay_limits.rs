//! The WebSocket relay against hostile or unlucky peers: room mates opening sessions to a
//! victim, dropped sockets reconnecting, silent (half-open) peers, malformed frames, and the
//! per-address socket limit.

mod common;

use std::time::Duration;

use common::*;
use ferry_protocol::signaling::ServerMessage;
use ferry_server::ServerConfig;
use ferry_server::relay_ws::RelayLimits;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn relay_ready(c: &mut Client) -> String {
    match recv_until(&mut c.ws, |m| {
        matches!(
            m,
            ServerMessage::RelayReady { .. } | ServerMessage::Error { .. }
        )
    })
    .await
    {
        ServerMessage::RelayReady { relay_id, .. } => relay_id,
        other => panic!("expected relay-ready, got {other:?}"),
    }
}

async fn relay_connect(addr: std::net::SocketAddr, id: &str, token: &str) -> Result<Ws, u16> {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/relay/{id}?token={token}")).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// The next data or close frame (pings are answered by reading).
async fn next_frame(ws: &mut Ws) -> Option<Message> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            _ => return None,
        }
    }
}

async fn expect_close(ws: &mut Ws) -> (u16, String) {
    match next_frame(ws).await {
        Some(Message::Close(Some(f))) => (u16::from(f.code), f.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn paired(addr: std::net::SocketAddr, a: &mut Client, b: &mut Client) -> (Ws, Ws) {
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    let id = relay_ready(a).await;
    relay_ready(b).await;
    let mut ra = relay_connect(addr, &id, &a.token).await.unwrap();
    let mut rb = relay_connect(addr, &id, &b.token).await.unwrap();
    for r in [&mut ra, &mut rb] {
        assert_eq!(
            next_frame(r).await,
            Some(Message::Text(r#"{"type":"paired"}"#.into()))
        );
    }
    (ra, rb)
}

fn config(limits: RelayLimits) -> ServerConfig {
    ServerConfig {
        relay: limits,
        ..loopback_config()
    }
}

#[tokio::test]
async fn room_mates_opening_sessions_to_a_peer_do_not_block_its_own() {
    let addr = start(loopback_config()).await;
    let mut victim = connect(addr).await;
    let mut friend = connect(addr).await;
    let mut mates = Vec::new();
    for _ in 0..8 {
        let mut mate = connect(addr).await;
        send_json(&mut mate.ws, json!({"type":"relay-open","to": victim.id})).await;
        relay_ready(&mut mate).await;
        mates.push(mate);
    }
    // Before: "too many pending relay sessions" — the 8 sessions mates opened counted
    // against the victim.
    send_json(&mut victim.ws, json!({"type":"relay-open","to": friend.id})).await;
    let id = match recv_until(&mut victim.ws, |m| {
        matches!(m, ServerMessage::RelayReady { peer_id, .. } if *peer_id == friend.id)
            || matches!(m, ServerMessage::Error { .. })
    })
    .await
    {
        ServerMessage::RelayReady { relay_id, .. } => relay_id,
        other => panic!("victim's own relay-open failed: {other:?}"),
    };
    assert_eq!(relay_ready(&mut friend).await, id);
    // The opener's own limit still holds: a mate cannot open more than 8.
    let mate = &mut mates[0];
    for _ in 0..7 {
        let mut other = connect(addr).await;
        send_json(&mut mate.ws, json!({"type":"relay-open","to": other.id})).await;
        relay_ready(mate).await;
        relay_ready(&mut other).await;
    }
    let other = connect(addr).await;
    send_json(&mut mate.ws, json!({"type":"relay-open","to": other.id})).await;
    let refused = recv_until(&mut mate.ws, |m| matches!(m, ServerMessage::Error { .. })).await;
    assert_eq!(error_code(&refused).as_deref(), Some("limit"));
}

#[tokio::test]
async fn a_dropped_relay_socket_reconnects_at_once() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    let id = relay_ready(&mut a).await;
    relay_ready(&mut b).await;

    // a connects, then its socket drops without a close handshake.
    let ra = relay_connect(addr, &id, &a.token).await.unwrap();
    drop(ra);
    // Before: 409 until the 30 s join timeout. Asking again gives the same session…
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    assert_eq!(relay_ready(&mut a).await, id);
    let stale = relay_connect(addr, &id, &a.token).await.unwrap();
    // … and a newer connection of the same peer replaces a still-open one (4409).
    let mut stale = stale;
    let mut ra = relay_connect(addr, &id, &a.token).await.unwrap();
    let (code, reason) = expect_close(&mut stale).await;
    assert_eq!(code, 4409, "{reason}");

    let mut rb = relay_connect(addr, &id, &b.token).await.unwrap();
    for r in [&mut ra, &mut rb] {
        assert_eq!(
            next_frame(r).await,
            Some(Message::Text(r#"{"type":"paired"}"#.into()))
        );
    }
    ra.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        next_frame(&mut rb).await,
        Some(Message::Binary(vec![1, 2, 3].into()))
    );
}

#[tokio::test]
async fn a_silent_peer_is_dropped_by_the_heartbeat() {
    let server = ferry_server::BoundServer::bind(config(RelayLimits {
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(800),
        ..RelayLimits::default()
    }))
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let relays = server.state().relays.clone();
    tokio::spawn(server.run());
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    let (mut ra, _rb) = paired(addr, &mut a, &mut b).await;
    // rb is never read again, so it never answers a ping: a half-open peer. ra keeps reading
    // (answering pings) and must be told within a few heartbeat intervals.
    let started = std::time::Instant::now();
    let (code, reason) = expect_close(&mut ra).await;
    assert_eq!(code, 1000);
    assert!(reason.contains("stopped responding"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(4));

    assert_eq!(relays.stats().heartbeat_timeouts, 1);
    assert_eq!(relays.stats().active_sessions, 0);

    // A waiting socket that goes silent is closed (4001) and frees its side too. (The client
    // cannot read that close frame: reading the pings queued before it makes it answer them
    // on a connection the server already closed.)
    let mut c = connect(addr).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": c.id})).await;
    let id = relay_ready(&mut a).await;
    relay_ready(&mut c).await;
    let _silent = relay_connect(addr, &id, &a.token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(relays.stats().heartbeat_timeouts, 2);
    assert_eq!(relays.stats().waiting_sockets, 0);
    let mut ra = relay_connect(addr, &id, &a.token).await.unwrap();
    let mut rc = relay_connect(addr, &id, &c.token).await.unwrap();
    for r in [&mut ra, &mut rc] {
        assert_eq!(
            next_frame(r).await,
            Some(Message::Text(r#"{"type":"paired"}"#.into()))
        );
    }
}

/// Writes one raw, masked client frame (mask key 0, so the payload goes as it is).
async fn raw_frame(ws: &mut Ws, first_byte: u8, payload: &[u8]) {
    let mut frame = vec![first_byte];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    let tcp = match ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp,
        _ => unreachable!("plain ws"),
    };
    // The peer may close before the whole oversize frame is written.
    let _ = tcp.write_all(&frame).await;
    let _ = tcp.flush().await;
}

#[tokio::test]
async fn bad_frames_close_with_the_rfc_6455_codes() {
    let addr = start(loopback_config()).await;
    let cases: [(u8, Vec<u8>, u16); 3] = [
        (0x82, vec![0; 600 * 1024], 1009), // binary frame over the 512 KiB limit
        (0x81, vec![0xff, 0xfe, 0xfd], 1007), // text frame that is not UTF-8
        (0x83, vec![], 1002),              // reserved opcode 3
    ];
    for (first, payload, want) in cases {
        let mut a = connect(addr).await;
        let mut b = connect(addr).await;
        let (mut ra, mut rb) = paired(addr, &mut a, &mut b).await;
        raw_frame(&mut ra, first, &payload).await;
        let (code, reason) = expect_close(&mut ra).await;
        assert_eq!(code, want, "opcode byte {first:#x}: {reason}");
        let (code, reason) = expect_close(&mut rb).await;
        assert_eq!(code, 1000, "{reason}");
    }
}

#[tokio::test]
async fn relay_sockets_are_limited_per_address() {
    let addr = start(config(RelayLimits {
        sockets_per_addr: 2,
        ..RelayLimits::default()
    }))
    .await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    let mut c = connect(addr).await;
    let (_ra, _rb) = paired(addr, &mut a, &mut b).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": c.id})).await;
    let id = relay_ready(&mut a).await;
    relay_ready(&mut c).await;
    assert_eq!(relay_connect(addr, &id, &a.token).await.err(), Some(429));
    let _ = CloseCode::Normal;
}
