//! TURN allocations need a valid, unexpired coturn-REST credential: expired, forged and
//! tampered ones are refused.

mod turn_support;

use std::time::{Duration, SystemTime};

use ferry_turn::RestCredentials;
use turn_support::*;

async fn allocation_result(
    turn: std::net::SocketAddr,
    user: &str,
    pass: &str,
) -> Result<(), String> {
    let c = client(turn, user, pass).await;
    let r = tokio::time::timeout(WAIT, c.allocate())
        .await
        .map_err(|_| "timed out".to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string());
    c.close().await.unwrap();
    r
}

#[tokio::test]
async fn valid_credential_from_welcome_allocates() {
    let srv = start(options()).await;
    let (u, p) = turn_credentials(srv.http).await;
    allocation_result(srv.turn, &u, &p)
        .await
        .expect("allocation with a fresh credential");
}

#[tokio::test]
async fn expired_credential_is_refused() {
    let srv = start(options()).await;
    let secret = RestCredentials::new(SECRET);
    // Correctly signed with the server's secret, but its expiry is a minute in the past.
    let c = secret.issue(
        "old-peer",
        Duration::from_secs(3600),
        SystemTime::now() - Duration::from_secs(3660),
    );
    let err = allocation_result(srv.turn, &c.username, &c.password)
        .await
        .expect_err("expired credential must be refused");
    assert!(!err.is_empty());
}

#[tokio::test]
async fn forged_and_tampered_credentials_are_refused() {
    let srv = start(options()).await;
    let (u, p) = turn_credentials(srv.http).await;

    let wrong_secret = RestCredentials::new("not-the-secret").issue(
        "mallory",
        Duration::from_secs(3600),
        SystemTime::now(),
    );
    allocation_result(srv.turn, &wrong_secret.username, &wrong_secret.password)
        .await
        .expect_err("credential signed with another secret");

    // A real password with a later expiry pasted into the username.
    let (_, peer) = u.split_once(':').unwrap();
    let extended = format!("99999999999:{peer}");
    allocation_result(srv.turn, &extended, &p)
        .await
        .expect_err("username with extended expiry");

    allocation_result(srv.turn, &u, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .await
        .expect_err("guessed password");

    allocation_result(srv.turn, &u, &p)
        .await
        .expect("the genuine one still works");
}
