//! `ferry send` / `ferry receive` against a server behind HTTPS, as deployed in production behind a
//! TLS-terminating reverse proxy: the proxy here is real TLS (rustls, a certificate made by rcgen
//! for `localhost`), the CLI trusts it through `SSL_CERT_FILE`. Signaling (`wss://…/ws`) and the
//! relay (`wss://…/relay/<id>`) both go through it. An untrusted certificate is a clear error.
mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Starts a TLS terminator on 127.0.0.1 forwarding to `server_url`; returns its https:// URL and
/// the PEM of its certificate.
fn tls_proxy(server_url: &str) -> (String, String) {
    let upstream = server_url.trim_start_matches("http://").to_string();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = certified.cert.pem();
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(certified.cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        )),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                let acceptor = acceptor.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A client that refuses our certificate aborts the handshake: nothing to do.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    (format!("https://localhost:{port}"), pem)
}

#[test]
fn send_and_receive_through_an_https_server_over_the_wss_relay() {
    let server = Server::start();
    let (url, pem) = tls_proxy(&server.url);
    let dir = TempDir::new("tls");
    let cert_file = dir.path().join("ca.pem");
    std::fs::write(&cert_file, pem).unwrap();
    let cert_file = cert_file.display().to_string();
    let env = [("SSL_CERT_FILE", cert_file.as_str())];

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data = random_bytes(3 * 1024 * 1024 + 7, 41);
    let file = src.join("over-tls.bin");
    std::fs::write(&file, &data).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();

    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn_at(
        &url,
        &["send", "--yes", &file_arg, "--relay"],
        Stdio::null(),
        &env,
    );
    let room = sender.wait_event("room", Duration::from_secs(20));
    let code = room["code"].as_str().unwrap().to_string();
    assert_eq!(
        room["link"].as_str().unwrap(),
        format!("{url}/?room={code}"),
        "the link must point at the public https URL"
    );

    let out_arg = out.display().to_string();
    let receiver = Peer::spawn_at(
        &url,
        &["receive", &code, "--out", &out_arg, "--yes"],
        Stdio::null(),
        &env,
    );
    let r = receiver.finish(Duration::from_secs(90));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "receiver: {}\n{}", r.stdout, r.stderr);
    assert_eq!(s.code, Some(0), "sender: {}\n{}", s.stdout, s.stderr);
    assert!(
        r.stdout.contains(r#""path":"websocket""#),
        "receiver must report the relay path: {}",
        r.stdout
    );
    assert_eq!(std::fs::read(out.join("over-tls.bin")).unwrap(), data);
}

#[test]
fn an_untrusted_certificate_is_a_clear_error() {
    let server = Server::start();
    let (url, _pem) = tls_proxy(&server.url);
    let dir = TempDir::new("tls-untrusted");
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"hello").unwrap();
    let file_arg = file.display().to_string();
    // No SSL_CERT_FILE: the system store and the Mozilla roots do not know this certificate.
    let sender = Peer::spawn_at(&url, &["send", "--yes", &file_arg], Stdio::null(), &[]);
    let s = sender.finish(Duration::from_secs(30));
    assert_ne!(s.code, Some(0), "must fail: {}", s.stdout);
    assert!(
        s.stderr.contains("certificate") && s.stderr.contains("SSL_CERT_FILE"),
        "stderr must say the certificate is not trusted and how to trust it: {}",
        s.stderr
    );
}
