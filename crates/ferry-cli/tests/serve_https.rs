//! `ferry serve --tls-cert/--tls-key`: HTTPS built in. A test CA made here (rcgen) signs the
//! certificate; the CLI trusts it through `SSL_CERT_FILE` and sends over `wss://` (signaling and
//! the relay). Replacing the files switches the served certificate while an open connection goes
//! on, and a client that opens TCP and never finishes the TLS handshake is bounded by the header
//! timeout and the handshake caps.
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::tls::{TestCa, client_trusting, connect, get, presented};
use common::*;
use tokio::io::AsyncReadExt;

/// Only a hang takes this long.
const HANG: Duration = Duration::from_secs(60);

struct HttpsServer {
    server: Server,
    dir: TempDir,
    ca: TestCa,
    /// https://localhost:PORT
    url: String,
}

fn https_server(tag: &str, extra: &[&str]) -> HttpsServer {
    let dir = TempDir::new(tag);
    let ca = TestCa::new("ferry test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let mut args = vec!["--tls-cert", &cert, "--tls-key", &key, "--no-turn"];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, &[("FERRY_LOG", "warn,ferry_server=info")]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let url = format!("https://localhost:{}", server.port());
    HttpsServer {
        server,
        dir,
        ca,
        url,
    }
}

#[test]
fn cli_sends_and_receives_over_wss_trusting_a_test_ca() {
    let s = https_server("https-cli", &[]);
    let ca_file = s.dir.path().join("ca.pem").display().to_string();
    let env = [("SSL_CERT_FILE", ca_file.as_str())];
    let data = random_bytes(2 * 1024 * 1024 + 3, 77);
    let file = s.dir.path().join("over-https.bin");
    std::fs::write(&file, &data).unwrap();
    let out = s.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();

    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn_at(
        &s.url,
        &["send", "--yes", &file_arg, "--relay"],
        Stdio::null(),
        &env,
    );
    let room = sender.wait_event("room", Duration::from_secs(20));
    let code = room["code"].as_str().unwrap().to_string();
    assert_eq!(
        room["link"].as_str().unwrap(),
        format!("{}/?room={code}", s.url),
        "the link must use the https origin"
    );
    let out_arg = out.display().to_string();
    let receiver = Peer::spawn_at(
        &s.url,
        &["receive", &code, "--out", &out_arg, "--yes"],
        Stdio::null(),
        &env,
    );
    let r = receiver.finish(Duration::from_secs(90));
    let snd = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "receiver: {}\n{}", r.stdout, r.stderr);
    assert_eq!(snd.code, Some(0), "sender: {}\n{}", snd.stdout, snd.stderr);
    assert!(r.stdout.contains(r#""path":"websocket""#), "{}", r.stdout);
    assert_eq!(std::fs::read(out.join("over-https.bin")).unwrap(), data);
}

#[tokio::test]
async fn replacing_the_files_switches_the_certificate_and_open_connections_go_on() {
    let s = https_server("https-reload", &["--tls-reload-interval", "100ms"]);
    let port = s.server.port();
    let trust = client_trusting(&s.ca.pem());

    let mut before = connect(&trust, port)
        .await
        .expect("TLS to the first certificate");
    let first = presented(&before);
    assert_eq!(get(&mut before, "/healthz").await.1, "ok\n");

    // A new certificate with a new key, written the way a renewal script would: cert, then key
    // (in between the pair does not match and the old one must go on being served).
    let next = s.ca.leaf(&["localhost"]);
    std::fs::write(s.dir.path().join("cert.pem"), &next.cert_pem).unwrap();
    std::fs::write(s.dir.path().join("key.pem"), &next.key_pem).unwrap();
    s.server.wait_log("certificate reloaded", HANG);

    // A fresh client: one that resumed its earlier TLS session would be shown no certificate.
    let mut after = connect(&client_trusting(&s.ca.pem()), port)
        .await
        .expect("TLS to the new certificate");
    assert_eq!(
        presented(&after),
        next.der,
        "a new connection gets the new certificate"
    );
    assert_ne!(presented(&after), first);
    assert_eq!(get(&mut after, "/healthz").await.1, "ok\n");
    // The connection opened before the switch is still up and served.
    assert_eq!(get(&mut before, "/version").await.0, "HTTP/1.1 200 OK");
    assert_eq!(presented(&before), first);
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_and_counts_against_the_handshake_cap() {
    let s = https_server(
        "https-stall",
        &[
            "--header-timeout",
            "1s",
            "--max-handshakes-per-address",
            "2",
        ],
    );
    let port = s.server.port();
    // Two connections that never send a ClientHello hold both of this address's slots.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let mut refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    for conn in stalled.iter_mut().chain([&mut refused]) {
        // Closed by the server (EOF or reset), not held open.
        let read = tokio::time::timeout(HANG, conn.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
    // The slots are free again: a real client gets through, and the metrics say what happened.
    let trust = client_trusting(&s.ca.pem());
    let mut tls = connect(&trust, port)
        .await
        .expect("TLS after the stalled ones");
    let (_, metrics) = get(&mut tls, "/metrics").await;
    assert!(
        metrics.contains("ferry_limit_hits_total{kind=\"tls-handshake-timeout\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_limit_hits_total{kind=\"http-handshakes\"} 1"),
        "{metrics}"
    );
}

#[test]
fn serve_prints_the_https_url_and_a_qr_code() {
    let dir = TempDir::new("https-urls");
    let ca = TestCa::new("ferry test CA");
    let leaf = ca.leaf(&["ferry.test", "localhost"]);
    std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let mut child = std::process::Command::new(FERRY)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--no-turn"])
        .args(["--tls-cert", &cert, "--tls-key", &key])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut seen = Vec::new();
    // The listing ends with the QR code's caption and the code itself.
    let port = loop {
        let line = lines.next().expect("serve ended").unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.split("listening on https://127.0.0.1:").nth(1) {
            break rest.trim().to_string();
        }
    };
    let caption = format!("Scan with a phone to open https://ferry.test:{port}/");
    let found = lines
        .by_ref()
        .take(40)
        .map_while(Result::ok)
        .inspect(|l| seen.push(l.clone()))
        .any(|l| l.contains(&caption));
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no {caption:?} in {seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("https://127.0.0.1:{port}/"))),
        "{seen:#?}"
    );
}

#[test]
fn http_redirect_port_sends_plain_http_to_the_https_origin() {
    let dir = TempDir::new("https-redirect");
    let ca = TestCa::new("ferry test CA");
    let leaf = ca.leaf(&["localhost"]);
    std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let mut child = std::process::Command::new(FERRY)
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-turn",
            "--no-qr",
        ])
        .args([
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--http-redirect-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok);
    let https_port = lines
        .by_ref()
        .find_map(|l| {
            l.split("listening on https://127.0.0.1:")
                .nth(1)
                .map(str::to_owned)
        })
        .expect("listening line");
    let plain = lines
        .find_map(|l| {
            l.split("redirects http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next().map(str::to_owned))
        })
        .expect("redirect line");
    let plain_port = plain.rsplit(':').next().unwrap().to_string();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg(format!("http://localhost:{plain_port}/?room=ABC123"))
        .output()
        .expect("curl");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("301 https://localhost:{https_port}/?room=ABC123")
    );
}
