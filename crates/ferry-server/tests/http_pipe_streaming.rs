//! The HTTP pipe streams: byte by byte, long chunked uploads, HTTP/1.0 and 1.1 senders, parties
//! leaving before or during a transfer, and the path serving again afterwards.

mod http_pipe_support;

use std::time::Duration;

use futures_util::StreamExt;
use http_pipe_support::*;
use tokio::io::AsyncWriteExt;

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn bytes_are_forwarded_one_by_one_without_waiting_for_more() {
    let server = start_server().await;
    let mut receiver = Raw::connect(&server).await;
    receiver
        .send(b"GET /bytewise HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    server.wait_for("/bytewise", false, 1).await;
    let mut sender = Raw::connect(&server).await;
    sender
        .send(b"POST /bytewise HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    assert_eq!(sender.head().await.0, 200);
    let (status, headers) = receiver.head().await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
    for i in 0..200u32 {
        let byte = (i * 7 % 251) as u8;
        sender
            .send(&[&b"1\r\n"[..], &[byte], b"\r\n"].concat())
            .await;
        // The receiver must see this byte before the next one is even sent.
        assert_eq!(receiver.chunk().await, Some(vec![byte]), "byte {i}");
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    sender.send(b"0\r\n\r\n").await;
    assert_eq!(receiver.chunk().await, None);
    let lines = sender.chunked_text().await;
    assert!(lines.ends_with("[INFO] All receiver(s) was/were received successfully.\n"));
}

#[tokio::test]
async fn a_long_chunked_upload_arrives_intact() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let server = start_server().await;
    let url = format!("{}/long-chunked", server.url);
    let client = reqwest::Client::new();
    let receiver = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.headers().get("content-length"), None);
            let mut check = PatternCheck::new(11);
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                check.check(&chunk.unwrap());
            }
            check.checked
        }
    });
    let sent = client
        .put(&url)
        .body(reqwest::Body::wrap_stream(aligned_chunks(11, TOTAL)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sent.ends_with("[INFO] All receiver(s) was/were received successfully.\n"),
        "{sent}"
    );
    assert_eq!(receiver.await.unwrap(), TOTAL as u64);
}

/// The pattern for `seed`, cut into chunks of uneven sizes (multiples of 8 bytes keep the
/// generator simple; the sizes still vary from 8 bytes to ~300 KiB).
fn aligned_chunks(
    seed: u64,
    total: usize,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(
        (Pattern::new(seed), 0usize, 1u64),
        move |(mut p, sent, k)| async move {
            if sent >= total {
                return None;
            }
            let size = (((k * 2_654_435_761) % 37_500 + 1) * 8) as usize;
            let size = size.min(total - sent);
            let mut buf = vec![0; size];
            p.fill(&mut buf);
            Some((Ok(buf), (p, sent + size, k + 1)))
        },
    )
}

#[tokio::test]
async fn http_1_0_and_http_1_1_chunked_senders() {
    let server = start_server().await;
    let dir = temp_dir("versions");
    let file = pattern_file(&dir, "data.bin", 5, 3_000_000);
    let want = std::fs::read(&file).unwrap();

    // HTTP/1.0: a Content-Length body; the [INFO] lines come close-delimited.
    let url = format!("{}/v10", server.url);
    let sender = spawn(curl(&["--http1.0", "-i", "-T", &file, &url]));
    let received = run(&["--http1.0", &url]).await;
    let sent = finish(sender).await;
    assert!(received.stdout == want, "HTTP/1.0 transfer differs");
    let text = sent.text();
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.ends_with("[INFO] All receiver(s) was/were received successfully.\n"));

    // HTTP/1.1 chunked: curl reading stdin.
    let url = format!("{}/v11", server.url);
    let mut sender = curl(&["-T", "-", &url]);
    sender.stdin(std::fs::File::open(&file).unwrap());
    let sender = spawn(sender);
    let received = run(&[&url]).await;
    let sent = finish(sender).await;
    assert!(received.stdout == want, "chunked transfer differs");
    assert!(
        sent.text()
            .ends_with("[INFO] All receiver(s) was/were received successfully.\n")
    );
}

