//! `ferry serve --acme-domain`: a certificate from a real ACME server — Debian's `pebble`, started
//! here on loopback ports with its own config. pebble really validates: its VA connects to
//! `localhost:<ferry's port>` for the TLS-ALPN-01 challenge that ferry answers on its HTTPS port.
//! pebble issues 20-second certificates, so ferry's renewal (at two thirds of the lifetime) comes
//! during the test: a second certificate replaces the first without a restart. The CLI then sends
//! and receives over `wss://` trusting pebble's root (from pebble's management endpoint) through
//! `SSL_CERT_FILE`; a restart with the same cache serves the cached certificate without an order.
//!
//! Needs `pebble` (scripts/install-test-deps); without it the test fails, saying so.
mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::tls::{TestCa, client_trusting, connect, get, presented};
use common::*;

/// Only a hang takes this long. Issuing takes pebble well under a second; ferry's ACME client
/// polls the order at 1 s, 2 s, 4 s…
const HANG: Duration = Duration::from_secs(90);
/// pebble's certificate lifetime; ferry renews after two thirds of it.
const VALIDITY_SECS: u64 = 20;

struct Pebble {
    child: Child,
    directory: String,
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// pebble with its HTTPS API under a certificate from `ca`, validating TLS-ALPN-01 on `tls_port`.
fn start_pebble(dir: &TempDir, ca: &TestCa, tls_port: u16) -> Pebble {
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let cert = dir.path().join("pebble-cert.pem");
    let key = dir.path().join("pebble-key.pem");
    std::fs::write(&cert, leaf.cert_pem).unwrap();
    std::fs::write(&key, leaf.key_pem).unwrap();
    let (api, management) = (free_port(), free_port());
    let config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{api}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": cert,
        "privateKey": key,
        "httpPort": free_port(),
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": VALIDITY_SECS,
    }});
    let config_file = dir.path().join("pebble.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let mut child = Command::new("pebble")
        .arg("-config")
        .arg(&config_file)
        // No random sleeps in validation; no nonces refused at random (a refused nonce is a
        // client retry that tells nothing here); a fresh authorization for every order, so the
        // renewal is validated again.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pebble (apt-get install pebble; scripts/install-test-deps does)");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = format!("Listening on: 127.0.0.1:{api}");
    loop {
        match rx.recv_timeout(HANG) {
            Ok(l) if l.contains(&ready) => break,
            Ok(_) => {}
            Err(e) => panic!("pebble did not start: {e}"),
        }
    }
    // Keep draining its log.
    std::thread::spawn(move || for _ in rx {});
    Pebble {
        child,
        directory: format!("https://127.0.0.1:{api}/dir"),
        management,
    }
}

/// pebble's root, made anew at each start, from its management endpoint.
fn pebble_root(pebble: &Pebble, api_ca: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert", api_ca])
        .arg(format!("https://127.0.0.1:{}/roots/0", pebble.management))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn acme_server(pebble: &Pebble, port: u16, cache: &str, api_ca: &str) -> Server {
    let port = port.to_string();
    Server::start_with(
        &[
            "--port",
            &port,
            "--no-turn",
            // The connection held open across the renewal idles longer than the default 10 s
            // keep-alive timeout.
            "--header-timeout",
            "120s",
            "--acme-domain",
            "localhost",
            "--acme-email",
            "ferry-test@example.org",
            "--acme-directory",
            &pebble.directory,
            "--acme-cache",
            cache,
        ],
        // The ACME client trusts the system store, which SSL_CERT_FILE replaces: pebble's API
        // is under the test CA.
        &[
            ("FERRY_LOG", "warn,ferry_server=info"),
            ("SSL_CERT_FILE", api_ca),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_pebble_served_renewed_cached_and_used_by_the_cli() {
    let dir = TempDir::new("acme");
    let api_ca = TestCa::new("pebble API test CA");
    let api_ca_file = dir.path().join("api-ca.pem");
    std::fs::write(&api_ca_file, api_ca.pem()).unwrap();
    let api_ca_file = api_ca_file.display().to_string();
    let port = free_port();
    let pebble = start_pebble(&dir, &api_ca, port);
    let root = pebble_root(&pebble, &api_ca_file);
    let root_file = dir.path().join("pebble-root.pem");
    std::fs::write(&root_file, &root).unwrap();
    let root_file = root_file.display().to_string();
    let trust = client_trusting(&root);
    let cache = dir.path().join("acme-cache").display().to_string();

    let server = acme_server(&pebble, port, &cache, &api_ca_file);
    assert_eq!(server.url, format!("https://127.0.0.1:{port}"));
    server.wait_log("ACME: new certificate deployed", HANG);
    let mut first_conn = connect(&trust, port)
        .await
        .expect("TLS with pebble's certificate");
    let first = presented(&first_conn);
    assert_eq!(get(&mut first_conn, "/healthz").await.1, "ok\n");

    // The CLI over wss:// trusting pebble's root.
    let url = format!("https://localhost:{port}");
    let data = random_bytes(512 * 1024 + 1, 9);
    let file = dir.path().join("acme.bin");
    std::fs::write(&file, &data).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (file_arg, out_arg) = (file.display().to_string(), out.display().to_string());
    let (r, s) = tokio::task::spawn_blocking(move || {
        let env = [("SSL_CERT_FILE", root_file.as_str())];
        let mut sender = Peer::spawn_at(
            &url,
            &["send", "--yes", &file_arg, "--relay"],
            Stdio::null(),
            &env,
        );
        let code = sender.room_code();
        let receiver = Peer::spawn_at(
            &url,
            &["receive", &code, "--out", &out_arg, "--yes"],
            Stdio::null(),
            &env,
        );
        let r = receiver.finish(Duration::from_secs(90));
        (r, sender.finish(Duration::from_secs(30)))
    })
    .await
    .unwrap();
    assert_eq!(r.code, Some(0), "receiver: {}\n{}", r.stdout, r.stderr);
    assert_eq!(s.code, Some(0), "sender: {}\n{}", s.stdout, s.stderr);
    assert_eq!(std::fs::read(out.join("acme.bin")).unwrap(), data);

    // Renewal: a second order, validated again, deployed while the first connection is open.
    server.wait_log("ACME: new certificate deployed", HANG);
    // A fresh client each time: a resumed TLS session is shown no certificate.
    let renewed = connect(&client_trusting(&root), port)
        .await
        .expect("TLS with the renewed certificate");
    assert_ne!(
        presented(&renewed),
        first,
        "renewal must serve a new certificate"
    );
    assert_eq!(get(&mut first_conn, "/version").await.0, "HTTP/1.1 200 OK");
    drop(server);

    // A restart with the same cache serves the cached certificate at once, without an order.
    let again = acme_server(&pebble, port, &cache, &api_ca_file);
    again.wait_log("ACME: cached certificate deployed", HANG);
    connect(&client_trusting(&root), port)
        .await
        .expect("TLS with the cached certificate");
}
