//! `ferry serve --no-turn --turn-url ... --turn-secret S` hands out credentials that a real
//! coturn (`use-auth-secret`, `static-auth-secret=S`) accepts, and that coturn refuses once the
//! secret differs: the REST scheme is the same on both sides.

mod turn_support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_server::turn::TurnOptions;
use turn_support::*;
use webrtc_util::Conn;

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_coturn(secret: &str) -> Option<(Coturn, SocketAddr)> {
    if Command::new("turnserver").arg("-h").output().is_err() {
        eprintln!(
            "\n*** SKIPPED: coturn is not installed (apt-get install coturn); CI installs it. ***\n"
        );
        return None;
    }
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let db = std::env::temp_dir().join(format!("ferry-coturn-{port}.db"));
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args([
            "--use-auth-secret",
            "--realm=ferry",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
        ])
        .args([
            "--no-tcp",
            "--min-port=53000",
            "--max-port=53999",
            "--allow-loopback-peers",
        ])
        .arg(format!("--static-auth-secret={secret}"))
        .arg(format!("--userdb={}", db.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn turnserver");
    Some((Coturn(child), SocketAddr::from(([127, 0, 0, 1], port))))
}

async fn allocate(turn: SocketAddr, user: &str, pass: &str) -> Result<SocketAddr, String> {
    // coturn may still be starting: retry a refused or unanswered first attempt briefly.
    let mut last = String::new();
    for _ in 0..10 {
        let c = client(turn, user, pass).await;
        match tokio::time::timeout(Duration::from_secs(2), c.allocate()).await {
            Ok(Ok(relay)) => {
                let addr = relay.local_addr().unwrap();
                c.close().await.unwrap();
                return Ok(addr);
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timeout".into(),
        }
        c.close().await.unwrap();
        if last.contains("error") {
            break; // an answer, not a startup race
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(last)
}

#[tokio::test]
async fn coturn_accepts_credentials_issued_by_ferry() {
    let secret = format!("shared-{}", rand::random::<u64>());
    let Some((_coturn, coturn_addr)) = start_coturn(&secret) else {
        return;
    };
    let url = format!("turn:{coturn_addr}?transport=udp");
    let srv = start(TurnOptions {
        secret: Some(secret.clone()),
        external_urls: vec![url.clone()],
        ..options()
    })
    .await;
    let servers = welcome_ice_servers(srv.http).await;
    let external = servers
        .iter()
        .find(|s| s.urls.contains(&url))
        .expect("external TURN URL in welcome");
    let (user, pass) = (
        external.username.clone().unwrap(),
        external.credential.clone().unwrap(),
    );
    let relay = allocate(coturn_addr, &user, &pass)
        .await
        .expect("coturn allocates with ferry's credential");
    assert!((53000..=53999).contains(&relay.port()), "{relay}");

    // And it is the secret that makes them valid: another secret's credential is refused.
    let forged = ferry_turn::RestCredentials::new("other-secret").issue(
        "x",
        Duration::from_secs(600),
        std::time::SystemTime::now(),
    );
    allocate(coturn_addr, &forged.username, &forged.password)
        .await
        .expect_err("coturn refuses a credential from another secret");
}
