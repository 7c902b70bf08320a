//! A slow receiver slows the sender down: the server keeps a bounded window per pipe and never
//! buffers what the receiver has not taken.

mod http_pipe_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use http_pipe_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

/// Kernel socket buffers (client and server side, both hops) plus hyper's buffers plus the
/// window. Generous, because Linux autotunes server-side buffers up to tcp_rmem/tcp_wmem max;
/// about 5 MiB is typical. Without backpressure the sender would get all 128 MiB in.
const SLACK: u64 = 32 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_receiver_stalls_the_sender() {
    const TOTAL: u64 = 128 * 1024 * 1024;
    let server = start_server().await;

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut receiver = BufReader::new(r);
    w.write_all(b"GET /paused HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    server.wait_for("/paused", false, 1).await;

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(32 * 1024).unwrap();
    let mut sender = socket.connect(server.addr).await.unwrap();
    sender
        .write_all(
            format!("PUT /paused HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            let mut pattern = Pattern::new(21);
            let mut buf = vec![0; 64 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                pattern.fill(&mut buf);
                sender.write_all(&buf).await.unwrap();
                sent += buf.len() as u64;
                written.store(sent, Ordering::Relaxed);
            }
            sender // keep the connection open until the test is done with it
        }
    });

    // Skip the response head, then take 1 MiB and stop reading.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(receiver.read_u8().await.unwrap());
    }
    let mut check = PatternCheck::new(21);
    let mut buf = vec![0; 64 * 1024];
    while check.checked < 1024 * 1024 {
        let n = receiver.read(&mut buf).await.unwrap();
        check.check(&buf[..n]);
    }
    // Let the sender run into the wall, then see that it stays there.
    let mut last = 0;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = written.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
        assert!(started.elapsed() < WAIT, "the sender never stalled");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled_at = written.load(Ordering::Relaxed);
    assert_eq!(stalled_at, last, "the sender kept going while nobody read");
    assert!(
        stalled_at - check.checked < SLACK,
        "sender was let {} MiB ahead of the receiver",
        (stalled_at - check.checked) >> 20
    );
    eprintln!(
        "stalled {} MiB ahead of the paused receiver",
        (stalled_at - check.checked) >> 20
    );

    // Reading again lets everything through, intact.
    while check.checked < TOTAL {
        let n = tokio::time::timeout(WAIT, receiver.read(&mut buf))
            .await
            .expect("data keeps coming")
            .unwrap();
        assert!(n > 0, "receiver cut off at {}", check.checked);
        check.check(&buf[..n]);
    }
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn a_rate_limited_curl_receiver_paces_the_sender() {
    const TOTAL: u64 = 64 * 1024 * 1024;
    const RATE: u64 = 16 * 1024 * 1024; // curl's 16M
    let server = start_server().await;
    let url = format!("{}/limited", server.url);
    let receiver = spawn(curl(&[
        "--limit-rate",
        "16M",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &url,
    ]));
    server.wait_for("/limited", false, 1).await;

    let body_done = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let started = Instant::now();
    let body = {
        let body_done = body_done.clone();
        let mut pattern = Pattern::new(5);
        let mut left = TOTAL;
        futures_util::stream::poll_fn(move |_| {
            if left == 0 {
                *body_done.lock().unwrap() = Some(Instant::now());
                return std::task::Poll::Ready(None);
            }
            let mut buf = vec![0; 64 * 1024];
            pattern.fill(&mut buf);
            left -= buf.len() as u64;
            std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(buf)))
        })
    };
    let lines = reqwest::Client::new()
        .put(&url)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let received = finish(receiver).await;
    assert_eq!(received.text(), TOTAL.to_string());
    assert!(lines.ends_with("received successfully.\n"), "{lines}");
    let upload_took = body_done.lock().unwrap().unwrap() - started;
    // Unpaced, the whole body would be taken in a fraction of a second. Paced, the sender can
    // only finish once the receiver is within SLACK of the end. curl's limiter runs ahead of its
    // average in bursts, hence the quarter allowed off the nominal time.
    let nominal = (TOTAL - SLACK.min(TOTAL / 2)) as f64 / RATE as f64;
    let earliest = Duration::from_secs_f64(nominal * 0.75);
    eprintln!("upload took {upload_took:?}, earliest allowed {earliest:?}");
    assert!(upload_took >= earliest, "upload took {upload_took:?}");
}

#[tokio::test]
async fn the_slowest_of_n_receivers_sets_the_pace() {
    const TOTAL: usize = 40 * 1024 * 1024;
    let server = start_server().await;
    let dir = temp_dir("pace");
    let file = pattern_file(&dir, "data.bin", 8, TOTAL);
    let url = format!("{}/pace?n=2", server.url);
    let slow = spawn(curl(&["--limit-rate", "16M", "-o", "/dev/null", &url]));
    let started = Instant::now();
    let fast = tokio::spawn({
        let url = url.clone();
        async move {
            let mut body = reqwest::get(url).await.unwrap().bytes_stream();
            let mut check = PatternCheck::new(8);
            while let Some(chunk) = body.next().await {
                check.check(&chunk.unwrap());
            }
            (check.checked, Instant::now())
        }
    });
    server.wait_for("/pace", false, 2).await;
    let sent = run(&["-T", &file, &url]).await;
    assert!(
        sent.text().ends_with("received successfully.\n"),
        "{}",
        sent.text()
    );
    let (fast_got, fast_done) = fast.await.unwrap();
    assert_eq!(fast_got, TOTAL as u64);
    finish(slow).await;
    // 40 MiB at 16 MiB/s: the fast receiver cannot be done before the slow one is within
    // SLACK of the end: (40 - 32) MiB / 16 MiB/s = 0.5 s; 0.75 s leaves room for curl's bursts.
    let fast_took = fast_done - started;
    eprintln!("fast receiver took {fast_took:?}");
    assert!(
        fast_took >= Duration::from_millis(750),
        "fast receiver took {fast_took:?}"
    );
}
