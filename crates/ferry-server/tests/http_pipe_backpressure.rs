//! A slow receiver slows the sender down: the server keeps a bounded window per pipe and never
//! buffers what the receiver has not taken.
//!
//! No clock decides these tests. While a transfer runs they sample how far the sender's accepted
//! bytes are ahead of the receiver's delivered bytes (at every write the sender completes, or
//! every chunk the fast receiver gets) and assert that this never exceeds the pipe's window plus
//! every buffer a byte can honestly sit in between the two points (`buffering`: hyper's buffers,
//! the kernel's socket queues, measured or at their sysctl maximum). That holds however fast or
//! slow the machine is; without backpressure the gap grows to most of the upload, far beyond it.
//! Each test also checks the gap did exceed the window once, i.e. the receiver really was the
//! bottleneck; otherwise it would prove nothing. Throughput figures are benchmarks
//! (docs/benchmarks.md), not tests.

mod http_pipe_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use http_pipe_support::buffering::{self, HYPER, WINDOW, mib};
use http_pipe_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

/// A raw sender with a small send buffer: `PUT path` with a Content-Length of `total`, writing the
/// pattern of `seed` 64 KiB at a time. After each completed write it checks `written - delivered()`
/// against `bound` and stops with an error at the first breach. Returns the largest gap seen.
struct Sender {
    written: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Result<(u64, tokio::net::tcp::OwnedWriteHalf), String>>,
    /// The server's progress lines (it closes the connection after them).
    lines: tokio::task::JoinHandle<String>,
}

impl Sender {
    async fn start(
        server: &Server,
        path: &str,
        total: u64,
        seed: u64,
        delivered: impl Fn() -> u64 + Send + 'static,
        bound: impl Fn(u64) -> u64 + Send + 'static,
    ) -> Sender {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(32 * 1024).unwrap();
        let sndbuf = u64::from(socket.send_buffer_size().unwrap());
        let stream = socket.connect(server.addr).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let lines = tokio::spawn(async move {
            let mut all = Vec::new();
            let _ = r.read_to_end(&mut all).await;
            String::from_utf8_lossy(&all).into_owned()
        });
        let written = Arc::new(AtomicU64::new(0));
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
        );
        let task = tokio::spawn({
            let written = written.clone();
            async move {
                w.write_all(head.as_bytes()).await.unwrap();
                let bound = bound(sndbuf);
                let mut pattern = Pattern::new(seed);
                let mut buf = vec![0; 64 * 1024];
                let mut sent = 0u64;
                let mut max_gap = 0;
                while sent < total {
                    pattern.fill(&mut buf);
                    w.write_all(&buf).await.map_err(|e| e.to_string())?;
                    sent += buf.len() as u64;
                    written.store(sent, Ordering::SeqCst);
                    let gap = sent.saturating_sub(delivered());
                    max_gap = max_gap.max(gap);
                    if gap > bound {
                        return Err(format!(
                            "the sender was let {:.1} MiB ahead of the receiver; the window plus \
                             every buffer in between allow {:.1} MiB",
                            mib(gap),
                            mib(bound)
                        ));
                    }
                }
                // Half-closing now would make hyper drop the response before its last lines.
                Ok((max_gap, w))
            }
        });
        Sender {
            written,
            task,
            lines,
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    async fn max_gap(self) -> (u64, String) {
        let (max_gap, _open) = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the sender finished")
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        let lines = tokio::time::timeout(WAIT, self.lines)
            .await
            .expect("the sender's response ended")
            .unwrap();
        (max_gap, lines)
    }
}

/// Runs `run(rate, attempt)` (a transfer of `total` bytes with the slow side limited to `rate`
/// bytes/s, returning the largest gap seen) until it proves pacing: the `fast` side got more
/// than the window ahead. If it did not, the fast side was not faster on this machine, and the
/// run is repeated with the slow side at a quarter of the rate the transfer managed; at most
/// three runs, the last one asserted whatever happened.
async fn paced_with_slower_reruns<F, Fut>(mut rate: u64, total: u64, fast: &str, mut run: F)
where
    F: FnMut(u64, u32) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    for attempt in 1..=3 {
        let started = std::time::Instant::now();
        let max_gap = run(rate, attempt).await;
        let managed = total as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "run {attempt}: {fast} at most {:.1} MiB ahead of the {:.1} MB/s receiver (the \
             transfer managed {:.1} MB/s)",
            mib(max_gap),
            rate as f64 / 1e6,
            managed / 1e6
        );
        if max_gap > WINDOW || attempt == 3 {
            assert_paced(max_gap);
            return;
        }
        rate = ((managed / 4.0) as u64).clamp(1 << 20, rate / 2);
    }
}

