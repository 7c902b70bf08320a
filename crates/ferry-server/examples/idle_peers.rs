//! Load generator for the signaling benchmark: opens N WebSocket peers to a ferry server, waits
//! until every one has its welcome (and the server has told the others), then holds them idle
//! (answering pings) for a while. Bounded in count and time.
//!
//! usage: cargo run --release --example idle_peers -- ws://127.0.0.1:8080/ws 1000 20

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    let count: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
        .min(20_000);
    let hold_secs: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .min(600);

    let started = Instant::now();
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(hold_secs) + Duration::from_secs(120);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("peer {i}: connect failed: {e}"));
        // Wait for the welcome so each peer is really registered before the next one.
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"welcome\"") => break,
                Some(Ok(_)) => continue,
                other => panic!("peer {i}: no welcome: {other:?}"),
            }
        }
        // Like a real client, keep reading (join notices, pings) from the moment it is in.
        tasks.push(tokio::spawn(async move {
            let mut seen = 0usize;
            while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, ws.next()).await {
                seen += 1;
            }
            seen
        }));
    }
    println!(
        "connected {count} peers in {:.2}s; holding for {hold_secs}s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(hold_secs)).await;
    for t in &tasks {
        t.abort();
    }
    println!("done");
}
