//! The relay pipe against the real server: two signaling clients set up an encrypted relay
//! session, messages round trip in order, a slow reader holds back the sender, tampered or
//! replayed frames close the pipe, and what the server forwards is never the plaintext.

mod common;

use common::start_server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_protocol::relay_crypto::{RelayKeyPair, RelayPayload};
use ferry_protocol::signaling::{ClientMessage, ServerMessage, Signal};
use ferry_transport::relay::{RelayInvite, RelayLink, open_relay, relay_url};
use ferry_transport::{Message, MessagePipe, SignalingClient};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const WAIT: Duration = Duration::from_secs(10);
const MARKER: &[u8] = b"FERRY-PLAINTEXT-MARKER-7f3a";

async fn client(addr: SocketAddr) -> SignalingClient {
    SignalingClient::connect(&format!("http://{addr}"))
        .await
        .expect("signaling")
}

/// A TCP proxy in front of the server that records every byte the server sends to the client.
/// Server-to-client WebSocket frames are unmasked, so this is exactly what the server forwards.
async fn recording_proxy(server: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let up = TcpStream::connect(server).await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let (mut down_r, mut down_w) = down.into_split();
                let (mut up_r, mut up_w) = up.into_split();
                let to_server = async {
                    let _ = tokio::io::copy(&mut down_r, &mut up_w).await;
                    let _ = up_w.shutdown().await;
                };
                let to_client = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match up_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if down_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = down_w.shutdown().await;
                };
                tokio::join!(to_server, to_client);
            });
        }
    });
    (addr, seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Both sides ask for the relay at once (as both do when ICE times out on both).
async fn pair(a: &mut SignalingClient, b: &mut SignalingClient) -> (RelayLink, RelayLink) {
    let (a_id, b_id) = (a.me.id.clone(), b.me.id.clone());
    let (la, lb) = tokio::join!(
        open_relay(a, &b_id, None, WAIT),
        open_relay(b, &a_id, None, WAIT)
    );
    (la.expect("relay a"), lb.expect("relay b"))
}

async fn recv(pipe: &impl MessagePipe) -> Message {
    tokio::time::timeout(WAIT, pipe.recv())
        .await
        .expect("timed out")
        .expect("pipe closed")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test]
async fn messages_round_trip_both_ways_with_full_size_frames() {
    let addr = start_server().await;
    let (mut a, mut b) = (client(addr).await, client(addr).await);
    let (la, lb) = pair(&mut a, &mut b).await;
    assert_eq!(la.relay_id, lb.relay_id);
    assert_eq!(la.security_code, lb.security_code);
    assert_eq!(la.security_code.len(), 7, "{}", la.security_code);

    let max = la.pipe.max_message_size();
    assert_eq!(max, 256 * 1024);
    let big = pattern(max, 1);
    la.pipe
        .send(Message::Text(r#"{"type":"hello","version":1}"#.into()))
        .await
        .unwrap();
    la.pipe.send(Message::Binary(big.clone())).await.unwrap();
    la.pipe.send(Message::Binary(Vec::new())).await.unwrap();
    assert!(matches!(
        la.pipe.send(Message::Binary(vec![0; max + 1])).await,
        Err(ferry_transport::PipeError::TooLarge(_))
    ));
    assert_eq!(
        recv(&lb.pipe).await,
        Message::Text(r#"{"type":"hello","version":1}"#.into())
    );
    assert_eq!(recv(&lb.pipe).await, Message::Binary(big));
    assert_eq!(recv(&lb.pipe).await, Message::Binary(Vec::new()));

    lb.pipe
        .send(Message::Text("héllo 👋".into()))
        .await
        .unwrap();
    assert_eq!(recv(&la.pipe).await, Message::Text("héllo 👋".into()));

    // Closing one side ends the other: it sees the end of the pipe and why.
    la.pipe.close().await;
    assert_eq!(
        tokio::time::timeout(WAIT, lb.pipe.recv()).await.unwrap(),
        None
    );
    let why = lb.pipe.close_reason().unwrap();
    assert!(why.contains("left"), "{why}");
    assert!(lb.pipe.send(Message::Text("x".into())).await.is_err());
}

#[tokio::test]
async fn the_peer_joins_a_session_it_was_invited_to() {
    let addr = start_server().await;
    let (mut a, mut b) = (client(addr).await, client(addr).await);
    let (a_id, b_id) = (a.me.id.clone(), b.me.id.clone());
    let opener = tokio::spawn(async move {
        let link = open_relay(&mut a, &b_id, None, WAIT).await;
        (a, link)
    });
    // B sees the `relay-ready` (as an ICE attempt would) and joins with it.
    let invite = loop {
        let msg = tokio::time::timeout(WAIT, b.recv()).await.unwrap().unwrap();
        if let Some(i) = RelayInvite::from_message(&msg, &a_id) {
            break i;
        }
    };
    let lb = open_relay(&mut b, &a_id, Some(invite), WAIT).await.unwrap();
    let (_a, la) = opener.await.unwrap();
    let la = la.unwrap();
    assert_eq!(la.security_code, lb.security_code);
    lb.pipe.send(Message::Binary(vec![7; 1000])).await.unwrap();
    assert_eq!(recv(&la.pipe).await, Message::Binary(vec![7; 1000]));
}

#[tokio::test]
async fn a_slow_reader_holds_back_the_sender() {
    let addr = start_server().await;
    let (mut a, mut b) = (client(addr).await, client(addr).await);
    let (la, lb) = pair(&mut a, &mut b).await;
    let frame = 256 * 1024;
    let total = 400; // 100 MiB offered
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let sender = tokio::spawn(async move {
        for i in 0..total {
            let mut m = vec![0u8; frame];
            m[..4].copy_from_slice(&(i as u32).to_be_bytes());
            la.pipe.send(Message::Binary(m)).await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        la
    });
    // Nobody reads on B: the sender must stall with a bounded amount in flight (queues plus
    // socket buffers), far below what it offered. Wait for it to start, then watch it until it
    // has made no progress for a second (at most WAIT). The watch decides nothing: a sender
    // that is not held back gets past half of what it offers whenever it is looked at.
    let frames = || sent.load(std::sync::atomic::Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + WAIT;
    while frames() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sender never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut last, mut quiet) = (frames(), 0);
    while quiet < 10 && tokio::time::Instant::now() < deadline && last < total / 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = frames();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    let in_flight = frames();
    assert!(
        in_flight < total / 2,
        "sender was not held back: {in_flight} of {total} frames accepted"
    );
    assert!(in_flight > 0);
    eprintln!("in flight while the reader sleeps: {in_flight} frames");
    // Reading resumes the flow; everything arrives, in order.
    for i in 0..total {
        match recv(&lb.pipe).await {
            Message::Binary(m) => {
                assert_eq!(m.len(), frame);
                assert_eq!(u32::from_be_bytes(m[..4].try_into().unwrap()), i as u32);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let _la = tokio::time::timeout(WAIT, sender).await.unwrap().unwrap();
}

/// Sets up B as a normal relay peer while A is played by hand with a raw WebSocket, so the
/// test can send frames a real peer never would.
async fn raw_a_and_pipe_b(
    addr: SocketAddr,
    b_server: SocketAddr,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ferry_protocol::relay_crypto::RelaySession,
    RelayLink,
) {
    let mut a = client(addr).await;
    let mut b = client(b_server).await;
    let (a_id, b_id) = (a.me.id.clone(), b.me.id.clone());
    let joiner = tokio::spawn(async move {
        let link = open_relay(&mut b, &a_id, None, WAIT).await;
        (b, link)
    });
    a.send(&ClientMessage::RelayOpen { to: b_id.clone() })
        .await
        .unwrap();
    let relay_id = loop {
        if let ServerMessage::RelayReady { relay_id, .. } = a.recv().await.unwrap() {
            break relay_id;
        }
    };
    let keys = RelayKeyPair::generate();
    a.send_signal(
        &b_id,
        Signal::App {
            payload: serde_json::json!({"type":"relay-key","relayId":relay_id,"publicKey":keys.public_key()}),
        },
    )
    .await
    .unwrap();
    let b_key = loop {
        if let ServerMessage::Signal {
            signal: Signal::App { payload },
            ..
        } = a.recv().await.unwrap()
            && payload["type"] == "relay-key"
        {
            break payload["publicKey"].as_str().unwrap().to_string();
        }
    };
    let session = keys.agree(&relay_id, &a.me.id, &b_id, &b_key).unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(relay_url(&a.http_base, &relay_id, &a.token))
            .await
            .unwrap();
    match ws.next().await.unwrap().unwrap() {
        WsMessage::Text(t) => assert_eq!(t.as_str(), r#"{"type":"paired"}"#),
        other => panic!("{other:?}"),
    }
    let (b, lb) = joiner.await.unwrap();
    std::mem::forget(b); // keep B's signaling connection open for the test's lifetime
    (ws, session, lb.unwrap())
}

#[tokio::test]
async fn altered_and_replayed_frames_close_the_pipe() {
    let addr = start_server().await;
    let (mut ws, mut sa, lb) = raw_a_and_pipe_b(addr, addr).await;
    let good = sa.seal(&RelayPayload::Binary(b"first".to_vec()));
    ws.send(WsMessage::Binary(good.clone().into()))
        .await
        .unwrap();
    assert_eq!(recv(&lb.pipe).await, Message::Binary(b"first".to_vec()));
    // Replaying the same frame: it does not decrypt as message 1.
    ws.send(WsMessage::Binary(good.into())).await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, lb.pipe.recv()).await.unwrap(),
        None
    );
    let why = lb.pipe.close_reason().unwrap();
    assert!(why.contains("failed to decrypt"), "{why}");
    // B closed the relay, so A is told the other peer left.
    let closed = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(WsMessage::Close(f))) => break f.map(|f| f.reason.to_string()),
            Some(Ok(_)) => continue,
            _ => break None,
        }
    };
    assert!(closed.is_some_and(|r| r.contains("left")));

    // A single flipped bit fails just the same.
    let (mut ws, mut sa, lb) = raw_a_and_pipe_b(addr, addr).await;
    let mut bad = sa.seal(&RelayPayload::Text("hello".into()));
    bad[0] ^= 1;
    ws.send(WsMessage::Binary(bad.into())).await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, lb.pipe.recv()).await.unwrap(),
        None
    );
    assert!(
        lb.pipe
            .close_reason()
            .unwrap()
            .contains("failed to decrypt")
    );
}

#[tokio::test]
async fn the_server_forwards_ciphertext_never_the_plaintext() {
    let addr = start_server().await;
    let (proxy, seen) = recording_proxy(addr).await;

    // Control: a frame sent unencrypted through the same relay and proxy shows the marker, so
    // the check below can fail.
    let (mut ws, _sa, _lb) = raw_a_and_pipe_b(addr, proxy).await;
    let mut plain = b"control: ".to_vec();
    plain.extend_from_slice(MARKER);
    ws.send(WsMessage::Binary(plain.into())).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !contains(&seen.lock().unwrap(), MARKER) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the proxy never saw the control frame"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(ws);

    // The real pipe: B's signaling and relay go through the proxy.
    seen.lock().unwrap().clear();
    let mut a = client(addr).await;
    let mut b = client(proxy).await;
    let (la, lb) = pair(&mut a, &mut b).await;
    let mut text = String::from("a message with ");
    text.push_str(std::str::from_utf8(MARKER).unwrap());
    let mut data = pattern(200_000, 3);
    data[100_000..100_000 + MARKER.len()].copy_from_slice(MARKER);
    la.pipe.send(Message::Text(text.clone())).await.unwrap();
    la.pipe.send(Message::Binary(data.clone())).await.unwrap();
    assert_eq!(recv(&lb.pipe).await, Message::Text(text));
    assert_eq!(recv(&lb.pipe).await, Message::Binary(data));
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() > 200_000,
        "the proxy saw only {} bytes",
        seen.len()
    );
    assert!(
        !contains(&seen, MARKER),
        "the plaintext marker crossed the server"
    );
}
