//! Load generator for `bench/signaling/crowd.sh`: 10,000 signaling peers against one `ferry serve`
//! on loopback, split over several processes (each holds its own sockets and file descriptors),
//! every peer bound to a source address in 127.0.0.0/8 so that the server's per-address budgets
//! see many hosts. One executable, four roles:
//!
//! - `run`: the orchestrator. Spawns the other roles (this same executable), drives the phases,
//!   samples the server's `/proc/PID/{stat,status}` and `/metrics`, and prints the results.
//! - `peers`: a share of the crowd. Connects its peers (scenario `a`: LAN only; `b`: pairs in code
//!   rooms, one creates, the other joins by code), keeps reading every socket, and sends
//!   background signals to a room mate on command.
//! - `canary`: one pair of peers in one process, measuring how long a signal takes from the
//!   sender's `send` to the receiver's read (one clock, so no cross-process skew).
//! - `flooder`: floods signals until the server closes it with 1008, reconnects at once, for a
//!   bounded time; from one address or rotating over a pool of addresses.
//!
//! Children speak line by line on stdin/stdout. Every loop is bounded in count or time.
//!
//! usage: crowd run server=127.0.0.1:PORT pid=PID scenario=a|b [peers=10000 workers=4 rate=2000
//!        signal_secs=15 flood_secs=20 flood_pool=256 canary_rate=40 settle_secs=5 tck=100]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_protocol::signaling::ServerMessage;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

type Ws = WebSocketStream<TcpStream>;

/// Any single wait longer than this is a hang, not a slow machine.
const HANG: Duration = Duration::from_secs(60);
/// Background and canary signals carry this much padding: about the size of an ICE candidate.
const PAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const SIGNAL_PREFIX: &str = r#"{"type":"signal","from":""#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().cloned().unwrap_or_default();
    let opts = Opts::parse(args.get(1..).unwrap_or_default());
    match role.as_str() {
        "run" => orchestrate(&opts),
        "peers" => runtime().block_on(peers_main(&opts)),
        "canary" => runtime().block_on(canary_main(&opts)),
        "flooder" => runtime().block_on(flooder_main(&opts)),
        _ => {
            eprintln!("usage: crowd run|peers|canary|flooder key=value…");
            std::process::exit(2);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `key=value` arguments.
struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        Opts(
            args.iter()
                .filter_map(|a| a.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn get<T: FromStr>(&self, key: &str, default: T) -> T {
        match self.0.get(key) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value for {key}: {v:?}")),
            None => default,
        }
    }

    fn server(&self) -> SocketAddr {
        self.get("server", SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

// ---------------------------------------------------------------------------------------------
// Shared client pieces

/// Crowd peer `n` (from 0) binds 127.1.0.0 + 1 + n / per_addr.
fn crowd_source(n: u32, per_addr: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + n / per_addr.max(1))
}

/// Flooder addresses: 127.2.0.0 + 1 + n.
fn flood_source(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 2, 0, 1)) + n)
}

enum ConnectError {
    /// The server answered the upgrade with this HTTP status (429: a per-address budget).
    Refused(u16),
    Other(String),
}

async fn connect(src: Ipv4Addr, server: SocketAddr) -> Result<Ws, ConnectError> {
    let other = |e: std::io::Error| ConnectError::Other(e.to_string());
    let sock = TcpSocket::new_v4().map_err(other)?;
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0))
        .map_err(other)?;
    let tcp = sock.connect(server).await.map_err(other)?;
    // As browsers do: signals are small and latency-bound.
    tcp.set_nodelay(true).map_err(other)?;
    // The crowd's sockets stay small: signaling messages are a few hundred bytes.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let url = format!("ws://{server}/ws?client=bench");
    match tokio::time::timeout(
        HANG,
        tokio_tungstenite::client_async_with_config(url, tcp, Some(config)),
    )
    .await
    {
        Err(_) => Err(ConnectError::Other("handshake timed out".into())),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(WsError::Http(resp))) => Err(ConnectError::Refused(resp.status().as_u16())),
        Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
    }
}

