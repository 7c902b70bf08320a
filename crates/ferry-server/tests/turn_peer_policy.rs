//! TURN is not an open relay: by default a client cannot create permissions towards loopback,
//! private, link-local or unspecified addresses, and even when loopback is allowed (tests,
//! benchmarks) our own addresses are reachable only on relay ports.

mod turn_support;

use std::net::SocketAddr;
use std::time::Duration;

use ferry_server::turn::TurnOptions;
use tokio::net::UdpSocket;
use turn_support::*;
use webrtc_util::Conn;

#[tokio::test]
async fn internal_destinations_are_refused_by_default() {
    let srv = start(options()).await;
    let (u, p) = turn_credentials(srv.http).await;
    let c = client(srv.turn, &u, &p).await;
    let relay = tokio::time::timeout(WAIT, c.allocate())
        .await
        .unwrap()
        .expect("allocate");

    for target in [
        srv.http.to_string(),
        srv.turn.to_string(),
        "127.0.0.1:6379".into(),
        "10.0.0.1:80".into(),
        "172.16.5.4:80".into(),
        "192.168.1.1:53".into(),
        "169.254.169.254:80".into(),
        "100.64.0.1:80".into(),
        "0.0.0.0:9".into(),
    ] {
        let target: SocketAddr = target.parse().unwrap();
        let err = tokio::time::timeout(WAIT, relay.send_to(b"x", target))
            .await
            .expect("answer in time")
            .expect_err(&format!("permission to {target} must be refused"));
        assert!(err.to_string().contains("403"), "{target}: {err}");
    }
    // A public destination is allowed (nothing listens there; only the permission matters).
    tokio::time::timeout(WAIT, relay.send_to(b"x", "198.51.100.1:9".parse().unwrap()))
        .await
        .expect("answer in time")
        .expect("permission to a public address");
    c.close().await.unwrap();
}

#[tokio::test]
async fn own_address_is_reachable_only_on_relay_ports() {
    // A local service outside the relay range (think: a database on 127.0.0.1). The kernel picks
    // its port from the ephemeral range, so the relay range is chosen to miss it.
    let service = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let service_addr = service.local_addr().unwrap();
    let relay_ports = if service_addr.port() < 40000 {
        50000..=59999
    } else {
        20000..=29999
    };
    assert!(!relay_ports.contains(&service_addr.port()));
    let srv = start(TurnOptions {
        allow_loopback_peers: true,
        relay_ports,
        ..options()
    })
    .await;

    let (u, p) = turn_credentials(srv.http).await;
    let c = client(srv.turn, &u, &p).await;
    let relay = tokio::time::timeout(WAIT, c.allocate())
        .await
        .unwrap()
        .expect("allocate");
    for _ in 0..5 {
        // The permission is per IP, so it is granted; every datagram is dropped server-side.
        let _ = relay.send_to(b"reach the service?", service_addr).await;
    }
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_millis(700), service.recv_from(&mut buf)).await;
    assert!(
        got.is_err(),
        "relayed datagram reached a non-relay port: {got:?}"
    );
    c.close().await.unwrap();
}
