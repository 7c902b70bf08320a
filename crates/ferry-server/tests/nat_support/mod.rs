//! Network-namespace topologies with real NAT for the nat_*.rs tests, and a driver for real
//! `ferry serve` / `ferry send` / `ferry receive` processes inside them.
//!
//! ```text
//!   ns inet: bridge "br0" = the public internet, 203.0.113.0/24
//!     ├─ ns srv  eth0 203.0.113.10   ferry serve (HTTP :8080, STUN/TURN :3478)
//!     ├─ ns ra   wan  203.0.113.11   NAT (MASQUERADE) ─ bridge lan 192.168.1.1/24
//!     │             ├─ ns a1  192.168.1.10
//!     │             └─ ns a2  192.168.1.11
//!     └─ ns rb   wan  203.0.113.12   NAT (MASQUERADE) ─ bridge lan 192.168.2.1/24
//!                   └─ ns b1  192.168.2.10
//! ```
//!
//! Every namespace name carries a random prefix, and [`Topology`]'s `Drop` kills the
//! processes it started and deletes every namespace it made, also when a test panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const SERVER_IP: &str = "203.0.113.10";
pub const SERVER_URL: &str = "http://203.0.113.10:8080";

/// One NAT tests at a time: each starts three debug-build processes on a shared 2-core box.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Delay and loss, each applied in both directions of one router's uplink.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    pub delay_ms: u32,
    pub loss: f64,
}

/// How the routers in front of the two LANs translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// MASQUERADE keeps the source port where it can: one mapping for all destinations
    /// (endpoint-independent), port-restricted filtering by conntrack.
    EndpointIndependent,
    /// MASQUERADE --random-fully: a fresh random port per destination (symmetric NAT).
    Symmetric,
}

/// Root, `ip`, `iptables`: without root the test is skipped loudly; with root a missing tool
/// is a failure, since CI runs as root and must run these.
pub fn can_run() -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    if !uid.is_ok_and(|u| u.trim_ascii() == b"0") {
        eprintln!(
            "\n*** SKIPPED: NAT namespace tests need root (ip netns, iptables). CI runs them as root. ***\n"
        );
        return false;
    }
    for tool in ["ip", "iptables"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(ok, "`{tool}` is missing: apt-get install iproute2 iptables");
    }
    true
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Topology {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    wire: Option<mpsc::Receiver<String>>,
    pub dir: PathBuf,
}

impl Topology {
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn add_ns(&mut self, role: &str) {
        let ns = self.ns(role);
        run(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    }

    /// A veth from `a` (named `a_if`) to `b` (named `b_if`).
    fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        let (na, nb) = (self.ns(a), self.ns(b));
        run(&[
            "ip", "-n", &na, "link", "add", "name", a_if, "type", "veth", "peer", "name", b_if,
            "netns", &nb,
        ]);
    }

    fn ip(&self, role: &str, args: &[&str]) {
        let ns = self.ns(role);
        let mut full = vec!["ip", "-n", ns.as_str()];
        full.extend_from_slice(args);
        run(&full);
    }

