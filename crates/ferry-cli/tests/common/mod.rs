//! Shared helpers for the CLI tests: a real `ferry serve` on an ephemeral loopback port, and the
//! built `ferry` binary run as child processes (real exit codes, real signals).
#![allow(dead_code)]

pub mod tls;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A fresh empty folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "ferry-cli-test-{tag}-{}-{}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish()
}

pub struct Server {
    child: Child,
    pub url: String,
    /// stderr lines, when started with [`Server::start_with`].
    pub log: Option<mpsc::Receiver<String>>,
}

impl Server {
    pub fn start() -> Self {
        Self::spawn(&[], &[("FERRY_LOG", "warn")], false)
    }

    /// `ferry serve` on 127.0.0.1, any free port, with more options and env vars; its stderr
    /// (the log) is kept for [`Server::wait_log`].
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(args, env, true)
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], keep_log: bool) -> Self {
        let port: &[&str] = match args.contains(&"--port") {
            true => &[],
            false => &["--port", "0"],
        };
        let mut child = Command::new(FERRY)
            .args(["serve", "--host", "127.0.0.1"])
            .args(port)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(match keep_log {
                true => Stdio::piped(),
                false => Stdio::null(),
            })
            .spawn()
            .expect("start ferry serve");
        let log = child.stderr.take().map(|err| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let mut line = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut line).unwrap();
        // Keep draining: a closed stdout would make the server's next println! fail.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| {
                let log: Vec<String> = log.iter().flat_map(|l| l.try_iter()).collect();
                panic!("no address in {line:?}; log: {log:#?}")
            })
            .to_string();
        Server { child, url, log }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits for a log line containing `needle`; returns it. Panics after `timeout` (a hang).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let log = self.log.as_ref().expect("started with start_with");
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no log line with {needle:?} within {timeout:?}; saw {seen:#?}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `ferry send` or `ferry receive`, with its output collected in the background.
pub struct Peer {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
    pub out_lines: Vec<String>,
}

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Peer {
    pub fn spawn(server: &Server, args: &[&str], stdin: Stdio) -> Self {
        Self::spawn_at(&server.url, args, stdin, &[])
    }

    /// Like `spawn`, for a server reached at `url` (e.g. through a proxy), with extra env vars.
    pub fn spawn_at(url: &str, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(FERRY)
            .args(args)
            .args(["--server", url, "--bind", "127.0.0.1:0", "--json"])
            .env("FERRY_STATE_DIR", state_dir())
            .envs(env.iter().copied())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry");
        let out = child.stdout.take().unwrap();
        Peer::attach(child, out)
    }

    /// Like `spawn`, with a real terminal (a pty from util-linux `script`) as stdin, stdout and
    /// stderr, for the prompts that are only asked on a terminal. stdout then carries stderr
    /// too; answer with [`Peer::type_line`].
    pub fn spawn_in_terminal(server: &Server, args: &[&str]) -> Self {
        let mut words = vec![FERRY.to_string()];
        words.extend(args.iter().map(|a| a.to_string()));
        words
            .extend(["--server", &server.url, "--bind", "127.0.0.1:0", "--json"].map(String::from));
        let line = words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("FERRY_STATE_DIR", state_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry under script(1) (util-linux)");
        let out = child.stdout.take().unwrap();
        Peer::attach(child, out)
    }

    /// Reads the child's stdout line by line (a pty's `\r` removed) and its stderr to the end,
    /// each on a thread of its own.
    fn attach(mut child: Child, out: std::process::ChildStdout) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Peer {
            child,
            stdout: rx,
            stderr,
            out_lines: Vec::new(),
        }
    }

    /// Types `line` and Enter on the peer's stdin.
    pub fn type_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a `--json` line with `"event":"<event>"` on stdout.
    pub fn wait_event(&mut self, event: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.stdout.recv_timeout(left) {
                Ok(l) => l,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait();
                    let stderr =
                        std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
                    panic!(
                        "ferry exited ({status:?}) before {event:?}; stdout {:?}; stderr:\n{}",
                        self.out_lines,
                        stderr.join().unwrap_or_default()
                    );
                }
                Err(_) => panic!(
                    "no {event:?} event within {timeout:?}; saw {:?}",
                    self.out_lines
                ),
            };
            self.out_lines.push(line.clone());
            // In a terminal the prompt ("… [y/N] ") has no newline of its own, so the next
            // event can share its line: parse from the first `{`.
            let json = line.find('{').map_or("", |i| &line[i..]);
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(json)
                && v["event"] == event
            {
                return v;
            }
        }
    }

    /// Waits for `ferry send`'s `room` event; returns the room code.
    pub fn room_code(&mut self) -> String {
        let room = self.wait_event("room", Duration::from_secs(20));
        room["code"].as_str().unwrap().to_string()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for exit (killing the process after `timeout`).
    pub fn finish(self, timeout: Duration) -> Finished {
        self.finish_unless_stalled(|| 0, timeout, timeout)
    }

    /// Waits for exit as long as `progress` keeps growing: killed (and the test failed as a
    /// hang) only when it has not grown for `stall`, or at `cap`. For big transfers, whose time
    /// depends on how loaded the machine is, not on whether they work.
    pub fn finish_unless_stalled(
        mut self,
        progress: impl Fn() -> u64,
        stall: Duration,
        cap: Duration,
    ) -> Finished {
        let start = Instant::now();
        let (mut last, mut last_change) = (progress(), Instant::now());
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            let now = progress();
            if now != last {
                (last, last_change) = (now, Instant::now());
            }
            if last_change.elapsed() > stall || start.elapsed() > cap {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.join().unwrap_or_default();
                panic!(
                    "ferry did not exit: no progress for {:?} (at {last}) or over {cap:?} in \
                     all; stderr:\n{stderr}",
                    last_change.elapsed()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Read stdout to its end (the reader thread ends at EOF): a loaded machine may take a
        // while to pass the last lines on, and the last line is usually the one a test wants.
        // 10 s of silence is a hang guard.
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(10)) {
            self.out_lines.push(l);
        }
        Finished {
            code,
            stdout: self.out_lines.join("\n"),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

/// Starts `ferry send <paths>` and returns it with the room code it printed.
pub fn send(server: &Server, paths: &[&Path]) -> (Peer, String) {
    let mut args = vec!["send".to_string(), "--yes".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peer = Peer::spawn(server, &args, Stdio::null());
    let room = peer.wait_event("room", Duration::from_secs(20));
    let code = room["code"].as_str().unwrap().to_string();
    assert!(
        room["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/?room={code}"))
    );
    (peer, code)
}

/// Where the CLIs of this test binary keep their receive identities (not the user's home).
pub fn state_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ferry-test-state-{}", std::process::id()))
}

pub fn receive(server: &Server, code: &str, out: &Path, extra: &[&str], stdin: Stdio) -> Peer {
    let out = out.display().to_string();
    let mut args = vec!["receive", code, "--out", &out];
    args.extend_from_slice(extra);
    Peer::spawn(server, &args, stdin)
}

/// Every regular file under `dir`, as `/`-separated relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    // xorshift: incompressible enough, reproducible, no dependency.
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Compares two files in chunks (they may be large).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The `--json` lines of `stdout` whose `event` is `event`.
pub fn json_events(stdout: &str, event: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

// --- The relay must not see plaintext: a marked file and a recording proxy (cli_relay.rs,
// scale_out_streams.rs). ---

pub const MARKER: &[u8] = b"FERRY-CLI-PLAINTEXT-MARKER-91c2";

/// A TCP proxy in front of the server recording every byte the server sends to the client
/// (server-to-client WebSocket frames are unmasked: this is what the relay forwards).
pub fn recording_proxy(server_url: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let target = server_url.trim_start_matches("http://").to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for down in listener.incoming() {
            let Ok(down) = down else { break };
            let Ok(up) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let (mut down_r, mut up_w) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut down_r, &mut up_w);
                let _ = up_w.shutdown(std::net::Shutdown::Write);
            });
            let (mut up_r, mut down_w) = (up, down);
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match up_r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if std::io::Write::write_all(&mut down_w, &buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = down_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, seen)
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A file that is mostly the marker, plus random bytes.
pub fn marked_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("secret notes.txt");
    let mut data = Vec::new();
    for i in 0..20_000u32 {
        data.extend_from_slice(MARKER);
        data.extend_from_slice(format!(" line {i}\n").as_bytes());
    }
    data.extend_from_slice(&random_bytes(3 * 1024 * 1024 + 11, 5));
    std::fs::write(&p, data).unwrap();
    p
}

/// Bytes of every file under `dir` (received files and `.ferry-part` files), for
/// [`Peer::finish_unless_stalled`].
pub fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
