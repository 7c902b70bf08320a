//! Hostile TURN/STUN clients: allocation quotas per credential and per source (486), bounded
//! nonces under a flood of unauthenticated Allocates, a per-source STUN rate limit that keeps a
//! canary on another address answered during a Binding flood, and 401 (not 400) for bad
//! credentials. Real clients (webrtc-rs `turn`) and hand-built STUN on loopback sockets.

mod turn_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferry_turn::TurnLimits;
use stun::agent::TransactionId;
use stun::attributes::{ATTR_NONCE, ATTR_REALM};
use stun::error_code::ErrorCodeAttribute;
use stun::integrity::MessageIntegrity;
use stun::message::{
    BINDING_REQUEST, CLASS_REQUEST, Getter, METHOD_ALLOCATE, Message, MessageType, Setter,
};
use stun::textattrs::{Nonce, Realm, TextAttribute, Username};
use tokio::net::UdpSocket;
use turn::proto::reqtrans::RequestedTransport;
use turn_support::*;

/// The two flood tests measure loss and latency: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn with_limits(limits: TurnLimits) -> ferry_server::turn::TurnOptions {
    ferry_server::turn::TurnOptions {
        limits,
        ..options()
    }
}

async fn allocate(from: &str, turn: SocketAddr, user: &str, pass: &str) -> Result<(), String> {
    let c = client_from(from, turn, user, pass).await;
    let r = tokio::time::timeout(WAIT, c.allocate())
        .await
        .map_err(|_| "timed out".to_string())?
        .map(|_relay| ())
        .map_err(|e| e.to_string());
    // Keep the allocation: the client is leaked on purpose until the test ends (closing it
    // would delete the allocation and free the quota).
    std::mem::forget(c);
    r
}

#[tokio::test]
async fn allocations_are_limited_per_credential_and_per_source() {
    let srv = start(with_limits(TurnLimits {
        allocations_per_user: 3,
        allocations_per_source: 5,
        ..TurnLimits::default()
    }))
    .await;
    let stats = || srv.state.ice.turn_stats().expect("embedded TURN");
    let (u, p) = turn_credentials(srv.http).await;
    for i in 0..3 {
        allocate("127.0.0.1", srv.turn, &u, &p)
            .await
            .unwrap_or_else(|e| panic!("allocation {i}: {e}"));
    }
    // The credential every anonymous welcome hands out allowed 2,000 in ~2 s before.
    let err = allocate("127.0.0.1", srv.turn, &u, &p)
        .await
        .expect_err("a 4th allocation of one credential");
    assert!(err.contains("486"), "{err}");
    assert_eq!(stats().quota_refusals, 1);

    // Other credentials from the same source: 2 more fit the source's 5.
    for _ in 0..2 {
        let (u2, p2) = turn_credentials(srv.http).await;
        allocate("127.0.0.1", srv.turn, &u2, &p2).await.unwrap();
    }
    let (u3, p3) = turn_credentials(srv.http).await;
    let err = allocate("127.0.0.1", srv.turn, &u3, &p3)
        .await
        .expect_err("a 6th allocation from one source");
    assert!(err.contains("486"), "{err}");
    // The same credential from another source is fine.
    allocate("127.0.0.2", srv.turn, &u3, &p3).await.unwrap();
    assert_eq!(stats().allocations, 6);
}

fn unauthenticated_allocate() -> Vec<u8> {
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(TransactionId::new()),
        Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
        Box::new(RequestedTransport {
            protocol: turn::proto::PROTO_UDP,
        }),
    ];
    m.build(&setters).unwrap();
    m.raw
}

fn binding_request() -> Vec<u8> {
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> =
        vec![Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)];
    m.build(&setters).unwrap();
    m.raw
}

#[tokio::test]
async fn nonces_stay_bounded_under_a_flood_of_unauthenticated_allocates() {
    let _serial = SERIAL.lock().await;
    // No rate limit here, so that every request reaches the nonce table.
    let srv = start(with_limits(TurnLimits {
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        max_nonces: 2_000,
        ..TurnLimits::default()
    }))
    .await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let request = unauthenticated_allocate();
    let mut answers = 0usize;
    let mut buf = [0u8; 1500];
    let started = Instant::now();
    // 20,000 requests, 50 in flight: bounded in count and (asserted) time.
    for round in 0..400 {
        for _ in 0..50 {
            sock.send_to(&request, srv.turn).await.unwrap();
        }
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(20), sock.recv_from(&mut buf)).await
        {
            answers += 1;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "round {round}");
    }
    let stats = srv.state.ice.turn_stats().unwrap();
    println!("20,000 unauthenticated Allocates: {answers} answered, {stats:?}");
    assert!(answers > 10_000, "{answers}");
    assert!(stats.nonces <= 2_001, "{stats:?}");
}

