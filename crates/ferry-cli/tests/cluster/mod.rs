//! Scale-out test parts, all real: a `redis-server` on a free loopback port, `ferry serve --redis`
//! instances of the built binary, and WebSocket signaling clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
/// Hang guard for anything that must happen; a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(20);
/// The secret every instance shares, so that a peer token is good on each of them.
pub const SECRET: &str = "scale-out-test-secret";

/// `None` (with the reason printed) when `redis-server` is missing and cannot be installed here
/// (not root). CI runs as root and `scripts/install-test-deps` installs it: there it must exist.
pub fn redis_server_or_skip(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(
            !root,
            "redis-server is not installed; scripts/install-test-deps installs it (apt-get install redis-server)"
        );
        eprintln!("SKIP {test}: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `redis-server` on loopback, without persistence: a restart starts empty, the worst
/// case for the instances.
pub struct Redis {
    bin: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start(bin: PathBuf) -> Self {
        let mut r = Redis {
            bin,
            port: free_port(),
            child: None,
        };
        r.spawn();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new(&self.bin)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/tmp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !self.pong() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Kills the server (no goodbye to clients) and starts an empty one on the same port.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `ferry serve --redis` process. Its stderr (the log) is collected for assertions.
pub struct Instance {
    child: Child,
    pub url: String,
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Instance {
    pub fn start(redis_url: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(FERRY)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--no-turn"])
            .args(["--redis", redis_url, "--secret", SECRET])
            // The tests give peers a public address through X-Forwarded-For, as a proxy would.
            .args(["--trusted-proxy", "127.0.0.1"])
            .args(extra)
            .env("FERRY_LOG", "warn,ferry_server::redis_hub=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferry serve --redis");
        let mut line = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut line).unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let log = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let addr = url.trim_start_matches("http://").to_string();
        let inst = Instance {
            child,
            url,
            addr,
            log,
        };
        inst.wait_redis_up(true);
        inst
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process without a graceful shutdown (a crash, a lost machine).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One value from this instance's /metrics.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    }

    /// Waits until `ferry_redis_up` says `up`.
    pub fn wait_redis_up(&self, up: bool) {
        let want = if up { 1.0 } else { 0.0 };
        let deadline = Instant::now() + WAIT;
        while self.metric("ferry_redis_up") != Some(want) {
            assert!(
                Instant::now() < deadline,
                "ferry_redis_up never became {want}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signaling client. `from` is the public address the (trusted) proxy says it comes from.
pub struct Client {
    pub ws: Ws,
    pub id: String,
    pub token: String,
    pub welcome: Value,
}

impl Client {
    pub async fn connect(inst: &Instance, from: &str, token: Option<&str>) -> Client {
        Self::connect_addr(&inst.addr, from, token).await
    }

    pub async fn connect_addr(addr: &str, from: &str, token: Option<&str>) -> Client {
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        Self::connect_query(addr, from, &query).await
    }

    /// Connects with `query` (`""` or `"?device=phone"`, …) as the URL's query string.
    pub async fn connect_query(addr: &str, from: &str, query: &str) -> Client {
        let mut req = format!("ws://{addr}/ws{query}")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("x-forwarded-for", from.parse().unwrap());
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect timed out")
            .expect("connect");
        let welcome = recv(&mut ws).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        Client {
            id: welcome["peer"]["id"].as_str().unwrap().to_string(),
            token: welcome["token"].as_str().unwrap().to_string(),
            welcome,
            ws,
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn recv(&mut self) -> Value {
        recv(&mut self.ws).await
    }

    /// The next message of `type`, skipping others.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        self.recv_until(|m| m["type"] == ty).await
    }

    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let m = tokio::time::timeout_at(deadline, recv(&mut self.ws))
                .await
                .expect("timed out waiting for a matching message");
            if pred(&m) {
                return m;
            }
        }
    }

    /// Waits for the server's Close frame; its code.
    pub async fn recv_close(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for a close")?;
            match frame {
                Ok(Message::Close(c)) => return c.map(|c| c.code.into()),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    pub async fn create_room(&mut self) -> String {
        self.send(json!({"type": "create-room"})).await;
        let m = self.recv_type("room-joined").await;
        m["room"]["id"].as_str().unwrap().to_string()
    }
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection ended")
            .expect("websocket error");
        match frame {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("valid JSON"),
            Message::Close(c) => panic!("closed by server: {c:?}"),
            _ => continue,
        }
    }
}

/// Ids of the peers a listing (`welcome` room or `room-joined` room) shows.
pub fn listed(room: &Value) -> Vec<String> {
    let mut ids: Vec<String> = room["peers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The LAN room of a welcome.
pub fn lan_room(welcome: &Value) -> &Value {
    welcome["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "lan")
        .expect("a LAN room")
}
