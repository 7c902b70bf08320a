//! `ferry serve` answers STUN Binding requests on its TURN port and tells peers where to find it.

mod turn_support;

use std::sync::Arc;

use tokio::net::UdpSocket;
use turn::client::{Client, ClientConfig};
use turn_support::*;

#[tokio::test]
async fn binding_request_returns_the_mapped_address() {
    let srv = start(options()).await;
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let local = sock.local_addr().unwrap();
    // STUN needs no credentials: a client with none must still get its reflexive address.
    let client = Client::new(ClientConfig {
        stun_serv_addr: srv.turn.to_string(),
        turn_serv_addr: String::new(),
        username: String::new(),
        password: String::new(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn: sock,
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    let mapped = tokio::time::timeout(WAIT, client.send_binding_request())
        .await
        .expect("answer in time")
        .expect("binding success");
    assert_eq!(mapped, local);
    client.close().await.unwrap();
}

#[tokio::test]
async fn welcome_lists_stun_and_turn_with_per_peer_credentials() {
    let srv = start(options()).await;
    let servers = welcome_ice_servers(srv.http).await;
    let turn = servers
        .iter()
        .find(|s| s.username.is_some())
        .expect("TURN entry");
    let port = srv.turn.port();
    assert_eq!(
        turn.urls,
        [
            format!("stun:127.0.0.1:{port}"),
            format!("turn:127.0.0.1:{port}?transport=udp")
        ]
    );
    let user = turn.username.as_deref().unwrap();
    let (expiry, peer) = user.split_once(':').expect("coturn REST username");
    let expiry: u64 = expiry.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry > now + 11 * 3600 && expiry <= now + 12 * 3600 + 5,
        "{expiry} vs {now}"
    );
    assert!(!peer.is_empty());
    // Independently recomputed with the shared secret, exactly as coturn would.
    let expected = ferry_turn::RestCredentials::new(SECRET).password_for(user);
    assert_eq!(turn.credential.as_deref(), Some(expected.as_str()));

    let other = welcome_ice_servers(srv.http).await;
    let other_user = other.iter().find_map(|s| s.username.clone()).unwrap();
    assert_ne!(other_user, user, "each peer gets its own username");
}
