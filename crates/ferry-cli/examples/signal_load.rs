//! Signaling load for `bench/scale-out/run.sh`: PAIRS pairs of peers, each pair in a LAN room of
//! its own (a public address per pair through X-Forwarded-For; the servers must trust
//! 127.0.0.1), one peer of a pair on URL_A and the other on URL_B. Each sender sends RATE signals
//! per second for SECS seconds (under the server's 50 messages/s per connection); receivers time
//! each signal from send to arrival (one process, one clock). Prints one line of JSON.
//!
//!   cargo run --release -p ferry --example signal_load -- URL_A URL_B [PAIRS] [RATE] [SECS]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, from: &str) -> (Ws, String) {
    let ws_url = format!("{}/ws", url.replacen("http://", "ws://", 1));
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", from.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "welcome" {
                return (ws, v["peer"]["id"].as_str().unwrap().to_string());
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url_a, url_b) = (args[1].clone(), args[2].clone());
    let pairs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let rate: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(40);
    let secs: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(10);
    let epoch = Instant::now();
    let mut peers = Vec::new();
    for p in 0..pairs {
        // 198.18.0.0/15 (benchmarking): public to the server, one LAN room per pair.
        let from = format!("198.18.{}.{}", p / 250, p % 250 + 1);
        let (a, _) = connect(&url_a, &from).await;
        let (b, b_id) = connect(&url_b, &from).await;
        peers.push((a, b, b_id));
    }
    let mut tasks = Vec::new();
    for (mut a, mut b, b_id) in peers {
        let sends = rate * secs;
        let receiver = tokio::spawn(async move {
            let mut lat = Vec::with_capacity(sends as usize);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(secs + 10);
            while (lat.len() as u64) < sends {
                let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, b.next()).await else {
                    break;
                };
                let Message::Text(t) = frame else { continue };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "signal" {
                    let sent = v["signal"]["payload"]["t"].as_u64().unwrap();
                    lat.push(epoch.elapsed().as_micros() as u64 - sent);
                }
            }
            lat
        });
        let sender = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            for _ in 0..sends {
                tick.tick().await;
                let t = epoch.elapsed().as_micros() as u64;
                let msg = json!({"type": "signal", "to": b_id,
                    "signal": {"kind": "app", "payload": {"t": t}}});
                if a.send(Message::Text(msg.to_string().into())).await.is_err() {
                    break;
                }
            }
            // Stay connected until the receiver is done.
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(a);
        });
        tasks.push((sender, receiver));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for (s, r) in tasks {
        all.extend(r.await.unwrap());
        let _ = s.await;
    }
    let wall = started.elapsed().as_secs_f64().max(secs as f64);
    all.sort_unstable();
    let pct = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)));
    println!(
        "{}",
        json!({
            "pairs": pairs,
            "offered_per_s": pairs as u64 * rate,
            "delivered": all.len(),
            "expected": pairs as u64 * rate * secs,
            "delivered_per_s": (all.len() as f64 / secs as f64).round(),
            "wall_s": wall,
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": all.last(),
        })
    );
}