fn assert_paced(max_gap: u64) {
    assert!(
        max_gap > WINDOW,
        "the sender never got more than the window ({} KiB) ahead: the receiver was not the \
         bottleneck, so this run proved nothing about pacing",
        WINDOW >> 10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_receiver_stalls_the_sender() {
    // Well above the bound (~38 MiB with Linux's default 32 MiB tcp_rmem max), so a sender that
    // is not held back breaches it.
    const TOTAL: u64 = 64 * 1024 * 1024;
    let server = start_server().await;

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    let receiver_rcvbuf = u64::from(socket.recv_buffer_size().unwrap());
    let stream = socket.connect(server.addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut receiver = BufReader::new(r);
    w.write_all(b"GET /paused HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    server.wait_for("/paused", false, 1).await;

    // Sender socket → server's receive queue → hyper → window → hyper → server's send queue →
    // the receiver's receive queue.
    let checked = Arc::new(AtomicU64::new(0));
    let sender = Sender::start(
        &server,
        "/paused",
        TOTAL,
        21,
        {
            let checked = checked.clone();
            move || checked.load(Ordering::SeqCst)
        },
        move |sndbuf| {
            sndbuf
                + buffering::kernel_rcvbuf_max()
                + HYPER
                + WINDOW
                + HYPER
                + buffering::kernel_sndbuf_max()
                + receiver_rcvbuf
        },
    )
    .await;

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
        checked.store(check.checked, Ordering::SeqCst);
    }

    // The pause: the sender must run into it (more than a window ahead) ...
    eventually(
        "the sender runs more than a window ahead of the paused receiver",
        || {
            let ahead = sender.written().saturating_sub(check.checked);
            async move { ahead > WINDOW }
        },
    )
    .await;
    // ... and is then watched until it has made no progress for a second (at most WAIT). The
    // watch decides nothing: the sender checks the bound at every write, and it could only get
    // its whole upload in by breaking it.
    let (mut last, mut quiet) = (sender.written(), 0);
    let watch_until = tokio::time::Instant::now() + WAIT;
    while quiet < 10 && tokio::time::Instant::now() < watch_until && !sender.task.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sender.written();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    if sender.task.is_finished() {
        sender.max_gap().await; // reports the breach
        panic!("the sender got its whole upload in while nobody read");
    }
    let stalled_at = sender.written();
    eprintln!(
        "stalled {:.1} MiB ahead of the paused receiver",
        mib(stalled_at - check.checked)
    );

    // Reading again lets everything through, intact.
    while check.checked < TOTAL {
        let n = tokio::time::timeout(WAIT, receiver.read(&mut buf))
            .await
            .expect("data keeps coming")
            .unwrap();
        assert!(n > 0, "receiver cut off at {}", check.checked);
        check.check(&buf[..n]);
        checked.store(check.checked, Ordering::SeqCst);
    }
    let (max_gap, lines) = sender.max_gap().await;
    assert_paced(max_gap);
    assert!(
        lines.contains("[INFO] All receiver(s) was/were received successfully."),
        "{lines}"
    );
}

#[tokio::test]
async fn a_rate_limited_curl_receiver_paces_the_sender() {
    const TOTAL: u64 = 96 * 1024 * 1024;
    // The run proves pacing only if the receiver is the bottleneck. On a loaded machine the
    // debug-built sender, server and proxy in this process can fall below 32 MB/s (soak run on
    // 4691842, load average 11): then the run is repeated with the receiver limited to a quarter
    // of the rate the sender managed, at most three runs in all.
    paced_with_slower_reruns(32 << 20, TOTAL, "sender", |rate, attempt| {
        rate_limited_run(TOTAL, rate, attempt)
    })
    .await;
}

/// One transfer of `total` bytes to a curl receiver limited to `rate` bytes/s, through the
/// recording proxy; returns how far the sender got ahead of the receiver at most (failing if it
/// ever got further than every buffer in between allows).
async fn rate_limited_run(total: u64, rate: u64, attempt: u32) -> u64 {
    let server = start_server().await;
    let proxy = RecordingProxy::start(&server).await;
    let path = format!("/limited-{attempt}");
    let receiver = spawn(curl(&[
        "--limit-rate",
        &rate.to_string(),
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("{}{path}", proxy.url),
    ]));
    server.wait_for(&path, false, 1).await;

    // Sender socket → server's receive queue → hyper → window → hyper → server's send queue →
    // the proxy's receive queue, where the proxy counts what it reads.
    let proxy_rcvbuf = proxy.upstream_rcvbuf;
    let delivered = proxy.delivered.clone();
    let sender = Sender::start(
        &server,
        &path,
        total,
        5,
        move || delivered.load(Ordering::SeqCst),
        move |sndbuf| {
            sndbuf
                + buffering::kernel_rcvbuf_max()
                + HYPER
                + WINDOW
                + HYPER
                + buffering::kernel_sndbuf_max()
                + proxy_rcvbuf
        },
    )
    .await;
    let (max_gap, lines) = sender.max_gap().await;
    let received = finish(receiver).await;
    assert_eq!(received.text(), total.to_string(), "{}", received.stderr);
    assert!(
        lines.contains("[INFO] All receiver(s) was/were received successfully."),
        "{lines}"
    );
    max_gap
}

#[tokio::test]
async fn the_slowest_of_n_receivers_sets_the_pace() {
    // As in the rate-limited test: proof needs the fast receiver to outrun the slow one, which a
    // loaded machine may not allow at 16 MB/s; then again with the slow one at a quarter of what
    // the fast one managed, at most three runs.
    paced_with_slower_reruns(
        16 << 20,
        SLOWEST_TOTAL as u64,
        "fast receiver",
        slowest_of_two_run,
    )
    .await;
}

const SLOWEST_TOTAL: usize = 40 * 1024 * 1024;

/// Two receivers of one upload (`?n=2`), one through the recording proxy limited to `rate`
/// bytes/s; returns how far the fast one got ahead of the slow one at most (failing if further
/// than every buffer in between allows).
async fn slowest_of_two_run(rate: u64, attempt: u32) -> u64 {
    const TOTAL: usize = SLOWEST_TOTAL;
    let server = start_server().await;
    let dir = temp_dir(&format!("pace-{attempt}"));
    let file = pattern_file(&dir, "data.bin", 8, TOTAL);
    let path = format!("/pace-{attempt}");
    let url = format!("{}{path}?n=2", server.url);
    let proxy = RecordingProxy::start(&server).await;
    let slow = spawn(curl(&[
        "--limit-rate",
        &rate.to_string(),
        "-o",
        "/dev/null",
        &format!("{}{path}?n=2", proxy.url),
    ]));
    server.wait_for(&path, false, 1).await;
    // The fast receiver has what the server read from the upload. The slow one's share of that
    // is in the fan-out's frame in hand, its window, hyper, the server's send queue and the
    // proxy's receive queue.
    let bound = HYPER + WINDOW + HYPER + buffering::kernel_sndbuf_max() + proxy.upstream_rcvbuf;
    let fast = tokio::spawn({
        let url = url.clone();
        let delivered = proxy.delivered.clone();
        async move {
            let mut body = reqwest::get(url).await.unwrap().bytes_stream();
            let mut check = PatternCheck::new(8);
            let mut max_gap = 0;
            while let Some(chunk) = body.next().await {
                check.check(&chunk.unwrap());
                let gap = check
                    .checked
                    .saturating_sub(delivered.load(Ordering::SeqCst));
                max_gap = max_gap.max(gap);
                assert!(
                    gap <= bound,
                    "the fast receiver got {:.1} MiB ahead of the slow one; its window plus \
                     every buffer in between allow {:.1} MiB",
                    mib(gap),
                    mib(bound)
                );
            }
            (check.checked, max_gap)
        }
    });
    server.wait_for(&path, false, 2).await;
    let sent = run(&["-T", &file, &url]).await;
    assert!(
        sent.text().ends_with("received successfully.\n"),
        "{}",
        sent.text()
    );
    let (fast_got, max_gap) = fast.await.unwrap();
    assert_eq!(fast_got, TOTAL as u64);
    let slow = finish(slow).await;
    assert_eq!(slow.code, 0, "{}", slow.stderr);
    max_gap
}
