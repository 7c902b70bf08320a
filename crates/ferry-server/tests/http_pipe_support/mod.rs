//! Shared helpers for the HTTP pipe tests: a real server on an ephemeral loopback port, curl as
//! a child process, a raw HTTP/1.1 client for what curl cannot do (byte-by-byte, aborts), and a
//! deterministic byte pattern that both ends can produce or check without holding it in memory.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use ferry_server::{BoundServer, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Server {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub state: ferry_server::AppState,
}

impl Server {
    /// Waits until `path` has this many parties waiting (sender present, receivers).
    pub async fn wait_for(&self, path: &str, sender: bool, receivers: usize) {
        let pipes = self.state.pipes.clone();
        eventually(
            &format!("{path}: sender={sender} receivers={receivers}"),
            || {
                let now = pipes.waiting(path);
                async move { now == Some((sender, receivers)) }
            },
        )
        .await;
    }

    /// Waits until `path` has nobody waiting and no transfer running.
    pub async fn wait_free(&self, path: &str) {
        let pipes = self.state.pipes.clone();
        eventually(&format!("{path} free"), || {
            let free = pipes.waiting(path).is_none() && !pipes.is_established(path);
            async move { free }
        })
        .await;
    }
}

pub async fn start_server() -> Server {
    start_server_with(ServerConfig::default()).await
}

/// A server with `config` (its listen address is replaced by an ephemeral loopback port).
pub async fn start_server_with(config: ServerConfig) -> Server {
    let server = BoundServer::bind(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    })
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let state = server.state().clone();
    tokio::spawn(server.run());
    Server {
        url: format!("http://{addr}"),
        addr,
        state,
    }
}

