//! Health, version and the embedded web app over plain HTTP.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn health_version_and_index() {
    let addr = start(loopback_config()).await;
    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, head, body) = get(addr, "/version").await;
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: *"));
    assert!(body.contains(ferry_server::VERSION));
    let (status, head, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"));
    assert!(body.to_ascii_lowercase().contains("<!doctype html>"));
}

#[tokio::test]
async fn app_shell_worker_may_control_the_origin_and_the_manifest_is_json() {
    let addr = start(loopback_config()).await;
    let (status, head, _) = get(addr, "/app/shell-sw.js").await;
    assert_eq!(status, 200);
    assert!(head.contains("service-worker-allowed: /\r\n"), "{head}");
    // The download worker stays confined to /app/.
    let (status, head, _) = get(addr, "/app/sw.js").await;
    assert_eq!(status, 200);
    assert!(!head.contains("service-worker-allowed"), "{head}");
    let (status, head, body) = get(addr, "/app/manifest.webmanifest").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/manifest+json"),
        "{head}"
    );
    assert!(body.contains("\"share_target\""));
}