async fn connect_retrying(
    src: Ipv4Addr,
    server: SocketAddr,
    retries: &AtomicU64,
) -> Result<Ws, String> {
    let mut last = String::new();
    for attempt in 0..5u64 {
        if attempt > 0 {
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match connect(src, server).await {
            Ok(ws) => return Ok(ws),
            Err(ConnectError::Refused(status)) => last = format!("{src}: HTTP {status}"),
            Err(ConnectError::Other(e)) => last = format!("{src}: {e}"),
        }
    }
    Err(last)
}

/// The next text message; pings are answered by tungstenite while reading.
async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, String> {
    loop {
        match tokio::time::timeout(HANG, ws.next()).await {
            Err(_) => return Err("timed out waiting for a message".into()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t),
            Ok(Some(Ok(Message::Close(cf)))) => return Err(format!("closed: {cf:?}")),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Err("connection ended".into()),
        }
    }
}

struct Welcome {
    id: String,
    /// The first other peer the welcome lists in the LAN room, if any.
    mate: Option<String>,
    crowded: bool,
}

async fn welcome(ws: &mut Ws) -> Result<Welcome, String> {
    let text = next_text(ws).await?;
    match serde_json::from_str::<ServerMessage>(text.as_str()) {
        Ok(ServerMessage::Welcome { peer, rooms, .. }) => {
            let lan = rooms.first();
            Ok(Welcome {
                id: peer.id,
                mate: lan.and_then(|r| r.peers.first()).map(|p| p.id.clone()),
                crowded: lan.is_some_and(|r| r.crowded),
            })
        }
        _ => Err(format!("expected a welcome, got {text}")),
    }
}

/// Sends `create-room` or `join-room` and waits for `room-joined`; returns the room code.
async fn enter_room(ws: &mut Ws, request: String) -> Result<String, String> {
    ws.send(Message::Text(request.into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let text = next_text(ws).await?;
        let text = text.as_str();
        if text.starts_with(r#"{"type":"room-joined""#) {
            return match serde_json::from_str::<ServerMessage>(text) {
                Ok(ServerMessage::RoomJoined { room }) => Ok(room.id),
                _ => Err(format!("bad room-joined: {text}")),
            };
        }
        if text.starts_with(r#"{"type":"error""#) {
            return Err(text.to_string());
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// An `app` signal to `to`, stamped with the wall clock (all processes share it).
fn signal_text(to: &str) -> String {
    format!(
        r#"{{"type":"signal","to":"{to}","signal":{{"kind":"app","payload":{{"pad":"{PAD}","t":{}}}}}}}"#,
        now_ns()
    )
}

/// The send stamp of a forwarded signal.
fn stamp(text: &str) -> Option<u64> {
    let at = text.rfind(r#""t":"#)? + 4;
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The first `"id":"…"` in a message (the peer of `peer-joined`, the first of `room-peers`).
fn first_id(text: &str) -> Option<String> {
    let at = text.find(r#""id":""#)? + 6;
    let rest = &text[at..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Latencies in 10 µs buckets up to 200 ms, plus the maximum.
#[derive(Clone)]
struct Hist {
    counts: Vec<u64>,
    n: u64,
    max_us: u64,
}

const BUCKET_US: u64 = 10;
const BUCKETS: usize = 20_000;

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; BUCKETS + 1],
            n: 0,
            max_us: 0,
        }
    }
}

impl Hist {
    fn add_ns(&mut self, ns: u64) {
        let us = ns / 1000;
        self.counts[((us / BUCKET_US) as usize).min(BUCKETS)] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The `q` quantile in µs (upper edge of its bucket; the maximum beyond the last bucket).
    fn quantile_us(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return if i == BUCKETS {
                    self.max_us
                } else {
                    ((i as u64 + 1) * BUCKET_US).min(self.max_us.max(BUCKET_US))
                };
            }
        }
        self.max_us
    }

    fn encode(&self) -> String {
        let mut s = format!("{};{}", self.n, self.max_us);
        for (i, c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            s.push_str(&format!(";{i}:{c}"));
        }
        s
    }

    fn merge_encoded(&mut self, s: &str) {
        let mut parts = s.split(';');
        self.n += parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let max: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        self.max_us = self.max_us.max(max);
        for p in parts {
            if let Some((i, c)) = p.split_once(':')
                && let (Ok(i), Ok(c)) = (i.parse::<usize>(), c.parse::<u64>())
                && i <= BUCKETS
            {
                self.counts[i] += c;
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    /// Signals from someone other than the peer's canary partner (canary only).
    foreign: AtomicU64,
    /// Flooders' signals that got through (the first of each flooding connection do).
    flood_received: AtomicU64,
    no_target: AtomicU64,
    errors: AtomicU64,
    /// Peers whose connection the server closed or that failed while connected.
    closed: AtomicU64,
    crowded: AtomicU64,
    retries: AtomicU64,
    hist: Mutex<Hist>,
    /// Exact latencies in ns (canary only).
    /// Exact latencies in ns and when they arrived (canary only).
    exact: Mutex<Vec<(u64, Instant)>>,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

enum Cmd {
    /// Send one signal to the peer's target.
    Signal,
}

/// A connected peer: reads everything it is sent (as a browser does), sends a signal to its
/// target on each command. `partner` (canary): only its signals are measured.
async fn peer_loop(
    mut ws: Ws,
    mut target: Option<String>,
    mut cmds: mpsc::Receiver<Cmd>,
    stats: Arc<Stats>,
    partner: Option<String>,
) {
    let partner_prefix = partner.map(|p| format!("{SIGNAL_PREFIX}{p}\""));
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    if t.starts_with(SIGNAL_PREFIX) {
                        let now = now_ns();
                        if let Some(prefix) = &partner_prefix && !t.starts_with(prefix.as_str()) {
                            stats.foreign.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let Some(sent) = stamp(t) else {
                            stats.flood_received.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        stats.received.fetch_add(1, Ordering::Relaxed);
                        let ns = now.saturating_sub(sent);
                        stats.hist.lock().unwrap().add_ns(ns);
                        if partner_prefix.is_some() {
                            stats.exact.lock().unwrap().push((ns, Instant::now()));
                        }
                    } else if t.starts_with(r#"{"type":"error""#) {
                        if stats.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("server error to a peer: {t}");
                        }
                    } else if target.is_none()
                        && (t.starts_with(r#"{"type":"peer-joined""#)
                            || t.starts_with(r#"{"type":"room-peers""#))
                    {
                        target = first_id(t);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    stats.closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Signal) => match &target {
                    Some(to) => {
                        if ws.send(Message::Text(signal_text(to).into())).await.is_err() {
                            stats.closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        stats.no_target.fetch_add(1, Ordering::Relaxed);
                    }
                },
                None => return,
            },
        }
    }
}

fn spawn_peer(
    ws: Ws,
    target: Option<String>,
    stats: &Arc<Stats>,
    partner: Option<String>,
) -> mpsc::Sender<Cmd> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(peer_loop(ws, target, rx, stats.clone(), partner));
    tx
}

async fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
        // The orchestrator is gone: so are we.
        std::process::exit(0);
    });
    rx
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------------
// Role `peers`

/// Connects one unit: a LAN peer (scenario a), or a creator + joiner pair in a code room (b).
async fn connect_unit(
    scenario: char,
    index: u32,
    per_addr: u32,
    server: SocketAddr,
    stats: Arc<Stats>,
) -> Result<Vec<mpsc::Sender<Cmd>>, String> {
    if scenario == 'a' {
        let mut ws =
            connect_retrying(crowd_source(index, per_addr), server, &stats.retries).await?;
        let w = welcome(&mut ws).await?;
        if w.crowded {
            stats.crowded.fetch_add(1, Ordering::Relaxed);
        }
        return Ok(vec![spawn_peer(ws, w.mate, &stats, None)]);
    }
    let (a_idx, b_idx) = (index * 2, index * 2 + 1);
    let mut a = connect_retrying(crowd_source(a_idx, per_addr), server, &stats.retries).await?;
    let wa = welcome(&mut a).await?;
    let code = enter_room(&mut a, r#"{"type":"create-room"}"#.into()).await?;
    let mut b = connect_retrying(crowd_source(b_idx, per_addr), server, &stats.retries).await?;
    let wb = welcome(&mut b).await?;
    let joined = enter_room(&mut b, format!(r#"{{"type":"join-room","code":"{code}"}}"#)).await?;
    if joined != code {
        return Err(format!("joined {joined}, expected {code}"));
    }
    for w in [&wa, &wb] {
        if w.crowded {
            stats.crowded.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(vec![
        spawn_peer(a, Some(wb.id.clone()), &stats, None),
        spawn_peer(b, Some(wa.id.clone()), &stats, None),
    ])
}

async fn peers_main(o: &Opts) {
    let server = o.server();
    let scenario: char = o.get("scenario", 'a');
    let count: u32 = o.get("count", 2500u32).min(20_000);
    // Global index of this worker's first peer: addresses never overlap between workers.
    let first: u32 = o.get("first", 0u32);
    let per_addr: u32 = o.get("per_addr", 10u32);
    let conc: usize = o.get("conc", 64usize);
    let stats = Arc::new(Stats::default());
    let mut lines = stdin_lines().await;
    say("ready");

    let mut senders: Vec<mpsc::Sender<Cmd>> = Vec::new();
    let mut next = 0usize;
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["connect"] => {
                let started = Instant::now();
                let sem = Arc::new(Semaphore::new(conc));
                let (done_tx, mut done_rx) = mpsc::unbounded_channel();
                let units = if scenario == 'a' { count } else { count / 2 };
                let unit_base = if scenario == 'a' { first } else { first / 2 };
                for u in 0..units {
                    let (sem, done_tx, stats) = (sem.clone(), done_tx.clone(), stats.clone());
                    tokio::spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        let r =
                            connect_unit(scenario, unit_base + u, per_addr, server, stats).await;
                        let _ = done_tx.send(r);
                    });
                }
                drop(done_tx);
                let mut failed = 0;
                while let Some(r) = done_rx.recv().await {
                    match r {
                        Ok(txs) => senders.extend(txs),
                        Err(e) => {
                            failed += 1;
                            if failed <= 5 {
                                eprintln!("connect failed: {e}");
                            }
                        }
                    }
                }
                say(&format!(
                    "connected ok={} failed={failed} ms={}",
                    senders.len(),
                    started.elapsed().as_millis()
                ));
            }
            ["send", rate, secs] => {
                let rate: f64 = rate.parse().unwrap_or(0.0);
                let secs: f64 = secs.parse::<f64>().unwrap_or(0.0).min(600.0);
                let started = Instant::now();
                let mut queued = 0u64;
                let mut skipped = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(5));
                while !senders.is_empty() && started.elapsed().as_secs_f64() < secs {
                    tick.tick().await;
                    let due = (rate * started.elapsed().as_secs_f64().min(secs)) as u64;
                    while queued < due {
                        let tx = &senders[next % senders.len()];
                        next += 1;
                        if tx.try_send(Cmd::Signal).is_err() {
                            skipped += 1;
                        }
                        queued += 1;
                    }
                }
                say(&format!("sent queued={queued} skipped={skipped}"));
            }
            ["stats"] => {
                let hist = std::mem::take(&mut *stats.hist.lock().unwrap());
                say(&format!(
                    "stats peers={} sent={} received={} flood_received={} no_target={} errors={} closed={} crowded={} retries={} hist={}",
                    senders.len(),
                    get(&stats.sent),
                    get(&stats.received),
                    get(&stats.flood_received),
                    get(&stats.no_target),
                    get(&stats.errors),
                    get(&stats.closed),
                    get(&stats.crowded),
                    get(&stats.retries),
                    hist.encode()
                ));
            }
            ["quit"] => std::process::exit(0),
            _ => eprintln!("peers: unknown command {line:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Role `canary`

async fn canary_main(o: &Opts) {
    let server = o.server();
    let scenario: char = o.get("scenario", 'a');
    let stats = Arc::new(Stats::default());
    let mut lines = stdin_lines().await;
    let setup = async {
        let src_a = Ipv4Addr::new(127, 0, 0, 2);
        let src_b = Ipv4Addr::new(127, 0, 0, 3);
        let mut a = connect_retrying(src_a, server, &stats.retries).await?;
        let wa = welcome(&mut a).await?;
        if scenario == 'b' {
            let code = enter_room(&mut a, r#"{"type":"create-room"}"#.into()).await?;
            let mut b = connect_retrying(src_b, server, &stats.retries).await?;
            let wb = welcome(&mut b).await?;
            enter_room(&mut b, format!(r#"{{"type":"join-room","code":"{code}"}}"#)).await?;
            Ok::<_, String>((a, wa, b, wb))
        } else {
            let mut b = connect_retrying(src_b, server, &stats.retries).await?;
            let wb = welcome(&mut b).await?;
            if wb.mate.as_deref() != Some(wa.id.as_str()) {
                return Err("the canary pair did not land in one LAN room; start it first".into());
            }
            Ok((a, wa, b, wb))
        }
    };
    let (a, wa, b, wb) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            say(&format!("error {e}"));
            std::process::exit(1);
        }
    };
    let tx_a = spawn_peer(a, Some(wb.id.clone()), &stats, Some(wb.id.clone()));
    let tx_b = spawn_peer(b, Some(wa.id.clone()), &stats, Some(wa.id.clone()));
    say("ready");
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["measure", rate, secs] => {
                // `rate` signals per second in each direction, alternating.
                let rate: f64 = rate.parse::<f64>().unwrap_or(40.0).clamp(1.0, 45.0);
                let secs: f64 = secs.parse::<f64>().unwrap_or(10.0).min(600.0);
                stats.exact.lock().unwrap().clear();
                let (sent0, recv0, foreign0) =
                    (get(&stats.sent), get(&stats.received), get(&stats.foreign));
                let started = Instant::now();
                // The scheduling probe: how late a 5 ms timer fires in this process. When the
                // canary is late because this machine did not run it, the probe is late too.
                let probe = tokio::spawn(async move {
                    let mut late = Vec::new();
                    while started.elapsed().as_secs_f64() < secs {
                        let before = Instant::now();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let over = before.elapsed().saturating_sub(Duration::from_millis(5));
                        late.push((over.as_nanos() as u64, Instant::now()));
                    }
                    late
                });
                let mut tick = tokio::time::interval(Duration::from_secs_f64(0.5 / rate));
                let mut i = 0u64;
                while started.elapsed().as_secs_f64() < secs {
                    tick.tick().await;
                    let tx = if i.is_multiple_of(2) { &tx_a } else { &tx_b };
                    let _ = tx.try_send(Cmd::Signal);
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let mut v = std::mem::take(&mut *stats.exact.lock().unwrap());
                let mut late = probe.await.unwrap_or_default();
                let worst = |v: &mut Vec<(u64, Instant)>| -> String {
                    v.sort_unstable_by_key(|(ns, _)| std::cmp::Reverse(*ns));
                    v.iter()
                        .take(3)
                        .map(|(ns, at)| {
                            format!(
                                "{:.1}@{:.1}s",
                                *ns as f64 / 1e6,
                                at.duration_since(started).as_secs_f64()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                };
                // Stalls: runs of samples over 20 ms, as start time (s into the window) : worst ms.
                let mut slow: Vec<(f64, f64)> = v
                    .iter()
                    .filter(|(ns, _)| *ns > 20_000_000)
                    .map(|(ns, at)| (at.duration_since(started).as_secs_f64(), *ns as f64 / 1e6))
                    .collect();
                slow.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut stalls: Vec<(f64, f64, f64)> = Vec::new();
                for (at, ms) in slow {
                    match stalls.last_mut() {
                        Some(last) if at - last.1 < 0.2 => {
                            last.1 = at;
                            last.2 = last.2.max(ms);
                        }
                        _ => stalls.push((at, at, ms)),
                    }
                }
                let stalls = stalls
                    .iter()
                    .map(|(from, _, ms)| format!("{from:.1}s:{ms:.0}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let worst_canary = worst(&mut v);
                let worst_probe = worst(&mut late);
                let quantile = |v: &[(u64, Instant)], q: f64| -> f64 {
                    let mut ns: Vec<u64> = v.iter().map(|(n, _)| *n).collect();
                    ns.sort_unstable();
                    if ns.is_empty() {
                        return 0.0;
                    }
                    let idx = ((ns.len() as f64 * q).ceil() as usize).clamp(1, ns.len()) - 1;
                    ns[idx] as f64 / 1e6
                };
                let q = |p: f64| quantile(&v, p);
                say(&format!(
                    "lat stalls={} probe_p99={:.3} probe_max={:.3} worst={worst_canary} probe_worst={worst_probe} sent={} received={} foreign={} closed={} p50={:.3} p90={:.3} p99={:.3} p999={:.3} max={:.3}",
                    if stalls.is_empty() {
                        "none"
                    } else {
                        stalls.as_str()
                    },
                    quantile(&late, 0.99),
                    quantile(&late, 1.0),
                    get(&stats.sent) - sent0,
                    get(&stats.received) - recv0,
                    get(&stats.foreign) - foreign0,
                    get(&stats.closed),
                    q(0.5),
                    q(0.9),
                    q(0.99),
                    q(0.999),
                    q(1.0)
                ));
            }
            ["quit"] => std::process::exit(0),
            _ => eprintln!("canary: unknown command {line:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Role `flooder`

#[derive(Default)]
struct FloodStats {
    attempts: u64,
    connected: u64,
    closed_1008: u64,
    closed_other: u64,
    not_closed: u64,
    refused_429: u64,
    refused_other: u64,
    errors: u64,
    frames: u64,
    /// Seconds into the run of the first refusal (429).
    first_429: Option<f64>,
}

/// One flooding connection: signals to a LAN mate as fast as the socket takes them, until the
/// server closes it. Returns the close code, if any.
async fn flood_once(mut ws: Ws, st: &mut FloodStats) -> Option<u16> {
    let mate = welcome(&mut ws)
        .await
        .ok()
        .and_then(|w| w.mate)
        .unwrap_or_else(|| "0000000000000000".into());
    // No send stamp: receivers count these apart from the background signals.
    let text = Utf8Bytes::from(format!(
        r#"{{"type":"signal","to":"{mate}","signal":{{"kind":"app","payload":{{"flood":"{PAD}"}}}}}}"#
    ));
    let (mut sink, mut stream) = ws.split();
    let mut frames = 0u64;
    let reader = async {
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(Message::Close(cf)) => return cf.map(|c| u16::from(c.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    let writer = async {
        // Bounded: the server closes a flooder long before this.
        while frames < 1_000_000 {
            for _ in 0..32 {
                if sink.feed(Message::Text(text.clone())).await.is_err() {
                    return;
                }
                frames += 1;
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::pin!(reader);
        tokio::select! {
            code = &mut reader => code,
            // The socket refused more (the server closed it): its close frame may still be
            // in our receive buffer.
            () = writer => tokio::time::timeout(Duration::from_secs(2), reader).await.ok().flatten(),
        }
    })
    .await
    .ok()
    .flatten();
    st.frames += frames;
    code
}

async fn flooder_main(o: &Opts) {
    let server = o.server();
    let base: u32 = o.get("base", 0u32);
    let pool: u32 = o.get("pool", 1u32).max(1);
    let secs: f64 = o.get("secs", 20.0f64).min(120.0);
    let mut lines = stdin_lines().await;
    let started = Instant::now();
    let mut st = FloodStats::default();
    let mut i = 0u32;
    while started.elapsed().as_secs_f64() < secs {
        let src = flood_source(base + i % pool);
        i = i.wrapping_add(1);
        st.attempts += 1;
        match connect(src, server).await {
            Err(ConnectError::Refused(429)) => {
                st.refused_429 += 1;
                st.first_429.get_or_insert(started.elapsed().as_secs_f64());
            }
            Err(ConnectError::Refused(_)) => st.refused_other += 1,
            Err(ConnectError::Other(e)) => {
                st.errors += 1;
                if st.errors <= 3 {
                    eprintln!("flooder: {e}");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(ws) => {
                st.connected += 1;
                match flood_once(ws, &mut st).await {
                    Some(1008) => st.closed_1008 += 1,
                    Some(_) => st.closed_other += 1,
                    None => st.not_closed += 1,
                }
            }
        }
    }
    say(&format!(
        "flood first_429={:.1} secs={:.1} attempts={} connected={} closed_1008={} closed_other={} not_closed={} refused_429={} refused_other={} errors={} frames={}",
        st.first_429.unwrap_or(-1.0),
        started.elapsed().as_secs_f64(),
        st.attempts,
        st.connected,
        st.closed_1008,
        st.closed_other,
        st.not_closed,
        st.refused_429,
        st.refused_other,
        st.errors,
        st.frames
    ));
    // Wait to be told: the orchestrator reads our CPU time first.
    while let Some(line) = lines.recv().await {
        if line == "quit" {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Role `run`: the orchestrator (plain threads; it only waits and samples)

struct Child {
    proc: std::process::Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    name: String,
}

impl Child {
    fn spawn(name: &str, args: &[String]) -> Child {
        let exe = std::env::current_exe().expect("own path");
        let mut proc = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a load process");
        let stdin = proc.stdin.take().expect("stdin");
        let out = BufReader::new(proc.stdout.take().expect("stdout"));
        Child {
            proc,
            stdin,
            out,
            name: name.to_string(),
        }
    }

    fn pid(&self) -> u32 {
        self.proc.id()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to a load process");
        self.stdin.flush().expect("flush");
    }

    /// The next line, which must start with `word`.
    fn expect(&mut self, word: &str) -> String {
        let mut line = String::new();
        if self.out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{} ended before saying {word:?}", self.name);
        }
        let line = line.trim_end().to_string();
        assert!(
            line.starts_with(word),
            "{}: expected {word:?}, got {line:?}",
            self.name
        );
        line
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.proc.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// `key=value` fields of a status line.
fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field<T: FromStr + Default>(f: &HashMap<String, String>, key: &str) -> T {
    f.get(key).and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `/metrics` as name{labels} → value.
fn scrape(server: SocketAddr) -> HashMap<String, f64> {
    let mut body = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(5)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n"
        );
        let _ = s.read_to_string(&mut body);
    }
    body.lines()
        .filter(|l| l.starts_with("ferry_"))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

struct Phase {
    secs: f64,
    server_cpu: f64,
    load_cpu: f64,
    /// CPU time of every other process on the machine (other people's builds and tests).
    others_cpu: f64,
    steal: f64,
}

struct Cpu {
    at: Instant,
    server: u64,
    load: u64,
    /// All CPUs, from /proc/stat: busy (user+nice+system+irq+softirq) and steal.
    busy: u64,
    steal: u64,
}

/// Busy and steal ticks of the whole machine.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6), at(7))
}

fn cpu_now(server_pid: u32, load_pids: &[u32]) -> Cpu {
    let (busy, steal) = machine_ticks();
    Cpu {
        at: Instant::now(),
        server: cpu_ticks(server_pid),
        load: load_pids.iter().map(|p| cpu_ticks(*p)).sum(),
        busy,
        steal,
    }
}

fn phase(from: &Cpu, to: &Cpu, tck: f64) -> Phase {
    let server_cpu = (to.server - from.server) as f64 / tck;
    let load_cpu = to.load.saturating_sub(from.load) as f64 / tck;
    let busy = to.busy.saturating_sub(from.busy) as f64 / tck;
    Phase {
        secs: to.at.duration_since(from.at).as_secs_f64(),
        server_cpu,
        load_cpu,
        others_cpu: (busy - server_cpu - load_cpu).max(0.0),
        steal: to.steal.saturating_sub(from.steal) as f64 / tck,
    }
}

/// One row of the result table.
struct Row {
    what: String,
    value: String,
    target: &'static str,
    verdict: &'static str,
}

fn row(what: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        what: what.into(),
        value: value.into(),
        target: "",
        verdict: "",
    }
}

fn judged(
    what: impl Into<String>,
    value: impl Into<String>,
    target: &'static str,
    ok: bool,
) -> Row {
    Row {
        what: what.into(),
        value: value.into(),
        target,
        verdict: if ok { "met" } else { "**missed**" },
    }
}

/// Thousands separators, as the docs write numbers.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn latency_cell(line: &str) -> (String, f64) {
    let f = fields(line);
    let p99: f64 = field(&f, "p99");
    (
        format!(
            "p50 {:.2} / p99 **{:.2}** / max {:.1} ms ({} of {} arrived); 5 ms timer in the canary process late by p99 {:.2} / max {:.1} ms",
            field::<f64>(&f, "p50"),
            p99,
            field::<f64>(&f, "max"),
            field::<u64>(&f, "received"),
            field::<u64>(&f, "sent"),
            field::<f64>(&f, "probe_p99"),
            field::<f64>(&f, "probe_max"),
        ),
        if field::<u64>(&f, "received") == 0 {
            f64::INFINITY
        } else {
            p99
        },
    )
}

fn orchestrate(o: &Opts) {
    let server = o.server();
    let pid: u32 = o.get("pid", 0u32);
    assert!(pid != 0, "pid= (the server's) is required");
    let scenario: char = o.get("scenario", 'a');
    let peers: u32 = o.get("peers", 10_000u32).min(20_000);
    let workers: u32 = o.get("workers", 4u32).clamp(1, 16);
    let rate: f64 = o.get("rate", 2000.0f64);
    let signal_secs: f64 = o.get("signal_secs", 15.0f64);
    let flood_secs: f64 = o.get("flood_secs", 20.0f64);
    let flood_pool: u32 = o.get("flood_pool", 256u32);
    let canary_rate: f64 = o.get("canary_rate", 40.0f64);
    let settle_secs: f64 = o.get("settle_secs", 5.0f64);
    let per_addr: u32 = o.get("per_addr", 10u32);
    let conc: u32 = o.get("conc", 64u32);
    let tck: f64 = o.get("tck", 100.0f64);
    let common = |role: &str| -> Vec<String> {
        vec![
            role.to_string(),
            format!("server={server}"),
            format!("scenario={scenario}"),
        ]
    };
    let log = |s: String| eprintln!("  {s}");

    eprintln!("scenario {scenario}: {peers} peers in {workers} processes, server pid {pid}");
    let m0 = scrape(server);
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = status_kib(pid, "VmRSS:");

    // The canary pair first: in scenario a it must share the first LAN room. Its baseline is
    // measured before the crowd arrives: what this machine's scheduler alone costs right now.
    let mut canary = Child::spawn("canary", &common("canary"));
    canary.expect("ready");
    canary.send(&format!("measure {canary_rate} {signal_secs}"));
    let lat_baseline = canary.expect("lat");
    log(format!("baseline {lat_baseline}"));

    let share = peers / workers;
    let mut crowd: Vec<Child> = (0..workers)
        .map(|w| {
            let count = if w == workers - 1 {
                peers - share * (workers - 1)
            } else {
                share
            };
            let mut args = common("peers");
            args.extend([
                format!("count={count}"),
                format!("first={}", w * share),
                format!("per_addr={per_addr}"),
                format!("conc={conc}"),
            ]);
            Child::spawn(&format!("peers-{w}"), &args)
        })
        .collect();
    for c in &mut crowd {
        c.expect("ready");
    }
    let mut load_pids: Vec<u32> = crowd.iter().map(Child::pid).collect();
    load_pids.push(canary.pid());

    // Connect everyone.
    let c0 = cpu_now(pid, &load_pids);
    for c in &mut crowd {
        c.send("connect");
    }
    let mut connected = 0u64;
    let mut failed = 0u64;
    for c in &mut crowd {
        let line = c.expect("connected");
        log(format!("{} {line}", c.name));
        let f = fields(&line);
        connected += field::<u64>(&f, "ok");
        failed += field::<u64>(&f, "failed");
    }
    let c1 = cpu_now(pid, &load_pids);
    let connect_secs = c1.at.duration_since(c0.at).as_secs_f64();
    let rss_connected = status_kib(pid, "VmRSS:");

    // Idle: wait for the announcements to drain, then hold still.
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < drain_deadline
        && scrape(server)
            .get("ferry_signaling_outbox_bytes")
            .copied()
            .unwrap_or(0.0)
            > 0.0
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let c2 = cpu_now(pid, &load_pids);
    std::thread::sleep(Duration::from_secs_f64(settle_secs));
    let c3 = cpu_now(pid, &load_pids);
    let rss_peers = status_kib(pid, "VmRSS:");
    let m1 = scrape(server);
    let server_peers = m1.get("ferry_signaling_peers").copied().unwrap_or(0.0) as u64;

    // Background signals + canary; then the same with a flooder from one address, and with a
    // flooder rotating over `flood_pool` addresses.
    let run_signals = |crowd: &mut Vec<Child>, canary: &mut Child, secs: f64| -> String {
        let per_worker = rate / crowd.len() as f64;
        for c in crowd.iter_mut() {
            c.send(&format!("send {per_worker} {secs}"));
        }
        canary.send(&format!("measure {canary_rate} {secs}"));
        for c in crowd.iter_mut() {
            c.expect("sent");
        }
        canary.expect("lat")
    };
    let lat_signals = run_signals(&mut crowd, &mut canary, signal_secs);
    log(format!("signals {lat_signals}"));
    let c4 = cpu_now(pid, &load_pids);

    let mut floods = Vec::new();
    for (pool, base) in [(1u32, 0u32), (flood_pool, 1000)] {
        let mut flooder = Child::spawn(
            "flooder",
            &[
                "flooder".to_string(),
                format!("server={server}"),
                format!("base={base}"),
                format!("pool={pool}"),
                format!("secs={flood_secs}"),
            ],
        );
        let mut pids = load_pids.clone();
        pids.push(flooder.pid());
        let f0 = cpu_now(pid, &pids);
        let lat = run_signals(&mut crowd, &mut canary, flood_secs);
        let flood = flooder.expect("flood");
        let f1 = cpu_now(pid, &pids);
        let flooder_cpu = cpu_ticks(flooder.pid()) as f64 / tck;
        flooder.quit();
        log(format!("flood pool={pool} {lat} | {flood}"));
        floods.push((pool, lat, flood, phase(&f0, &f1, tck), flooder_cpu));
    }

    // The crowd's counters.
    let mut totals: HashMap<&str, u64> = HashMap::new();
    let mut bg = Hist::default();
    for c in &mut crowd {
        c.send("stats");
        let line = c.expect("stats");
        let f = fields(&line);
        for k in [
            "peers",
            "sent",
            "received",
            "flood_received",
            "no_target",
            "errors",
            "closed",
            "crowded",
            "retries",
        ] {
            *totals.entry(k).or_default() += field::<u64>(&f, k);
        }
        if let Some(h) = f.get("hist") {
            bg.merge_encoded(h);
        }
    }
    let canary_closed: u64 = field(&fields(&lat_signals), "closed");
    let m2 = scrape(server);
    let rss_end = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    for c in crowd {
        c.quit();
    }
    canary.quit();
    log(format!("totals {totals:?}"));

    // The table.
    let delta = |k: &str| m2.get(k).copied().unwrap_or(0.0) - m0.get(k).copied().unwrap_or(0.0);
    let per_peer = (rss_peers as f64 - rss_idle as f64) * 1024.0 / f64::from(peers);
    let cpu_cell = |p: &Phase| {
        format!(
            "server {:.1} s ({:.0} % of a core), load generator {:.1} s ({:.0} %); other people's processes {:.1} cores, steal {:.2} cores",
            p.server_cpu,
            100.0 * p.server_cpu / p.secs,
            p.load_cpu,
            100.0 * p.load_cpu / p.secs,
            p.others_cpu / p.secs,
            p.steal / p.secs
        )
    };
    let mut rows = Vec::new();
    rows.push(judged(
        format!("connect {} peers", thousands(u64::from(peers))),
        format!(
            "**{connect_secs:.1} s** ({} connected, {failed} failed, {} retried; server counts {})",
            thousands(connected),
            totals["retries"],
            thousands(server_peers)
        ),
        "< 20 s",
        connect_secs < 20.0 && failed == 0,
    ));
    rows.push(row(
        "server RSS",
        format!(
            "idle {:.1} MB → all connected {:.1} MB → idle with peers {:.1} MB → end {:.1} MB (VmHWM {:.1} MB)",
            rss_idle as f64 / 1024.0,
            rss_connected as f64 / 1024.0,
            rss_peers as f64 / 1024.0,
            rss_end as f64 / 1024.0,
            hwm as f64 / 1024.0
        ),
    ));
    rows.push(judged(
        "server RSS per idle peer",
        format!("**{:.1} KB**", per_peer / 1000.0),
        "< 10 KB",
        per_peer < 10_000.0,
    ));
    let (connect_p, idle_p, signals_p) = (
        phase(&c0, &c1, tck),
        phase(&c2, &c3, tck),
        phase(&c3, &c4, tck),
    );
    rows.push(row(
        format!("CPU, connecting ({:.1} s)", connect_p.secs),
        cpu_cell(&connect_p),
    ));
    rows.push(row(
        format!("CPU, idle ({:.1} s)", idle_p.secs),
        cpu_cell(&idle_p),
    ));
    rows.push(row(
        format!(
            "CPU, {} signals/s + canary ({:.1} s)",
            thousands(rate as u64),
            signals_p.secs
        ),
        cpu_cell(&signals_p),
    ));
    let (baseline, _) = latency_cell(&lat_baseline);
    rows.push(row("canary, server without the crowd", baseline));
    let (cell, p99) = latency_cell(&lat_signals);
    rows.push(judged(
        format!("canary, {} signals/s background", thousands(rate as u64)),
        cell,
        "p99 < 5 ms",
        p99 < 5.0,
    ));
    for (pool, lat, flood, p, flooder_cpu) in &floods {
        let who = if *pool == 1 {
            "1 address".to_string()
        } else {
            format!("{pool} addresses")
        };
        let (cell, p99) = latency_cell(lat);
        rows.push(judged(
            format!("canary, background + reconnecting flooder ({who})"),
            cell,
            "p99 < 10 ms",
            p99 < 10.0,
        ));
        let f = fields(flood);
        rows.push(row(
            format!("flooder ({who}, {:.0} s)", field::<f64>(&f, "secs")),
            format!(
                "{} attempts: {} connected and flooded {} frames (refusals from {:.1} s on), {} closed with 1008 ({} other, {} unclosed), {} refused with 429, {} refused otherwise, {} failed (e.g. no free port); flooder CPU {flooder_cpu:.1} s",
                thousands(field(&f, "attempts")),
                thousands(field(&f, "connected")),
                thousands(field(&f, "frames")),
                field::<f64>(&f, "first_429"),
                thousands(field(&f, "closed_1008")),
                field::<u64>(&f, "closed_other"),
                field::<u64>(&f, "not_closed"),
                thousands(field(&f, "refused_429")),
                field::<u64>(&f, "refused_other"),
                field::<u64>(&f, "errors"),
            ),
        ));
        rows.push(row(
            format!("CPU, with flooder ({who}, {:.1} s)", p.secs),
            cpu_cell(p),
        ));
    }
    rows.push(row(
        "background signals",
        format!(
            "{} sent, {} arrived, {} without a room mate; one-way p50 {:.1} / p99 {:.1} / max {:.0} ms (across processes); {} flood signals forwarded to peers",
            thousands(totals["sent"]),
            thousands(totals["received"]),
            totals["no_target"],
            bg.quantile_us(0.5) as f64 / 1000.0,
            bg.quantile_us(0.99) as f64 / 1000.0,
            bg.max_us as f64 / 1000.0,
            thousands(totals["flood_received"]),
        ),
    ));
    rows.push(judged(
        "reading peers closed by the server",
        format!(
            "{} of {} crowd peers, {canary_closed} of 2 canaries; {} `error` messages to them",
            totals["closed"],
            thousands(totals["peers"]),
            totals["errors"]
        ),
        "0",
        totals["closed"] == 0 && canary_closed == 0,
    ));
    let drops = delta("ferry_slow_peer_drops_total");
    let timeouts = delta("ferry_send_timeouts_total");
    rows.push(judged(
        "`ferry_slow_peer_drops_total` / `ferry_send_timeouts_total`",
        format!("{drops} / {timeouts}"),
        "0 / 0",
        drops == 0.0 && timeouts == 0.0,
    ));
    let mut limits: Vec<String> = m2
        .keys()
        .filter(|k| k.starts_with("ferry_limit_hits_total"))
        .map(|k| {
            format!(
                "{} {}",
                k.trim_start_matches("ferry_limit_hits_total{kind=\"")
                    .trim_end_matches("\"}"),
                thousands(delta(k) as u64)
            )
        })
        .collect();
    limits.sort();
    rows.push(row(
        "`ferry_limit_hits_total` by kind",
        if limits.is_empty() {
            "none".to_string()
        } else {
            limits.join(", ")
        },
    ));
    rows.push(row(
        "`crowded: true` in welcome",
        format!(
            "{} of {} crowd peers",
            thousands(totals["crowded"]),
            thousands(totals["peers"])
        ),
    ));
    rows.push(row(
        "signals forwarded (server)",
        thousands(delta("ferry_signals_forwarded_total") as u64),
    ));

    println!("| scenario {scenario} | result | target | |");
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} |",
            r.what, r.value, r.target, r.verdict
        );
    }
}