    pub fn exec(&self, role: &str, args: &[&str]) {
        let ns = self.ns(role);
        let mut full = vec!["ip", "netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        run(&full);
    }

    /// Builds the picture above with `nat` on both routers.
    pub fn build(nat: Nat) -> Topology {
        Topology::build_with(nat, None)
    }

    /// Like [`Topology::build`]; with `impair`, router ra's uplink is a userspace wire that
    /// delays and drops frames in both directions (tests/netns/impaired_wire.py: `tc netem` is
    /// not available on every kernel, the CI VM's included).
    pub fn build_with(nat: Nat, impair: Option<Impairment>) -> Topology {
        let prefix = format!("fy{:06x}", rand::random::<u32>() & 0xff_ffff);
        let dir = std::env::temp_dir().join(format!("{prefix}-files"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = Topology {
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            wire: None,
            dir,
        };
        for role in ["inet", "srv", "ra", "rb", "a1", "a2", "b1"] {
            t.add_ns(role);
        }
        t.ip("inet", &["link", "add", "name", "br0", "type", "bridge"]);
        t.ip("inet", &["link", "set", "br0", "up"]);
        for (role, ip) in [
            ("srv", SERVER_IP),
            ("ra", "203.0.113.11"),
            ("rb", "203.0.113.12"),
        ] {
            match impair {
                Some(imp) if role == "ra" => t.impaired_wire(role, imp),
                _ => t.veth("inet", role, role, "wan"),
            }
            t.ip("inet", &["link", "set", role, "master", "br0", "up"]);
            t.ip(role, &["addr", "add", &format!("{ip}/24"), "dev", "wan"]);
            t.ip(role, &["link", "set", "wan", "up"]);
        }
        for (router, lan, hosts) in [
            ("ra", "192.168.1", &[("a1", 10), ("a2", 11)][..]),
            ("rb", "192.168.2", &[("b1", 10)][..]),
        ] {
            t.ip(router, &["link", "add", "name", "lan", "type", "bridge"]);
            t.ip(
                router,
                &["addr", "add", &format!("{lan}.1/24"), "dev", "lan"],
            );
            t.ip(router, &["link", "set", "lan", "up"]);
            t.exec(router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
            let mut masq = vec![
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "wan",
                "-j",
                "MASQUERADE",
            ];
            if nat == Nat::Symmetric {
                masq.push("--random-fully");
            }
            t.exec(router, &masq);
            // Like a home router's firewall: drop unsolicited inbound. Besides realism this
            // keeps Linux from confirming a conntrack entry for a peer's early check, which
            // would make MASQUERADE pick a new port for our own reply to that peer (a clash
            // that turns an endpoint-independent NAT into a symmetric one).
            t.exec(
                router,
                &[
                    "iptables",
                    "-A",
                    "INPUT",
                    "-i",
                    "wan",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "NEW",
                    "-j",
                    "DROP",
                ],
            );
            for (host, last) in hosts {
                t.veth(router, host, host, "eth0");
                t.ip(router, &["link", "set", host, "master", "lan", "up"]);
                t.ip(
                    host,
                    &["addr", "add", &format!("{lan}.{last}/24"), "dev", "eth0"],
                );
                t.ip(host, &["link", "set", "eth0", "up"]);
                t.ip(
                    host,
                    &["route", "add", "default", "via", &format!("{lan}.1")],
                );
            }
        }
        t
    }

    /// Two TAPs joined by impaired_wire.py: `role`'s end becomes its `wan`, the other end
    /// (named `role`) sits in inet, ready to join the bridge.
    fn impaired_wire(&mut self, role: &str, imp: Impairment) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/netns/impaired_wire.py");
        let tap = format!("{role}wan");
        let (delay, loss) = (imp.delay_ms.to_string(), imp.loss.to_string());
        let i = self.spawn(
            "inet",
            &[
                "python3",
                script.to_str().unwrap(),
                "--a",
                &tap,
                "--b",
                role,
                "--delay-ms",
                &delay,
                "--loss",
                &loss,
            ],
        );
        let lines = line_channel(self.children[i].stdout.take().unwrap());
        let ready = lines.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "impaired_wire.py did not start (python3 needed)"
        );
        self.wire = Some(lines);
        let ns = self.ns(role);
        self.ip("inet", &["link", "set", &tap, "netns", &ns]);
        self.ip(role, &["link", "set", &tap, "name", "wan"]);
    }

    /// Both routers drop every UDP datagram between their LAN and the internet; TCP (and so
    /// HTTP/WebSocket to the server) still passes.
    pub fn block_udp(&self) {
        for router in ["ra", "rb"] {
            self.exec(
                router,
                &["iptables", "-I", "FORWARD", "-p", "udp", "-j", "DROP"],
            );
        }
    }

    /// Frames (forwarded, dropped) by the impaired wire so far, once traffic has stopped: the
    /// wire reports every 0.5 s, and the first of its reports that repeats the one before is
    /// final (no sleep guessing how long a loaded machine takes to report; at most 40 reports).
    pub fn wire_counts(&self) -> (u64, u64) {
        let wire = self.wire.as_ref().expect("no impaired wire");
        let mut last = wire.try_iter().last();
        for _ in 0..40 {
            let next = wire
                .recv_timeout(Duration::from_secs(10))
                .expect("impaired wire stopped reporting");
            if last.as_deref() == Some(next.as_str()) {
                break;
            }
            last = Some(next);
        }
        let last = last.expect("impaired wire reported nothing");
        let num = |key: &str| -> u64 {
            last.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("bad wire report {last:?}"))
        };
        (num("forwarded="), num("dropped="))
    }

    /// Starts a process in a namespace; it is killed when the topology is dropped.
    pub fn spawn(&mut self, role: &str, args: &[&str]) -> usize {
        let ns = self.ns(role);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?} in {ns}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn child(&mut self, i: usize) -> &mut Child {
        &mut self.children[i]
    }

    /// Starts `ferry serve` in `srv` and waits until it listens on HTTP and UDP.
    pub fn start_server(&mut self, extra: &[&str]) {
        let bin = ferry_bin();
        let mut args = vec![
            bin.to_str().unwrap(),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "8080",
            "--turn-port",
            "3478",
            "--public-ip",
            SERVER_IP,
        ];
        args.extend_from_slice(extra);
        let i = self.spawn("srv", &args);
        let stdout = self.children[i].stdout.take().unwrap();
        let lines = line_channel(stdout);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains("stun/turn on udp://") => return,
                Ok(l) if extra.contains(&"--no-turn") && l.contains("listening on http://") => {
                    return;
                }
                Ok(l) => seen.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("ferry serve did not start TURN; stdout: {seen:?}");
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            // Anything still running inside (a stray child of a child) would keep it alive.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lines of a child's pipe, read on a thread so waits can time out.
/// Appends what `lines` still holds until its reader thread has seen EOF (at most 10 s of
/// silence, a hang guard).
fn drain(lines: &mpsc::Receiver<String>, into: &mut Vec<String>) {
    while let Ok(l) = lines.recv_timeout(Duration::from_secs(10)) {
        into.push(l);
    }
}

pub fn line_channel(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The `ferry` binary of this workspace, built once if needed (tests of another package cannot
/// use CARGO_BIN_EXE_ferry).
pub fn ferry_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FERRY_BIN") {
            return PathBuf::from(p);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-q", "-p", "ferry", "--bin", "ferry"])
            .current_dir(&root);
        // Not the variables cargo set for this test process (CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
        // OUT_DIR, ...): build scripts such as ring's watch them (rerun-if-env-changed), so a
        // build seeing them reran ring's and rebuilt ring and the ~25 crates above it, and the
        // next plain `cargo build` rebuilt them all again - minutes per suite run.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let config = [
                "CARGO_HOME",
                "CARGO_TARGET_DIR",
                "CARGO_TERM_",
                "CARGO_BUILD_",
            ]
            .iter()
            .any(|c| key.starts_with(c));
            if (key.starts_with("CARGO_") && !config) || key == "OUT_DIR" {
                build.env_remove(key);
            }
        }
        let status = build.status().expect("run cargo build -p ferry");
        assert!(status.success(), "cargo build -p ferry failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("ferry");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// What one side of a transfer reported in its `--json` `done` line.
#[derive(Debug)]
pub struct Outcome {
    pub seconds: f64,
    pub path: String,
    pub candidate: String,
    pub bytes: u64,
}

fn done_event(lines: &[String]) -> Option<Outcome> {
    lines.iter().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["event"] == "done").then(|| Outcome {
            seconds: v["seconds"].as_f64().unwrap_or_default(),
            path: v["path"].as_str().unwrap_or_default().to_owned(),
            candidate: v["candidate"].as_str().unwrap_or_default().to_owned(),
            bytes: v["bytes"].as_u64().unwrap_or_default(),
        })
    })
}

pub struct Transfer {
    pub sender: Outcome,
    pub receiver: Outcome,
    pub received: PathBuf,
}

/// `ferry send` in `from`, `ferry receive` in `to`; returns both sides' reports. Panics with
/// both processes' output if either fails or the deadline passes.
pub fn transfer(
    t: &mut Topology,
    from: &str,
    to: &str,
    file: &Path,
    deadline: Duration,
) -> Transfer {
    let bin = ferry_bin();
    let bin = bin.to_str().unwrap();
    let out_dir = t.dir.join(format!("out-{to}"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let s = t.spawn(
        from,
        &[
            bin,
            "send",
            "--yes",
            "--server",
            SERVER_URL,
            "--json",
            "--no-qr",
            file.to_str().unwrap(),
        ],
    );
    let s_out = line_channel(t.child(s).stdout.take().unwrap());
    let s_err = line_channel(t.child(s).stderr.take().unwrap());
    let start = Instant::now();
    let mut s_lines = Vec::new();
    let code = loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no room code: {s_lines:?}"
        );
        if let Ok(l) = s_out.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
            s_lines.push(l);
            if v["event"] == "room" {
                break v["code"].as_str().expect("code").to_owned();
            }
        }
    };
    let r = t.spawn(
        to,
        &[
            bin,
            "receive",
            &code,
            "--server",
            SERVER_URL,
            "--json",
            "-y",
            "-o",
            out_dir.to_str().unwrap(),
        ],
    );
    let r_out = line_channel(t.child(r).stdout.take().unwrap());
    let r_err = line_channel(t.child(r).stderr.take().unwrap());
    let mut r_lines = Vec::new();
    let end = start + deadline;
    let mut exits = [None, None];
    while exits.iter().any(Option::is_none) && Instant::now() < end {
        s_lines.extend(s_out.try_iter());
        r_lines.extend(r_out.try_iter());
        for (k, idx) in [s, r].into_iter().enumerate() {
            if exits[k].is_none() {
                exits[k] = t.child(idx).try_wait().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both have exited: read their output to its end (the reader threads end at EOF), however
    // long a loaded machine takes to pass the last lines on.
    drain(&s_out, &mut s_lines);
    drain(&r_out, &mut r_lines);
    let diag = || {
        format!(
            "\nsender stdout: {s_lines:#?}\nsender stderr: {:#?}\nreceiver stdout: {r_lines:#?}\nreceiver stderr: {:#?}",
            s_err.try_iter().collect::<Vec<_>>(),
            r_err.try_iter().collect::<Vec<_>>()
        )
    };
    match exits {
        [Some(a), Some(b)] if a.success() && b.success() => {}
        other => panic!("transfer did not finish cleanly ({other:?}){}", diag()),
    }
    if std::env::var_os("FERRY_NAT_DIAG").is_some() {
        eprintln!("{}", diag());
    }
    let sender = done_event(&s_lines).unwrap_or_else(|| panic!("sender: no done event{}", diag()));
    let receiver =
        done_event(&r_lines).unwrap_or_else(|| panic!("receiver: no done event{}", diag()));
    eprintln!(
        "transfer {from} -> {to}: {:.1}s wall (sender reports {:?}, receiver {:?})",
        start.elapsed().as_secs_f64(),
        sender,
        receiver
    );
    let name = file.file_name().unwrap();
    Transfer {
        sender,
        receiver,
        received: out_dir.join(name),
    }
}

/// Size of the transfers in the fast cases: `FERRY_NAT_MB` (default 3), so the same tests can
/// measure throughput with a release binary (`FERRY_BIN=target/release/ferry`).
pub fn file_size() -> usize {
    std::env::var("FERRY_NAT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(3)
        << 20
}

/// A file of pseudo-random bytes (no repeating pattern a bug could hide behind).
pub fn random_file(dir: &Path, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let mut data = vec![0u8; len];
    let mut x: u64 = rand::random::<u64>() | 1;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    let p = dir.join(name);
    std::fs::write(&p, &data).unwrap();
    (p, data)
}
