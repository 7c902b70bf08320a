//! Clients that vanish without closing are noticed by heartbeat and removed.

mod common;

use common::*;
use ferry_protocol::signaling::ServerMessage;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_heartbeat_timeout() {
    let mut cfg = loopback_config();
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.heartbeat_timeout = Duration::from_millis(600);
    let addr = start(cfg).await;
    let mut watcher = connect(addr).await;

    // Taken before the silent client exists, so the server's own "last seen" of it is later:
    // however slowly this machine runs, a correct server cannot drop it before `started` plus
    // the timeout.
    let started = Instant::now();
    // A raw TCP client that completes the WebSocket handshake and then goes silent: it never
    // answers pings and never closes, like a phone that lost its network.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));

    let joined = recv(&mut watcher.ws).await;
    let ServerMessage::PeerJoined { peer, .. } = joined else {
        panic!("{joined:?}")
    };
    let left = recv_until(&mut watcher.ws, |m| {
        matches!(m, ServerMessage::PeerLeft { .. })
    })
    .await;
    assert!(matches!(left, ServerMessage::PeerLeft { peer_id, .. } if peer_id == peer.id));
    // Dropped by the heartbeat, not before the timeout.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    drop(tcp);
}

#[tokio::test]
async fn an_answering_client_is_kept_alive() {
    let mut cfg = loopback_config();
    // Pinged 10 times a second, but only dropped after 2 s without an answer: a loaded machine
    // may stall this process for a moment, and a stall is not a dead client. Watched for 3 s,
    // longer than the timeout, so a server that ignored the answers would drop them.
    cfg.heartbeat_interval = Duration::from_millis(100);
    cfg.heartbeat_timeout = Duration::from_secs(2);
    let addr = start(cfg).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    recv(&mut a.ws).await;
    // b keeps reading (tungstenite answers pings while polled) for well over the timeout.
    let keep_b = tokio::spawn(async move {
        assert_silent(&mut b.ws, Duration::from_secs(3)).await;
        b
    });
    assert_silent(&mut a.ws, Duration::from_secs(3)).await;
    let _b = keep_b.await.unwrap();
}