/// Floods Bindings from 127.0.0.1 (one thread, as fast as it can, 4 s at most) while a canary
/// on 127.0.0.2 runs 45 Binding transactions 50 ms apart, each retransmitted every 200 ms up to
/// 7 sends as a STUN client does (RFC 8489 §6.2.1: UDP loses datagrams, and under a flood the
/// kernel drops some before the server reads them). Returns (flood sent, canary transactions
/// that failed, retransmissions, median RTT from the first send).
async fn binding_flood_with_canary(turn: SocketAddr) -> (u64, usize, usize, Duration) {
    let flood = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let request = binding_request();
        let until = Instant::now() + Duration::from_secs(4);
        let mut sent = 0u64;
        while Instant::now() < until && sent < 2_000_000 {
            if sock.send_to(&request, turn).is_ok() {
                sent += 1;
            }
        }
        sent
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let canary = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let mut lost = 0;
    let mut retransmits = 0;
    let mut rtts = Vec::new();
    let mut buf = [0u8; 1500];
    for _ in 0..45 {
        let request = binding_request();
        let t = Instant::now();
        let mut answered = false;
        for send in 0..7 {
            if send > 0 {
                retransmits += 1;
            }
            canary.send_to(&request, turn).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
            while let Ok(Ok((n, _))) =
                tokio::time::timeout_at(deadline, canary.recv_from(&mut buf)).await
            {
                // Anything else is a late answer to an earlier request.
                if n >= 20 && buf[8..20] == request[8..20] {
                    answered = true;
                    break;
                }
            }
            if answered {
                rtts.push(t.elapsed());
                break;
            }
        }
        if !answered {
            lost += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = flood.join().unwrap();
    rtts.sort();
    let median = rtts.get(rtts.len() / 2).copied().unwrap_or_default();
    (sent, lost, retransmits, median)
}

// Multi-threaded like `ferry serve`: on one thread the canary's own task would wait for the
// server's read loop to use up its cooperative budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_flood_from_one_source_leaves_a_canary_on_another_answered() {
    let _serial = SERIAL.lock().await;
    let srv = start(options()).await;
    let (sent, lost, retransmits, median) = binding_flood_with_canary(srv.turn).await;
    let stats = srv.state.ice.turn_stats().unwrap();
    println!(
        "limited: flood sent {sent} Bindings in 4 s; canary: {lost}/45 transactions failed, {retransmits} retransmissions, median RTT {median:?}; {stats:?}"
    );
    assert!(stats.stun_rate_limited > 0);
    // The promise is that the canary's transactions complete, as a STUN client's do, with its
    // retransmissions; RTT and retransmissions are benchmark figures (printed above), not
    // pass/fail lines. CI once lost 3 of 45 single sends under the flood on a loaded machine.
    assert_eq!(
        lost, 0,
        "{lost} of 45 canary transactions failed after 7 sends each"
    );
}

/// The same flood with the limit lifted: what the server did before (numbers for the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_flood_without_the_rate_limit() {
    let _serial = SERIAL.lock().await;
    let srv = start(with_limits(TurnLimits {
        requests_per_second: 10_000_000,
        request_burst: 10_000_000,
        ..TurnLimits::default()
    }))
    .await;
    let (sent, lost, retransmits, median) = binding_flood_with_canary(srv.turn).await;
    println!(
        "unlimited: flood sent {sent} Bindings in 4 s; canary: {lost}/45 transactions failed, {retransmits} retransmissions, median RTT {median:?}"
    );
}

fn error_code(raw: &[u8]) -> (u16, Option<String>, Option<String>) {
    let mut m = Message {
        raw: raw.to_vec(),
        ..Default::default()
    };
    m.decode().unwrap();
    let mut code = ErrorCodeAttribute::default();
    code.get_from(&m).unwrap();
    let text = |attr| {
        let mut t = TextAttribute::new(attr, String::new());
        t.get_from(&m).ok().map(|_| t.text)
    };
    (code.code.0, text(ATTR_NONCE), text(ATTR_REALM))
}

#[tokio::test]
async fn bad_credentials_get_401_with_a_fresh_nonce_and_realm() {
    let srv = start(options()).await;
    let (user, _) = turn_credentials(srv.http).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 1500];
    sock.send_to(&unauthenticated_allocate(), srv.turn)
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let (code, nonce, realm) = error_code(&buf[..n]);
    assert_eq!(code, 401);
    let (nonce, realm) = (nonce.unwrap(), realm.unwrap());

    for (name, username, password) in [
        (
            "wrong password",
            user.clone(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string(),
        ),
        (
            "unknown/forged user",
            "99999999999:mallory".to_string(),
            "x".to_string(),
        ),
    ] {
        let mut m = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(RequestedTransport {
                protocol: turn::proto::PROTO_UDP,
            }),
            Box::new(Username::new(
                stun::attributes::ATTR_USERNAME,
                username.clone(),
            )),
            Box::new(Realm::new(ATTR_REALM, realm.clone())),
            Box::new(Nonce::new(ATTR_NONCE, nonce.clone())),
            Box::new(MessageIntegrity::new_long_term_integrity(
                username,
                realm.clone(),
                password,
            )),
        ];
        m.build(&setters).unwrap();
        sock.send_to(&m.raw, srv.turn).await.unwrap();
        let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let (code, fresh, realm2) = error_code(&buf[..n]);
        // Before: 400 Bad Request without a nonce.
        assert_eq!(code, 401, "{name}");
        assert!(fresh.is_some_and(|f| f != nonce), "{name}: a fresh nonce");
        assert_eq!(realm2.as_deref(), Some("ferry"), "{name}");
    }
    assert_eq!(srv.state.ice.turn_stats().unwrap().auth_failures, 2);
}
