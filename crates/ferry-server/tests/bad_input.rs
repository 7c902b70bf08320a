//! Hostile and broken clients get clear errors and never affect anyone else.

mod common;

use common::*;
use ferry_protocol::signaling::ServerMessage;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_messages_get_bad_message_and_the_connection_survives() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let cases = [
        "not json",
        "{",
        "[]",
        "null",
        r#"{"no":"type"}"#,
        r#"{"type":"teleport"}"#,
        r#"{"type":"join-room"}"#,
        r#"{"type":"join-room","code":42}"#,
        r#"{"type":"signal","to":"x"}"#,
        r#"{"type":"signal","to":"x","signal":{"kind":"description","sdpType":"bogus","sdp":""}}"#,
        r#"{"type":"signal","to":"x","signal":{"kind":"warp"}}"#,
        "\u{0}\u{1}\u{2}",
    ];
    for case in cases {
        send_text(&mut a.ws, case).await;
        let msg = recv(&mut a.ws).await;
        assert_eq!(
            error_code(&msg).as_deref(),
            Some("bad-message"),
            "{case:?} -> {msg:?}"
        );
        if let ServerMessage::Error { message, .. } = msg {
            assert!(!message.is_empty());
        }
    }
    send_json(&mut a.ws, json!({"type":"set-name","name":"   "})).await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("invalid-value")
    );
    a.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("unsupported")
    );
    // Still fully functional.
    send_json(&mut a.ws, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut a.ws).await, ServerMessage::Pong);
}

#[tokio::test]
async fn oversize_messages_are_refused_and_huge_frames_close() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    recv(&mut a.ws).await;

    let big = json!({"type":"set-name","name": "x".repeat(70 * 1024)}).to_string();
    send_text(&mut a.ws, &big).await;
    assert_eq!(
        error_code(&recv(&mut a.ws).await).as_deref(),
        Some("too-large")
    );
    send_json(&mut a.ws, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut a.ws).await, ServerMessage::Pong);

    // Over the hard frame limit: the server closes this connection (1009), others are untouched.
    let huge = "y".repeat(2 * 1024 * 1024);
    let _ = a.ws.send(Message::Text(huge.into())).await;
    assert_eq!(close_code(&mut a.ws).await, Some(1009));
    assert!(
        matches!(recv(&mut b.ws).await, ServerMessage::PeerLeft { peer_id, .. } if peer_id == a.id)
    );
    send_json(&mut b.ws, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut b.ws).await, ServerMessage::Pong);
}

#[tokio::test]
async fn floods_are_rate_limited_then_closed_without_hurting_others() {
    let mut cfg = loopback_config();
    // One token a second: the 15 pings below would have to take 5 s to all get through, so a
    // slow machine does not change the outcome.
    cfg.messages_per_second = 1;
    cfg.message_burst = 10;
    let addr = start(cfg).await;
    let mut flooder = connect(addr).await;
    let mut victim = connect(addr).await;
    recv(&mut flooder.ws).await;

    // A burst a little over the limit: some pings dropped, one rate-limited warning.
    for _ in 0..15 {
        send_json(&mut flooder.ws, json!({"type":"ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while let Ok(msg) = tokio::time::timeout(Duration::from_secs(1), recv(&mut flooder.ws)).await {
        match msg {
            ServerMessage::Pong => pongs += 1,
            m if error_code(&m).as_deref() == Some("rate-limited") => limited += 1,
            m => panic!("unexpected {m:?}"),
        }
    }
    assert!((10..15).contains(&pongs), "pongs {pongs} limited {limited}");
    assert_eq!(limited, 1);

    // A sustained flood gets the connection closed with 1008.
    let mut close_code = None;
    for _ in 0..2000 {
        if flooder
            .ws
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, flooder.ws.next()).await {
        match frame {
            Ok(Message::Close(Some(f))) => {
                close_code = Some(u16::from(f.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(close_code, Some(1008));

    // The victim saw the flooder leave and still works.
    let left = recv_until(&mut victim.ws, |m| {
        matches!(m, ServerMessage::PeerLeft { .. })
    })
    .await;
    assert!(matches!(left, ServerMessage::PeerLeft { peer_id, .. } if peer_id == flooder.id));
    send_json(&mut victim.ws, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut victim.ws).await, ServerMessage::Pong);
}

/// The close code the server ends the connection with (`None`: no close frame).
async fn close_code(ws: &mut common::Ws) -> Option<u16> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(cf))) => return cf.map(|c| u16::from(c.code)),
                None | Some(Err(_)) => return None,
                _ => continue,
            }
        }
    })
    .await
    .expect("the connection was not closed")
}

#[tokio::test]
async fn broken_frames_close_with_the_documented_codes() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let addr = start(loopback_config()).await;
    let mut bad_utf8 = connect(addr).await;
    let frame = Frame::message(vec![0xff, 0xfe, 0x80], OpCode::Data(Data::Text), true);
    let _ = bad_utf8.ws.send(Message::Frame(frame)).await;
    assert_eq!(close_code(&mut bad_utf8.ws).await, Some(1007));

    let mut bad_opcode = connect(addr).await;
    let frame = Frame::message(vec![1, 2, 3], OpCode::Data(Data::Reserved(3)), true);
    let _ = bad_opcode.ws.send(Message::Frame(frame)).await;
    assert_eq!(close_code(&mut bad_opcode.ws).await, Some(1002));

    let mut fine = connect(addr).await;
    send_json(&mut fine.ws, json!({"type":"ping"})).await;
    loop {
        if recv(&mut fine.ws).await == ServerMessage::Pong {
            break;
        }
    }
}

#[tokio::test]
async fn names_without_a_visible_character_are_refused() {
    let addr = start(loopback_config()).await;
    let mut a = connect(addr).await;
    for name in [
        "\u{200b}\u{200b}",
        "\u{202e}\u{202d}",
        "\u{feff} \u{2066}",
        "\u{00ad}",
    ] {
        send_json(&mut a.ws, json!({"type":"set-name","name": name})).await;
        assert_eq!(
            error_code(&recv(&mut a.ws).await).as_deref(),
            Some("invalid-value"),
            "{name:?}"
        );
    }
    // Invisible characters inside a real name are removed, not kept.
    send_json(
        &mut a.ws,
        json!({"type":"set-name","name": "Ki\u{200b}tchen \u{202e}laptop"}),
    )
    .await;
    match recv(&mut a.ws).await {
        ServerMessage::PeerUpdated { peer } => assert_eq!(peer.name, "Kitchen laptop"),
        other => panic!("{other:?}"),
    }
}
