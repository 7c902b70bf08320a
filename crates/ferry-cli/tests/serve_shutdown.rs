//! `ferry serve` stops gracefully on SIGTERM: signaling clients are closed with 1001 (so they
//! reconnect elsewhere), a running HTTP pipe transfer finishes, and the process exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// Only a hang takes this long.
const HANG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn sigterm_closes_signaling_lets_a_pipe_finish_and_exits_zero() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--no-turn"])
        .args(["--shutdown-grace", "60s", "--log-level", "warn"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("listening on http://").nth(1).map(str::to_owned))
        .expect("listening line");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("signaling");
    let url = format!("http://{addr}/shutdown-test");
    let mut sender = tokio::process::Command::new("curl")
        .args(["-sS", "-T", "-", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut receiver = tokio::process::Command::new("curl")
        .args(["-sS", "--fail", &url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The receiver's bytes, and word of the first: SIGTERM must come while the transfer runs.
    // (Without this wait a loaded machine once started the receiver's curl only after the
    // server had stopped accepting, and the sender waited out the whole grace for it.)
    let (flowing_tx, flowing) = tokio::sync::oneshot::channel();
    let mut out = receiver.stdout.take().unwrap();
    let received = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut flowing_tx = Some(flowing_tx);
        loop {
            match out.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if let Some(tx) = flowing_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        }
        all
    });
    let mut input = sender.stdin.take().unwrap();
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..16 {
        input.write_all(&chunk).await.unwrap();
    }
    input.flush().await.unwrap();
    tokio::time::timeout(HANG, flowing)
        .await
        .expect("the receiver got nothing")
        .expect("the receiver got nothing");

    let kill = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    // Signaling is told to go elsewhere.
    let close = tokio::time::timeout(HANG, async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Close(cf)) => return cf.map(|c| u16::from(c.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("signaling was not closed");
    assert_eq!(close, Some(1001));

    // The transfer that was running goes on to the end.
    for _ in 0..16 {
        input.write_all(&chunk).await.unwrap();
    }
    drop(input);
    let sent = tokio::time::timeout(HANG, sender.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(sent.success(), "sender: {sent}");
    let status = tokio::time::timeout(HANG, receiver.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "receiver: {status}");
    let received = tokio::time::timeout(HANG, received).await.unwrap().unwrap();
    assert_eq!(received.len(), 32 * 64 * 1024);
    assert!(received.iter().all(|b| *b == 7));

    let status = tokio::time::timeout(HANG, tokio::task::spawn_blocking(move || server.wait()))
        .await
        .expect("the server did not exit")
        .unwrap()
        .unwrap();
    assert!(status.success(), "ferry serve exited with {status}");
}
