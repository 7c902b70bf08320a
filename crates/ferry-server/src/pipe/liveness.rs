//! Noticing that a waiting pipe party's connection is gone, although nobody reads it.
//!
//! Why this exists: a waiting sender's upload is read ahead by one window only (256 KiB); after
//! that hyper stops reading its socket, so the client's FIN sits in the kernel behind unread
//! data and nothing in the process ever sees it. Such a sender held its path ("Another sender
//! has been connected"), its read-ahead and a descriptor in CLOSE_WAIT forever. The handler
//! never owns the socket (hyper does), but the kernel knows the connection's state: one task
//! reads the process's TCP table (`/proc/self/net/tcp{,6}`, the socket states `ss` shows) once
//! per interval while anyone waits, and fires the callbacks of parties whose connection is no
//! longer ESTABLISHED — closed by the peer (CLOSE_WAIT and later) or gone altogether.
//!
//! Matching is by the client's address and port. Conservative on purpose: if any socket with
//! that remote end is still ESTABLISHED (another server in the same network namespace may share
//! it) the party counts as alive, so a live client is never cut off. Without `/proc` (not
//! Linux) nothing is detected and the old behaviour remains.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

type OnDead = Box<dyn FnOnce() + Send>;

struct Watched {
    peer: SocketAddr,
    on_dead: OnDead,
}

pub struct SocketWatch {
    interval: Duration,
    watched: Mutex<HashMap<u64, Watched>>,
    next_id: AtomicU64,
    running: AtomicBool,
    /// Parties found dead (counter, for `/metrics`).
    reaped: AtomicU64,
    /// When the table was last read: clients can trigger scans (a second sender on a busy
    /// path), and a read costs time in proportion to all sockets of the host, so scans are
    /// spaced by at least [`MIN_SCAN_GAP`] whoever asks.
    last_scan: Mutex<Option<std::time::Instant>>,
}

const MIN_SCAN_GAP: Duration = Duration::from_millis(20);

/// Stops watching when dropped (the party left or its transfer started).
pub struct WatchHandle {
    watch: Weak<SocketWatch>,
    id: u64,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.upgrade() {
            watch.lock().remove(&self.id);
        }
    }
}

impl SocketWatch {
    pub fn new(interval: Duration) -> Arc<Self> {
        Arc::new(SocketWatch {
            interval,
            watched: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            running: AtomicBool::new(false),
            reaped: AtomicU64::new(0),
            last_scan: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Watched>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `on_dead` (once, from the watch task) when `peer`'s connection is found closed.
    /// Must be called inside a tokio runtime: the first call starts the watch task.
    pub fn watch(self: &Arc<Self>, peer: SocketAddr, on_dead: OnDead) -> WatchHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Watched { peer, on_dead });
        if !self.interval.is_zero() && !self.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(Arc::downgrade(self), self.interval));
        }
        WatchHandle {
            watch: Arc::downgrade(self),
            id,
        }
    }

    pub fn reaped(&self) -> u64 {
        self.reaped.load(Ordering::Relaxed)
    }

    /// Checks every watched connection now (unless a scan ran less than 20 ms ago). Returns
    /// how many were found dead.
    pub fn scan_now(&self) -> usize {
        if self.lock().is_empty() {
            return 0;
        }
        {
            let mut last = self.last_scan.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < MIN_SCAN_GAP) {
                return 0;
            }
            *last = Some(now);
        }
        let Some(table) = TcpTable::read() else {
            return 0;
        };
        // A connection seen closing (CLOSE_WAIT …) is dead at once. One missing from the
        // table must be missing from a second read too: the kernel's table is read page by page
        // while other sockets come and go, so a single read can skip a live entry.
        let mut second: Option<TcpTable> = None;
        let dead: Vec<OnDead> = {
            let mut watched = self.lock();
            let mut ids = Vec::new();
            for (id, w) in watched.iter() {
                let gone = match table.state_of(w.peer) {
                    Seen::Established => false,
                    Seen::Closing => true,
                    Seen::Missing => second
                        .get_or_insert_with(|| TcpTable::read().unwrap_or_default())
                        .state_of(w.peer)
                        .is_not_established(),
                };
                if gone {
                    ids.push(*id);
                }
            }
            ids.iter()
                .filter_map(|id| watched.remove(id))
                .map(|w| w.on_dead)
                .collect()
        };
        let n = dead.len();
        self.reaped.fetch_add(n as u64, Ordering::Relaxed);
        // Outside our lock: the callbacks take the registry's.
        for on_dead in dead {
            on_dead();
        }
        n
    }
}