/// `curl -sS <args>`, stdout and stderr captured.
pub fn curl(args: &[&str]) -> Command {
    let mut cmd = Command::new("curl");
    cmd.arg("-sS")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub fn spawn(mut cmd: Command) -> Child {
    cmd.spawn().expect("curl must be installed")
}

pub struct Done {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Done {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

pub async fn finish(child: Child) -> Done {
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("curl did not finish in time")
        .unwrap();
    Done {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs curl to completion.
pub async fn run(args: &[&str]) -> Done {
    finish(spawn(curl(args))).await
}

/// Splits `curl -i` output into (status, lowercased header lines, body).
pub fn split_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if status == 100 {
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        return (status, headers, rest.to_vec());
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn headers_named<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A raw HTTP/1.1 connection, for byte-level control over what is sent and when.
pub struct Raw {
    pub reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: Option<tokio::net::tcp::OwnedWriteHalf>,
}

impl Raw {
    pub async fn connect(server: &Server) -> Raw {
        let stream = TcpStream::connect(server.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (r, w) = stream.into_split();
        Raw {
            reader: BufReader::new(r),
            writer: Some(w),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("writer taken");
        writer.write_all(bytes).await.unwrap();
        writer.flush().await.unwrap();
    }

    /// Hands the sending half to someone else (e.g. a task that writes until it fails).
    pub fn take_writer(&mut self) -> tokio::net::tcp::OwnedWriteHalf {
        self.writer.take().expect("writer taken")
    }

    /// Reads a response head (skipping `100 Continue`); returns status and lowercased headers.
    pub async fn head(&mut self) -> (u16, Vec<(String, String)>) {
        loop {
            let status_line = self.line().await;
            let status: u16 = status_line
                .split(' ')
                .nth(1)
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
                .parse()
                .unwrap();
            let mut headers = Vec::new();
            loop {
                let line = self.line().await;
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            if status != 100 {
                return (status, headers);
            }
        }
    }

    /// One line without its CRLF (empty string at EOF).
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("timed out reading a line")
            .unwrap();
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    /// Reads one chunk of a chunked body; `None` at the terminating chunk.
    pub async fn chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = self.line().await;
        let size = usize::from_str_radix(size_line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
        if size == 0 {
            self.line().await;
            return None;
        }
        let mut data = vec![0; size];
        tokio::time::timeout(WAIT, self.reader.read_exact(&mut data))
            .await
            .expect("timed out reading a chunk")
            .unwrap();
        self.line().await;
        Some(data)
    }

    /// Reads a chunked body's text to the end.
    pub async fn chunked_text(&mut self) -> String {
        let mut all = Vec::new();
        while let Some(c) = self.chunk().await {
            all.extend_from_slice(&c);
        }
        String::from_utf8(all).unwrap()
    }

    /// Reads until EOF or error; returns what arrived.
    pub async fn rest(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let _ = tokio::time::timeout(WAIT, self.reader.read_to_end(&mut all)).await;
        all
    }
}

/// A deterministic, cheap, non-repeating byte stream: byte `i` of the pattern for `seed`.
/// Checking data against it position by position needs no copy of the data.
pub struct Pattern {
    state: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Pattern {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            // xorshift64*
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Checks a stream of chunks of any sizes against the pattern.
pub struct PatternCheck {
    pattern: Pattern,
    expected: Vec<u8>,
    pos: usize,
    pub checked: u64,
}

impl PatternCheck {
    pub fn new(seed: u64) -> Self {
        PatternCheck {
            pattern: Pattern::new(seed),
            expected: Vec::new(),
            pos: 0,
            checked: 0,
        }
    }

    /// Panics at the first byte that differs.
    pub fn check(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pos == self.expected.len() {
                self.expected.resize(256 * 1024, 0);
                self.pattern.fill(&mut self.expected);
                self.pos = 0;
            }
            let n = data.len().min(self.expected.len() - self.pos);
            let want = &self.expected[self.pos..self.pos + n];
            if &data[..n] != want {
                let i = data.iter().zip(want).position(|(a, b)| a != b).unwrap();
                panic!("byte {} differs", self.checked + i as u64);
            }
            self.pos += n;
            self.checked += n as u64;
            data = &data[n..];
        }
    }
}

/// Writes `len` bytes of the pattern to a file in a fresh temp dir; returns its path.
pub fn pattern_file(dir: &std::path::Path, name: &str, seed: u64, len: usize) -> String {
    let mut data = vec![0; len];
    Pattern::new(seed).fill(&mut data);
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    path.to_str().unwrap().to_owned()
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferry-http-pipe-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Polls `f` until it is true (or panics after WAIT).
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many bytes may honestly sit between two points of a pipe transfer, outside the pipe's
/// window: every buffer a byte can be in, each at its largest, so that an assertion against it
/// holds on a fast machine and on a slow one alike (no clock involved).
pub mod buffering {
    use ferry_server::pipe::window::{MAX_CHUNK, WINDOW_CHUNKS};

    /// The pipe's own window per receiver (docs/relay.md, `pipe/window.rs`).
    pub const WINDOW: u64 = (WINDOW_CHUNKS * MAX_CHUNK) as u64;

    /// hyper's buffer in one direction of one connection: its read buffer and its queued write
    /// buffer are each capped by `DEFAULT_MAX_BUFFER_SIZE` (8 KiB + 400 KiB), plus one body frame
    /// in hand between hyper and the pipe. 1 MiB is generous.
    pub const HYPER: u64 = 1024 * 1024;

    /// The most payload a socket's receive queue can hold when the kernel autotunes it (the
    /// server's sockets set no size): `net.ipv4.tcp_rmem`'s max. A queue's accounting counts the
    /// buffers' true size, which is never less than their payload.
    pub fn kernel_rcvbuf_max() -> u64 {
        sysctl_max("/proc/sys/net/ipv4/tcp_rmem")
    }

    /// Same for an autotuned send queue: `net.ipv4.tcp_wmem`'s max, plus one 64 KiB segment
    /// Linux lets a writer overshoot by.
    pub fn kernel_sndbuf_max() -> u64 {
        sysctl_max("/proc/sys/net/ipv4/tcp_wmem") + 64 * 1024
    }

    fn sysctl_max(path: &str) -> u64 {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{path}: unexpected {text:?}"))
    }

    pub fn mib(bytes: u64) -> f64 {
        bytes as f64 / (1024.0 * 1024.0)
    }
}

/// A TCP proxy on a loopback port in front of the server for one client connection (curl,
/// say), counting the bytes it has read from the server. Its socket towards the server has a
/// small receive buffer, so what the server has sent but the proxy not yet counted is bounded
/// (`upstream_rcvbuf`). It reads only as fast as the client takes the bytes, so a slow client
/// behind it is still a slow receiver for the server.
pub struct RecordingProxy {
    pub url: String,
    /// Bytes read from the server so far (response head included).
    pub delivered: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The kernel's limit for the proxy's receive queue towards the server, in bytes.
    pub upstream_rcvbuf: u64,
}

impl RecordingProxy {
    pub async fn start(server: &Server) -> RecordingProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = tokio::net::TcpSocket::new_v4().unwrap();
        upstream.set_recv_buffer_size(32 * 1024).unwrap();
        // Linux doubles the asked size for its bookkeeping and reports the doubled limit.
        let upstream_rcvbuf = u64::from(upstream.recv_buffer_size().unwrap());
        let delivered = Arc::new(AtomicU64::new(0));
        let counter = delivered.clone();
        let server_addr = server.addr;
        tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let upstream = upstream.connect(server_addr).await.unwrap();
            let (mut client_r, mut client_w) = client.into_split();
            let (mut up_r, mut up_w) = upstream.into_split();
            let requests = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_r, &mut up_w).await;
                let _ = up_w.shutdown().await;
            });
            let mut buf = vec![0; 16 * 1024];
            loop {
                let n = match up_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if client_w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = client_w.shutdown().await;
            requests.abort();
        });
        RecordingProxy {
            url,
            delivered,
            upstream_rcvbuf,
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(std::sync::atomic::Ordering::SeqCst)
    }
}