#[tokio::test]
async fn parties_that_leave_before_the_start_are_removed() {
    let server = start_server().await;

    // A sender mid-body that hangs up: the next sender on the path is accepted.
    let mut gone = Raw::connect(&server).await;
    gone.send(b"PUT /left HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await;
    assert_eq!(gone.head().await.0, 200);
    drop(gone);
    server.wait_free("/left").await;

    // A sender whose whole (small) body was read, then hangs up.
    let mut gone = Raw::connect(&server).await;
    gone.send(b"PUT /left2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        .await;
    assert_eq!(gone.head().await.0, 200);
    drop(gone);
    server.wait_free("/left2").await;

    // A receiver that hangs up: its place is free for the next receiver, and the transfer
    // goes to the one still there.
    let mut gone = Raw::connect(&server).await;
    gone.send(b"GET /left3 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    server.wait_for("/left3", false, 1).await;
    drop(gone);
    server.wait_free("/left3").await;
    let url = format!("{}/left3", server.url);
    let receiver = spawn(curl(&["-i", &url]));
    server.wait_for("/left3", false, 1).await;
    let sent = run(&["--data-binary", "still here", &url]).await;
    assert!(
        sent.text().ends_with("received successfully.\n"),
        "{}",
        sent.text()
    );
    let received = finish(receiver).await;
    assert_eq!(split_response(&received.stdout).2, b"still here");
}

#[tokio::test]
async fn an_aborted_sender_truncates_its_receivers() {
    let server = start_server().await;
    for (path, head) in [
        ("/cut-len", "Content-Length: 1048576"),
        ("/cut-chunked", "Transfer-Encoding: chunked"),
    ] {
        let url = format!("{}{path}", server.url);
        let receiver = spawn(curl(&[&url]));
        server.wait_for(path, false, 1).await;
        let mut sender = Raw::connect(&server).await;
        sender
            .send(format!("PUT {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n\r\n").as_bytes())
            .await;
        let piece = vec![b'z'; 100_000];
        if head.starts_with("Transfer") {
            sender
                .send(format!("{:x}\r\n", piece.len()).as_bytes())
                .await;
            sender.send(&piece).await;
            sender.send(b"\r\n").await;
        } else {
            sender.send(&piece).await;
        }
        // Read the sender's lines up to the start, so that hanging up is a clean FIN (unread
        // data would make it a RST, which may discard what the server has not read yet).
        assert_eq!(sender.head().await.0, 200);
        while !String::from_utf8(sender.chunk().await.unwrap())
            .unwrap()
            .starts_with("[INFO] Start sending")
        {}
        settle().await;
        drop(sender);
        let received = finish(receiver).await;
        assert_eq!(
            received.code, 18,
            "{path}: curl must report a partial transfer: {}",
            received.stderr
        );
        assert!(received.stdout.len() <= 100_000, "{path}");
        assert!(received.stdout.iter().all(|b| *b == b'z'), "{path}");
        // And the path is free again.
        server.wait_free(path).await;
    }
}

#[tokio::test]
async fn the_path_serves_again_right_after_a_transfer() {
    let server = start_server().await;
    let url = format!("{}/again", server.url);
    for round in 0..4 {
        let body = format!("round {round}");
        let (sent, received) = if round % 2 == 0 {
            let s = spawn(curl(&["--data-binary", &body, &url]));
            let r = spawn(curl(&[&url]));
            (finish(s).await, finish(r).await)
        } else {
            let r = spawn(curl(&[&url]));
            let s = spawn(curl(&["--data-binary", &body, &url]));
            (finish(s).await, finish(r).await)
        };
        assert_eq!(received.text(), body, "round {round}: {}", sent.text());
        assert!(
            sent.text().ends_with("received successfully.\n"),
            "{}",
            sent.text()
        );
    }
}

#[tokio::test]
async fn receivers_that_abort_are_reported_and_the_rest_still_receive() {
    let server = start_server().await;

    // n=2: one receiver leaves mid-way, the other gets everything.
    let dir = temp_dir("rabort");
    let file = pattern_file(&dir, "data.bin", 9, 16_000_000);
    let url = format!("{}/two?n=2", server.url);
    let stays = spawn(curl(&["--limit-rate", "8M", &url]));
    let mut leaves = Raw::connect(&server).await;
    leaves
        .send(b"GET /two?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    server.wait_for("/two", false, 2).await;
    let sender = spawn(curl(&["-T", &file, &url]));
    assert_eq!(leaves.head().await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(leaves);
    // Both at once: curl's stdout is a pipe, and a receiver nobody reads from stalls everyone.
    let (sent, stayed) = tokio::join!(finish(sender), finish(stays));
    assert!(stayed.stdout == std::fs::read(&file).unwrap());
    let text = sent.text();
    assert!(text.contains("[INFO] A receiver aborted.\n"), "{text}");
    assert!(
        text.ends_with("[INFO] 1 of 2 receiver(s) received successfully.\n"),
        "{text}"
    );

    // n=1: the only receiver leaves; the sender is told and let go.
    let mut receiver = Raw::connect(&server).await;
    receiver.send(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").await;
    server.wait_for("/one", false, 1).await;
    let mut sender = Raw::connect(&server).await;
    sender
        .send(b"PUT /one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    assert_eq!(sender.head().await.0, 200);
    assert_eq!(receiver.head().await.0, 200);
    drop(receiver);
    let mut writer = sender.take_writer();
    let feeder = tokio::spawn(async move {
        let chunk = [&b"10000\r\n"[..], &vec![1u8; 0x10000], b"\r\n"].concat();
        while writer.write_all(&chunk).await.is_ok() {}
    });
    let mut lines = Vec::new();
    while let Some(chunk) = sender.chunk().await {
        lines.push(String::from_utf8(chunk).unwrap());
    }
    let text = lines.concat();
    assert!(text.contains("[INFO] A receiver aborted.\n"), "{text}");
    assert!(
        text.ends_with("[INFO] All receiver(s) was/were aborted halfway.\n"),
        "{text}"
    );
    tokio::time::timeout(WAIT, feeder)
        .await
        .expect("the sender is let go")
        .unwrap();
}