async fn run(watch: Weak<SocketWatch>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(watch) = watch.upgrade() else { return };
        let n = watch.scan_now();
        if n > 0 {
            tracing::debug!(
                parties = n,
                "pipe parties whose connection closed were removed"
            );
        }
    }
}

/// TCP connection states as the kernel numbers them (include/net/tcp_states.h).
const TCP_ESTABLISHED: u8 = 1;
/// The peer closed its side (CLOSE_WAIT, LAST_ACK) or both did at once (CLOSING).
const TCP_PEER_CLOSED: [u8; 3] = [8, 9, 11];

enum Seen {
    Established,
    Closing,
    Missing,
}

impl Seen {
    fn is_not_established(&self) -> bool {
        !matches!(self, Seen::Established)
    }
}

/// Remote ends of this network namespace's TCP sockets that are ESTABLISHED, and those whose
/// peer has closed.
#[derive(Default)]
struct TcpTable {
    established: HashSet<SocketAddr>,
    closing: HashSet<SocketAddr>,
}

impl TcpTable {
    fn read() -> Option<TcpTable> {
        let mut table = TcpTable {
            established: HashSet::new(),
            closing: HashSet::new(),
        };
        let mut any = false;
        for file in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            // One big read: the kernel fills as much of the buffer per call as it can, which
            // keeps the window for entries moving under the reader small.
            let mut text = Vec::with_capacity(256 * 1024);
            if std::fs::File::open(file)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut text))
                .is_ok()
            {
                any = true;
                table.parse(&String::from_utf8_lossy(&text));
            }
        }
        any.then_some(table)
    }

    fn state_of(&self, peer: SocketAddr) -> Seen {
        let peer = canonical(peer);
        if self.established.contains(&peer) {
            Seen::Established
        } else if self.closing.contains(&peer) {
            Seen::Closing
        } else {
            Seen::Missing
        }
    }

    /// Lines look like `0: 0100007F:1F90 0100007F:C5A2 01 …`: slot, local, remote, state.
    fn parse(&mut self, text: &str) {
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(_slot), Some(_local), Some(remote), Some(state)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Ok(state), Some(addr)) = (u8::from_str_radix(state, 16), parse_addr(remote))
            else {
                continue;
            };
            if state == TCP_ESTABLISHED {
                self.established.insert(canonical(addr));
            } else if TCP_PEER_CLOSED.contains(&state) {
                self.closing.insert(canonical(addr));
            }
        }
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The address words are the kernel's in-memory (network order) bytes printed as native u32s.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0\n\
   1: 0100007F:1F90 0100007F:C5A2 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0\n\
   2: 0100007F:1F90 0100007F:C5A3 08 00000000:00000000 00:00000000 00000000  1000        0 3 1 0\n";
        let mut t = TcpTable {
            established: HashSet::new(),
            closing: HashSet::new(),
        };
        t.parse(text);
        if cfg!(target_endian = "little") {
            assert!(t.established.contains(&"127.0.0.1:50594".parse().unwrap()));
            assert!(t.closing.contains(&"127.0.0.1:50595".parse().unwrap()));
        }
        assert_eq!(
            t.established.len(),
            1,
            "LISTEN and CLOSE_WAIT are not established"
        );
        let v6 = "x\n 0: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:C5A2 01 0\n";
        t.parse(v6);
        if cfg!(target_endian = "little") {
            assert!(t.established.contains(&"127.0.0.1:50594".parse().unwrap()));
        }
    }

    #[tokio::test]
    async fn a_closed_connection_is_reported_and_an_open_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_open_server, open_peer) = listener.accept().await.unwrap();
        let closing = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_closing_server, closing_peer) = listener.accept().await.unwrap();
        drop(closing);
        tokio::time::sleep(Duration::from_millis(50)).await;

        let watch = SocketWatch::new(Duration::ZERO);
        let (tx_open, mut rx_open) = tokio::sync::oneshot::channel();
        let (tx_closed, rx_closed) = tokio::sync::oneshot::channel();
        let _a = watch.watch(
            open_peer,
            Box::new(move || {
                let _ = tx_open.send(());
            }),
        );
        let _b = watch.watch(
            closing_peer,
            Box::new(move || {
                let _ = tx_closed.send(());
            }),
        );
        assert_eq!(watch.scan_now(), 1);
        assert!(rx_closed.await.is_ok());
        assert!(rx_open.try_recv().is_err());
        drop(open);
    }
}
