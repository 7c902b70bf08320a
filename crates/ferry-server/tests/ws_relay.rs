//! The WebSocket relay: authorized by the hub for exactly two peers, forwards frames both ways
//! with backpressure, and tells each side when the other leaves.

mod common;

use common::*;
use ferry_protocol::signaling::ServerMessage;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn relay_ready(c: &mut Client) -> (String, String) {
    match recv_until(&mut c.ws, |m| matches!(m, ServerMessage::RelayReady { .. })).await {
        ServerMessage::RelayReady {
            relay_id,
            peer_id,
            expires_in_ms,
        } => {
            assert!(expires_in_ms > 0);
            (relay_id, peer_id)
        }
        _ => unreachable!(),
    }
}

async fn relay_connect(addr: std::net::SocketAddr, id: &str, token: &str) -> Result<Ws, u16> {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/relay/{id}?token={token}")).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn next_data(ws: &mut Ws) -> Message {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(m, Message::Text(_) | Message::Binary(_) | Message::Close(_)) {
            return m;
        }
    }
}

#[tokio::test]
async fn two_authorized_peers_are_paired_and_frames_flow_both_ways() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    let mut c = connect(addr).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    let (id_a, peer_for_a) = relay_ready(&mut a).await;
    let (id_b, peer_for_b) = relay_ready(&mut b).await;
    assert_eq!(id_a, id_b);
    assert_eq!((peer_for_a, peer_for_b), (b.id.clone(), a.id.clone()));
    // Asking again while pending gives the same session (both sides may ask at once).
    send_json(&mut b.ws, json!({"type":"relay-open","to": a.id})).await;
    assert_eq!(relay_ready(&mut b).await.0, id_a);

    // Outsiders are refused before any upgrade: no token, a forged one, a third peer.
    assert_eq!(relay_connect(addr, &id_a, "").await.err(), Some(401));
    assert_eq!(
        relay_connect(addr, &id_a, &format!("{}.00", a.id))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(relay_connect(addr, &id_a, &c.token).await.err(), Some(403));
    assert_eq!(relay_connect(addr, "nope", &a.token).await.err(), Some(404));

    let mut first = relay_connect(addr, &id_a, &a.token).await.unwrap();
    // The same peer twice: the newer connection replaces the older (a dropped network must not
    // lock a peer out of its own session), which is closed with 4409.
    let mut ra = relay_connect(addr, &id_a, &a.token).await.unwrap();
    match next_data(&mut first).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4409, "{f:?}"),
        other => panic!("{other:?}"),
    }
    let mut rb = relay_connect(addr, &id_a, &b.token).await.unwrap();
    for r in [&mut ra, &mut rb] {
        assert_eq!(
            next_data(r).await,
            Message::Text(r#"{"type":"paired"}"#.into())
        );
    }

    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ra.send(Message::Binary(blob.clone().into())).await.unwrap();
    ra.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(next_data(&mut rb).await, Message::Binary(blob.into()));
    assert_eq!(next_data(&mut rb).await, Message::Text("hello".into()));
    rb.send(Message::Binary(vec![9; 10].into())).await.unwrap();
    assert_eq!(
        next_data(&mut ra).await,
        Message::Binary(vec![9; 10].into())
    );

    // A peer leaving closes the other side with a reason.
    ra.close(None).await.unwrap();
    match next_data(&mut rb).await {
        Message::Close(Some(f)) => assert!(f.reason.contains("left"), "{f:?}"),
        other => panic!("{other:?}"),
    }
    // The session was one-shot.
    assert_eq!(relay_connect(addr, &id_a, &a.token).await.err(), Some(404));
    drop(c.ws.close(None).await);
}

#[tokio::test]
async fn relay_requires_a_shared_room() {
    let mut cfg = loopback_config();
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let addr = start(cfg).await;
    let mut a = connect_with(addr, "", Some("203.0.113.1")).await;
    let b = connect_with(addr, "", Some("198.51.100.1")).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("peer-not-found")
    );
}

#[tokio::test]
async fn a_reader_that_stops_reading_throttles_the_sender() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    send_json(&mut a.ws, json!({"type":"relay-open","to": b.id})).await;
    let (id, _) = relay_ready(&mut a).await;
    relay_ready(&mut b).await;
    let mut ra = relay_connect(addr, &id, &a.token).await.unwrap();
    let mut rb = relay_connect(addr, &id, &b.token).await.unwrap();
    next_data(&mut ra).await;
    next_data(&mut rb).await;

    // rb never reads. The sender must stall long before 256 MiB: the relay holds one frame per
    // direction, everything else is bounded by TCP buffers.
    let frame = vec![0x5a; 256 * 1024];
    let mut sent = 0usize;
    let limit = 256 * 1024 * 1024;
    loop {
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            ra.send(Message::Binary(frame.clone().into())),
        )
        .await;
        match r {
            Ok(Ok(())) => sent += frame.len(),
            Ok(Err(e)) => panic!("send failed: {e}"),
            Err(_) => break, // stalled: backpressure reached the sender
        }
        assert!(sent < limit, "sender never stalled");
    }
    assert!(sent < 64 * 1024 * 1024, "sent {sent} bytes before stalling");

    // Once the reader drains, everything arrives intact.
    let mut got = 0usize;
    let reader = tokio::spawn(async move {
        while got < sent {
            match next_data(&mut rb).await {
                Message::Binary(b) => {
                    assert!(b.iter().all(|x| *x == 0x5a));
                    got += b.len();
                }
                other => panic!("{other:?}"),
            }
        }
        got
    });
    assert!(reader.await.unwrap() >= sent);
}
